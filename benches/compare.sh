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
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$ROOT/../shared/peers}"
WORK="${WORK:-/tmp/handoff-peers}"
RUN_DIR="${RUN_DIR:-$ROOT/benches/runs/$(date -u +%Y-%m-%d)-$(cd "$ROOT" && git rev-parse --short HEAD)}"
# A second run of the same day and commit gets its own folder (-2, -3, ...).
if [ -e "$RUN_DIR/RESULTS.md" ]; then
  n=2; while [ -e "$RUN_DIR-$n/RESULTS.md" ]; do n=$((n + 1)); done; RUN_DIR="$RUN_DIR-$n"
fi
[ -d "$PEERS_SRC" ] || { echo "no peers at $PEERS_SRC" >&2; exit 2; }

echo "==> building handoff (release)"
(cd "$ROOT" && cargo build --release --locked -q -p handoff-cli)
HANDOFF="$ROOT/target/release/handoff"

echo "==> a writable copy of the peers in $WORK"
mkdir -p "$WORK"
cp -a --no-preserve=mode "$PEERS_SRC/." "$WORK/"
chmod +x "$WORK"/*.sh "$WORK"/*.py

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
peer_version() { case "\$1" in handoff|handoff-jobs2) echo "handoff $(cd "$ROOT" && git describe --always --dirty), rules/cxone_handoff.toml" ;; *) _peers_version "\$1" ;; esac; }
EOF

echo "==> peer set-up (installs and builds; idempotent)"
(cd "$WORK" && ./setup.sh)

peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(handoff handoff-jobs2 rust-hand-typed rust-hand-value vrl jq jaq python-seed jsonata floor-serde-json)

echo "==> timing: ${peers[*]}"
mkdir -p "$RUN_DIR"
(cd "$WORK" && RESULTS="$RUN_DIR/RESULTS.md" ./run_peers.sh "${peers[@]}")

{
  echo "# Comparison run $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "- command: \`benches/compare.sh ${*:-}\` (REPS=${REPS:-3}, INPUT=${INPUT:-data/payloads_100k.ndjson})"
  echo "- handoff: $(cd "$ROOT" && git describe --always --dirty)"
  echo "- toolchain: $(rustc --version)"
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
  echo "- kernel: $(uname -r)"
  echo
  echo "Table: [RESULTS.md](RESULTS.md) (written by the peers' own harness, bench.py)."
} > "$RUN_DIR/README.md"
echo "==> recorded in $RUN_DIR"
