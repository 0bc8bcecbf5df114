//! The store's write path: processing time from the clock, read-after-write, the status the
//! admin plane reads, overload and shutdown.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use store::{Command, ManualClock, Outcome, Store, StoreConfig, SubmitError};

fn registration() -> serde_json::Value {
    json!({"nodes": [
        {"kind": "event", "name": "Click", "schema": {"fields": {"user": "str"}, "optional_fields": []}},
        {"kind": "derivation", "name": "Users", "output_kind": "table", "upstreams": ["Click"],
         "ops": [{"op": "group_by", "keys": ["user"], "agg": {
             "clicks": {"op": "count", "params": {}},
             "seen": {"op": "last_seen", "params": {}}}}],
         "table_primary_key": ["user"]}
    ]})
}

fn push(user: &str) -> Command {
    Command::Push {
        event: "Click".into(),
        fields: model::Value::Map(vec![("user".into(), model::Value::str(user))]),
    }
}

fn get(store: &Store, user: &str) -> model::Value {
    store
        .handle()
        .read(|e| e.get("Users", user, None, engine::ReadTime::Now(0)))
        .unwrap()
}

/// Holds the engine's read lock for `duration` on another thread (the writer, needing the write
/// lock, stops making progress); returns once the lock is held.
fn hold_engine(handle: &store::StoreHandle, duration: Duration) -> std::thread::JoinHandle<()> {
    let reader = handle.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        reader.read(|_| {
            locked_tx.send(()).unwrap();
            std::thread::sleep(duration);
        })
    });
    locked_rx.recv().unwrap();
    holder
}

/// A memory-only store with `registration()` applied.
fn registered_store(now_ms: i64) -> Store {
    let store = Store::start(StoreConfig::default(), Arc::new(ManualClock::new(now_ms)));
    store
        .handle()
        .submit(Command::Register(registration()))
        .unwrap()
        .wait()
        .unwrap();
    store
}

#[test]
fn register_push_read_after_write() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::start(StoreConfig::default(), clock.clone());
    let handle = store.handle();
    let outcome = handle
        .submit(Command::Register(registration()))
        .unwrap()
        .wait()
        .unwrap();
    assert!(matches!(outcome, Outcome::Register(Ok(_))), "{outcome:?}");
    assert_eq!(
        handle.status().registry_version(),
        1,
        "published before the reply"
    );

    clock.set_ms(5_000);
    let mut last = 0;
    for _ in 0..3 {
        let Outcome::Push(Ok(acked)) = handle.submit(push("u")).unwrap().wait().unwrap() else {
            panic!("push refused");
        };
        assert!(acked.lsn.0 > last);
        last = acked.lsn.0;
        assert_eq!(acked.registry_version, 1);
    }
    // Acked ⇒ visible; the processing time is the clock's at dispatch.
    let row = get(&store, "u");
    let model::Value::Map(members) = row else {
        panic!()
    };
    assert_eq!(members[0], ("clicks".into(), model::Value::I64(3)));
    assert_eq!(members[1].1, model::Value::I64(5_000));

    let Outcome::Push(Err(refused)) = handle
        .submit(Command::Push {
            event: "Nope".into(),
            fields: model::Value::Map(vec![]),
        })
        .unwrap()
        .wait()
        .unwrap()
    else {
        panic!("unknown event accepted");
    };
    assert_eq!(refused.error.code, "event_not_found");

    let Outcome::Reset { registry_version } =
        handle.submit(Command::Reset).unwrap().wait().unwrap()
    else {
        panic!()
    };
    assert_eq!(registry_version, 2);
    assert_eq!(handle.status().registry_version(), 2);
    store.shutdown();
}

#[test]
fn status_counters_are_published_when_idle() {
    let store = registered_store(1);
    let handle = store.handle();
    for user in ["a", "b", "a"] {
        handle.submit(push(user)).unwrap().wait().unwrap();
    }
    let mut snapshot = handle.status().snapshot();
    for _ in 0..200 {
        if snapshot.entity_count_resident == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        snapshot = handle.status().snapshot();
    }
    assert_eq!(snapshot.entity_count_resident, 2);
    assert_eq!(snapshot.pushes_acked_total, 3);
    assert_eq!(snapshot.node_count, 2);
    assert_eq!(snapshot.last_lsn, 3);
    assert!(snapshot.writer_running);
}

