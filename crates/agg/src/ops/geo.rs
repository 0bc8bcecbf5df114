//! Location operators over a latitude/longitude pair of fields (`lat_field`/`lon_field`,
//! aliases `lat`/`lon`, default `"lat"`/`"lon"`): `geo_velocity`, `geo_distance`,
//! `geo_spread`, `distance_from_home`. Events missing either coordinate are skipped.
//!
//! Formulas are beava's (bit-identical on the oracle trace):
//! - distances: haversine with R = 6371 km, `c = 2·atan2(√a, √(1−a))`, degree differences
//!   converted to radians before halving;
//! - `geo_velocity`: the highest km/h between consecutive points (0.0 after one point);
//! - `geo_distance`: cumulative km (0.0 before any point);
//! - `geo_spread`: `√(var_lat·K² + var_lon·(K·cos(mean_lat))²)`, K = 111.32 km/°, population
//!   variances by Welford; null below 2 points;
//! - `distance_from_home`: km from the last point to the centroid of the last `samples`
//!   points (default 100, at most 1024).

use super::moments::Welford;
use model::TimestampMs;

const EARTH_RADIUS_KM: f64 = 6371.0;
const KM_PER_DEGREE: f64 = 111.32;
const MS_PER_HOUR: f64 = 3_600_000.0;
pub const HOME_SAMPLES_DEFAULT: usize = 100;

pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let d_lat = (lat2 - lat1).to_radians();
    let d_lon = (lon2 - lon1).to_radians();
    let a = (d_lat / 2.0).sin().powi(2)
        + lat1.to_radians().cos() * lat2.to_radians().cos() * (d_lon / 2.0).sin().powi(2);
    EARTH_RADIUS_KM * 2.0 * a.sqrt().atan2((1.0 - a).sqrt())
}

/// Boxed state of one geo op.
#[derive(Clone, Debug)]
pub enum Geo {
    /// `geo_velocity` and `geo_distance`.
    Track {
        last: Option<(f64, f64, TimestampMs)>,
        max_kmh: f64,
        total_km: f64,
    },
    Spread {
        lat: Welford,
        lon: Welford,
    },
    Home {
        /// Ring of the last `samples` points, overwritten at `head` once full.
        points: Vec<(f64, f64)>,
        head: u32,
        last: (f64, f64),
    },
}

impl Geo {
    pub fn track() -> Geo {
        Geo::Track {
            last: None,
            max_kmh: 0.0,
            total_km: 0.0,
        }
    }

    pub fn spread() -> Geo {
        Geo::Spread {
            lat: Welford::default(),
            lon: Welford::default(),
        }
    }

    pub fn home() -> Geo {
        Geo::Home {
            points: Vec::new(),
            head: 0,
            last: (0.0, 0.0),
        }
    }

    pub fn add(&mut self, lat: f64, lon: f64, now_ms: TimestampMs, samples: usize) {
        match self {
            Geo::Track {
                last,
                max_kmh,
                total_km,
            } => {
                if let Some((lat0, lon0, t0)) = *last {
                    let km = haversine_km(lat0, lon0, lat, lon);
                    *total_km += km;
                    let dt_ms = now_ms - t0;
                    if dt_ms > 0 {
                        *max_kmh = max_kmh.max(km / (dt_ms as f64 / MS_PER_HOUR));
                    }
                }
                *last = Some((lat, lon, now_ms));
            }
            Geo::Spread { lat: wl, lon: wo } => {
                wl.add(lat);
                wo.add(lon);
            }
            Geo::Home { points, head, last } => {
                if points.len() < samples {
                    points.push((lat, lon));
                } else if samples > 0 {
                    let h = *head as usize;
                    points[h] = (lat, lon);
                    *head = ((h + 1) % samples) as u32;
                }
                *last = (lat, lon);
            }
        }
    }

    pub fn read_velocity(&self) -> Option<f64> {
        match self {
            Geo::Track {
                last: Some(_),
                max_kmh,
                ..
            } => Some(*max_kmh),
            _ => None,
        }
    }

    pub fn read_distance(&self) -> f64 {
        match self {
            Geo::Track { total_km, .. } => *total_km,
            _ => 0.0,
        }
    }

    pub fn read_spread(&self) -> Option<f64> {
        match self {
            Geo::Spread { lat, lon } if lat.n >= 2 => {
                let n = lat.n as f64;
                let (var_lat, var_lon) = (lat.m2 / n, lon.m2 / n);
                let k_lon = KM_PER_DEGREE * lat.mean.to_radians().cos();
                Some((var_lat * KM_PER_DEGREE * KM_PER_DEGREE + var_lon * k_lon * k_lon).sqrt())
            }
            _ => None,
        }
    }

    pub fn read_home(&self) -> Option<f64> {
        match self {
            Geo::Home { points, last, .. } if !points.is_empty() => {
                let n = points.len() as f64;
                let lat: f64 = points.iter().map(|p| p.0).sum::<f64>() / n;
                let lon: f64 = points.iter().map(|p| p.1).sum::<f64>() / n;
                Some(haversine_km(last.0, last.1, lat, lon))
            }
            _ => None,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Geo::Home { points, .. } => points.capacity() * std::mem::size_of::<(f64, f64)>(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTS: [(f64, f64, i64); 6] = [
        (10.0, 20.0, 710),
        (10.1, 20.0, 761),
        (10.1, 20.1, 773),
        (10.0, 20.0, 907),
        (11.0, 21.0, 1209),
        (11.0, 22.0, 1814),
    ];

    #[test]
    fn matches_oracle_bits() {
        // Oracle ("t9"), values after each point.
        let want_distance = [0.0, 11.119492664455834, 22.06666850958451];
        let want_spread = [
            None,
            Some(5.565999999999931),
            Some(7.364429323155873),
            Some(7.31491916174014),
            Some(60.47717655438771),
            Some(96.52693450393699),
        ];
        let want_home = [
            0.0,
            5.559746332227818,
            8.18572862081246,
            8.262785599470615,
            98.73415271639286,
            115.33122505475686,
        ];
        let (mut track, mut spread, mut home) = (Geo::track(), Geo::spread(), Geo::home());
        for (i, (lat, lon, t)) in PTS.iter().enumerate() {
            track.add(*lat, *lon, *t, 0);
            spread.add(*lat, *lon, *t, 0);
            home.add(*lat, *lon, *t, 3);
            if i < 3 {
                assert_eq!(track.read_distance(), want_distance[i]);
            }
            assert_eq!(spread.read_spread(), want_spread[i], "spread {i}");
            assert_eq!(home.read_home(), Some(want_home[i]), "home {i}");
        }
        assert_eq!(track.read_velocity(), Some(3284152.7535386025));
        assert_eq!(track.read_distance(), 302.7649521007722);
    }

    #[test]
    fn empty_reads() {
        assert_eq!(Geo::track().read_velocity(), None);
        assert_eq!(Geo::track().read_distance(), 0.0);
        assert_eq!(Geo::spread().read_spread(), None);
        assert_eq!(Geo::home().read_home(), None);
    }
}
