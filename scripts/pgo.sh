#!/usr/bin/env bash
# A profile-guided (PGO) build of the `synack` binary, for `synack bench`.
#
# 1. builds synack instrumented (-Cprofile-generate) in target/pgo-gen;
# 2. trains it on `synack demo` and `synack bench all --quick` (the bench's
#    own workloads at small sizes: bulk, handshakes, memory, loss and, as
#    root, tap). smoltcp is compiled into the same binary and trained by the
#    same runs, so the side-by-side figures stay like for like;
# 3. merges the profiles with the toolchain's llvm-profdata (rustup's
#    llvm-tools component, installed here if missing);
# 4. builds synack again with -Cprofile-use in target/pgo.
#
# The result is target/pgo/<host>/release/synack; the plain release build in
# target/release is not touched. Usage: scripts/pgo.sh [-- bench args...]
# With arguments after `--`, the PGO binary runs them once built, e.g.
#   scripts/pgo.sh -- bench all --json
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
tools="$(rustc --print sysroot)/lib/rustlib/$host/bin"
if [[ ! -x "$tools/llvm-profdata" ]]; then
    echo "pgo: installing rustup's llvm-tools (llvm-profdata)" >&2
    rustup component add llvm-tools
fi

data="$PWD/target/pgo-data"
rm -rf "$data"
mkdir -p "$data"

# --target keeps build scripts and proc macros out of the instrumentation:
# RUSTFLAGS then applies only to what runs in the binary.
build() {
    local dir=$1 flags=$2
    RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir" \
        cargo build --release --locked -p synack-cli --target "$host"
}

echo "pgo: instrumented build" >&2
build target/pgo-gen "-Cprofile-generate=$data"
trained=target/pgo-gen/$host/release/synack
echo "pgo: training (demo, bench all --quick)" >&2
"$trained" demo > /dev/null
"$trained" bench all --quick --json > /dev/null
"$tools/llvm-profdata" merge -o "$data/merged.profdata" "$data"

echo "pgo: optimised build" >&2
build target/pgo "-Cprofile-use=$data/merged.profdata"
bin=target/pgo/$host/release/synack
echo "pgo: built $bin" >&2

if [[ "${1:-}" == "--" ]]; then
    shift
    exec "$bin" "$@"
fi
