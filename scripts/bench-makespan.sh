#!/usr/bin/env bash
# Makespan of a DAG of sleep jobs with known durations, factory beside ninja.
#
#   scripts/bench-makespan.sh [N_JOBS] [SEED]     (defaults: 300 jobs, seed 1)
#   RUNS=3 JOBS_LIST="4 8 16" MIN_MS=20 MAX_MS=300 scripts/bench-makespan.sh
#
# Target (issue 3, section 8): the makespan stays within 5% of
# max(critical path, total work / jobs). That bound is what an ideal scheduler
# with zero overhead could reach at best; list scheduling (which ninja and
# factory both do) cannot always reach it, so ninja's ratio on the same graph
# is printed beside factory's as the practical floor.
#
# How the two order ready jobs (what the zero-overhead simulations printed
# first replay): factory's dispatcher (crates/factory-engine/src/dispatch/state.rs)
# ranks a ready job by the longest chain of dependents below it, weighed by the
# jobs' last run times where the store has them and counted in jobs where it
# has none (as here: every run starts from a fresh store), ties by name; slots
# go to the highest claim (crates/factory-engine/src/slots.rs). Ninja 1.11 starts ready edges in manifest order (its .ninja_log,
# deleted before every run here, holds no history either).
#
# scripts/bench-dag.py generates a seeded random layered DAG (layers of
# ceil(sqrt(N)) jobs; every job after the first layer depends on 3 jobs, one
# from the layer just before, the others from any earlier layer) both as a
# Factory definition of `command` components and as a build.ninja. Each job
# sleeps its own duration (MIN_MS..MAX_MS, drawn from SEED), then hashes its
# inputs' outputs and its name into its output, and logs its start and end.
#
# For every -j value, RUNS times each: `factory --store S up --once
# --no-sandbox -j J` with a fresh store (the old one is moved into a trash dir,
# deleted at the end, so deletions do not slow the timed runs down) and
# `ninja -jJ` with a fresh build dir. Prints, per engine and -j: the wall time
# of the whole command (mean and min), the span from the first job's start to
# the last job's end (from the jobs' own log, i.e. without process start-up),
# and both divided by the bound. The jobs' own processes (sh, sleep, date,
# cat, cksum) cost milliseconds beyond the nominal sleep on a loaded machine,
# so the bound is also recomputed from the durations each job really took in
# each run (end - start in the log): wall / that bound is what the engine
# adds. "idle" sums, from the same log, the time slots stood empty while a
# job was ready (divided by -j): the engine's dispatch latency as it weighs on
# the makespan. Sleeping jobs need no cores: -j may exceed the number of cores.
#
# Checks that every job ran under both engines and that factory's store holds
# ninja's output of every job.
# Needs python3, ninja, cargo (builds target/release/factory once).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
seed=${2:-1}
runs=${RUNS:-3}
jobs_list=${JOBS_LIST:-4 8 16}
min_ms=${MIN_MS:-20}
max_ms=${MAX_MS:-300}
for tool in python3 ninja cargo; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build --release -q -p factory
factory=$PWD/target/release/factory
dag=$PWD/scripts/bench-dag.py
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/trash" "$work/logs"
log=$work/jobs.log
width=$(python3 -c "import math; print(max(1, math.ceil(math.sqrt($n))))")

python3 "$dag" gen "$work" --jobs "$n" --width "$width" --deps 3 \
    --min-ms "$min_ms" --max-ms "$max_ms" --seed "$seed" --log "$log"
"$factory" check "$work/def" >/dev/null
echo "== $n jobs, seed $seed, durations ${min_ms}..${max_ms} ms, $runs runs each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
python3 "$dag" bound "$work" $jobs_list | tee "$work/bound.txt" | grep -v '^BOUND'

