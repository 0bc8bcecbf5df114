//! Figures per run, medians across repetitions, weir/beava ratios, markdown and JSON output.

use crate::drive::Transport;
use crate::server::Kind;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportCfg {
    pub transport: Transport,
    pub conns: usize,
    pub depth: usize,
}

impl TransportCfg {
    pub fn label(&self) -> String {
        format!("{} {}×{}", self.transport.label(), self.conns, self.depth)
    }
}

pub struct RowInput {
    pub kind: Kind,
    pub cfg: TransportCfg,
    pub rep: usize,
    pub keys: u64,
    pub dist: String,
    pub secs: f64,
    pub acked: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub push_lat: Vec<u64>,
    pub get_lat: Vec<u64>,
    pub get_misses: u64,
    pub server_cpu: f64,
    /// Server CPU seconds over the window by thread name (see [`thread_deltas`]).
    pub thread_cpu: Vec<(String, f64)>,
    pub client_cpu: f64,
    /// CPUs the machine offers this process (`available_parallelism`).
    pub machine_cores: f64,
    pub idle_cores: f64,
    pub context_switches: u64,
    pub rss_base: u64,
    pub rss_end: u64,
    /// VmHWM at the end: the server's highest RSS so far (beava's snapshots copy its state).
    pub peak_rss: u64,
    /// weir: (WAL records, fsyncs) during the measurement.
    pub wal: Option<(f64, f64)>,
}

/// One run's figures (latencies in µs).
#[derive(Clone, Debug)]
pub struct Row {
    pub kind: Kind,
    pub cfg: TransportCfg,
    pub rep: usize,
    pub keys: u64,
    pub dist: String,
    pub secs: f64,
    pub acked: u64,
    pub pushes_per_s: f64,
    pub ack_p50: f64,
    pub ack_p99: f64,
    pub ack_p999: f64,
    /// Server CPU seconds per million acked events (= µs of CPU per event).
    pub cpu_per_m: f64,
    /// The same by thread name, largest first.
    pub threads_per_m: Vec<(String, f64)>,
    pub server_cores: f64,
    pub client_cores: f64,
    /// CPUs of the machine the run had (rows saved before session 12 do not say).
    pub machine_cores: Option<f64>,
    /// Server CPU while idle (before the load), cores.
    pub idle_cores: f64,
    /// Server thread context switches per acked event.
    pub cs_per_event: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
    /// (RSS at the end − RSS right after register) / keys.
    pub rss_per_key: f64,
    pub events_per_fsync: Option<f64>,
    pub fsyncs_per_s: Option<f64>,
    pub gets: u64,
    pub get_misses: u64,
    pub get_p50: Option<f64>,
    pub get_p99: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

fn percentile_us(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx] as f64 / 1000.0
}

impl Row {
    pub fn new(mut i: RowInput) -> Row {
        i.push_lat.sort_unstable();
        i.get_lat.sort_unstable();
        let acked = i.acked.max(1) as f64;
        let (events_per_fsync, fsyncs_per_s) = match i.wal {
            Some((records, fsyncs)) if fsyncs > 0.0 => {
                (Some(records / fsyncs), Some(fsyncs / i.secs))
            }
            Some(_) => (None, Some(0.0)),
            None => (None, None),
        };
        let has_gets = !i.get_lat.is_empty();
        Row {
            kind: i.kind,
            cfg: i.cfg,
            rep: i.rep,
            keys: i.keys,
            dist: i.dist,
            secs: i.secs,
            acked: i.acked,
            pushes_per_s: i.acked as f64 / i.secs,
            ack_p50: percentile_us(&i.push_lat, 0.50),
            ack_p99: percentile_us(&i.push_lat, 0.99),
            ack_p999: percentile_us(&i.push_lat, 0.999),
            cpu_per_m: i.server_cpu / acked * 1e6,
            threads_per_m: i
                .thread_cpu
                .iter()
                .map(|(name, cpu)| (name.clone(), cpu / acked * 1e6))
                .collect(),
            server_cores: i.server_cpu / i.secs,
            client_cores: i.client_cpu / i.secs,
            machine_cores: Some(i.machine_cores),
            idle_cores: i.idle_cores,
            cs_per_event: i.context_switches as f64 / acked,
            rss_mb: i.rss_end as f64 / (1024.0 * 1024.0),
            peak_rss_mb: i.peak_rss as f64 / (1024.0 * 1024.0),
            rss_per_key: (i.rss_end as f64 - i.rss_base as f64) / i.keys.max(1) as f64,
            events_per_fsync,
            fsyncs_per_s,
            gets: i.get_lat.len() as u64,
            get_misses: i.get_misses,
            get_p50: has_gets.then(|| percentile_us(&i.get_lat, 0.50)),
            get_p99: has_gets.then(|| percentile_us(&i.get_lat, 0.99)),
            errors: i.errors,
            first_error: i.first_error,
        }
    }

