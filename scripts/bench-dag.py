#!/usr/bin/env python3
"""Job graphs of timed `sleep` jobs for scripts/bench-makespan.sh and
scripts/bench-latency.sh, and the arithmetic on their results.

    bench-dag.py gen DIR --jobs N --width W --deps K --min-ms A --max-ms B
                         --seed S --log LOG [--prev-layer-only]
    bench-dag.py bound DIR J...          critical path, work / J, the bound
    bench-dag.py span DIR LOG J          first start -> last end in LOG (s), the bound
                                         from the durations measured in LOG, and the
                                         slot time lost while a job was ready (s)
    bench-dag.py latency DIR [--pooled] LOG...
                                         ready->running figures per LOG (or pooled)
    bench-dag.py check DIR LOG NINJA_DIR [STORE]
    bench-dag.py holds STORE FILE...     every FILE's bytes are a file of an output tree
                                         the store keeps durably

`gen` writes, from one graph so the two forms cannot drift apart,
DIR/def/jobs.toml (Factory `command` components), DIR/ninja/build.ninja and
DIR/dag.json. Job i sits in layer i // W; every job after the first layer
depends on K jobs (one from the layer just before, the others from any
earlier layer, or all from the layer just before with --prev-layer-only).
Every job runs the same shell text under both engines:

    echo NAME start $(date +%s%N) >> LOG; sleep D;
    { cat INPUTS /dev/null; echo NAME; } | cksum > OUT;
    echo NAME end $(date +%s%N) >> LOG

so its output depends on its inputs' outputs (the engines can be compared
byte for byte) and LOG records when each job's command started and ended.
"""
import argparse
import json
import math
import os
import random
import statistics
import sys


def gen(a):
    rng = random.Random(a.seed)
    jobs = []
    for i in range(a.jobs):
        layer = i // a.width
        prev_lo, prev_hi = max(0, (layer - 1) * a.width), layer * a.width
        deps = set()
        if layer > 0:
            prev = range(prev_lo, prev_hi)
            pool = prev if a.prev_layer_only else range(prev_hi)
            deps.add(rng.choice(prev))
            want = min(a.deps, len(pool))
            while len(deps) < want:
                deps.add(rng.choice(pool))
        ms = rng.randint(a.min_ms, a.max_ms)
        jobs.append({"name": f"j{i}", "deps": sorted(deps), "ms": ms})
    os.makedirs(os.path.join(a.dir, "def"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "ninja"), exist_ok=True)
    log = a.log

    def body(name, ms, inputs, out, lbrace, rbrace, dollar):
        return (
            f"echo {name} start {dollar}(date +%s%N) >> {log}; sleep {ms / 1000:.3f}; "
            f"{lbrace} cat {inputs} /dev/null; echo {name}; {rbrace} | cksum > {out}; "
            f"echo {name} end {dollar}(date +%s%N) >> {log}"
        )

    with open(os.path.join(a.dir, "def", "jobs.toml"), "w") as toml:
        for j in jobs:
            name = j["name"]
            inputs = " ".join(f"{{dep.j{d}}}/out.txt" for d in j["deps"])
            reqs = ", ".join(f'"j{d}"' for d in j["deps"])
            cmd = body(name, j["ms"], inputs, "{out}/out.txt", "{{", "}}", "$")
            toml.write(f'[component.{name}]\nkind = "command"\nbuild-requires = [{reqs}]\n')
            toml.write(f"commands = [{json.dumps(cmd)}]\n")
            toml.write('outputs = ["out.txt"]\n\n')
    with open(os.path.join(a.dir, "ninja", "build.ninja"), "w") as nj:
        for j in jobs:
            name = j["name"]
            inputs = " ".join(f"out/j{d}" for d in j["deps"])
            cmd = body(name, j["ms"], "$in", "$out", "{", "}", "$$")
            nj.write(f"rule r{name}\n  command = {cmd}\n")
            nj.write(f"build out/{name}: r{name} {inputs}\n\n")
    with open(os.path.join(a.dir, "dag.json"), "w") as f:
        json.dump({"width": a.width, "jobs": jobs}, f)


