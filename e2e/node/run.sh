#!/usr/bin/env bash
# Builds tollgate, starts it on free loopback ports (one open, one with
# auth.mode = required), installs the pinned openai package and runs
# check.mjs against both. Cleans up after itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

(cd "$root" && go build -o "$work/tollgate" ./cmd/tollgate)
(cd "$here" && npm ci --no-audit --no-fund --silent)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
start() { # name port [env...]
  local name=$1 port=$2; shift 2
  mkdir -p "$work/$name"
  (cd "$work/$name" && env "$@" TOLLGATE_SERVER_DATA_DIR="$work/$name/data" "$work/tollgate" serve --addr "127.0.0.1:$port" >"$work/$name.log" 2>&1) &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "tollgate ($name) did not become ready:"; cat "$work/$name.log"; return 1
}
open_port=$(free_port); start open "$open_port"
req_port=$(free_port); start required "$req_port" TOLLGATE_AUTH_MODE=required

TOLLGATE_URL="http://127.0.0.1:$open_port" TOLLGATE_REQUIRED_URL="http://127.0.0.1:$req_port" node "$here/check.mjs"
