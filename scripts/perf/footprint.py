#!/usr/bin/env python3
"""The hot code of one handshake, from two callgrind runs of `profile handshake-count` (N and 2N
handshakes) made with --dump-instr=yes --compress-pos=no --compress-strings=no: an instruction is
hot if the difference runs it at least MIN times per handshake. (Or of one turn of the bulk
loop, from two `profile bulk` runs, with N the difference of their turns and --unit turn.) Prints the count of distinct hot
instructions and the 64-byte lines they occupy, then a breakdown:
  --by function   lines and instructions per function that owns them (a shared line is split)
  --by file       hot instructions per source file (inlined code counted where its source is)
  --by line       hot instructions per source line
--match keeps only instructions of functions whose name contains the substring.

usage: footprint.py SMALL BIG N [--min 0.5] [--by function|file|line] [--match S] [--top 60]
                    [--unit handshake|turn]"""
import argparse
import collections


def load(path):
    """Per instruction address: its cost, function, source file and line."""
    costs = collections.Counter()
    where = {}
    names = {}
    fl = cur = fn = None
    skip = False

    def name(s):
        s = s.strip()
        if s.startswith("("):
            i = s.index(")")
            key, rest = s[: i + 1], s[i + 1:].strip()
            if rest:
                names[key] = rest
            return names.get(key, key)
        return s

    for line in open(path):
        if skip:
            skip = False
            continue
        if line.startswith("fl="):
            fl = cur = name(line[3:])
        elif line.startswith(("fi=", "fe=")):
            cur = name(line[3:])
        elif line.startswith("fn="):
            cur = fl
            fn = name(line[3:])
        elif line.startswith("calls="):
            skip = True  # the next line is the call's inclusive cost
        elif line.startswith("0x"):
            parts = line.split()
            addr = int(parts[0], 16)
            costs[addr] += int(parts[2]) if len(parts) > 2 else 0
            where[addr] = (fn, cur, parts[1] if len(parts) > 1 else "0")
    return costs, where


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("small")
    ap.add_argument("big")
    ap.add_argument("n", type=int, help="handshakes (or turns) in BIG minus those in SMALL")
    ap.add_argument("--min", type=float, default=0.5)
    ap.add_argument("--by", choices=["function", "file", "line"], default="function")
    ap.add_argument("--match", default="")
    ap.add_argument("--top", type=int, default=60)
    ap.add_argument("--unit", default="handshake", help="what N counts (for the report)")
    args = ap.parse_args()
    small, _ = load(args.small)
    big, where = load(args.big)
    runs = {a: (big[a] - small.get(a, 0)) / args.n for a in big}
    hot = [a for a in big if runs[a] >= args.min and args.match in (where[a][0] or "")]
    lines = collections.defaultdict(set)
    for a in hot:
        lines[a >> 6].add(where[a][0])
    per_run = sum(runs[a] for a in hot) / max(len(hot), 1)
    print(f"hot instructions {len(hot)} in {len(lines)} 64-byte lines "
          f"({len(lines) * 64 / 1024:.1f} KiB); each runs {per_run:.1f} times per {args.unit}")
    if args.by == "function":
        share = collections.Counter()
        count = collections.Counter(where[a][0] for a in hot)
        for fns in lines.values():
            for f in fns:
                share[f] += 1.0 / len(fns)
        for f, c in share.most_common(args.top):
            print(f"{c:7.1f} lines {count[f]:6d} instructions  {f[:160]}")
    else:
        key = (lambda a: where[a][1]) if args.by == "file" else (lambda a: f"{where[a][1]}:{where[a][2]}")
        count = collections.Counter(key(a) for a in hot)
        total = collections.Counter()
        for a in hot:
            total[key(a)] += runs[a]
        for k, c in count.most_common(args.top):
            print(f"{c:6d} instructions {total[k] / c:5.1f}x  {k.split('/src/')[-1][:150]}")


if __name__ == "__main__":
    main()
