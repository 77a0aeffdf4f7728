# Shared setup for scripts/demo.sh and scripts/test.sh: toolchain checks, a cargo target dir
# outside the clone (reused between runs when present), the Python venv and the Node packages.
# Build output goes to a log file ($SETUP_LOG); a setup step shows that it is running (see
# `quietly`), and the end of the log with its path if it fails. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/polyfuse/target}"
mkdir -p "$CARGO_TARGET_DIR"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
VENV="${POLYFUSE_VENV:-$ROOT/.venv}"
SETUP_LOG="${POLYFUSE_SETUP_LOG:-$CARGO_TARGET_DIR/polyfuse-setup.log}"
: >"$SETUP_LOG"

fail() { echo "polyfuse: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "'$1' is required but not found on PATH ($2)"; }
need cargo "install Rust >= 1.88 with rustup: https://rustup.rs"
need python3 "install Python >= 3.9"
need node "install Node.js >= 20.17"
need npm "install npm (it comes with Node.js)"
command -v "${CC:-cc}" >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 ||
  fail "a C compiler (cc, gcc or clang) is required: the TLS library (ring) compiles C code (Debian/Ubuntu: apt-get install gcc)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)' ||
  fail "Node.js >= 20.17 is required, found $(node --version)"

log() { printf '\n==> %s\n' "$*"; }

# quietly WHAT COMMAND...: runs COMMAND with its output appended to $SETUP_LOG. While it runs,
# a terminal sees one status line updated every second; a log (CI) gets a line every 30 s.
quietly() {
  local what="$1" started=$SECONDS ticks=0 pid rc
  shift
  printf '\n### %s: %s\n' "$what" "$*" >>"$SETUP_LOG"
  "$@" >>"$SETUP_LOG" 2>&1 &
  pid=$!
  # A heartbeat, not a synchronization: the loop ends when the command does.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ -t 1 ]; then
      printf '\r    ... %s (%d s)' "$what" $((SECONDS - started))
    elif [ $((ticks % 30)) -eq 0 ]; then
      printf '    ... %s (%d s)\n' "$what" $((SECONDS - started))
    fi
  done
  [ -t 1 ] && [ "$ticks" -gt 0 ] && printf '\r\033[K'
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$SETUP_LOG" >&2
    fail "$what failed (exit $rc); full log: $SETUP_LOG"
  fi
}

setup_python() {
  log "Python: virtualenv at $VENV and the polyfuse package (release build; log $SETUP_LOG)"
  [ -x "$VENV/bin/python" ] || quietly "creating the virtualenv" python3 -m venv "$VENV"
  quietly "installing pip packages" "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip
  quietly "installing pip packages" "$VENV/bin/python" -m pip install --disable-pip-version-check "maturin>=1.9.4,<2" pytest pytest-asyncio "$@"
  # maturin finds the venv through VIRTUAL_ENV (or a .venv in the checkout)
  quietly "building the Python extension (first time: a few minutes)" env VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --release
}

setup_node() {
  log "Node: npm install (builds the native module when it is missing or stale; log $SETUP_LOG)"
  quietly "npm install" npm install --no-audit --no-fund --foreground-scripts
  grep -h '^polyfuse: ' "$SETUP_LOG" | grep -v 'building the native module \.\.\.' | sed 's/^/    /' || true
}
