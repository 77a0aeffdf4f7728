#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs every test: Rust (core + mock server), Python
# and Node, all against the mock provider server over real sockets.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log "Rust: build the mock provider server and run the Rust tests"
cargo build -q -p polyfuse-mock-server
export POLYFUSE_MOCK_SERVER="$CARGO_TARGET_DIR/debug/polyfuse-mock-server"
cargo test -p polyfuse-core -p polyfuse-mock-server
setup_python
log "Python tests"
"$VENV/bin/python" -m pytest tests/python -q
setup_node
log "Node tests"
node --test tests/node/
log "all tests passed"
