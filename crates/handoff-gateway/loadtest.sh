#!/usr/bin/env bash
# Load test of the gateway on loopback: the example server in release mode with the canonical
# rule alone and signatures on, wrk posting the first canonical payload (signed) for a bounded
# time. Fails unless every response was a 200 with the expected output. Prints wrk's throughput
# and latency percentiles and the gateway's own counters.
#
#   bash crates/handoff-gateway/loadtest.sh            # 30 s, 1 wrk thread, 32 connections
#   DURATION=10s CONNECTIONS=64 bash crates/handoff-gateway/loadtest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-30s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18080}
URL="http://127.0.0.1:${PORT}"

if ! command -v wrk >/dev/null; then
    echo "==> installing wrk (Debian package)"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

echo "==> building the example server (release)"
cargo build --release --locked -q -p handoff-gateway --example serve

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

head -n 1 fixtures/cxone_handoff/payloads.ndjson | tr -d '\n' >"$work/body.json"
head -n 1 fixtures/cxone_handoff/expected.ndjson | tr -d '\n' >"$work/expected.json"
secret="loadtest-$RANDOM$RANDOM"
sig="sha256=$(openssl dgst -sha256 -hmac "$secret" -hex <"$work/body.json" | sed 's/^.*= //')"

echo "==> starting the gateway on $URL"
HANDOFF_WEBHOOK_SECRET="$secret" RUST_LOG=warn target/release/examples/serve \
    --listen "127.0.0.1:${PORT}" --rules rules/cxone_handoff.toml --no-watch \
    --dead-letter "$work/dead-letter.jsonl" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
    curl -sf "$URL/health" >/dev/null && break
    sleep 0.1
done
curl -sf "$URL/health" >/dev/null || { echo "the gateway did not start:"; cat "$work/server.log"; exit 1; }

# One request first: the answer must be the expected output, byte for byte.
curl -sf -X POST "$URL/v1/webhooks/cognigy" -H 'content-type: application/json' \
    -H "x-cognigy-signature: $sig" --data-binary @"$work/body.json" >"$work/answer.json"
python3 - "$work/answer.json" "$work/expected.json" <<'EOF' || { echo "unexpected answer"; exit 1; }
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(a != b)
EOF

cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-cognigy-signature"] = "$sig"
local f = io.open("$work/body.json", "rb")
wrk.body = f:read("*a")
f:close()
EOF

echo "==> wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (machine: $(nproc) cores)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/post.lua" \
    "$URL/v1/webhooks/cognigy" | tee "$work/wrk.txt"

echo "==> the gateway's counters"
curl -sf "$URL/metrics" | grep '^handoff_gateway_requests_total' | tee "$work/metrics.txt"

fail=0
if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$work/wrk.txt"; then
    echo "FAIL: wrk saw errors"
    fail=1
fi
if grep -v 'outcome="transformed"' "$work/metrics.txt" | grep -q .; then
    echo "FAIL: the gateway answered something other than a transform"
    fail=1
fi
if [ -s "$work/server.log" ]; then
    echo "==> server log"
    cat "$work/server.log"
fi
[ "$fail" = 0 ] && echo "==> zero errors"
exit "$fail"
