#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace.
# Usage: scripts/test.sh   (from anywhere; needs only the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    cargo test --workspace --locked --doc
else
    echo "cargo-nextest not found; running cargo test (install it with: cargo install cargo-nextest)"
    cargo test --workspace --locked --no-fail-fast
fi