#[test]
fn a_full_queue_is_refused_not_waited_for() {
    let store = Store::start(
        StoreConfig {
            queue_capacity: 2,
            batch_max: 1,
            ..StoreConfig::default()
        },
        Arc::new(ManualClock::new(1)),
    );
    let handle = store.handle();
    let holder = hold_engine(&handle, Duration::from_millis(200));
    let mut tickets = Vec::new();
    let mut refused = 0;
    for _ in 0..10 {
        match handle.submit(Command::Reset) {
            Ok(ticket) => tickets.push(ticket),
            Err(SubmitError::Overloaded) => refused += 1,
            Err(SubmitError::Stopped) => panic!("stopped"),
        }
    }
    assert!(
        refused >= 10 - 3,
        "at most the queue plus the command in hand are taken"
    );
    holder.join().unwrap();
    for ticket in tickets {
        assert!(matches!(ticket.wait(), Ok(Outcome::Reset { .. })));
    }
    assert_eq!(handle.status().snapshot().overloaded_total, refused);
}

#[test]
fn after_shutdown_submissions_are_stopped() {
    let store = Store::start(StoreConfig::default(), Arc::new(ManualClock::new(1)));
    let handle = store.handle();
    store.shutdown();
    assert!(!handle.status().writer_running());
    assert_eq!(
        handle.submit(Command::Reset).unwrap_err(),
        SubmitError::Stopped
    );
}

/// A read of many rows (`batch_get`, `MGET`) yields the engine to a waiting writer between
/// rows: a push submitted while the read is open is applied before the read ends.
#[test]
fn a_long_read_session_lets_pushes_through_between_rows() {
    let store = registered_store(1_000);
    let handle = store.handle();
    let acked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started, wait_started) = std::sync::mpsc::channel();
    let pusher = {
        let handle = store.handle();
        let acked = Arc::clone(&acked);
        std::thread::spawn(move || {
            wait_started.recv().unwrap();
            let outcome = handle.submit(push("during")).unwrap().wait().unwrap();
            assert!(matches!(outcome, Outcome::Push(Ok(_))), "{outcome:?}");
            acked.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let rows_read = handle.read_session(|session| {
        started.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut rows = 0u64;
        while !acked.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "the push never got past the open read"
            );
            let _ = session
                .engine()
                .get("Users", "during", None, engine::ReadTime::Watermark);
            rows += 1;
            session.yield_to_writer();
            std::thread::sleep(Duration::from_millis(1));
        }
        // Still inside the session: the push's effect is visible to the next row.
        let row = session
            .engine()
            .get("Users", "during", None, engine::ReadTime::Watermark)
            .unwrap();
        assert!(
            matches!(row, model::Value::Map(ref m) if !m.is_empty()),
            "{row:?}"
        );
        rows
    });
    assert!(rows_read >= 1);
    pusher.join().unwrap();
}

