//! Bytes per entity for the README table: loads N entities with E events each into a bare engine
//! and reports RSS growth and the engine's own state accounting.
//!
//! `cargo run -p bench --release --bin entity_memory -- [entities] [events_per_entity]`

fn main() {
    bench::page_like_the_server();
    let mut args = std::env::args().skip(1);
    let entities: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let events_per_entity: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let events_per_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);

    let mut engine = bench::readme_engine();
    // Pre-build one event to validate per step; values vary per entity, as in real traffic.
    let rss_before = bench::rss_bytes().unwrap_or(0);
    let t0 = std::time::Instant::now();
    let mut now_ms: i64 = 1_700_000_000_000;
    for i in 0..events_per_entity {
        for session in 0..entities {
            let event = bench::readme_event(session, i);
            let push = engine
                .validate_push("AgentStep", &event)
                .expect("valid README event");
            engine.apply(&push, now_ms);
            if (i * entities + session).is_multiple_of(events_per_ms) {
                now_ms += 1;
            }
        }
    }
    let elapsed = t0.elapsed();
    let rss_after = bench::rss_bytes().unwrap_or(0);
    let stats = engine.stats();
    let state_bytes = engine.state_memory_bytes();
    let rss_delta = rss_after.saturating_sub(rss_before);
    println!("entities                 {}", stats.entity_count_resident);
    println!("events                   {}", entities * events_per_entity);
    println!("load time                {:.2?}", elapsed);
    println!(
        "rss growth               {:.1} MiB",
        rss_delta as f64 / 1048576.0
    );
    println!(
        "rss bytes per entity     {:.0}",
        rss_delta as f64 / entities as f64
    );
    println!(
        "state bytes per entity   {:.0} (engine accounting)",
        state_bytes as f64 / entities as f64
    );
    for (table, feature, bytes) in engine.feature_heap_bytes() {
        println!(
            "  heap {table}.{feature:<20} {:.1} B/entity",
            bytes as f64 / entities as f64
        );
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
