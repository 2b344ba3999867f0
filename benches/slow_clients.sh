#!/usr/bin/env bash
# The slow-client attack of issue 15, finding 1: `handoff serve` (release) under
# `ulimit -n 1024`, with its admin endpoints on a listener of their own, and CONNECTIONS
# (default 5,000) slow connections from `slow_clients` (benches/src/bin/slow_clients.rs): half
# hold half-sent headers, half send a body, one byte every 2 s, and connect again 1 s after the
# server closes them. Prints per second the server's file descriptors (/proc/PID/fd) and the
# attack connections open, then the latency of /health (admin listener, a new connection per
# probe) and /livez (public listener, kept-alive and new connections) every 100 ms during the
# attack (p50/p99/max), and the accept errors and refusals the server logged. A report, never a
# pass/fail.
#
# Usage: benches/slow_clients.sh
# Env:   CONNECTIONS=5000 DURATION=30 PORT=18090 ADMIN_PORT=18091 FD_LIMIT=1024
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONNECTIONS="${CONNECTIONS:-5000}"
DURATION="${DURATION:-30}"
PORT="${PORT:-18090}"
ADMIN_PORT="${ADMIN_PORT:-18091}"
FD_LIMIT="${FD_LIMIT:-1024}"
WORK="$(mktemp -d /tmp/handoff-slow-clients.XXXXXX)"

(cd "$ROOT" && cargo build --release --locked -q -p handoff-cli -p handoff-benches --bin handoff --bin slow_clients)

cat > "$WORK/gateway.toml" <<TOML
listen = "127.0.0.1:$PORT"
rules = ["$ROOT/rules/cxone_handoff.toml"]
watch = false

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
TOML

export HANDOFF_WEBHOOK_SECRET="slow-clients-benchmark-secret-0123456789abcdef"
(ulimit -n "$FD_LIMIT"; exec "$ROOT/target/release/handoff" serve --config "$WORK/gateway.toml") \
  2> "$WORK/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if curl -fs "http://127.0.0.1:$ADMIN_PORT/livez" > /dev/null 2>&1; then break; fi
  kill -0 "$pid" || { cat "$WORK/server.log"; exit 1; }
  sleep 0.1
done
echo "==> server pid $pid, fd limit $(awk '/Max open files/ {print $4}' "/proc/$pid/limits"), $(nproc) cores"

# The client holds CONNECTIONS sockets itself.
ulimit -n "$(( CONNECTIONS * 2 + 1024 ))"
"$ROOT/target/release/slow_clients" --public "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN_PORT" \
  --pid "$pid" --connections "$CONNECTIONS" --duration "$DURATION"

echo "==> server log: $(grep -c 'accept error' "$WORK/server.log" || true) accept-error lines, $(grep -c 'connection limit reached' "$WORK/server.log" || true) connection-limit lines"
grep -m3 -E 'accept error|connection limit' "$WORK/server.log" | sed 's/^/    /' || true
curl -fs "http://127.0.0.1:$ADMIN_PORT/health" > /dev/null && echo "==> the server still answers after the attack"
