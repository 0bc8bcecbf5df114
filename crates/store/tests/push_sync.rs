//! `/push-sync` and TCP PUSH_SYNC behave as their names say: in relaxed ack mode (acks after the
//! write to the OS) a sync push is still acknowledged only after fdatasync, so a power loss right
//! after its ack cannot lose it — while a plain relaxed push acked just before may be lost.

use compact_str::CompactString;
use engine::ReadTime;
use model::Value;
use persist::{CrashMode, SimDisk, WalOptions};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use store::{AckMode, Command, ManualClock, Outcome, Store, StoreConfig, WalConfig};

fn open(disk: &SimDisk, dir: &Path) -> Store {
    let config = StoreConfig {
        wal: Some(WalConfig {
            disk: Arc::new(disk.clone()),
            dir: dir.to_path_buf(),
            options: WalOptions::default(),
            // A loss window far longer than the test: only an explicit sync makes data durable.
            ack: AckMode::Relaxed {
                sync_interval_ms: 3_600_000,
            },
        }),
        ..StoreConfig::default()
    };
    let clock = Arc::new(ManualClock::new(1_000));
    Store::open(config, clock).expect("opens").0
}

fn push(sync: bool, key: &str) -> Command {
    let event = CompactString::from("E");
    let fields = Value::Map(vec![("k".into(), Value::str(key))]);
    if sync {
        Command::PushSync { event, fields }
    } else {
        Command::Push { event, fields }
    }
}

fn count(store: &Store, key: &str) -> Value {
    store.handle().read(|engine| {
        let row = engine.get("T", key, None, ReadTime::Watermark).unwrap();
        match row {
            Value::Map(members) => members
                .into_iter()
                .find(|(name, _)| name == "n")
                .map_or(Value::Null, |(_, v)| v),
            _ => Value::Null,
        }
    })
}

#[test]
fn a_sync_push_survives_a_power_loss_in_relaxed_mode() {
    let disk = SimDisk::new();
    let dir = Path::new("/sim/push-sync");
    let store = open(&disk, dir);
    let register = json!({"nodes": [
        {"kind": "event", "name": "E", "schema": {"fields": {"k": "str"}}},
        {"kind": "derivation", "name": "T", "output_kind": "table", "upstreams": ["E"],
         "table_primary_key": ["k"],
         "ops": [{"op": "group_by", "keys": ["k"], "agg": {"n": {"op": "count", "params": {}}}}]}]});
    let outcome = store
        .handle()
        .submit(Command::Register(register))
        .unwrap()
        .wait();
    assert!(matches!(outcome, Ok(Outcome::Register(Ok(_)))));
    for (sync, key) in [(false, "relaxed"), (true, "synced")] {
        let outcome = store.handle().submit(push(sync, key)).unwrap().wait();
        assert!(matches!(outcome, Ok(Outcome::Push(Ok(_)))), "{outcome:?}");
    }
    // Power loss: everything not fdatasync'ed is gone. The sync push's fsync also covered the
    // relaxed push written before it (same segment, earlier offset).
    disk.crash(CrashMode::DropUnsynced);
    drop(store);
    let store = open(&disk, dir);
    assert_eq!(count(&store, "synced"), Value::I64(1));
    assert_eq!(count(&store, "relaxed"), Value::I64(1));

    // A relaxed push with no sync after it is not durable yet: a power loss may take it.
    let outcome = store.handle().submit(push(false, "late")).unwrap().wait();
    assert!(matches!(outcome, Ok(Outcome::Push(Ok(_)))));
    disk.crash(CrashMode::DropUnsynced);
    drop(store);
    let store = open(&disk, dir);
    assert_eq!(
        count(&store, "late"),
        Value::Null,
        "relaxed ack: bounded loss window"
    );
    assert_eq!(count(&store, "synced"), Value::I64(1));
}
