#!/usr/bin/env bash
# Durability soak: the crash tests of durability.md §5 with far more kills than CI runs.
#
#   1. the store crash simulation (crates/store/tests/durability.rs) with many seeds;
#   2. the SIGKILL ack oracle (tests/python/test_crash.py) with many kill cycles, repeated in
#      rounds, each round with a fresh random seed (printed; replay one with WEIR_CRASH_SEED).
#
# Env:
#   SOAK_ROUNDS        rounds of the SIGKILL test             (default 5)
#   WEIR_CRASH_CYCLES  kills per round                         (default 300)
#   STORE_CRASH_SEEDS  seeds of the store crash simulation     (default 3000)
#   SOAK_RELEASE=1     test a release build (faster server, more pushes per kill)
#   WEIR_TEST_BINARY   test this binary instead of building one
# Stops at the first failure and prints what to rerun. Uses the same .venv as scripts/test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS="${SOAK_ROUNDS:-5}"
CYCLES="${WEIR_CRASH_CYCLES:-300}"
SEEDS="${STORE_CRASH_SEEDS:-3000}"
PYTEST="$ROOT/.venv/bin/pytest"
if [ ! -x "$PYTEST" ]; then
    echo "no $PYTEST: run scripts/test.sh once to create the venv" >&2
    exit 2
fi

if [ -z "${WEIR_TEST_BINARY:-}" ]; then
    if [ "${SOAK_RELEASE:-0}" = "1" ]; then
        cargo build -p weir --release
        WEIR_TEST_BINARY="$ROOT/target/release/weir"
    else
        cargo build -p weir
        WEIR_TEST_BINARY="$ROOT/target/debug/weir"
    fi
fi
export WEIR_TEST_BINARY

echo "== store crash simulation: $SEEDS seeds"
STORE_CRASH_SEEDS="$SEEDS" cargo test -p store --test durability \
    random_crashes_keep_every_acked_push_and_nothing_unsent -- --nocapture

started=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
    seed=$(( (RANDOM << 15 | RANDOM) ))
    echo "== SIGKILL round $round/$ROUNDS: $CYCLES kills, WEIR_CRASH_SEED=$seed"
    if ! WEIR_CRASH_CYCLES="$CYCLES" WEIR_CRASH_SEED="$seed" \
        "$PYTEST" "$ROOT/tests/python/test_crash.py" -q -s -p no:cacheprovider; then
        echo "FAILED: rerun with WEIR_CRASH_SEED=$seed WEIR_CRASH_CYCLES=$CYCLES $PYTEST tests/python/test_crash.py" >&2
        exit 1
    fi
done
echo "== soak passed: $((ROUNDS * CYCLES)) SIGKILLs (+ rotation kills), $SEEDS simulated crash runs, $(( $(date +%s) - started )) s"