/// A push queued behind a register is validated against the registry of its turn, not the one
/// current when it was submitted (a guard for validating pushes earlier: decision 0011).
#[test]
fn a_push_queued_behind_a_register_is_validated_against_the_new_registry() {
    let store = registered_store(1_000);
    let handle = store.handle();
    let with_table = json!({"nodes": [
        {"kind": "event", "name": "Click", "schema": {"fields": {"user": "str"}, "optional_fields": []}},
        {"kind": "derivation", "name": "Users", "output_kind": "table", "upstreams": ["Click"],
         "ops": [{"op": "group_by", "keys": ["user"], "agg": {
             "clicks": {"op": "count", "params": {}},
             "seen": {"op": "last_seen", "params": {}}}}],
         "table_primary_key": ["user"]},
        {"kind": "event", "name": "View", "schema": {"fields": {"page": "str"}, "optional_fields": []}},
        {"kind": "derivation", "name": "Pages", "output_kind": "table", "upstreams": ["View"],
         "ops": [{"op": "group_by", "keys": ["page"], "agg": {"views": {"op": "count", "params": {}}}}],
         "table_primary_key": ["page"]}
    ]});
    let view = |page: &str| Command::Push {
        event: "View".into(),
        fields: model::Value::Map(vec![("page".into(), model::Value::str(page))]),
    };
    // While a read holds the engine the writer cannot finish the register, so the registry is
    // still the old one when the pushes are submitted.
    let (register, click, new_event) = handle.read_session(|_| {
        (
            handle.submit(Command::Register(with_table)).unwrap(),
            handle.submit(push("u")).unwrap(),
            handle.submit(view("home")).unwrap(),
        )
    });
    assert!(matches!(register.wait().unwrap(), Outcome::Register(Ok(_))));
    // Validated against version 1, applied under version 2 (Click unchanged): accepted.
    let Outcome::Push(Ok(acked)) = click.wait().unwrap() else {
        panic!("click refused");
    };
    assert_eq!(acked.registry_version, 2);
    // Unknown under version 1, so the writer validated it: accepted under version 2.
    assert!(matches!(new_event.wait().unwrap(), Outcome::Push(Ok(_))));
    let views = handle
        .read(|e| e.get("Pages", "home", None, engine::ReadTime::Now(0)))
        .unwrap();
    assert_eq!(
        views,
        model::Value::Map(vec![("views".into(), model::Value::I64(1))])
    );

    // A forced schema change behind which a now-invalid push waits: refused, nothing applied.
    let retyped = json!({"nodes": [
        {"kind": "event", "name": "Click", "schema": {"fields": {"user": "i64"}, "optional_fields": []}},
        {"kind": "derivation", "name": "Users", "output_kind": "table", "upstreams": ["Click"],
         "ops": [{"op": "group_by", "keys": ["user"], "agg": {"clicks": {"op": "count", "params": {}}}}],
         "table_primary_key": ["user"]}
    ], "force": true});
    let (register, click) = handle.read_session(|_| {
        (
            handle.submit(Command::Register(retyped)).unwrap(),
            handle.submit(push("u")).unwrap(),
        )
    });
    let registered = register.wait().unwrap();
    assert!(
        matches!(registered, Outcome::Register(Ok(_))),
        "{registered:?}"
    );
    let Outcome::Push(Err(refused)) = click.wait().unwrap() else {
        panic!("a str user accepted by an i64 schema");
    };
    assert_eq!(refused.error.code, "invalid_event");
}

/// A push validated by a connection (as the I/O threads do, decision 0029) against the
/// registry of the moment.
fn prevalidated(handle: &store::StoreHandle, user: &str) -> Command {
    let body = model::Value::Map(vec![("user".into(), model::Value::str(user))]);
    match store::PushValidator::default().prevalidate(handle, "Click", body) {
        engine::Prevalidation::Accepted(push) => Command::Prevalidated { push, sync: false },
        other => panic!("not prevalidated: {other:?}"),
    }
}

#[test]
fn a_prevalidated_push_behind_a_register_is_validated_again_if_the_registry_changed() {
    let store = registered_store(1_000);
    let handle = store.handle();
    let clicks = |user: &str| {
        handle
            .read(|e| e.get("Users", user, None, engine::ReadTime::Now(0)))
            .ok()
            .and_then(|row| match row {
                model::Value::Map(members) => members
                    .into_iter()
                    .find(|(name, _)| name == "clicks")
                    .map(|(_, value)| value),
                _ => None,
            })
    };
    // The registry it was validated against is current: taken as it stands.
    let Outcome::Push(Ok(_)) = handle
        .submit(prevalidated(&handle, "u"))
        .unwrap()
        .wait()
        .unwrap()
    else {
        panic!("refused");
    };
    assert_eq!(clicks("u"), Some(model::Value::I64(1)));

    // A push validated now, queued behind `registration`, which the writer (held up by a
    // read) can only execute after the push is submitted: the push's outcome.
    let register_before_prevalidated = |registration: serde_json::Value| {
        let click = prevalidated(&handle, "u");
        let (register, click) = handle.read_session(|_| {
            (
                handle.submit(Command::Register(registration)).unwrap(),
                handle.submit(click).unwrap(),
            )
        });
        let registered = register.wait().unwrap();
        assert!(
            matches!(registered, Outcome::Register(Ok(_))),
            "{registered:?}"
        );
        click.wait().unwrap()
    };

    // Re-registered with the same Click schema (a new registry, an added event): accepted
    // after validating again.
    let mut added = registration();
    added["nodes"].as_array_mut().unwrap().push(
        json!({"kind": "event", "name": "View", "schema": {"fields": {"page": "str"}, "optional_fields": []}}),
    );
    let Outcome::Push(Ok(acked)) = register_before_prevalidated(added) else {
        panic!("refused after an unrelated change");
    };
    assert_eq!(acked.registry_version, 2);
    assert_eq!(clicks("u"), Some(model::Value::I64(2)));

    // `user` retyped meanwhile: refused as the writer's own validation refuses it.
    let retyped = json!({"nodes": [
        {"kind": "event", "name": "Click", "schema": {"fields": {"user": "i64"}, "optional_fields": []}},
        {"kind": "derivation", "name": "Users", "output_kind": "table", "upstreams": ["Click"],
         "ops": [{"op": "group_by", "keys": ["user"], "agg": {"clicks": {"op": "count", "params": {}}}}],
         "table_primary_key": ["user"]}
    ], "force": true});
    let Outcome::Push(Err(refused)) = register_before_prevalidated(retyped) else {
        panic!("a str user accepted by an i64 schema");
    };
    assert_eq!(refused.error.code, "invalid_event");
    assert_eq!(refused.error.reason, "field 'user' expects i64, got str");
    assert_eq!(
        clicks("u"),
        None,
        "the forced change reset the table; nothing applied"
    );
}

