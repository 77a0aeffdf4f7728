# Shared setup for scripts/demo.sh and scripts/test.sh: toolchain checks, a cargo target dir
# outside the clone (reused between runs when present), the Python venv and the Node packages.
# Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/polyfuse/target}"
mkdir -p "$CARGO_TARGET_DIR"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
VENV="${POLYFUSE_VENV:-$ROOT/.venv}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "polyfuse: '$1' is required but not found on PATH ($2)" >&2; exit 1; }; }
need cargo "install Rust with rustup"
need python3 "install Python >= 3.9"
need node "install Node.js >= 18"
need npm "install npm"

log() { printf '\n==> %s\n' "$*"; }

setup_python() {
  log "Python: virtualenv at $VENV and the polyfuse package (release build)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.9.4,<2" pytest pytest-asyncio "$@"
  (cd "$ROOT" && "$VENV/bin/maturin" develop --release -q)
}

setup_node() {
  log "Node: npm install (builds the native module from source) "
  (cd "$ROOT" && npm install --no-audit --no-fund --foreground-scripts)
}
