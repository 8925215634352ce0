#!/usr/bin/env bash
# The bulk harness's memory floor beside both stacks (docs/PERFORMANCE.md, "floor"): runs the
# `profile` example's `floor summed` (the harness's five passes over the stream, the two stack
# copies summing as they go, no TCP), `floor plain` (the same with plain copies), `floor frames`
# (summed, but the receiver keeps the frames and the application reads them: four passes),
# synack's bulk and smoltcp's bulk, in rounds, alternating, and prints each median and the median
# per-round ratios. Run it on a quiet machine.
#
# usage: scripts/perf/floor.sh [ROUNDS] [MTU] [BIN]
#   ROUNDS  default 7
#   MTU     default 1500 (65535 for 64 KB segments)
#   BIN     the profile example (default target/release/examples/profile; build it with
#           `cargo build --release -p synack-bench --examples`)
#   MIB (default 1024) MiB per run and BUFKIB (default 256) KiB buffers, from the environment.
set -euo pipefail
rounds=${1:-7}; mtu=${2:-1500}; bin=${3:-target/release/examples/profile}
[ -x "$bin" ] || { echo "floor.sh: no profile binary at $bin (cargo build --release -p synack-bench --examples)" >&2; exit 2; }
case "$rounds$mtu" in *[!0-9]*) echo "floor.sh: ROUNDS and MTU are numbers" >&2; exit 2 ;; esac
rate() { "$bin" "$@" "$mtu" "${MIB:-1024}" "${BUFKIB:-256}" | sed -n 's/.*: \([0-9.]*\) Gbit\/s.*/\1/p'; }
for _ in $(seq 1 "$rounds"); do
  echo "$(rate floor summed) $(rate floor plain) $(rate bulk synack) $(rate bulk smoltcp) $(rate floor frames)"
done | python3 -c '
import statistics as st, sys
rows = [list(map(float, line.split())) for line in sys.stdin if line.strip()]
names = ["floor summed", "floor plain", "synack", "smoltcp", "floor frames"]
for i, name in enumerate(names):
    print(f"{name:>13}: median {st.median(r[i] for r in rows):6.2f} Gbit/s")
ratio = lambda a, b: st.median(r[a] / r[b] for r in rows)
print(f"floor summed / smoltcp {ratio(0, 3):.2f}x, synack / smoltcp {ratio(2, 3):.2f}x, "
      f"synack / floor summed {ratio(2, 0):.2f}x, floor frames / summed {ratio(4, 0):.2f}x "
      f"({len(rows)} rounds)")
'
