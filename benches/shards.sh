#!/usr/bin/env bash
# A sharded run on Slurm beside a single run, on the same input in one process tree: the
# wall time from submitting deploy/slurm/submit.sh to the end of its merge job for N = 1,
# 2 and 4 shards, each as a ratio to `gantry run` on the whole dump measured in the same
# run, and the merge's own time. Checks each merged dataset equals the single run's.
#
#   benches/shards.sh                          # 10,000 synthetic small files
#   GANTRY_BENCH_FILES=2000 GANTRY_BENCH_SHARDS="1 2" benches/shards.sh
#
# Needs a Slurm cluster (SLURM_CONF); without one answering, it starts a one-node cluster
# on this machine with deploy/slurm/local-cluster.sh (root, Debian's slurm-wlm and munge).
# On a 2-core machine the point is correctness and overhead, not speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
files=${GANTRY_BENCH_FILES:-10000}
counts=${GANTRY_BENCH_SHARDS:-1 2 4}
data=$root/target/bench-data
work=$(mktemp -d "${TMPDIR:-/tmp}/gantry-shards.XXXXXX")
trap 'rm -rf "$work"' EXIT

cargo build --release -p gantry-cli >&2
gantry=$root/target/release/gantry
if ! sinfo >/dev/null 2>&1; then
    export SLURM_CONF=$root/target/slurm-bench/slurm.conf
    deploy/slurm/local-cluster.sh start "$root/target/slurm-bench" >&2
fi

mkdir -p "$data"
synth=$data/peers-$files
if [ ! -f "$synth.complete" ]; then
    rm -rf "$synth"
    "$gantry" synth "$synth" --small-files "$files" --rules "$synth.rules.yaml" >&2
    touch "$synth.complete"
fi
config=$work/config.yaml
printf 'version: "2.0"\nprofile_options: [retain_longitudinal_modified_dates]\n' > "$config"
cat "$synth.rules.yaml" >> "$config"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
# Waits until every task of every job given has ended; fails unless all completed.
wait_jobs() {
    local job state
    for job in "$@"; do
        while :; do
            state=$(scontrol show job "$job" | grep -o 'JobState=[A-Z_]*' | sort -u | tr '\n' ' ')
            case "$state" in
                *PENDING*|*RUNNING*|*CONFIGURING*|*COMPLETING*|'') sleep 0.2 ;;
                'JobState=COMPLETED ') break ;;
                *) echo "job $job ended $state" >&2; return 1 ;;
            esac
        done
    done
}

"$gantry" secret "$work/secret.hex" >/dev/null
rounds=${GANTRY_BENCH_ROUNDS:-3}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
n=$(find "$synth" -type f | wc -l)
declare -A wall merge
singles=()
# Interleaved rounds: every configuration meets the same machine weather.
for r in $(seq 1 "$rounds"); do
    s=$(now)
    "$gantry" --quiet --db "$work/single$r.db" --secret-file "$work/secret.hex" run "$synth" \
        --config "$config" --out "$work/single$r" >"$work/single$r.log" 2>&1 || true
    singles+=("$(calc "$(now) - $s")")
    for shards in $counts; do
        w=$work/n$shards-r$r
        mkdir -p "$w"
        cp "$work/secret.hex" "$w/secret.hex"
        s=$(now)
        mapfile -t jobs < <(GANTRY=$gantry deploy/slurm/submit.sh "$synth" "$config" "$w" "$shards")
        wait_jobs "${jobs[@]}"
        wall[$shards]+="$(calc "$(now) - $s") "
        merge[$shards]+="$(grep -o '"duration": *[0-9.e-]*' "$w/reports/merge.json" | grep -o '[0-9.e-]*$') "
        if ! diff -r -x dataset.json "$work/single$r" "$w/dataset" >/dev/null; then
            echo "the merge of $shards shards differs from the single run" >&2
            exit 1
        fi
        rm -rf "$w/db" "$w/out"
    done
    rm -rf "$work/single$r.db"*
done
single=$(printf '%s\n' "${singles[@]}" | median)
printf 'sharded runs on Slurm: %d files, %d written by the single run; %d interleaved rounds (medians)\n' \
    "$n" "$(find "$work/single1" -name '*.dcm' | wc -l)" "$rounds"
printf '  single gantry run          %7.2f s  %6.0f files/s  (baseline)\n' "$single" "$(calc "$n / $single")"
for shards in $counts; do
    t=$(printf '%s\n' ${wall[$shards]} | median)
    m=$(printf '%s\n' ${merge[$shards]} | median)
    printf '  N=%d shards on Slurm        %7.2f s  %6.0f files/s  %.2fx the single run; merge %.2f s; merged = single\n' \
        "$shards" "$t" "$(calc "$n / $t")" "$(calc "$t / $single")" "$m"
done