def load(d):
    with open(os.path.join(d, "dag.json")) as f:
        return json.load(f)["jobs"]


def bound(a):
    jobs = load(a.dir)
    finish = []
    for j in jobs:  # deps always have smaller indices: index order is topological
        start = max((finish[d] for d in j["deps"]), default=0)
        finish.append(start + j["ms"])
    critical = max(finish) / 1000
    work = sum(j["ms"] for j in jobs) / 1000
    chain = []
    for j in jobs:
        chain.append(1 + max((chain[d] for d in j["deps"]), default=0))
    depth = max(chain)
    print(f"jobs {len(jobs)}  layers {depth}  total work {work:.3f} s  critical path {critical:.3f} s")
    # Height in jobs (what factory's scheduler orders by) and in milliseconds.
    height_jobs = [1] * len(jobs)
    height_ms = [j["ms"] for j in jobs]
    for i in range(len(jobs) - 1, -1, -1):
        for d in jobs[i]["deps"]:
            height_jobs[d] = max(height_jobs[d], height_jobs[i] + 1)
            height_ms[d] = max(height_ms[d], height_ms[i] + jobs[d]["ms"])
    for n in a.j:
        by_jobs = simulate(jobs, n, lambda i: (-height_jobs[i], f"j{i}"))
        by_ms = simulate(jobs, n, lambda i: (-height_ms[i], i))
        by_index = simulate(jobs, n, lambda i: i)
        print(
            f"  -j {n}: a zero-overhead list schedule takes {by_jobs / 1000:.3f} s in "
            f"factory's order (height in jobs), {by_index / 1000:.3f} s in manifest order "
            f"(ninja 1.11), {by_ms / 1000:.3f} s by height in ms"
        )
    for n in a.j:
        b = max(critical, work / n)
        which = "critical-path" if critical >= work / n else "work/jobs"
        print(f"BOUND {n} {b:.6f} {which}")


def simulate(jobs, slots, key):
    """Makespan (ms) of a list schedule with no overhead: whenever a slot is
    free, start the ready job with the smallest key."""
    waiting = [len(j["deps"]) for j in jobs]
    dependents = [[] for _ in jobs]
    for i, j in enumerate(jobs):
        for d in j["deps"]:
            dependents[d].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    running = []  # (finish time, job)
    now = 0
    while ready or running:
        ready.sort(key=key)
        while ready and len(running) < slots:
            i = ready.pop(0)
            running.append((now + jobs[i]["ms"], i))
        running.sort()
        now = running[0][0]
        while running and running[0][0] == now:
            _, i = running.pop(0)
            for d in dependents[i]:
                waiting[d] -= 1
                if waiting[d] == 0:
                    ready.append(d)
    return now


def read_log(path):
    start, end = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("start", "end"):
                raise SystemExit(f"{path}: malformed line {line!r}")
            (start if parts[1] == "start" else end)[parts[0]] = int(parts[2])
    return start, end


def span(a):
    """The first start -> last end span of LOG, and the bound recomputed from
    the durations the jobs really took in that run (end - start, so with the
    cost of their own processes), for J slots."""
    jobs = load(a.dir)
    start, end = read_log(a.log)
    took = {n: (end[n] - start[n]) / 1e9 for n in start}
    finish = []
    for j in jobs:
        finish.append(max((finish[d] for d in j["deps"]), default=0) + took[j["name"]])
    measured = max(max(finish), sum(took.values()) / a.j)
    print(f"{(max(end.values()) - min(start.values())) / 1e9:.6f} {measured:.6f} {idle(jobs, start, end, a.j):.6f}")


