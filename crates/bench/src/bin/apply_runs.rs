//! Apply-only cost of the TCP push path's engine half, for A/B of engine changes (prefetching,
//! layouts) without the network and the disk: N README entities, events in a uniformly random
//! order (as `loadgen --dist uniform`), applied through `Engine::apply_many` in runs of R
//! pushes (what the writer hands it at TCP 8×256: ~700) on the lane threads, with the clock
//! advancing as at P pushes per second. Reports wall time and process CPU time (all threads,
//! from `/proc/self/stat`) per event over every pass after the first two (which fill the
//! windows and the map), and the median pass's wall time.
//!
//! With `idle_us`, the thread sleeps (or, with `spin`, busy-waits) that long after each run, as
//! the server's writer waits out each inline commit's fdatasync between runs; "apply alone" then
//! shows what the apply costs when it starts on a core that went idle.
//!
//! `cargo run -p bench --release --bin apply_runs -- [entities] [passes] [run] [pushes_per_s]
//! [idle_us] [sleep|spin]`

use engine::ValidatedPush;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15, after the parenthesised command name.
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    bench::page_like_the_server();
    let mut args = std::env::args().skip(1);
    let mut next = |default: u64| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let entities = next(100_000);
    let passes = next(12);
    let run = next(700) as usize;
    let pushes_per_s = next(600_000);
    let idle = std::time::Duration::from_micros(next(0));
    let spin = match args.next().as_deref() {
        None | Some("sleep") => false,
        Some("spin") => true,
        Some(other) => {
            eprintln!("apply_runs: idle is `sleep` or `spin`, not {other:?}");
            std::process::exit(2);
        }
    };

    let mut engine = bench::readme_engine();
    // One pass: every entity once, in a fixed pseudo-random order (splitmix64).
    let mut order: Vec<u64> = (0..entities).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..order.len()).rev() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        order.swap(i, (z ^ (z >> 31)) as usize % (i + 1));
    }
    let mut now_ms: i64 = 1_700_000_000_000;
    let events_per_ms = (pushes_per_s / 1000).max(1) as usize;
    println!("entities {entities}, runs of {run}, {pushes_per_s} pushes/s");
    let (mut wall_total, mut cpu_total, mut n_total) = (0.0, 0.0, 0.0);
    let mut walls = Vec::new();
    let mut apply_wall_total = 0.0;
    for pass in 0..passes {
        let pushes: Vec<ValidatedPush> = order
            .iter()
            .map(|&session| {
                engine
                    .validate_push("AgentStep", &bench::readme_event(session, pass))
                    .expect("valid README event")
            })
            .collect();
        let (wall, cpu) = (std::time::Instant::now(), cpu_seconds());
        for (i, chunk) in pushes.chunks(run).enumerate() {
            let refs: Vec<&ValidatedPush> = chunk.iter().collect();
            let started = std::time::Instant::now();
            let panics = engine.apply_many(&refs, now_ms);
            if pass >= 2 {
                apply_wall_total += started.elapsed().as_secs_f64();
            }
            assert!(panics.is_empty());
            if spin {
                let idle_from = std::time::Instant::now();
                while idle_from.elapsed() < idle {
                    std::hint::spin_loop();
                }
            } else if !idle.is_zero() {
                std::thread::sleep(idle);
            }
            now_ms = 1_700_000_000_000
                + ((pass * entities) as usize + (i + 1) * run) as i64 / events_per_ms as i64;
        }
        let n = pushes.len() as f64;
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        if pass >= 2 {
            wall_total += wall;
            cpu_total += cpu;
            n_total += n;
            walls.push(wall * 1e9 / n);
        }
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "passes 2..{passes}: {:.0} ns/event wall (median pass {:.0}), {:.0} ns/event CPU",
        wall_total * 1e9 / n_total,
        walls.get(walls.len() / 2).copied().unwrap_or(0.0),
        cpu_total * 1e9 / n_total
    );
    println!(
        "apply alone: {:.0} ns/event wall",
        apply_wall_total * 1e9 / n_total
    );
}
