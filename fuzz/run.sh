#!/usr/bin/env bash
# Runs fuzz targets with cargo-fuzz (nightly). Usage:
#   fuzz/run.sh [SECONDS] [TARGET...]      (default: 60 s each, every target)
# Crashes are kept under fuzz/artifacts/TARGET/; corpora under fuzz/corpus/TARGET/.
# FUZZ_SANITIZER=none builds without AddressSanitizer (the quick smoke in .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(parse compile eval_facts request_body compiled_pack module_values)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  cargo +nightly fuzz run --sanitizer "${FUZZ_SANITIZER:-address}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -seed=1 -rss_limit_mb=4096 -timeout=10 -print_final_stats=1
done
