#!/usr/bin/env bash
# Build-engine overhead against ninja on the same generated job graph.
#
#   scripts/bench-engine.sh [N] [SEED]        (defaults: 10000 jobs, seed 1)
#   FULL_RUNS=2 NOOP_RUNS=10 SANDBOX=1 scripts/bench-engine.sh 10000
#   ROUNDS=3 FULL_RUNS=1 scripts/bench-engine.sh 10000
#   BEFORE=/path/to/an/older/factory ROUNDS=3 scripts/bench-engine.sh 10000
#
# Generates a layered DAG of N trivial jobs (layers of ceil(sqrt(N)) jobs;
# every job after the first layer depends on 3 jobs picked, from SEED, among
# all earlier layers) twice: as a Factory definition of `command` components
# and as an equivalent build.ninja. Every job hashes its inputs' files plus
# its own name into one small file, so outputs differ per job and the work is
# next to nothing: what is timed is the engine.
#
# Times, with hyperfine: a full build by `ninja -j2` (fresh build dir each
# run) and by `factory up --once --no-sandbox -j 2` (fresh store each run),
# then a no-change rebuild of each, and prints factory/ninja ratios.
# SANDBOX=1 adds a full build by factory with the bubblewrap sandbox on. BEFORE=BINARY
# times another factory binary (an older build) in the same runs, beside both.
# Needs python3, ninja and hyperfine (and bwrap for SANDBOX=1).
#
# Before each full build the previous outputs are moved aside, not deleted:
# on ext4 without a journal (this machine), creating a file scans the inodes
# freed in the last few seconds, so deleting thousands of files right before
# a run would slow down whichever engine runs next. The moved trees are
# deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
seed=${2:-1}
full_runs=${FULL_RUNS:-3}
# Hyperfine runs one command's runs, then the other's: on a machine whose speed
# drifts, ROUNDS > 1 alternates the two engines round by round and pools them.
rounds=${ROUNDS:-1}
noop_runs=${NOOP_RUNS:-10}
sandbox=${SANDBOX:-0}
before=${BEFORE:-}
for tool in python3 ninja hyperfine; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
cargo build --release -q -p factory
factory=$PWD/target/release/factory
work=$(mktemp -d)
# KEEP_WORK=1 leaves the work directory (its path is printed) for the caller to delete
# later: deleting thousands of files slows the next few minutes' file creation here.
if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "work directory (kept): $work"
else
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/def" "$work/ninja" "$work/trash"

