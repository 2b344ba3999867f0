#!/usr/bin/env bash
# Times handoff beside the peers of ../shared/peers on the same input, in one run, and records
# the table under benches/runs/<date>-<commit>/ with the command, toolchain and CPU.
#
# Usage: benches/compare.sh [peer ...]
#   default peers: handoff handoff-jobs2 rust-hand-typed rust-hand-value vrl jq jaq python-seed
#                  jsonata floor-serde-json
# Env:   PEERS_SRC=../shared/peers   WORK=/tmp/handoff-peers (a writable copy; shared/ is read-only)
#        REPS=3  STARTUP_REPS=5  INPUT=data/payloads_100k.ndjson  SKIP_VRL=1 (skip its 10-min build)
#        RUN_DIR=benches/runs/<date>-<commit>  (where the record goes; never over an older run)
#        HANDOFF_BIN=path  (a handoff binary built already; default: build target/release/handoff)
# A peer that is asked for (or in the default list) and cannot run stops the comparison with an
# error: nothing is left out of the table quietly. The measured checkout is only read (no git
# command here writes .git/index).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$ROOT/../shared/peers}"
WORK="${WORK:-/tmp/handoff-peers}"

# The measured commit, and whether the work tree differs from it, read without taking the
# index lock (`git describe --dirty` and plain `git status` refresh and rewrite .git/index).
commit_name() {
  local head dirty
  head="$(git -C "$ROOT" rev-parse --short HEAD)"
  dirty="$(git -C "$ROOT" --no-optional-locks status --porcelain --untracked-files=no)"
  if [ -n "$dirty" ]; then echo "$head-dirty"; else echo "$head"; fi
}
COMMIT="$(commit_name)"
RUN_DIR="${RUN_DIR:-$ROOT/benches/runs/$(date -u +%Y-%m-%d)-${COMMIT%-dirty}}"
# A second run of the same day and commit gets its own folder (-2, -3, ...).
if [ -e "$RUN_DIR/RESULTS.md" ]; then
  n=2; while [ -e "$RUN_DIR-$n/RESULTS.md" ]; do n=$((n + 1)); done; RUN_DIR="$RUN_DIR-$n"
fi
[ -d "$PEERS_SRC" ] || { echo "no peers at $PEERS_SRC" >&2; exit 2; }

if [ -n "${HANDOFF_BIN:-}" ]; then
  HANDOFF="$HANDOFF_BIN"
else
  echo "==> building handoff (release)"
  (cd "$ROOT" && cargo build --release --locked -q -p handoff-cli)
  HANDOFF="$ROOT/target/release/handoff"
fi

echo "==> a writable copy of the peers in $WORK"
mkdir -p "$WORK"
# Modes are kept (the peers' built binaries stay executable), then made writable: shared/ is
# read-only, and the set-up writes into the copy.
cp -a "$PEERS_SRC/." "$WORK/"
chmod -R u+w "$WORK"

# Register handoff as a peer: same stdin -> stdout contract, same oracle check.
cat >> "$WORK/peers.sh" <<EOF

# --- added by handoff's benches/compare.sh ---
PEERS+=(handoff handoff-jobs2)
_handoff_cmd() { echo "$HANDOFF run -q $ROOT/rules/cxone_handoff.toml \$1"; }
eval "\$(declare -f peer_cmd | sed '1s/peer_cmd/_peers_cmd/')"
eval "\$(declare -f peer_ready | sed '1s/peer_ready/_peers_ready/')"
eval "\$(declare -f peer_version | sed '1s/peer_version/_peers_version/')"
peer_cmd() { case "\$1" in handoff) _handoff_cmd "" ;; handoff-jobs2) _handoff_cmd "--jobs 2" ;; *) _peers_cmd "\$1" ;; esac; }
peer_ready() { case "\$1" in handoff|handoff-jobs2) [ -x "$HANDOFF" ] ;; *) _peers_ready "\$1" ;; esac; }
peer_version() { case "\$1" in handoff|handoff-jobs2) echo "handoff $COMMIT, rules/cxone_handoff.toml" ;; *) _peers_version "\$1" ;; esac; }
EOF

echo "==> peer set-up (installs and builds; idempotent)"
(cd "$WORK" && ./setup.sh)

peers=("$@")
if [ ${#peers[@]} -eq 0 ]; then
  peers=(handoff handoff-jobs2 rust-hand-typed rust-hand-value vrl jq jaq python-seed jsonata floor-serde-json)
  # SKIP_VRL=1 leaves VRL out of the default list, and says so in the record.
  [ "${SKIP_VRL:-0}" = 1 ] && peers=("${peers[@]/vrl}")
fi
read -r -a peers <<< "${peers[*]}"

echo "==> every peer runs (one payload through each)"
probe="$(head -n 1 "$ROOT/fixtures/cxone_handoff/payloads.ndjson")"
broken=()
for p in "${peers[@]}"; do
  why=""
  if ! (cd "$WORK" && source ./peers.sh && peer_cmd "$p" >/dev/null); then
    why="not a peer of $PEERS_SRC/peers.sh"
  elif ! (cd "$WORK" && source ./peers.sh && peer_ready "$p"); then
    why="not installed or not built ($(cd "$WORK" && source ./peers.sh && peer_cmd "$p"))"
  elif ! out="$(cd "$WORK" && source ./peers.sh && printf '%s\n' "$probe" | eval "$(peer_cmd "$p")" 2>&1)"; then
    why="fails on one payload: $(printf '%s' "$out" | tail -n 3)"
  fi
  [ -z "$why" ] || broken+=("$p: $why")
done
if [ ${#broken[@]} -gt 0 ]; then
  echo "error: these peers cannot run, so the comparison would leave them out:" >&2
  printf '  %s\n' "${broken[@]}" >&2
  echo "build them (./setup.sh in $WORK), or name the peers to compare as arguments" >&2
  exit 2
fi

echo "==> timing: ${peers[*]}"
mkdir -p "$RUN_DIR"
(cd "$WORK" && RESULTS="$RUN_DIR/RESULTS.md" ./run_peers.sh "${peers[@]}")
if grep -q '^Not measured' "$RUN_DIR/RESULTS.md"; then
  echo "error: the harness left peers out: $(grep '^Not measured' "$RUN_DIR/RESULTS.md")" >&2
  exit 2
fi

{
  echo "# Comparison run $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "- command: \`benches/compare.sh ${*:-}\` (REPS=${REPS:-3}, INPUT=${INPUT:-data/payloads_100k.ndjson})"
  echo "- handoff: $COMMIT"
  [ "${SKIP_VRL:-0}" = 1 ] && echo "- VRL left out (SKIP_VRL=1)"
  echo "- toolchain: $(rustc --version)"
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
  echo "- kernel: $(uname -r)"
  echo
  echo "Table: [RESULTS.md](RESULTS.md) (written by the peers' own harness, bench.py)."
} > "$RUN_DIR/README.md"
echo "==> recorded in $RUN_DIR"