def idle(jobs, start, end, slots):
    """Seconds, summed over slots and divided by their number, during which a
    slot ran no job's command although some job was ready (all its inputs'
    commands had ended; roots from the first start on) and not yet running."""
    t0 = min(start.values())
    events = []  # (time, d_running, d_waiting)
    for j in jobs:
        n = j["name"]
        ready = max((end[f"j{d}"] for d in j["deps"]), default=t0)
        ready = min(ready, start[n])
        events += [(ready, 0, 1), (start[n], 1, -1), (end[n], -1, 0)]
    events.sort()
    running = waiting = 0
    lost = 0
    prev = events[0][0]
    for t, dr, dw in events:
        lost += min(max(slots - running, 0), waiting) * (t - prev)
        running, waiting, prev = running + dr, waiting + dw, t
    return lost / slots / 1e9


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def latency(a):
    jobs = load(a.dir)
    per_log = []
    for path in a.logs:
        start, end = read_log(path)
        per_log.append(
            [
                (start[j["name"]] - max(end[f"j{d}"] for d in j["deps"])) / 1e6
                for j in jobs
                if j["deps"]
            ]
        )
    if a.pooled:
        per_log = [[x for lat in per_log for x in lat]]
    for lat in per_log:
        print(
            f"LAT {len(lat)} {statistics.median(lat):.3f} {pct(lat, 0.9):.3f} "
            f"{max(lat):.3f} {min(lat):.3f}"
        )


def stored_files(store):
    """The contents of every file of every output tree the store keeps durably: the tars in
    its blob store (cas/sha256/) and those kept in its database (table inline_blobs)."""
    import io
    import sqlite3
    import tarfile

    blobs = []
    for root, _, files in os.walk(os.path.join(store, "cas", "sha256")):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                blobs.append(fh.read())
    db = sqlite3.connect(f"file:{os.path.join(store, 'factory.db')}?mode=ro", uri=True)
    blobs.extend(row[0] for row in db.execute("SELECT data FROM inline_blobs"))
    db.close()
    have = set()
    for blob in blobs:
        try:
            with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        have.add(tar.extractfile(member).read())
        except tarfile.TarError:
            pass  # a package, not a tree
    return have


def check(a):
    jobs = load(a.dir)
    start, end = read_log(a.log)
    missing = [j["name"] for j in jobs if j["name"] not in start or j["name"] not in end]
    if missing:
        raise SystemExit(f"{a.log}: {len(missing)} jobs did not run, e.g. {missing[:5]}")
    if a.store:
        have = stored_files(a.store)
        for j in jobs:
            with open(os.path.join(a.ninja_dir, "out", j["name"]), "rb") as fh:
                want = fh.read()
            if want not in have:
                raise SystemExit(f"factory's store lacks ninja's output of {j['name']}")


def holds(a):
    have = stored_files(a.store)
    for path in a.files:
        with open(path, "rb") as fh:
            if fh.read() not in have:
                raise SystemExit(f"factory's store lacks the output {path}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("holds")
    h.add_argument("store")
    h.add_argument("files", nargs="+")
    g = sub.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--jobs", type=int, required=True)
    g.add_argument("--width", type=int, required=True)
    g.add_argument("--deps", type=int, default=3)
    g.add_argument("--min-ms", type=int, required=True)
    g.add_argument("--max-ms", type=int, required=True)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--log", required=True)
    g.add_argument("--prev-layer-only", action="store_true")
    b = sub.add_parser("bound")
    b.add_argument("dir")
    b.add_argument("j", type=int, nargs="+")
    s = sub.add_parser("span")
    s.add_argument("dir")
    s.add_argument("log")
    s.add_argument("j", type=int)
    la = sub.add_parser("latency")
    la.add_argument("dir")
    la.add_argument("--pooled", action="store_true", help="one line for all logs together")
    la.add_argument("logs", nargs="+")
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("log")
    c.add_argument("ninja_dir")
    c.add_argument("store", nargs="?")
    a = p.parse_args()
    commands = {"gen": gen, "bound": bound, "span": span, "latency": latency, "check": check}
    commands["holds"] = holds
    commands[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