# One generator writes both forms so they cannot drift apart. Job 0..w-1 form
# the first layer; job i is in layer i // w and depends only on jobs < layer*w.
python3 - "$n" "$seed" "$work/def/jobs.toml" "$work/ninja/build.ninja" <<'EOF'
import math, random, sys
n, seed, toml_path, ninja_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
width = max(1, math.ceil(math.sqrt(n)))
rng = random.Random(seed)
deps = []
for i in range(n):
    earlier = (i // width) * width
    deps.append(sorted(rng.sample(range(earlier), min(3, earlier))))
with open(toml_path, "w") as toml:
    for i, ds in enumerate(deps):
        inputs = " ".join(f"{{dep.j{d}}}/out.txt" for d in ds)
        reqs = ", ".join(f'"j{d}"' for d in ds)
        toml.write(f"[component.j{i}]\nkind = \"command\"\nbuild-requires = [{reqs}]\n")
        toml.write(f"commands = [\"{{{{ cat {inputs} /dev/null; echo {{name}}; }}}} | cksum > {{out}}/out.txt\"]\n")
        toml.write("outputs = [\"out.txt\"]\n\n")
with open(ninja_path, "w") as nj:
    nj.write("rule job\n  command = { cat $in /dev/null; echo $name; } | cksum > $out\n\n")
    for i, ds in enumerate(deps):
        inputs = " ".join(f"out/j{d}" for d in ds)
        nj.write(f"build out/j{i}: job {inputs}\n  name = j{i}\n")
EOF

"$factory" check "$work/def" >/dev/null
# Same answer? Both engines must build the same bytes for the last job.
ninja -C "$work/ninja" -j2 --quiet >/dev/null
"$factory" --store "$work/check-store" up --once --no-sandbox -j 2 --definition "$work/def" >/dev/null
last=$(( n - 1 ))
# The store keeps output trees as tars, content-addressed: one of them must hold ninja's bytes.
if ! python3 scripts/bench-dag.py holds "$work/check-store" "$work/ninja/out/j$last"; then
    echo "factory did not produce ninja's output for j$last" >&2
    exit 1
fi
echo "== $n jobs, seed $seed: factory and ninja give j$last the same output"

ninja_cmd="ninja -C $work/ninja -j2 --quiet"
factory_cmd="$factory --store $work/store up --once --no-sandbox -j 2 --definition $work/def"
before_cmd="$before --store $work/store-before up --once --no-sandbox -j 2 --definition $work/def"
# hyperfine arguments for the older binary, when there is one.
before_full=()
before_noop=()
if [ -n "$before" ]; then
    before_full=(--prepare "if [ -e $work/store-before ]; then mv $work/store-before \$(mktemp -d -p $work/trash)/; fi" -n "factory before" "$before_cmd")
    before_noop=(-n "factory before (no change)" "$before_cmd")
fi
export_json() { echo "$work/$1.json"; }
# A command moving a directory into the trash under a fresh name (see the note at the top).
set_aside() { echo "if [ -e $1 ]; then mv $1 \$(mktemp -d -p $work/trash)/; fi"; }

for round in $(seq 1 "$rounds"); do
    echo "== full build (round $round of $rounds)"
    this_full=(--prepare "$(set_aside "$work/store")" -n "factory up --once -j 2" "$factory_cmd")
    # Whichever factory runs right after ninja meets ninja's writeback: with BEFORE, the two
    # factories take turns at that place, round by round (the pooling below keeps them apart).
    if [ $((round % 2)) = 0 ] && [ -n "$before" ]; then
        factories=("${before_full[@]}" "${this_full[@]}")
    else
        factories=("${this_full[@]}" "${before_full[@]}")
    fi
    hyperfine --style basic --runs "$full_runs" --export-json "$(export_json "full-$round")" \
        --prepare "$(set_aside "$work/ninja/out"); rm -f $work/ninja/.ninja_log $work/ninja/.ninja_deps" \
        -n "ninja -j2" "$ninja_cmd" \
        "${factories[@]}"
done
# The rounds' runs pooled into one result per engine, in hyperfine's layout.
python3 - "$(export_json full)" "$work"/full-*.json <<'EOF'
import json, statistics, sys
rounds = [json.load(open(path))["results"] for path in sys.argv[2:]]
# Pooled by command name: the factories take turns in the order of the commands.
names = [r["command"] for r in rounds[0]]
pooled = []
for name in names:
    times = [t for results in rounds for r in results if r["command"] == name for t in r["times"]]
    pooled.append({"command": name, "mean": statistics.mean(times),
                   "min": min(times), "max": max(times), "times": times})
json.dump({"results": pooled}, open(sys.argv[1], "w"))
if len(rounds) > 1:
    for results in rounds:
        ratios = ", ".join(f"{r['command']}/ninja = {r['mean'] / results[0]['mean']:.2f}x" for r in results[1:])
        print(f"round: {ratios}")
    for result in pooled[1:]:
        print(f"pooled: {result['command']}/ninja = {result['mean'] / pooled[0]['mean']:.3f}x")
EOF

if [ "$sandbox" = 1 ]; then
    echo "== full build, factory with the sandbox on (bubblewrap)"
    hyperfine --style basic --runs "$full_runs" --export-json "$(export_json sandbox)" \
        --prepare "$(set_aside "$work/sandboxed")" \
        -n "factory up --once -j 2 (sandboxed)" \
        "$factory --store $work/sandboxed up --once -j 2 --definition $work/def"
fi

echo "== no-change rebuild"
$ninja_cmd >/dev/null
$factory_cmd >/dev/null
if [ -n "$before" ]; then $before_cmd >/dev/null; fi
hyperfine --style basic -N --warmup 1 --runs "$noop_runs" --export-json "$(export_json noop)" \
    -n "ninja -j2 (no change)" "$ninja_cmd" \
    -n "factory up --once -j 2 (no change)" "$factory_cmd" \
    "${before_noop[@]}"

echo "== ratios factory/ninja (mean wall time)"
python3 - "$(export_json full)" "$(export_json noop)" "$(export_json sandbox)" <<'EOF'
import json, os, sys
for label, path, bound in (("full build", sys.argv[1], 1.25), ("no-change rebuild", sys.argv[2], 0.25)):
    results = json.load(open(path))["results"]
    ninja = results[0]["mean"]
    for result in results[1:]:
        ours = result["mean"]
        ratio = ours / ninja
        verdict = "within" if ratio <= bound else "OVER"
        print(f"{label}, {result['command']}: {ours:.3f} s / {ninja:.3f} s = {ratio:.2f}x ({verdict} the {bound}x target)")
if os.path.exists(sys.argv[3]):
    plain = json.load(open(sys.argv[1]))["results"][1]["mean"]
    boxed = json.load(open(sys.argv[3]))["results"][0]["mean"]
    print(f"sandbox cost: {boxed:.3f} s sandboxed / {plain:.3f} s plain = {boxed / plain:.2f}x")
EOF
