#!/usr/bin/env bash
# The compile-time series of issue 15, finding 6: `handoff check` on N generated rules with
# expressions (the text of `generate::expression_rules`: a condition and two targets per rule
# are minijinja expressions), for N = 1,000, 2,000, 4,000 and 10,000. Prints, per N, the wall
# time, the CPU time (user + system) and the peak RSS (GNU time), and with CALLGRIND=1 the
# instruction count (valgrind), which does not depend on what else the machine is doing. A
# report, never a pass/fail.
#
# Usage: benches/compile_series.sh [N ...]
# Env:   HANDOFF_BIN=path (default: build target/release/handoff)  CALLGRIND=1  WORK=/tmp/...
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-$(mktemp -d /tmp/handoff-compile-series.XXXXXX)}"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 2000 4000 10000)
if [ -z "${HANDOFF_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --locked -q -p handoff-cli)
  HANDOFF_BIN="$ROOT/target/release/handoff"
fi
[ -x /usr/bin/time ] || { echo "GNU time is needed (Debian package: time)" >&2; exit 2; }

rules() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    printf '[[rule]]\nname = "route-%d"\nwhen = { expr = "input.cognigy.intents[0].name == '"'"'intent_%d'"'"'" }\n\n[rule.map]\n"interactionId" = { path = "$.sessionId", on_missing = "null" }\n"routingData.queueId" = { expr = "'"'"'q-'"'"' ~ %d" }\n"attributes.greeting" = { expr = "'"'"'Hi '"'"' ~ (input.user.profile.firstName | default('"'"'there'"'"'))" }\n\n' "$i" "$i" "$i"
  done
}

printf '| rules | wall s | CPU s | peak RSS MB |%s\n' "${CALLGRIND:+ instructions |}"
printf '|---:|---:|---:|---:|%s\n' "${CALLGRIND:+---:|}"
for n in "${SIZES[@]}"; do
  file="$WORK/expr-$n.toml"
  rules "$n" > "$file"
  out="$(/usr/bin/time -f '%e %U %S %M' "$HANDOFF_BIN" check "$file" 2>&1 >/dev/null | tail -1)"
  read -r wall user sys rss_kb <<< "$out"
  cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
  row="| $n | $wall | $cpu | $((rss_kb / 1024)) |"
  if [ -n "${CALLGRIND:-}" ]; then
    ir="$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$HANDOFF_BIN" check "$file" 2>&1 >/dev/null \
      | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')"
    row="$row $ir |"
  fi
  echo "$row"
done
rm -rf "$WORK"