    /// `server CPU by thread, µs per event: weir-writer 2.71, weir-io 2.20, …` (threads under
    /// 0.005 µs left out).
    pub fn threads_line(&self) -> String {
        let listed: Vec<String> = self
            .threads_per_m
            .iter()
            .filter(|(_, us)| *us >= 0.005)
            .map(|(name, us)| format!("{name} {us:.2}"))
            .collect();
        format!(
            "server CPU by thread, µs per event: {}",
            if listed.is_empty() {
                "—".to_string()
            } else {
                listed.join(", ")
            }
        )
    }

    pub fn markdown(&self) -> String {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) if v.is_finite() => format!("{v:.digits$}"),
            _ => "—".into(),
        };
        let mut s = format!(
            "| {} | {} | {} | {:.0} | {:.0} / {:.0} / {:.0} | **{:.1}** | {:.2} | {} | {:.2} | {} | {:.0} | {:.0} | {:.0} | {} | {} / {} | {}",
            self.kind.label(),
            self.cfg.label(),
            if self.rep == usize::MAX { "median".to_string() } else { format!("run {}", self.rep + 1) },
            self.pushes_per_s,
            self.ack_p50,
            self.ack_p99,
            self.ack_p999,
            self.cpu_per_m,
            self.server_cores,
            opt(Some(self.idle_cores), 2),
            self.client_cores,
            opt(Some(self.cs_per_event), 2),
            self.rss_mb,
            self.peak_rss_mb,
            self.rss_per_key,
            opt(self.events_per_fsync, 1),
            opt(self.get_p50, 0),
            opt(self.get_p99, 0),
            self.errors,
        );
        s.push_str(" |");
        if let Some(e) = &self.first_error {
            let short: String = e.chars().take(120).collect();
            let _ = write!(s, " first error: `{short}`");
        }
        s
    }
}

pub fn header() -> String {
    "| server | transport conns×depth | run | pushes/s | ack p50 / p99 / p99.9 µs | server CPU s per M events | server cores | server idle cores | client cores | ctx switches / event | RSS MB | peak RSS MB | ΔRSS B/key | events/fsync | get p50 / p99 µs | errors |\n\
     |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        .to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_opt(v: Vec<Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = v.into_iter().flatten().collect();
    (!v.is_empty()).then(|| median(v))
}

