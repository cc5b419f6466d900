#!/usr/bin/env bash
# Runs the client's tests (the LangGraph conformance suite against logbook
# and against MemorySaver, and the crash-resume test) with the logbook
# binary given as $1. Installs the npm packages from package-lock.json when
# they are missing or stale. Called by ctest (`make test`).
set -euo pipefail
cd "$(dirname "$0")"
if [[ $# -ne 1 ]]; then
  echo "usage: $0 path/to/logbook" >&2
  exit 2
fi
LOGBOOK_BIN="$(realpath "$1")"
export LOGBOOK_BIN
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "langgraph-js: Node.js 20+ and npm are needed for the client tests" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if ((major < 20)); then
  echo "langgraph-js: Node.js 20+ is needed (found $(node --version))" >&2
  exit 1
fi
if [[ ! -f node_modules/.logbook-lock ]] || ! cmp -s package-lock.json node_modules/.logbook-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.logbook-lock
fi
exec npx vitest run --globals
