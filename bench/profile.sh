#!/usr/bin/env bash
# Profiles polyfuse's Python stream() and complete() (bench/harness/profile.py): builds the Python
# binding in release *with symbols* (its own cargo target dir; the release profile strips them)
# into bench/.venv-profile with py-spy, then runs each case under py-spy and under perf.
#   bench/profile.sh [--seconds 10] [--concurrency 50] [--out DIR]
# Needs `perf` for the all-threads view (apt-get install linux-perf); py-spy comes from PyPI.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export POLYFUSE_VENV="$BENCH/.venv-profile"
# shellcheck source=../scripts/env.sh
source "$BENCH/../scripts/env.sh"
need perf "apt-get install linux-perf"
log "bench profile: polyfuse's Python binding, release with symbols, into $VENV"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "maturin==1.16.0" "py-spy==0.4.3"
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-profile" CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  nice -n 10 "$VENV/bin/maturin" build --release -q -o "$wheels"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/polyfuse-*.whl
nice -n 10 cargo build --release -q -p polyfuse-mock-server
exec "$VENV/bin/python" "$BENCH/harness/profile.py" --server "$CARGO_TARGET_DIR/release/polyfuse-mock-server" \
  --python "$VENV/bin/python" --pyspy "$VENV/bin/py-spy" "$@"