/// Per thread name, the median over the runs (a run without that thread counts 0), largest
/// first.
fn median_threads(runs: &[&Row]) -> Vec<(String, f64)> {
    let mut names: Vec<&String> = Vec::new();
    for (name, _) in runs.iter().flat_map(|r| r.threads_per_m.iter()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut out: Vec<(String, f64)> = names
        .into_iter()
        .map(|name| {
            let per_run = runs
                .iter()
                .map(|r| {
                    r.threads_per_m
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0.0, |(_, us)| *us)
                })
                .collect();
            (name.clone(), median(per_run))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// The median of every figure over the runs of one (server, transport) configuration.
fn median_row(runs: &[&Row]) -> Row {
    let m = |f: &dyn Fn(&Row) -> f64| median(runs.iter().map(|r| f(r)).collect());
    let mo = |f: &dyn Fn(&Row) -> Option<f64>| median_opt(runs.iter().map(|r| f(r)).collect());
    let first = runs[0];
    Row {
        kind: first.kind,
        cfg: first.cfg,
        rep: usize::MAX,
        keys: first.keys,
        dist: first.dist.clone(),
        secs: m(&|r| r.secs),
        acked: m(&|r| r.acked as f64) as u64,
        pushes_per_s: m(&|r| r.pushes_per_s),
        ack_p50: m(&|r| r.ack_p50),
        ack_p99: m(&|r| r.ack_p99),
        ack_p999: m(&|r| r.ack_p999),
        cpu_per_m: m(&|r| r.cpu_per_m),
        threads_per_m: median_threads(runs),
        server_cores: m(&|r| r.server_cores),
        client_cores: m(&|r| r.client_cores),
        machine_cores: mo(&|r| r.machine_cores),
        idle_cores: m(&|r| r.idle_cores),
        cs_per_event: m(&|r| r.cs_per_event),
        rss_mb: m(&|r| r.rss_mb),
        peak_rss_mb: m(&|r| r.peak_rss_mb),
        rss_per_key: m(&|r| r.rss_per_key),
        events_per_fsync: mo(&|r| r.events_per_fsync),
        fsyncs_per_s: mo(&|r| r.fsyncs_per_s),
        gets: m(&|r| r.gets as f64) as u64,
        get_misses: runs.iter().map(|r| r.get_misses).sum(),
        get_p50: mo(&|r| r.get_p50),
        get_p99: mo(&|r| r.get_p99),
        errors: runs.iter().map(|r| r.errors).sum(),
        first_error: runs.iter().find_map(|r| r.first_error.clone()),
    }
}

/// Medians table plus the weir/beava ratios, as markdown.
pub fn summary(rows: &[Row], kinds: &[Kind], cfgs: &[TransportCfg], repeat: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Medians of {repeat} run(s) (keys {}, {})\n",
        rows.first().map_or(0, |r| r.keys),
        rows.first().map_or("", |r| r.dist.as_str())
    );
    let _ = writeln!(out, "{}", header());
    let mut medians: Vec<Row> = Vec::new();
    for cfg in cfgs {
        for kind in kinds {
            let runs: Vec<&Row> = rows
                .iter()
                .filter(|r| r.cfg == *cfg && r.kind == *kind)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let m = median_row(&runs);
            let _ = writeln!(out, "{}", m.markdown());
            medians.push(m);
        }
    }
    let _ = writeln!(out);
    for m in &medians {
        if !m.threads_per_m.is_empty() {
            let _ = writeln!(
                out,
                "{} over {}: {}",
                m.kind.label(),
                m.cfg.label(),
                m.threads_line()
            );
        }
    }
    for m in medians.iter().filter(|m| m.kind.is_weir()) {
        if let Some(fs) = m.fsyncs_per_s {
            let _ = writeln!(
                out,
                "\n{} over {}: {:.1} events per fsync ({:.0} fsyncs/s)",
                m.kind.label(),
                m.cfg.label(),
                m.events_per_fsync.unwrap_or(f64::NAN),
                fs
            );
        }
    }
    for note in medians.iter().filter_map(headroom_note) {
        let _ = write!(out, "\n{note}\n");
    }

    let beava: Vec<&Row> = medians.iter().filter(|m| m.kind == Kind::Beava).collect();
    let weirs: Vec<&Row> = medians.iter().filter(|m| m.kind.is_weir()).collect();
    if !beava.is_empty() && !weirs.is_empty() {
        let _ = writeln!(
            out,
            "\n### Ratios weir / beava (medians)\n\n\
             | weir mode | transport | pushes/s | server CPU per event | ack p50 | ack p99 | get p99 | RSS | peak RSS |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
        for w in &weirs {
            let Some(b) = beava.iter().find(|b| b.cfg == w.cfg) else {
                continue;
            };
            let ratio = |a: f64, b: f64| {
                if a.is_finite() && b.is_finite() && b != 0.0 {
                    format!("{:.2}×", a / b)
                } else {
                    "—".into()
                }
            };
            let get = match (w.get_p99, b.get_p99) {
                (Some(a), Some(bb)) => ratio(a, bb),
                _ => "—".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                w.kind.label(),
                w.cfg.label(),
                ratio(w.pushes_per_s, b.pushes_per_s),
                ratio(w.cpu_per_m, b.cpu_per_m),
                ratio(w.ack_p50, b.ack_p50),
                ratio(w.ack_p99, b.ack_p99),
                get,
                ratio(w.rss_mb, b.rss_mb),
                ratio(w.peak_rss_mb, b.peak_rss_mb),
            );
        }
    }
    out.push_str(&run_by_run(rows, cfgs));
    out
}

/// Cores the server and the client left idle for a run to count as bound by something else
/// than CPU.
const HEADROOM_CORES_MIN: f64 = 0.25;

/// A note when a (median) run left the machine idle: it was not bound by the machine's CPU
/// but by one busy thread (the busiest is named, in cores) or by the requests in flight against
/// the loop's latency (for weir with durable acks: the group commit's fdatasync) — in which
/// case more in flight per connection measures the server (decision 0032).
fn headroom_note(row: &Row) -> Option<String> {
    let machine = row.machine_cores?;
    let idle = machine - row.server_cores - row.client_cores;
    if idle.is_nan() || idle < HEADROOM_CORES_MIN {
        return None;
    }
    let busiest = row
        .threads_per_m
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(String::new(), |(name, us)| {
            format!(
                "; busiest thread {name} at {:.2} core",
                us * row.pushes_per_s / 1e6
            )
        });
    Some(format!(
        "{} over {}: {idle:.2} of {machine:.0} cores idle (server {:.2}, client {:.2}{busiest}): \
         bound by one thread or by the requests in flight, not by the machine's CPU",
        row.kind.label(),
        row.cfg.label(),
        row.server_cores,
        row.client_cores,
    ))
}

/// CPU seconds by thread name between two readings, largest first. A thread that started in
/// between counts from zero; one that ended is left out (its time is in neither reading).
pub fn thread_deltas(before: &[(String, f64)], after: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut deltas: Vec<(String, f64)> = after
        .iter()
        .map(|(name, end)| {
            let start = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0.0, |(_, s)| *s);
            (name.clone(), (end - start).max(0.0))
        })
        .collect();
    deltas.sort_by(|a, b| b.1.total_cmp(&a.1));
    deltas
}

/// The pairs compared run by run: (numerator, denominator).
const PAIRS: [(Kind, Kind); 3] = [
    (Kind::Weir, Kind::Beava),
    (Kind::WeirRelaxed, Kind::Beava),
    (Kind::WeirCandidate, Kind::Weir),
];

/// Ratios of runs with the same repetition index (run back to back, so in the same phase of a
/// noisy machine), and their medians: steadier than the ratio of two medians.
fn run_by_run(rows: &[Row], cfgs: &[TransportCfg]) -> String {
    let mut lines = Vec::new();
    for cfg in cfgs {
        for (a, b) in PAIRS {
            let runs_of = |kind: Kind, rep: usize| {
                rows.iter()
                    .filter(move |r| r.cfg == *cfg && r.kind == kind && r.rep == rep)
            };
            // The k-th run numbered `rep` of one server goes with the k-th of the other: runs
            // pooled from several files (`--summarize`) pair within their own invocation.
            let pairs: Vec<(&Row, &Row)> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.cfg == *cfg && r.kind == a)
                .filter_map(|(i, ra)| {
                    let k = rows[..i]
                        .iter()
                        .filter(|r| r.cfg == *cfg && r.kind == a && r.rep == ra.rep)
                        .count();
                    Some((ra, runs_of(b, ra.rep).nth(k)?))
                })
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let column = |f: fn(&Row) -> f64| {
                let mut ratios: Vec<f64> = pairs.iter().map(|(ra, rb)| f(ra) / f(rb)).collect();
                let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
                ratios.sort_by(f64::total_cmp);
                let mid = ratios.len() / 2;
                let median = if ratios.len() % 2 == 1 {
                    ratios[mid]
                } else {
                    (ratios[mid - 1] + ratios[mid]) / 2.0
                };
                format!("**{median:.2}×** ({})", listed.join(", "))
            };
            lines.push(format!(
                "| {} / {} | {} | {} | {} | {} |",
                a.label(),
                b.label(),
                cfg.label(),
                column(|r| r.pushes_per_s),
                column(|r| r.cpu_per_m),
                column(|r| r.ack_p99),
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "\n### Run by run (median of the per-run ratios; each run's ratio)\n\n\
         | pair | transport | pushes/s | server CPU per event | ack p99 |\n\
         |---|---|---|---|---|\n{}\n",
        lines.join("\n")
    )
}

pub fn append_json(path: &Path, row: &Row, args: &str) {
    let v = serde_json::json!({
        "server": row.kind.label(),
        "transport": row.cfg.transport.label(),
        "conns": row.cfg.conns,
        "depth": row.cfg.depth,
        "run": row.rep + 1,
        "args": args,
        "secs": row.secs,
        "acked": row.acked,
        "pushes_per_s": row.pushes_per_s,
        "ack_p50_us": row.ack_p50,
        "ack_p99_us": row.ack_p99,
        "ack_p999_us": row.ack_p999,
        "server_cpu_s_per_m_events": row.cpu_per_m,
        "server_cpu_s_per_m_events_by_thread": row
            .threads_per_m
            .iter()
            .map(|(name, us)| (name.clone(), serde_json::json!(us)))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "server_cores": row.server_cores,
        "client_cores": row.client_cores,
        "machine_cores": row.machine_cores,
        "server_idle_cores": row.idle_cores,
        "context_switches_per_event": row.cs_per_event,
        "rss_mb": row.rss_mb,
        "peak_rss_mb": row.peak_rss_mb,
        "rss_delta_bytes_per_key": row.rss_per_key,
        "events_per_fsync": row.events_per_fsync,
        "fsyncs_per_s": row.fsyncs_per_s,
        "gets": row.gets,
        "get_misses": row.get_misses,
        "get_p50_us": row.get_p50,
        "get_p99_us": row.get_p99,
        "errors": row.errors,
        "first_error": row.first_error,
    });
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{v}");
    }
}

/// Rebuilds the rows saved by `append_json` (for `--summarize`: medians pooled over several
/// invocations). Lines that do not parse are skipped with a warning.
pub fn load_json(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match row_from_json(line) {
            Some(row) => rows.push(row),
            None => eprintln!(
                "loadgen: {}:{}: not a loadgen row, skipped",
                path.display(),
                n + 1
            ),
        }
    }
    Ok(rows)
}

fn row_from_json(line: &str) -> Option<Row> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let f = |k: &str| v[k].as_f64();
    let kind = match v["server"].as_str()? {
        "weir durable" => Kind::Weir,
        "weir relaxed" => Kind::WeirRelaxed,
        "weir candidate" => Kind::WeirCandidate,
        "beava 0.0.6" => Kind::Beava,
        _ => return None,
    };
    let transport = match v["transport"].as_str()? {
        "HTTP/1.1 JSON" => Transport::Http,
        "TCP msgpack" => Transport::Tcp,
        _ => return None,
    };
    let args = v["args"].as_str().unwrap_or("");
    let arg = |name: &str| {
        args.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_string()
    };
    Some(Row {
        kind,
        cfg: TransportCfg {
            transport,
            conns: v["conns"].as_u64()? as usize,
            depth: v["depth"].as_u64()? as usize,
        },
        rep: v["run"].as_u64().unwrap_or(1).saturating_sub(1) as usize,
        keys: arg("keys").parse().unwrap_or(0),
        dist: arg("dist"),
        secs: f("secs")?,
        acked: v["acked"].as_u64()?,
        pushes_per_s: f("pushes_per_s")?,
        ack_p50: f("ack_p50_us").unwrap_or(f64::NAN),
        ack_p99: f("ack_p99_us").unwrap_or(f64::NAN),
        ack_p999: f("ack_p999_us").unwrap_or(f64::NAN),
        cpu_per_m: f("server_cpu_s_per_m_events")?,
        threads_per_m: v["server_cpu_s_per_m_events_by_thread"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(name, us)| Some((name.clone(), us.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default(),
        server_cores: f("server_cores").unwrap_or(f64::NAN),
        client_cores: f("client_cores").unwrap_or(f64::NAN),
        machine_cores: f("machine_cores"),
        idle_cores: f("server_idle_cores").unwrap_or(f64::NAN),
        cs_per_event: f("context_switches_per_event").unwrap_or(f64::NAN),
        rss_mb: f("rss_mb").unwrap_or(f64::NAN),
        peak_rss_mb: f("peak_rss_mb").unwrap_or(f64::NAN),
        rss_per_key: f("rss_delta_bytes_per_key").unwrap_or(f64::NAN),
        events_per_fsync: f("events_per_fsync"),
        fsyncs_per_s: f("fsyncs_per_s"),
        gets: v["gets"].as_u64().unwrap_or(0),
        get_misses: v["get_misses"].as_u64().unwrap_or(0),
        get_p50: f("get_p50_us"),
        get_p99: f("get_p99_us"),
        errors: v["errors"].as_u64().unwrap_or(0),
        first_error: v["first_error"].as_str().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: &str, run: u64, pushes: f64, cpu: f64) -> Row {
        let line = serde_json::json!({
            "server": server, "transport": "HTTP/1.1 JSON", "conns": 32, "depth": 8, "run": run,
            "secs": 10.0, "acked": 1000, "pushes_per_s": pushes,
            "server_cpu_s_per_m_events": cpu, "ack_p99_us": 1000.0,
        });
        row_from_json(&line.to_string()).expect("a loadgen row")
    }

    #[test]
    fn thread_cpu_is_per_name_over_the_window_largest_first() {
        let name = |n: &str| n.to_string();
        let before = [
            (name("weir-io"), 10.0),
            (name("weir-writer"), 5.0),
            (name("gone"), 1.0),
        ];
        let after = [
            (name("weir-io"), 11.0),
            (name("weir-writer"), 7.5),
            (name("new"), 0.25),
        ];
        assert_eq!(
            thread_deltas(&before, &after),
            vec![
                (name("weir-writer"), 2.5),
                (name("weir-io"), 1.0),
                (name("new"), 0.25)
            ]
        );
        let mut a = row("weir durable", 1, 100.0, 4.0);
        a.threads_per_m = vec![(name("weir-writer"), 2.0), (name("weir-io"), 2.0)];
        let mut b = row("weir durable", 2, 100.0, 6.0);
        b.threads_per_m = vec![(name("weir-io"), 3.0), (name("weir-writer"), 3.0)];
        let mut c = row("weir durable", 3, 100.0, 5.0);
        c.threads_per_m = vec![(name("weir-io"), 1.0), (name("weir-snapshot"), 0.5)];
        let m = median_row(&[&a, &b, &c]);
        assert_eq!(
            m.threads_per_m,
            // Ties stay in the order the names were first seen.
            vec![
                (name("weir-writer"), 2.0),
                (name("weir-io"), 2.0),
                (name("weir-snapshot"), 0.0)
            ]
        );
        assert_eq!(
            m.threads_line(),
            "server CPU by thread, µs per event: weir-writer 2.00, weir-io 2.00"
        );
    }

    #[test]
    fn headroom_is_noted_only_when_the_machine_was_left_idle() {
        let with_cores = |server: f64, client: f64, machine: Option<f64>| {
            let mut r = row("weir durable", 1, 100.0, 4.0);
            (r.server_cores, r.client_cores, r.machine_cores) = (server, client, machine);
            r
        };
        let note = headroom_note(&with_cores(1.2, 0.4, Some(2.0))).expect("0.4 cores idle");
        assert!(
            note.starts_with("weir durable over HTTP/1.1 JSON 32×8: 0.40 of 2 cores idle"),
            "{note}"
        );
        assert!(note.contains("(server 1.20, client 0.40)"), "{note}");
        let mut threads = with_cores(1.2, 0.4, Some(2.0));
        // 100 pushes/s: 9 000 µs per push is 0.9 core.
        threads.threads_per_m = vec![("weir-io".into(), 3_000.0), ("weir-writer".into(), 9_000.0)];
        let note = headroom_note(&threads).expect("0.4 cores idle");
        assert!(
            note.contains("(server 1.20, client 0.40; busiest thread weir-writer at 0.90 core)"),
            "{note}"
        );
        assert_eq!(headroom_note(&with_cores(1.6, 0.3, Some(2.0))), None);
        // Rows saved before the machine's cores were recorded.
        assert_eq!(headroom_note(&with_cores(0.5, 0.1, None)), None);
        let saved = row("weir durable", 1, 100.0, 4.0);
        assert_eq!(saved.machine_cores, None);
        let summary = summary(
            &[with_cores(1.2, 0.4, Some(2.0))],
            &[Kind::Weir],
            &[saved.cfg],
            1,
        );
        assert!(summary.contains("0.40 of 2 cores idle"), "{summary}");
    }

    #[test]
    fn run_by_run_pairs_runs_of_the_same_invocation() {
        // Two invocations pooled: each run's ratio uses the other server's run with its number.
        let rows = vec![
            row("weir durable", 1, 200.0, 4.0),
            row("weir candidate", 1, 220.0, 3.0),
            row("beava 0.0.6", 1, 100.0, 10.0),
            row("weir durable", 2, 300.0, 5.0),
            row("weir candidate", 2, 330.0, 4.0),
            row("beava 0.0.6", 2, 100.0, 12.0),
            row("weir durable", 1, 100.0, 8.0),
            row("weir candidate", 1, 90.0, 8.0),
            row("beava 0.0.6", 1, 50.0, 16.0),
        ];
        let cfgs = [rows[0].cfg];
        let table = run_by_run(&rows, &cfgs);
        let line = |pair: &str| {
            table
                .lines()
                .find(|l| l.starts_with(pair))
                .unwrap_or_else(|| panic!("no {pair} line in {table}"))
                .to_string()
        };
        let weir = line("| weir durable / beava 0.0.6 |");
        assert!(weir.contains("**2.00×** (2.00, 3.00, 2.00)"), "{weir}");
        assert!(weir.contains("**0.42×** (0.40, 0.42, 0.50)"), "{weir}");
        let candidate = line("| weir candidate / weir durable |");
        assert!(
            candidate.contains("**1.10×** (1.10, 1.10, 0.90)"),
            "{candidate}"
        );
        assert!(
            candidate.contains("**0.80×** (0.75, 0.80, 1.00)"),
            "{candidate}"
        );
        assert!(!table.contains("weir relaxed"), "{table}");
    }
}
