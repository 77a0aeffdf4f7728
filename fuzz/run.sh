#!/usr/bin/env bash
# Runs every fuzz target with libFuzzer (cargo fuzz, nightly toolchain) for SECONDS each
# (default 60), seeded from the recorded provider fixtures. Findings go to fuzz/artifacts/<target>/;
# the run stops at the first crash, which it prints. Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(sse stream response error config)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/polyfuse/target-fuzz}"
cargo run -q --bin seeds -- ../tests/fixtures/providers corpus
for t in "${targets[@]}"; do
  echo "== $t (${secs}s)"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)" || true
  [ -z "$(ls -A "artifacts/$t" 2>/dev/null)" ] || { echo "crash in $t: fuzz/artifacts/$t"; exit 1; }
done