now() { date +%s%N; }
results=$work/results.txt
: >"$results"
# One timed run: ENGINE J RUN. Leaves the jobs' log in $work/logs.
run_one() {
    local engine=$1 j=$2 r=$3 t0 t1
    rm -f "$log"
    if [ "$engine" = factory ]; then
        [ -e "$work/store" ] && mv "$work/store" "$work/trash/store.$engine.$j.$r"
        t0=$(now)
        "$factory" --store "$work/store" up --once --no-sandbox -j "$j" --definition "$work/def" >"$work/out.txt"
        t1=$(now)
    else
        [ -e "$work/ninja/out" ] && mv "$work/ninja/out" "$work/trash/out.$engine.$j.$r"
        rm -f "$work/ninja/.ninja_log" "$work/ninja/.ninja_deps"
        t0=$(now)
        ninja -C "$work/ninja" -j"$j" --quiet >"$work/out.txt"
        t1=$(now)
    fi
    mv "$log" "$work/logs/$engine.$j.$r"
    local span
    span=$(python3 "$dag" span "$work" "$work/logs/$engine.$j.$r" "$j")
    echo "$engine $j $r $(( (t1 - t0) / 1000 )) $span" >>"$results"
}

for j in $jobs_list; do
    for r in $(seq 1 "$runs"); do
        # Alternate the order so drifting machine load hits both alike.
        if [ $((r % 2)) = 1 ]; then order="ninja factory"; else order="factory ninja"; fi
        for engine in $order; do
            run_one "$engine" "$j" "$r"
        done
    done
    # Same work done? Every job ran in the last runs, and factory built ninja's bytes.
    python3 "$dag" check "$work" "$work/logs/ninja.$j.$runs" "$work/ninja"
    python3 "$dag" check "$work" "$work/logs/factory.$j.$runs" "$work/ninja" "$work/store"
done
echo "== every job ran under both engines; factory's store holds ninja's output of every job"

python3 - "$results" "$work/bound.txt" <<'EOF'
import statistics, sys
bounds = {}
for line in open(sys.argv[2]):
    if line.startswith("BOUND"):
        _, j, b, which = line.split(maxsplit=3)
        bounds[int(j)] = (float(b), which.strip())
rows = {}
for line in open(sys.argv[1]):
    engine, j, r, wall_us, span, measured, lost = line.split()
    rows.setdefault((int(j), engine), []).append((int(wall_us) / 1e6, float(span), float(measured), float(lost)))
print(f"{'-j':>3} {'bound (s)':>9} {'set by':>13} {'engine':>8} | {'wall mean':>9} {'min':>6} "
      f"{'mean/bnd':>8} {'min/bnd':>7} | {'span mean':>9} {'/bnd':>6} | {'measured bnd':>12} {'wall/mbnd':>9} | {'idle':>5} | within 5%?")
for (j, engine), xs in sorted(rows.items()):
    b, which = bounds[j]
    walls = [x[0] for x in xs]
    spans = [x[1] for x in xs]
    mb = statistics.mean(x[2] for x in xs)
    wall_mb = statistics.mean(x[0] / x[2] for x in xs)
    lost = statistics.mean(x[3] for x in xs)
    wm, sm = statistics.mean(walls), statistics.mean(spans)
    verdict = "yes" if wm <= 1.05 * b else ("min only" if min(walls) <= 1.05 * b else "no")
    print(f"{j:>3} {b:9.3f} {which:>13} {engine:>8} | {wm:9.3f} {min(walls):6.3f} "
          f"{wm / b:8.3f} {min(walls) / b:7.3f} | {sm:9.3f} {sm / b:6.3f} | {mb:12.3f} {wall_mb:9.3f} | {lost:5.3f} | {verdict}")
print("wall: the whole command; span: first job start -> last job end, from the jobs' log.")
print("bound: from the nominal sleep durations; measured bnd: the same bound from the durations")
print("the jobs really took in each run (their shell, sleep, date, cat, cksum), mean over runs;")
print("wall/mbnd: mean over runs of wall / that run's measured bound.")
print("idle: slot-seconds / J during which a slot ran no job although a job was ready")
print("(its inputs' commands had ended), mean over runs: what dispatch latency costs.")
print("within 5%?: mean wall <= 1.05 x bound (\"min only\": only the best run is).")
EOF
rm -rf "$work/trash"
