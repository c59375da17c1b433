#!/usr/bin/env bash
# Gantry's whole run (`gantry run`: the nine checkpoints, originals sealed) beside the
# metadata-only Rust anonymizer `dcmanon` (crate dicom-anonymization) and `cp -r`, on the
# same input, in interleaved rounds in one process tree, so that all three meet the same
# file-system weather. Prints the median time of each, files/s and the ratios.
#
#   benches/peers.sh                 # 10,000 synthetic small files, and the pydicom mix
#   GANTRY_BENCH_FILES=2000 GANTRY_BENCH_ROUNDS=3 benches/peers.sh
#
# dcmanon is installed once into target/bench-tools (nothing outside the repository).
# Header decodes per instance are printed by `cargo bench --bench pipeline`, which runs the
# same checkpoints in process and can count them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
files=${GANTRY_BENCH_FILES:-10000}
rounds=${GANTRY_BENCH_ROUNDS:-5}
tools=$root/target/bench-tools
data=$root/target/bench-data
work=$(mktemp -d "${TMPDIR:-/tmp}/gantry-peers.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -x "$tools/bin/dcmanon" ]; then
    cargo install dicom-anonymization --version 0.3.1 --locked --root "$tools" >&2
fi
cargo build --release -p gantry-cli >&2
gantry=$root/target/release/gantry
dcmanon=$tools/bin/dcmanon

mkdir -p "$data"
synth=$data/peers-$files
if [ ! -f "$synth.complete" ]; then
    rm -rf "$synth"
    "$gantry" synth "$synth" --small-files "$files" --rules "$synth.rules.yaml" >&2
    touch "$synth.complete"
fi
mix=$data/peers-pydicom
if [ ! -d "$mix" ]; then
    mkdir -p "$mix"
    cp tests/data/pydicom/*.dcm "$mix/"
fi

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
count() { { find "$1" -type f -name '*.dcm' 2>/dev/null || true; } | wc -l; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

bench() {
    local name=$1 input=$2 config=$3
    local n
    n=$(count "$input")
    local t_cp=() t_dcm=() t_gantry=() w_dcm=0 w_gantry=0
    "$gantry" keygen "$work/$name.key" >/dev/null
    for r in $(seq 1 "$rounds"); do
        # Nothing is deleted between rounds: ext4 slows inode allocation after mass
        # deletes, which would penalise whichever tool ran next.
        local s
        s=$(now); cp -r "$input" "$work/$name-cp$r"; t_cp+=("$(calc "$(now) - $s")")
        mkdir -p "$work/$name-dcm$r" # dcmanon writes only into an existing folder
        s=$(now)
        "$dcmanon" anonymize -i "$input" -o "$work/$name-dcm$r" -r --continue \
            >"$work/$name-dcm$r.log" 2>&1 || true
        t_dcm+=("$(calc "$(now) - $s")")
        w_dcm=$(count "$work/$name-dcm$r")
        s=$(now)
        "$gantry" --db "$work/$name-$r.db" run "$input" --config "$config" \
            --out "$work/$name-gantry$r" --key "$work/$name.key" >"$work/$name-gantry$r.log" 2>&1 || true
        t_gantry+=("$(calc "$(now) - $s")")
        w_gantry=$(count "$work/$name-gantry$r")
    done
    if [ "$w_gantry" -eq 0 ]; then
        echo "gantry wrote nothing on $name:" >&2
        tail -20 "$work/$name-gantry$rounds.log" >&2
        exit 1
    fi
    local cp dcm g
    cp=$(printf '%s\n' "${t_cp[@]}" | median)
    dcm=$(printf '%s\n' "${t_dcm[@]}" | median)
    g=$(printf '%s\n' "${t_gantry[@]}" | median)
    # The copy floor for the files Gantry writes: cp's time for as many files.
    local floor
    floor=$(calc "$cp * $w_gantry / $n")
    printf '%s: %d files, %d rounds (medians)\n' "$name" "$n" "$rounds"
    printf '  cp -r          %7.2f s  %8.0f files/s  writes %d\n' "$cp" "$(calc "$n / $cp")" "$n"
    if [ "$w_dcm" -gt 0 ]; then
        printf '  dcmanon        %7.2f s  %8.0f files/s  writes %d (metadata only, no pixels checked)\n' \
            "$dcm" "$(calc "$n / $dcm")" "$w_dcm"
    else
        printf '  dcmanon        %7.2f s  aborted, writes nothing: %s\n' "$dcm" \
            "$(grep -m1 '^Error' "$work/$name-dcm$rounds.log" || echo 'no output')"
    fi
    printf '  gantry run     %7.2f s  %8.0f files/s  writes %d (sealed; the rest blocked)\n' \
        "$g" "$(calc "$n / $g")" "$w_gantry"
    [ "$w_dcm" -eq 0 ] || printf '  gantry / dcmanon %.2fx the time (target <= 1)\n' "$(calc "$g / $dcm")"
    printf '  gantry / cp -r of the files it writes %.2fx the time (target <= 3)\n' \
        "$(calc "$g / $floor")"
}

printf 'version: "2.0"\nprofile_options: [retain_longitudinal_modified_dates]\n' > "$work/synth.yaml"
cat "$synth.rules.yaml" >> "$work/synth.yaml"
printf 'version: "2.0"\n' > "$work/mix.yaml"
bench synthetic "$synth" "$work/synth.yaml"
bench pydicom "$mix" "$work/mix.yaml"
