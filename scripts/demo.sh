#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the demo: a routed completion and a stream, in
# Python and in Node, on the built-in mock provider (or on real providers when keys are set).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
setup_python
setup_node
log "Python demo (examples/demo.py)"
"$VENV/bin/python" examples/demo.py
log "Node demo (examples/demo.mjs)"
node examples/demo.mjs
