#!/usr/bin/env bash
# The project's single test command (README and .ci/run call it):
#   1. a Python venv with the real beava 0.0.6 SDK + pytest (tests/python/requirements.txt),
#   2. build the weir binary, 3. every Rust test (engine and store apart, with fault injection),
#   4. the client-driven suite against weir.
# Env: WEIR_TEST_BINARY overrides the server under test (e.g. a beava binary, to check the suite);
#      PYTEST_ARGS adds pytest arguments.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
REQS="$ROOT/tests/python/requirements.txt"
STAMP="$VENV/.weir-requirements"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    python3 -m venv "$VENV"
fi
if ! cmp -s "$REQS" "$STAMP" 2>/dev/null; then
    echo "== installing Python test dependencies"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
    cp "$REQS" "$STAMP"
fi

echo "== cargo build -p weir"
cargo build -p weir

# The engine's and the store's tests build the engine with `fault-injection` (a push that
# panics on purpose); they run in their own invocation so that feature never reaches the weir
# binary the other tests (and pytest) run.
echo "== cargo test --workspace --exclude engine --exclude store"
cargo test --workspace --exclude engine --exclude store
echo "== cargo test -p engine -p store (with fault injection)"
cargo test -p engine -p store
if grep -qa "weir:injected-panic" "$ROOT/target/debug/weir"; then
    echo "the weir binary under test was built with fault injection" >&2
    exit 1
fi

BINARY="${WEIR_TEST_BINARY:-$ROOT/target/debug/weir}"
echo "== pytest tests/python against $BINARY"
set +e
# shellcheck disable=SC2086
WEIR_TEST_BINARY="$BINARY" "$VENV/bin/pytest" "$ROOT/tests/python" -q ${PYTEST_ARGS:-}
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: treating as a failure" >&2
    exit 1
fi
exit "$rc"
