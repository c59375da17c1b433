#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on a corpus seeded from tests/data and from the
# inputs that once crashed it. Usage: fuzz/run.sh TARGET SECONDS
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). A crash leaves its input in
# fuzz/artifacts/TARGET/; copy it to fuzz/regressions/TARGET/ so the test suite replays it.
set -euo pipefail
cd "$(dirname "$0")"
target=$1
seconds=${2:-60}
corpus=corpus/$target
mkdir -p "$corpus"
case $target in
    source_parser | header_scan | cms_envelope | rle_codec | text_detector)
        cp -n ../tests/data/pydicom/*.dcm "$corpus"/ 2>/dev/null || true ;;
    config_loader)
        find ../crates ../examples -name '*.yaml' -exec cp -n {} "$corpus"/ \; 2>/dev/null || true
        cp -n ../../shared/data/burned-in-regions.yaml "$corpus"/ 2>/dev/null || true ;;
esac
if [ -d "regressions/$target" ]; then
    cp -n "regressions/$target"/* "$corpus"/ 2>/dev/null || true
fi
# Targets that decode data sets must never allocate what a length claims beyond the input
# (at most 256 KiB): a 64 MB malloc limit catches any claim the length walk lets through.
case $target in
    header_scan | cms_envelope) malloc_limit=64 ;;
    *) malloc_limit=2048 ;;
esac
cargo +nightly fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -malloc_limit_mb="$malloc_limit" \
    -timeout=10 -print_final_stats=1