#[test]
fn a_batch_runs_in_order_and_answers_each_command() {
    let store = registered_store(1_000);
    let handle = store.handle();
    let bad = Command::Push {
        event: "Nope".into(),
        fields: model::Value::Map(vec![]),
    };
    let tickets: Vec<_> = handle
        .submit_many(vec![push("a"), bad, push("b"), push("a")])
        .unwrap()
        .collect();
    assert_eq!(tickets.len(), 4);
    let outcomes: Vec<Outcome> = tickets.into_iter().map(|t| t.wait().unwrap()).collect();
    let lsns: Vec<u64> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Push(Ok(acked)) => Some(acked.lsn.0),
            _ => None,
        })
        .collect();
    assert_eq!(lsns, vec![1, 2, 3], "{outcomes:?}");
    assert!(
        matches!(&outcomes[1], Outcome::Push(Err(refused)) if refused.error.code == "event_not_found"),
        "{outcomes:?}"
    );
    let model::Value::Map(members) = get(&store, "a") else {
        panic!()
    };
    assert_eq!(members[0], ("clicks".into(), model::Value::I64(2)));
    // Batches and single submissions interleave in submission order.
    let batch: Vec<_> = handle.submit_many(vec![push("c")]).unwrap().collect();
    let single = handle.submit(push("c")).unwrap();
    let Outcome::Push(Ok(first)) = batch.into_iter().next().unwrap().wait().unwrap() else {
        panic!()
    };
    let Outcome::Push(Ok(second)) = single.wait().unwrap() else {
        panic!()
    };
    assert_eq!((first.lsn.0, second.lsn.0), (4, 5));
    assert_eq!(handle.submit_many(Vec::new()).unwrap().count(), 0);
    store.shutdown();
}

