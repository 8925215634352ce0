#!/usr/bin/env bash
# Every test synack has: formatting, lints, unit/property/simulation tests,
# fuzz-corpus replay, and (as root, with /dev/net/tun) interop with the Linux
# kernel in private network namespaces. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The `ci` profile is optimised but keeps debug assertions and overflow checks.
cargo test --workspace --all-features --profile ci
