#!/usr/bin/env bash
# The bench in one command. Sets up bench's own environment on a fresh machine (the Python peers
# in bench/.venv, the Node peers in bench/node_modules, pinned; never dependencies of the polyfuse
# packages), builds polyfuse's bindings, the mock server and the Rust floor in release, and runs
# bench/harness/bench.py against the mock server on loopback, after the fusion overhead
# (bench/python/fusion_overhead.py). Results: bench/results/<time>/
# (results.jsonl, summary.md, chart.png; bench/results/latest points at the last full run).
#
#   bench/run.sh                 full run (3 interleaved rounds, c = 1/50/500, 10,000 streams; ~25 min)
#   bench/run.sh --quick         one short round per cell (~5 min)
#   bench/run.sh --smoke         every runner but LiteLLM's two a few calls deep, results checked (CI; no
#                                timing asserted; debug builds of the mock server and the floor)
#   bench/run.sh --smoke --litellm  the same with LiteLLM installed and run too
#   bench/run.sh --profile       py-spy profiles of polyfuse's Python stream() and complete() (bench/profile.sh)
#   bench/run.sh --no-setup ...  skip installs and builds
# Anything else goes to the harness: --langs python,node,rust --clients polyfuse,openai
# --scenarios complete,stream --rounds N --duration S --concurrency 1,50 --streams N --no-memory
# --no-imports --memory-only --wait-quiet LOAD --out DIR (bench/.venv/bin/python bench/harness/bench.py --help).
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export POLYFUSE_VENV="${POLYFUSE_BENCH_VENV:-$BENCH/.venv}"
# shellcheck source=../scripts/env.sh
source "$BENCH/../scripts/env.sh" # ROOT, CARGO_TARGET_DIR, VENV (= POLYFUSE_VENV), need, log, setup_node

setup=1
profile=0
build=release # the smoke asserts no timing: debug builds of the mock server and floor do (test.sh has the former)
smoke=0
litellm=0
args=()
for a in "$@"; do
  case "$a" in
    --no-setup) setup=0 ;;
    --profile) profile=1 ;;
    --smoke) smoke=1; build=debug; args+=("$a") ;;
    --litellm) litellm=1 ;;
    *) args+=("$a") ;;
  esac
done
requirements="$BENCH/requirements.txt"
if [ "$smoke" = 1 ] && [ "$litellm" = 0 ]; then
  requirements="$BENCH/requirements-smoke.txt"
  args+=(--skip litellm,litellm-router)
fi
cargo_build() { if [ "$build" = release ]; then nice -n 10 cargo build --release -q "$@"; else nice -n 10 cargo build -q "$@"; fi; }

if [ "$profile" = 1 ]; then
  exec "$BENCH/profile.sh" "${args[@]}" # its own venv and a binding built with symbols
fi

if [ "$setup" = 1 ]; then
  log "bench: Python peers in $VENV ($(basename "$requirements"), constraints.txt)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" -c "$BENCH/constraints.txt"
  log "bench: polyfuse's Python binding (release) into $VENV"
  (cd "$ROOT" && VIRTUAL_ENV="$VENV" nice -n 10 "$VENV/bin/maturin" develop --release -q)
  setup_node # the root package's npm install builds the native module (release)
  log "bench: Node peers in bench/node_modules (bench/package-lock.json)"
  if [ ! -f "$BENCH/node_modules/.package-lock.json" ] || [ "$BENCH/package-lock.json" -nt "$BENCH/node_modules/.package-lock.json" ]; then
    (cd "$BENCH" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  log "bench: $build builds of the mock server and the Rust floor"
  cargo_build -p polyfuse-mock-server
  cargo_build --locked --manifest-path "$BENCH/floor/Cargo.toml"
fi

# Fusion overhead (bench/python/fusion_overhead.py): wall time minus (slowest used member + judge).
fusion_args=(--server "$CARGO_TARGET_DIR/$build/polyfuse-mock-server")
[ "$smoke" = 1 ] && fusion_args+=(--smoke)
mkdir -p "$BENCH/results"
log "bench: fusion overhead (3 members + a judge on the mock; bench/results/fusion_overhead.json)"
"$VENV/bin/python" "$BENCH/python/fusion_overhead.py" "${fusion_args[@]}" --out "$BENCH/results/fusion_overhead.json"

exec "$VENV/bin/python" "$BENCH/harness/bench.py" \
  --server "$CARGO_TARGET_DIR/$build/polyfuse-mock-server" \
  --floor "$CARGO_TARGET_DIR/$build/polyfuse-bench-floor" \
  "${args[@]}"
