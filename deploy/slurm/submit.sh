#!/usr/bin/env bash
# Submits a sharded Gantry run to Slurm: three jobs, each waiting for the one before.
#
#   1. an array of N tasks: shard i ingests the dump (only its patients' files) and writes
#      its identifiers for the other shards;
#   2. an array of N tasks: shard i imports every other shard's identifiers and runs the
#      nine checkpoints into WORK/out/shard-i (a task that fails is tried again, resuming
#      from its database);
#   3. the merge of WORK/out/shard-* into WORK/dataset, which names the shards missing if
#      any failed for good.
#
# Usage: submit.sh INPUT CONFIG WORK SHARDS [KEY]
#   INPUT   the dump, on storage every node reads
#   CONFIG  the Gantry configuration
#   WORK    a folder every node writes: the secret, the databases (PHI: keep it private),
#           the identifiers, the shards' exports, the reports, and the merged dataset
#   SHARDS  how many shards
#   KEY     optional: seal the originals for this key file (gantry keygen KEY)
# Environment: GANTRY (the gantry binary; default: gantry on PATH), SBATCH_ARGS (extra
# sbatch arguments, e.g. "--partition=cpu --time=04:00:00"), GANTRY_ATTEMPTS (tries per
# shard task, default 2).
# Prints the three job IDs, one per line.
set -euo pipefail
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    sed -n '2,25p' "$0" >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
input="$(abs "$1")"
config="$(abs "$2")"
mkdir -p "$3"
work="$(cd "$3" && pwd)"
shards="$4"
key=""
[ $# -eq 5 ] && key="$(abs "$5")"
gantry="${GANTRY:-$(command -v gantry || true)}"
[ -x "$gantry" ] || { echo "submit.sh: no gantry binary (set GANTRY)" >&2; exit 2; }
case "$shards" in ''|*[!0-9]*|0) echo "submit.sh: SHARDS must be a positive number" >&2; exit 2;; esac

umask 077
mkdir -p "$work/db" "$work/identities" "$work/out" "$work/reports" "$work/logs"
# One project secret for every shard: the same patient gets the same pseudonym, UIDs and
# date shift whichever shard holds it, and the partition is the same on every node.
if [ ! -s "$work/secret.hex" ]; then
    "$gantry" --quiet secret "$work/secret.hex" >/dev/null
fi
# The sealing key is made here, once, not by N tasks at the same time.
if [ -n "$key" ] && [ ! -e "$key" ]; then
    "$gantry" --quiet keygen "$key"
fi

export GANTRY="$gantry" GANTRY_INPUT="$input" GANTRY_CONFIG="$config" GANTRY_WORK="$work" \
    GANTRY_SHARDS="$shards" GANTRY_KEY="$key"
common=(--parsable --export=ALL --chdir="$work" ${SBATCH_ARGS:-})
ids=$(sbatch "${common[@]}" --array="1-$shards" --job-name=gantry-identities \
    --output="$work/logs/identities-%a.log" "$here/identities.sbatch")
ids="${ids%%;*}"
run=$(sbatch "${common[@]}" --array="1-$shards" --job-name=gantry-shard \
    --dependency="afterok:$ids" --output="$work/logs/shard-%a.log" "$here/shard.sbatch")
run="${run%%;*}"
# afterany: the merge runs when every shard task has ended, and says which failed.
merge=$(sbatch "${common[@]}" --job-name=gantry-merge --dependency="afterany:$run" \
    --output="$work/logs/merge.log" "$here/merge.sbatch")
merge="${merge%%;*}"
printf '%s\n%s\n%s\n' "$ids" "$run" "$merge"
