#!/usr/bin/env bash
# Tests benches/compare.sh against a stand-in peers folder (no real peer is built): a peer whose
# program was built read-only in shared/ still runs from the copy, a peer that cannot run stops
# the comparison with a clear error, and the measured checkout's index is never written.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
T="$(mktemp -d)"
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT

# The stand-in for ../shared/peers: the same files compare.sh uses, the harness reduced to a
# table of the peers it was given.
P="$T/peers"
mkdir -p "$P/bin"
cat > "$P/peers.sh" <<'PEERS'
PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS=(built broken unbuilt)
FLOORS=()
peer_cmd() {
  case "$1" in
    built)   echo "$PEERS_DIR/bin/built" ;;
    broken)  echo "$PEERS_DIR/bin/broken" ;;
    unbuilt) echo "$PEERS_DIR/bin/unbuilt" ;;
    *) return 1 ;;
  esac
}
peer_ready() { [ -x "$(peer_cmd "$1")" ]; }
peer_version() { echo "stand-in $1"; }
PEERS
printf '#!/bin/sh\ncat >/dev/null\necho "{}"\n' > "$P/bin/built"
printf '#!/bin/sh\necho "cannot open its table" >&2\nexit 3\n' > "$P/bin/broken"
chmod 555 "$P/bin/built" "$P/bin/broken"
printf '#!/bin/sh\nexit 0\n' > "$P/setup.sh"
cat > "$P/run_peers.sh" <<'RUN'
#!/usr/bin/env bash
set -u
cd "$(dirname "$0")"
source ./peers.sh
{ echo "| peer | version |"; for p in "$@"; do echo "| $p | $(peer_version "$p") |"; done; } > "$RESULTS"
RUN
chmod 555 "$P/setup.sh" "$P/run_peers.sh"
# shared/ is read-only, files and folders.
chmod -R a-w "$P"

# The checkout measured: a clone of this one with the compare.sh under test, and a file whose
# stat information is stale in the index (what `git describe --dirty` would rewrite the index for).
(cd "$ROOT" && cargo build --release --locked -q -p handoff-cli)
C="$T/checkout"
git clone -q "$ROOT" "$C"
cp "$ROOT/benches/compare.sh" "$C/benches/compare.sh"
# Committed there when it differs from HEAD, so that the clone starts clean either way.
git -C "$C" -c user.name=test -c user.email=test@localhost commit -qam "compare.sh under test" || true
touch -d '2001-01-01' "$C/ARCHITECTURE.md"
index_before="$(sha256sum "$C/.git/index")"
status_before="$(git -C "$C" --no-optional-locks status --porcelain)"
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

compare() {
  PEERS_SRC="$P" WORK="$T/work-$1" RUN_DIR="$T/run-$1" HANDOFF_BIN="$ROOT/target/release/handoff" \
    "$C/benches/compare.sh" "${@:2}" > "$T/$1.out" 2>&1
}

compare good handoff built && rc=0 || rc=$?
check "a read-only built peer runs from the copy (exit $rc)" '[ $rc -eq 0 ]'
check "its row is in the table" 'grep -q "| built | stand-in built |" "$T/run-good/RESULTS.md"'
# Only the stat information is stale: the work tree is clean, and is named so.
check "handoff names its commit, clean" 'grep -Eq "^- handoff: [0-9a-f]+$" "$T/run-good/README.md"'

compare broken handoff built broken && rc=0 || rc=$?
check "a peer that fails on a payload stops the comparison (exit $rc)" '[ $rc -eq 2 ]'
check "the error names it and says why" 'grep -q "broken: fails on one payload: cannot open its table" "$T/broken.out"'
check "no table is written" '[ ! -e "$T/run-broken/RESULTS.md" ]'

compare unbuilt built unbuilt && rc=0 || rc=$?
check "a peer that is not built stops the comparison (exit $rc)" '[ $rc -eq 2 ]'
check "the error names it" 'grep -q "unbuilt: not installed or not built" "$T/unbuilt.out"'

compare unknown nosuchpeer && rc=0 || rc=$?
check "an unknown peer stops the comparison (exit $rc)" '[ $rc -eq 2 ] && grep -q "nosuchpeer: not a peer" "$T/unknown.out"'

check "the checkout's .git/index is unchanged" '[ "$(sha256sum "$C/.git/index")" = "$index_before" ]'
check "git status is unchanged" '[ "$(git -C "$C" --no-optional-locks status --porcelain)" = "$status_before" ]'

# A tracked file changed: the commit is named dirty, and the index is still not written.
echo "an edit" >> "$C/README.md"
compare dirty handoff built && rc=0 || rc=$?
check "a changed checkout runs (exit $rc)" '[ $rc -eq 0 ]'
check "handoff names its commit, dirty" 'grep -Eq "^- handoff: [0-9a-f]+-dirty$" "$T/run-dirty/README.md"'
check "the changed checkout's .git/index is unchanged" '[ "$(sha256sum "$C/.git/index")" = "$index_before" ]'

if [ $fails -gt 0 ]; then
  for f in "$T"/*.out; do echo "--- $f"; cat "$f"; done
  exit 1
fi
echo "compare.sh: all checks passed"
