#!/usr/bin/env bash
# make fuzz: every cargo-fuzz target of shared/fuzz/ for FUZZ_SECONDS each, then a table of libFuzzer's
# final figures (docs/reliability.md#fuzzing-make-fuzz). Exit status 1 when any target crashed,
# panicked, timed out or ran out of memory; its reproducer is in shared/fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS   seconds per target (default 60; the recorded campaign ran 600)
#   FUZZ_TARGETS   space-separated subset (default: every target `cargo fuzz list` prints)
#   FUZZ_PARALLEL  targets run at once (default 2)
#   FUZZ_TIMEOUT   seconds one input may take before libFuzzer calls it a timeout (default 10)
#   FUZZ_RSS_MB    memory limit of a run (default 2048)
#   FUZZ_NICE      niceness of the runs (default 19: the fuzzers only take idle CPU)
#
# Needs the nightly toolchain (rustup), which it uses but does not install; installs cargo-fuzz
# when missing. The corpus grows in shared/fuzz/corpus/<target>/ (not committed) from the committed
# seeds in shared/fuzz/seeds/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
PARALLEL=${FUZZ_PARALLEL:-2}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2048}
NICENESS=${FUZZ_NICE:-19}
LOGS=shared/fuzz/target/logs

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "make fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd shared/fuzz
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
echo "building the fuzz targets (nightly, address sanitizer)"
nice -n 10 cargo +nightly fuzz build
mkdir -p "target/logs"
cd ../..

run_target() {
    local target=$1 status=0
    mkdir -p "shared/fuzz/corpus/$target"
    # The corpus directory first: libFuzzer writes new inputs there, never into the seeds.
    (cd shared/fuzz && nice -n "$NICENESS" cargo +nightly fuzz run "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
        -print_final_stats=1) >"$LOGS/$target.log" 2>&1 || status=$?
    echo "$status" >"$LOGS/$target.status"
}

running=0
for target in $targets; do
    echo "fuzzing $target for ${SECONDS_PER_TARGET}s (log: $LOGS/$target.log)"
    run_target "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

# libFuzzer's last status line ("#N DONE cov: C ft: F corp: U/SIZE ... exec/s: E") and its
# -print_final_stats lines give the figures.
failed=0
printf '\n| target | seconds | executions | exec/s | corpus (inputs/size) | coverage (edges/features) | crashes |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for target in $targets; do
    log="$LOGS/$target.log"
    status=$(cat "$LOGS/$target.status" 2>/dev/null || echo 1)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    corp=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || true)
    crashes=$(grep -cE '^==[0-9]+== ?ERROR|deadly signal|ALARM: working on the last Unit|out-of-memory' "$log" || true)
    if [ "$status" != 0 ] && [ "$crashes" = 0 ]; then crashes=1; fi
    if [ "$crashes" != 0 ]; then failed=1; fi
    printf '| %s | %s | %s | %s | %s | %s/%s | %s |\n' "$target" "$SECONDS_PER_TARGET" \
        "${execs:-?}" "${rate:-?}" "${corp:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
done
if [ "$failed" != 0 ]; then
    echo "a target failed: see its log in $LOGS and the reproducer in shared/fuzz/artifacts/" >&2
    exit 1
fi
