#!/usr/bin/env bash
# Deterministic counts for the performance work (docs/PERFORMANCE.md): instructions, modelled
# cache misses and the hot code footprint of the `profile` example, measured under valgrind as
# the difference of two runs so set-up and tear-down cancel out.
#
# usage: scripts/perf/count.sh MODE [STACK] [BIN]
#   MODE       handshake   instructions per handshake (callgrind; 20,000 minus 10,000)
#              icache      instructions and I1 misses per handshake, 32 KiB 8-way L1i
#                          (ASSOC=512 for a fully associative model: capacity misses only)
#              footprint   hot code per handshake: instructions run >= 0.5 times, in 64-byte
#                          lines, by function (BY=file or BY=line MATCH=substring for more)
#              bulk        instructions per 32 MiB of bulk transfer at MTU 1500 (64 minus 32;
#                          MTU=n for another MTU, in every bulk mode),
#                          BUFKIB=n for n KiB socket buffers (default 256)
#              bulk-cache  per 32 MiB: instructions, L1d misses and misses of a 512 KiB 8-way
#                          L2 (cachegrind's last level), BUFKIB=n for n KiB socket buffers
#              bulk-icache per 32 MiB: I1 misses (32 KiB 8-way) and those of them that miss
#                          the 512 KiB L2 too (code the data stream evicted), BUFKIB as above
#              bulk-footprint  the code one turn of the bulk loop runs: instructions run
#                          >= 0.5 times per turn, in 64-byte lines (BY, MATCH, BUFKIB as above)
#   STACK      synack (default) or smoltcp
#   BIN        the profile example (default target/release/examples/profile; build it with
#              `cargo build --release -p synack-bench --examples`)
# Needs valgrind (apt-get install valgrind) and python3. Outputs stay in a temporary directory,
# printed at the end, for callgrind_annotate or footprint.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
stack=${2:-synack}
bin=${3:-target/release/examples/profile}
mtu=${MTU:-1500}
usage() { sed -n '6,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ -n "$mode" ] || usage
case "$stack" in synack|smoltcp) ;; *) echo "count.sh: unknown stack '$stack' (synack or smoltcp)" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "count.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[ -x "$bin" ] || { echo "count.sh: no profile binary at $bin (cargo build --release -p synack-bench --examples)" >&2; exit 2; }
out=$(mktemp -d)

# total EVENT FILE: the summary's count of one event in a valgrind output file.
total() {
  python3 - "$1" "$2" <<'PY'
import sys
event, path = sys.argv[1], sys.argv[2]
names = None
for line in open(path):
    if line.startswith("events:"):
        names = line.split()[1:]
    if line.startswith(("summary:", "totals:")) and names:
        print(int(line.split()[1:][names.index(event)]))
        break
PY
}

case "$mode" in
handshake)
  for n in 10000 20000; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" "$bin" handshake-count "$stack" 0 $n >/dev/null 2>&1
  done
  a=$(total Ir "$out/cg.10000"); b=$(total Ir "$out/cg.20000")
  echo "$stack: $(( (b - a) / 10000 )) instructions per handshake"
  ;;
icache)
  for n in 10000 20000; do
    valgrind --tool=cachegrind --cache-sim=yes --I1=32768,"${ASSOC:-8}",64 \
      --cachegrind-out-file="$out/c.$n" "$bin" handshake-count "$stack" 0 $n >/dev/null 2>&1
  done
  for e in Ir I1mr; do
    a=$(total $e "$out/c.10000"); b=$(total $e "$out/c.20000")
    echo "$stack: $e $(( (b - a) / 10000 )) per handshake (I1 32 KiB, ${ASSOC:-8}-way)"
  done
  ;;
footprint)
  for n in 10000 20000; do
    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
      --callgrind-out-file="$out/fp.$n" "$bin" handshake-count "$stack" 0 $n >/dev/null 2>&1
  done
  python3 "$here/footprint.py" "$out/fp.10000" "$out/fp.20000" 10000 --by "${BY:-function}" \
    ${MATCH:+--match "$MATCH"} --top "${TOP:-60}"
  ;;
bulk)
  for m in 32 64; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$m" "$bin" bulk "$stack" "$mtu" $m ${BUFKIB:-} >/dev/null 2>&1
  done
  a=$(total Ir "$out/cg.32"); b=$(total Ir "$out/cg.64")
  echo "$stack: $(( b - a )) instructions per 32 MiB at MTU $mtu"
  ;;
bulk-cache)
  for m in 32 64; do
    valgrind --tool=cachegrind --cache-sim=yes --D1=32768,8,64 --LL=524288,8,64 \
      --cachegrind-out-file="$out/c.$m" "$bin" bulk "$stack" "$mtu" $m ${BUFKIB:-} >/dev/null 2>&1
  done
  for e in Ir D1mr D1mw DLmr DLmw; do
    a=$(total $e "$out/c.32"); b=$(total $e "$out/c.64")
    echo "$stack: $e $(( b - a )) per 32 MiB (D1 32 KiB 8-way, LL = L2 512 KiB 8-way)"
  done
  ;;
bulk-icache)
  for m in 32 64; do
    valgrind --tool=cachegrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=524288,8,64 \
      --cachegrind-out-file="$out/c.$m" "$bin" bulk "$stack" "$mtu" $m ${BUFKIB:-} >/dev/null 2>&1
  done
  for e in Ir I1mr ILmr; do
    a=$(total $e "$out/c.32"); b=$(total $e "$out/c.64")
    echo "$stack: $e $(( b - a )) per 32 MiB (I1 32 KiB 8-way, LL = L2 512 KiB 8-way)"
  done
  ;;
bulk-footprint)
  steps=()
  for m in 32 64; do
    line=$(valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
      --callgrind-out-file="$out/fp.$m" "$bin" bulk "$stack" "$mtu" $m ${BUFKIB:-} 2>/dev/null)
    steps+=("$(echo "$line" | sed -n 's/.*steps=\([0-9]*\).*/\1/p')")
  done
  turns=$(( steps[1] - steps[0] ))
  echo "$stack: $turns turns of the bulk loop per 32 MiB"
  python3 "$here/footprint.py" "$out/fp.32" "$out/fp.64" "$turns" --by "${BY:-function}" \
    ${MATCH:+--match "$MATCH"} --top "${TOP:-60}" --unit turn
  ;;
*) usage ;;
esac
echo "(valgrind outputs in $out)"
