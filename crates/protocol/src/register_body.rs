//! `/register` success bodies (beava-compat §4.5) and the diff encoding (§4.6).
//!
//! Members are alphabetical, as in beava's output: `{"added","already_present",
//! "registered_descriptors","registry_version","status"}`; diff entries are
//! `{"kind":K, ...}` objects whose members are sorted too (`{"agg":"","kind":"agg_removal",
//! "table":"T"}`).

use model::{Diff, DiffEntry};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// `200 {"added":[..],"already_present":[..],"registered_descriptors":[..],
/// "registry_version":N,"status":"ok"}`.
#[derive(Serialize, Debug)]
pub struct RegisterSuccess<'a> {
    pub added: &'a [String],
    pub already_present: &'a [String],
    pub registered_descriptors: &'a [String],
    pub registry_version: u64,
    pub status: &'static str,
}

/// `dry_run: true` ⇒ `200 {"diff":{...},"would_apply":false}`.
#[derive(Serialize, Debug)]
pub struct DryRunBody<'a> {
    pub diff: DiffBody<'a>,
    pub would_apply: bool,
}

/// `{"additive":[..],"already_present":[..],"destructive":[..]}`.
#[derive(Debug, Clone, Copy)]
pub struct DiffBody<'a>(pub &'a Diff);

impl Serialize for DiffBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("additive", &Entries(&self.0.additive))?;
        map.serialize_entry("already_present", &self.0.already_present)?;
        map.serialize_entry("destructive", &Entries(&self.0.destructive))?;
        map.end()
    }
}

struct Entries<'a>(&'a [DiffEntry]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for entry in self.0 {
            seq.serialize_element(&Entry(entry))?;
        }
        seq.end()
    }
}

struct Entry<'a>(&'a DiffEntry);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // model's impl writes beava's member set (incl. key lists) in alphabetical order.
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_json_vec;

    #[test]
    fn success_body_matches_beava() {
        let added = vec!["UserStats".to_string(), "Click".to_string()];
        let registered = vec!["Click".to_string(), "UserStats".to_string()];
        let body = RegisterSuccess {
            added: &added,
            already_present: &[],
            registered_descriptors: &registered,
            registry_version: 1,
            status: "ok",
        };
        assert_eq!(
            String::from_utf8(to_json_vec(&body)).unwrap(),
            r#"{"added":["UserStats","Click"],"already_present":[],"registered_descriptors":["Click","UserStats"],"registry_version":1,"status":"ok"}"#
        );
    }

    #[test]
    fn dry_run_and_diff_entries() {
        let diff = Diff {
            additive: vec![
                DiffEntry::NewDescriptor {
                    descriptor_kind: "event".into(),
                    name: "Click".into(),
                },
                DiffEntry::NewField {
                    event: "Click".into(),
                    field: "x".into(),
                    ty: "i64".into(),
                },
            ],
            destructive: vec![DiffEntry::WindowChange {
                agg: "T.f".into(),
                from: "1h".into(),
                to: "2h".into(),
            }],
            already_present: vec!["T".into()],
        };
        let body = DryRunBody {
            diff: DiffBody(&diff),
            would_apply: false,
        };
        assert_eq!(
            String::from_utf8(to_json_vec(&body)).unwrap(),
            concat!(
                r#"{"diff":{"additive":[{"descriptor_kind":"event","kind":"new_descriptor","name":"Click"},"#,
                r#"{"event":"Click","field":"x","kind":"new_field","type":"i64"}],"already_present":["T"],"#,
                r#""destructive":[{"agg":"T.f","from":"1h","kind":"window_change","to":"2h"}]},"would_apply":false}"#
            )
        );
    }
}
