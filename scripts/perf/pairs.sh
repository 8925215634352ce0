#!/usr/bin/env bash
# Wall-clock comparison of two builds of the `profile` example, run in alternating pairs so the
# machine's drift hits both alike (docs/PERFORMANCE.md). Prints each median and the median of
# the per-pair ratios NEW/OLD with their range. Run it on a quiet machine; a null test (OLD
# against itself) shows how far apart two equal builds read that day.
#
# usage: scripts/perf/pairs.sh MODE OLD NEW [PAIRS]
#   MODE    bulk       synack at MTU 1500 (MTU=n for another), MIB (default 1024) MiB per run,
#                      BUFKIB for the buffers
#           handshake  synack's handshakes per second at 0 idle, N (default 300000) per run
#   OLD NEW two profile binaries (build each with `cargo build --release -p synack-bench --examples`
#           and copy it aside)
#   PAIRS   default 20
set -euo pipefail
mode=${1:-}; old=${2:-}; new=${3:-}; pairs=${4:-20}
usage() { sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ -n "$new" ] || usage
for b in "$old" "$new"; do
  [ -x "$b" ] || { echo "pairs.sh: no profile binary at $b" >&2; exit 2; }
done
one() {
  case "$mode" in
  bulk) "$1" bulk synack "${MTU:-1500}" "${MIB:-1024}" ${BUFKIB:-} | sed -n 's/.*: \([0-9.]*\) Gbit\/s.*/\1/p' ;;
  handshake) "$1" handshake-count synack 0 "${N:-300000}" | grep -o '[0-9.]*/s' | tr -d /s ;;
  *) usage ;;
  esac
}
for _ in $(seq 1 "$pairs"); do
  echo "$(one "$old") $(one "$new")"
done | python3 -c '
import statistics as st, sys
p = [tuple(map(float, l.split())) for l in sys.stdin if len(l.split()) == 2]
if not p:
    sys.exit("pairs.sh: no readings")
r = [n / o for o, n in p]
print(f"{len(p)} pairs: old median {st.median(o for o, _ in p):.2f}, new median "
      f"{st.median(n for _, n in p):.2f}; new/old median {st.median(r):.3f} "
      f"(min {min(r):.3f}, max {max(r):.3f})")'
