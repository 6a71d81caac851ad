#!/usr/bin/env python3
"""Cut a self-contained slice of real Debian indexes around a few libraries.

Usage: make-debian-slice.py SOURCES PACKAGES OUTDIR LIB...

Keeps the sources that build the given libraries, a sample of the sources
that build-depend on them, and every binary those sources build or that
their build dependencies reach through runtime dependencies (all
alternatives, providers included). The expected answers are then computed
by running dose-ceve on the slice itself (see tests/data/README.md).
"""
import re
import sys

SOURCES_PER_LIBRARY = 30
MAX_RUNTIME_DEPTH = 1

def stanzas(path):
    with open(path, encoding="utf-8") as f:
        block = []
        for line in f:
            if line.strip() == "":
                if block:
                    yield "".join(block)
                    block = []
            else:
                block.append(line)
        if block:
            yield "".join(block)

def field(stanza, name):
    m = re.search(r"^" + name + r":(.*(?:\n[ \t].*)*)", stanza, re.M)
    return m.group(1).replace("\n", " ").strip() if m else ""

def names(relations):
    out = []
    for clause in relations.split(","):
        for alt in clause.split("|"):
            alt = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip()
            if alt:
                out.append(alt.split(":")[0])
    return out

def main():
    sources_path, packages_path, outdir, *libs = sys.argv[1:]
    packages = list(stanzas(packages_path))
    by_name, providers = {}, {}
    for p in packages:
        n = field(p, "Package")
        by_name.setdefault(n, []).append(p)
        for prov in names(field(p, "Provides")):
            providers.setdefault(prov, []).append(n)
    lib_sources = {field(p, "Source").split(" ")[0] or field(p, "Package") for l in libs for p in by_name.get(l, [])}
    chosen = []
    per_lib = {l: 0 for l in libs}
    for s in stanzas(sources_path):
        name = field(s, "Package")
        bd = " ".join(field(s, f) for f in ("Build-Depends", "Build-Depends-Indep", "Build-Depends-Arch"))
        wanted = name in lib_sources
        for l in libs:
            if l in names(bd) and per_lib[l] < SOURCES_PER_LIBRARY:
                per_lib[l] += 1
                wanted = True
        if wanted:
            chosen.append(s)
    # Runtime dependencies are followed only a few steps: the slice stays
    # small, and what is cut off is simply unresolved for both tools.
    keep, todo = set(), []
    def want(n, depth=0):
        for real in by_name.get(n, []) and [n] or providers.get(n, []):
            if real not in keep:
                keep.add(real)
                todo.append((real, depth))
    # Every source implicitly build-depends on build-essential (policy 4.2).
    want("build-essential")
    for s in chosen:
        for n in field(s, "Binary").replace(",", " ").split():
            if n in by_name:
                want(n)
        for f in ("Build-Depends", "Build-Depends-Indep", "Build-Depends-Arch"):
            for n in names(field(s, f)):
                want(n)
    while todo:
        n, depth = todo.pop(0)
        if depth >= MAX_RUNTIME_DEPTH:
            continue
        for p in by_name[n]:
            for f in ("Depends", "Pre-Depends"):
                for d in names(field(p, f)):
                    want(d, depth + 1)
    with open(f"{outdir}/Sources", "w", encoding="utf-8") as f:
        f.write("\n".join(chosen))
    with open(f"{outdir}/Packages", "w", encoding="utf-8") as f:
        f.write("\n".join(p for p in packages if field(p, "Package") in keep))
    print(f"{len(chosen)} sources, {len(keep)} binaries", file=sys.stderr)

main()