#[test]
fn a_batch_larger_than_the_free_queue_is_cut_to_what_fits() {
    let store = Store::start(
        StoreConfig {
            queue_capacity: 4,
            batch_max: 1,
            ..StoreConfig::default()
        },
        Arc::new(ManualClock::new(1)),
    );
    let handle = store.handle();
    let resets = |n: usize| (0..n).map(|_| Command::Reset).collect::<Vec<_>>();
    // The writer takes one command and waits.
    let holder = hold_engine(&handle, Duration::from_millis(200));
    let first: Vec<_> = handle.submit_many(resets(3)).unwrap().collect();
    assert_eq!(first.len(), 3, "room for all three");
    // The writer takes a queue entry whole, then waits for the engine: the queue now has one
    // free place (the batch of three still queued) or four (the writer holds it). Either way a
    // batch of five is cut to what fits and the rest is refused.
    let second: Vec<_> = match handle.submit_many(resets(5)) {
        Ok(tickets) => tickets.collect(),
        Err(SubmitError::Overloaded) => Vec::new(),
        Err(SubmitError::Stopped) => panic!("stopped"),
    };
    assert!(matches!(second.len(), 1 | 4), "{}", second.len());
    assert_eq!(
        handle.status().snapshot().overloaded_total,
        5 - second.len() as u64
    );
    holder.join().unwrap();
    let n_accepted = first.len() + second.len();
    let versions: Vec<u64> = first
        .into_iter()
        .chain(second)
        .map(|ticket| match ticket.wait() {
            Ok(Outcome::Reset { registry_version }) => registry_version,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(versions, (1..=n_accepted as u64).collect::<Vec<_>>());
    store.shutdown();
    assert_eq!(
        handle.submit_many(resets(2)).err(),
        Some(SubmitError::Stopped)
    );
}

/// `dedupe_key` (beava-compat §4.1, decision 0023): a repeat within the window is answered with
/// the first push's ack and not applied; in the same batch too; after the window, or without a
/// value, it is a new push; a reset forgets.
#[test]
fn repeated_dedupe_keys_replay_the_first_ack_within_the_window() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::start(StoreConfig::default(), clock.clone());
    let handle = store.handle();
    let registration = json!({"nodes": [
        {"kind": "event", "name": "Pay",
         "schema": {"fields": {"id": "str", "user": "str"}, "optional_fields": ["id"]},
         "dedupe_key": "id", "dedupe_window_ms": 5_000},
        {"kind": "derivation", "name": "Payers", "output_kind": "table", "upstreams": ["Pay"],
         "ops": [{"op": "group_by", "keys": ["user"], "agg": {
             "n": {"op": "count", "params": {}}}}],
         "table_primary_key": ["user"]}
    ]});
    let register = || {
        let outcome = handle
            .submit(Command::Register(registration.clone()))
            .unwrap()
            .wait()
            .unwrap();
        assert!(matches!(outcome, Outcome::Register(Ok(_))), "{outcome:?}");
    };
    register();
    let pay = |id: Option<&str>, user: &str| {
        let mut members = vec![("user".into(), model::Value::str(user))];
        if let Some(id) = id {
            members.push(("id".into(), model::Value::str(id)));
        }
        Command::Push {
            event: "Pay".into(),
            fields: model::Value::Map(members),
        }
    };
    let ack = |command: Command| match handle.submit(command).unwrap().wait().unwrap() {
        Outcome::Push(Ok(acked)) => acked,
        other => panic!("{other:?}"),
    };
    let count = |user: &str| {
        let row = store
            .handle()
            .read(|e| e.get("Payers", user, None, engine::ReadTime::Now(0)))
            .unwrap();
        match row {
            model::Value::Map(members) => members
                .first()
                .map_or(model::Value::Null, |(_, n)| n.clone()),
            _ => model::Value::Null,
        }
    };

    let first = ack(pay(Some("p1"), "u"));
    assert!(!first.replay);
    // A repeat, even with other fields, replays the first ack and changes nothing.
    let repeat = ack(pay(Some("p1"), "v"));
    assert_eq!((repeat.lsn, repeat.replay), (first.lsn, true));
    assert_eq!(count("u"), model::Value::I64(1));
    assert_eq!(count("v"), model::Value::Null);
    // In one batch: the second waits for the first and replays it.
    let tickets: Vec<_> = handle
        .submit_many(vec![
            pay(Some("p2"), "u"),
            pay(Some("p2"), "u"),
            pay(None, "u"),
        ])
        .unwrap()
        .collect();
    let acks: Vec<_> = tickets
        .into_iter()
        .map(|t| match t.wait().unwrap() {
            Outcome::Push(Ok(acked)) => acked,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!((acks[1].lsn, acks[1].replay), (acks[0].lsn, true));
    assert!(
        !acks[0].replay && !acks[2].replay,
        "no value, no replay detection"
    );
    assert_eq!(count("u"), model::Value::I64(3));
    // A refused push is not remembered: its repeat is checked afresh.
    let bad = Command::Push {
        event: "Pay".into(),
        fields: model::Value::Map(vec![("id".into(), model::Value::str("p3"))]),
    };
    assert!(matches!(
        handle.submit(bad).unwrap().wait().unwrap(),
        Outcome::Push(Err(_))
    ));
    assert!(!ack(pay(Some("p3"), "u")).replay);
    // After the window the key is new again.
    clock.set_ms(1_000 + 5_001);
    let later = ack(pay(Some("p1"), "u"));
    assert!(!later.replay && later.lsn > first.lsn);
    assert_eq!(count("u"), model::Value::I64(5));
    // A reset forgets every key.
    assert!(ack(pay(Some("p4"), "u")).lsn > later.lsn);
    assert!(matches!(
        handle.submit(Command::Reset).unwrap().wait().unwrap(),
        Outcome::Reset { .. }
    ));
    register();
    assert!(!ack(pay(Some("p4"), "u")).replay);
    store.shutdown();
}
