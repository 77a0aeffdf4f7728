#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs every test: Rust (core + mock server), Python
# (+ a notebook), Node (+ a Next.js app and the AI SDK provider under the real `ai`), all against the mock provider server over real sockets,
# and a smoke of the benchmarks.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log "Rust: build the mock provider server and run the Rust tests"
cargo build -q -p polyfuse-mock-server
export POLYFUSE_MOCK_SERVER="$CARGO_TARGET_DIR/debug/polyfuse-mock-server"
cargo test -p polyfuse-core -p polyfuse-mock-server
setup_python nbclient ipykernel nbformat mypy openai
log "Python tests"
"$VENV/bin/python" -m pytest tests/python -q
setup_node
log "Next.js app: next, react and react-dom into tests/nextjs/node_modules; polyfuse copied in with its built module"
rm -rf tests/nextjs/node_modules/polyfuse
(cd tests/nextjs && quietly "npm install in tests/nextjs" npm install --no-audit --no-fund --no-save)
log "AI SDK: ai (pinned) into tests/ai-sdk/node_modules, not a dependency of polyfuse"
(cd tests/ai-sdk && quietly "npm install in tests/ai-sdk" npm install --no-audit --no-fund --no-save)
log "Node tests"
node --test tests/node/
log "AI SDK provider test (polyfuse/ai-sdk called by the real ai package)"
node --test tests/ai-sdk/
log "Next.js test (next build with Turbopack and webpack, next start, HTTP requests)"
node --test tests/nextjs/nextjs.test.mjs
log "Bench smoke (every runner for a few calls: well-formed results, no timing assertions)"
bench/run.sh --smoke
log "all tests passed"
