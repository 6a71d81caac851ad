#!/usr/bin/python3
"""Check a `factory plan --format json` against the archive, independently.

Usage: check-plan.py SOURCES PACKAGES PLAN.json [ARCH]

Uses apt's own parser (python3-apt's apt_pkg) to resolve every build
dependency of every planned source for ARCH (default amd64): architecture
restrictions, build profiles (none active), version constraints, virtual
packages and :native/:any qualifiers. For each resolved dependency on a
binary built by another planned source, that source must be in an earlier
wave, or in the same build cycle. Prints the number of sources, of ordering
constraints and of violations; exits 1 on any violation.
"""
import json
import lzma
import subprocess
import sys

import apt_pkg

apt_pkg.init_system()


def read(path):
    if path.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8").read()
    if path.endswith(".lz4"):
        return subprocess.run(["lz4", "-dcq", path], check=True, capture_output=True).stdout.decode()
    return open(path, encoding="utf-8").read()


def stanzas(text):
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        with apt_pkg.TagFile(f.name) as tags:
            for section in tags:
                yield {k: section[k] for k in section.keys()}


def main():
    sources_path, packages_path, plan_path = sys.argv[1:4]
    arch = sys.argv[4] if len(sys.argv) > 4 else "amd64"
    plan = json.load(open(plan_path))
    wave = {name: i for i, names in enumerate(plan["waves"]) for name in names}
    cycle = {name: i for i, names in enumerate(plan["cycles"]) for name in names}
    real, provided = {}, {}
    for p in stanzas(read(packages_path)):
        if p.get("Architecture") not in (arch, "all"):
            continue
        source = p.get("Source", p["Package"]).split(" ")[0]
        real.setdefault(p["Package"], []).append((p["Version"], source))
        for clause in apt_pkg.parse_depends(p.get("Provides", ""), False):
            for name, version, _op in clause:
                provided.setdefault(name, []).append((version or None, source))
    constraints = violations = 0
    for s in stanzas(read(sources_path)):
        me = s["Package"]
        if me not in wave:
            continue
        for field in ("Build-Depends", "Build-Depends-Indep", "Build-Depends-Arch"):
            for clause in apt_pkg.parse_src_depends(s.get(field, ""), True, arch):
                for name, version, op in clause:
                    producers = {src for v, src in real.get(name, []) if not op or apt_pkg.check_dep(v, op, version)}
                    producers |= {src for v, src in provided.get(name, []) if not op or (v and apt_pkg.check_dep(v, op, version))}
                    for src in producers:
                        if src == me or src not in wave:
                            continue
                        constraints += 1
                        if cycle.get(src, -1) == cycle.get(me, -2):
                            continue
                        if not wave[src] < wave[me]:
                            violations += 1
                            print(f"violation: {me} (wave {wave[me] + 1}) needs {name} from {src} (wave {wave[src] + 1})")
    print(f"{len(wave)} sources planned, {constraints} ordering constraints checked, {violations} violations")
    sys.exit(1 if violations else 0)


main()
