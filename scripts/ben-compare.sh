#!/usr/bin/env bash
# Compare Factory's rebuild plan with ben's (Debian's transition tool) on the
# real archive, offline.
#
#   scripts/ben-compare.sh [LIBRARY]          (default: libssl-dev)
#
# Inputs: the apt lists of Debian bookworm main for amd64 (Sources needs a
# deb-src line), decompressed here into a temporary directory. Override with
#   SOURCES=/path/to/Sources[.lz4|.gz|.xz]  PACKAGES=/path/to/Packages[...]
#   FACTORY=/path/to/factory   (default: target/release/factory)
# Needs: ben, lz4, /usr/bin/python3 with python3-apt.
#
# Three plans are made for the sources that build-depend on LIBRARY:
#   factory      `factory plan --mode direct LIBRARY --format json`
#   ben monitor  `ben monitor -f levels` on a transition with
#                is_affected = .build-depends* ~ /LIBRARY/ (its dependency levels)
#   ben rebuild  `ben rebuild -j 1` on the same query with a rebuild command
#                that only records the order (its schedule, one source at a time)
# "Build-depend on LIBRARY" means: some build dependency (any alternative) is
# satisfied by the package LIBRARY, by its name or by a virtual name it provides.
# Each plan is written in the shape of factory's JSON plan
# ({"waves": [[...]], "cycles": [[...]]}) and checked twice:
#   - by scripts/check-plan.py (the project's independent plan checker), and
#   - by the analysis below, which recomputes with apt's own parser the set of
#     sources that really build-depend on LIBRARY on amd64, their build
#     dependencies among each other, the build cycles (strongly connected
#     components) and the earliest correct level of each source, and says for
#     each plan which sources it omits, adds, never schedules, schedules before
#     one of their build dependencies, or puts at another level.
set -euo pipefail

LIBRARY=${1:-libssl-dev}
ARCH=amd64
repo=$(cd "$(dirname "$0")/.." && pwd)
FACTORY=${FACTORY:-$repo/target/release/factory}
LISTS=/var/lib/apt/lists
SOURCES=${SOURCES:-$(ls "$LISTS"/*_dists_bookworm_main_source_Sources* 2>/dev/null | head -n1 || true)}
PACKAGES=${PACKAGES:-$(ls "$LISTS"/*_dists_bookworm_main_binary-${ARCH}_Packages* 2>/dev/null | head -n1 || true)}

die() { echo "ben-compare: $*" >&2; exit 2; }
[[ $LIBRARY =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "'$LIBRARY' is not a Debian package name"
[[ -n $SOURCES && -r $SOURCES ]] || die "no Sources index for bookworm main: add a deb-src twin of apt's own bookworm entry (same URI, suite and component) to its sources and run apt-get update, or set SOURCES="
[[ -n $PACKAGES && -r $PACKAGES ]] || die "no Packages index for bookworm main $ARCH in $LISTS: set PACKAGES="
[[ -x $FACTORY ]] || die "no factory binary at $FACTORY: run 'cargo build --release -p factory' or set FACTORY="
command -v ben >/dev/null || die "ben is not installed: apt-get install ben"
/usr/bin/python3 -c 'import apt_pkg' 2>/dev/null || die "python3-apt is missing: apt-get install python3-apt"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ben-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

decompress() {
  case $1 in
    *.lz4) lz4 -dcq "$1" ;;
    *.gz) gzip -dc "$1" ;;
    *.xz) xz -dc "$1" ;;
    *) cat "$1" ;;
  esac
}

echo "indexes: $SOURCES"
echo "         $PACKAGES"
decompress "$SOURCES" >"$tmp/Sources"
decompress "$PACKAGES" >"$tmp/Packages"

# ben reads <cache-dir>/Sources and <cache-dir>/Packages_<arch>, and writes
# its parse cache (ben.cache) there too; give each run its own directory so
# neither run reuses the other's cache.
ben_dir() {
  mkdir -p "$1"
  ln -s "$tmp/Sources" "$1/Sources"
  ln -s "$tmp/Packages" "$1/Packages_$ARCH"
}
pattern=${LIBRARY//./\\.}
pattern=${pattern//+/\\+}
query=".build-depends ~ /$pattern/ | .build-depends-arch ~ /$pattern/ | .build-depends-indep ~ /$pattern/"
ben_opts=(--no-benrc --archs "$ARCH" -z Plain)

# --- Factory --------------------------------------------------------------
"$FACTORY" --store "$tmp/store" import debian --sources "$tmp/Sources" --packages "$tmp/Packages" >/dev/null
"$FACTORY" --store "$tmp/store" plan --mode direct "$LIBRARY" --format json >"$tmp/factory.json"

# --- ben monitor: dependency levels ---------------------------------------
ben_dir "$tmp/monitor"
# ben requires is_good and is_bad; they colour its pages and do not change the levels.
cat >"$tmp/monitor/$LIBRARY.ben" <<EOF
title = "$LIBRARY";
architectures = [ "$ARCH" ];
is_affected = $query;
is_good = .depends ~ /$LIBRARY/;
is_bad = .depends ~ /$LIBRARY/;
EOF
ben monitor "${ben_opts[@]}" --cache-dir "$tmp/monitor" -f levels -o "$tmp/monitor.levels" \
  "$tmp/monitor/$LIBRARY.ben" >"$tmp/monitor.log" 2>&1 || { cat "$tmp/monitor.log" >&2; die "ben monitor failed"; }
# Output: "===[ Dependency level N ]=====" headers, then "source: deps in the set".
/usr/bin/python3 - "$tmp/monitor.levels" "$tmp/monitor.json" <<'EOF'
import json, sys
waves = []
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("===[ Dependency level"):
        waves.append([])
    elif line.strip():
        if not waves:
            sys.exit(f"{sys.argv[1]}: a source before the first level header: {line!r}")
        waves[-1].append(line.split(":", 1)[0])
json.dump({"waves": waves, "cycles": []}, open(sys.argv[2], "w"))
EOF

# --- ben rebuild: the order in which it would rebuild ---------------------
# The commands only record: check says "not built yet" until rebuild marks
# the source built, so ben schedules exactly what its dependency graph allows.
ben_dir "$tmp/rebuild"
mkdir "$tmp/rebuild/built"
cat >"$tmp/rebuild/check.sh" <<EOF
#!/bin/sh
[ -e "$tmp/rebuild/built/\$1" ] && exit 0
exit 1
EOF
cat >"$tmp/rebuild/build.sh" <<EOF
#!/bin/sh
echo "\$1" >>"$tmp/rebuild/order"
touch "$tmp/rebuild/built/\$1"
EOF
chmod +x "$tmp/rebuild/check.sh" "$tmp/rebuild/build.sh"
: >"$tmp/rebuild/order"
cat >"$tmp/rebuild/$LIBRARY.ben" <<EOF
architectures = [ "$ARCH" ];
is_affected = $query;
rebuild_command = "$tmp/rebuild/build.sh";
check_command = "$tmp/rebuild/check.sh";
stop_command = "false";
promote_command = "true";
update_command = "true";
EOF
# Its output (-o) is what it could not build, in Makefile syntax.
(cd "$tmp/rebuild" && ben rebuild "${ben_opts[@]}" --cache-dir "$tmp/rebuild" -j 1 \
  -o "$tmp/rebuild.missing" "$tmp/rebuild/$LIBRARY.ben" >"$tmp/rebuild.log" 2>&1) ||
  { cat "$tmp/rebuild.log" >&2; die "ben rebuild failed"; }
[[ -e $tmp/rebuild.missing ]] || : >"$tmp/rebuild.missing"
/usr/bin/python3 - "$tmp/rebuild/order" "$tmp/rebuild.missing" "$tmp/rebuild.json" <<'EOF'
import json, sys
order = [line.strip() for line in open(sys.argv[1]) if line.strip()]
missing = sorted({line.split(":", 1)[0] for line in open(sys.argv[2]) if ":" in line})
# A sequential schedule: each source is its own wave, in the order ben ran it.
json.dump({"waves": [[name] for name in order], "cycles": [], "never_scheduled": missing},
          open(sys.argv[3], "w"))
EOF

# --- the project's plan checker -------------------------------------------
check() {
  local out rc=0
  # Exit status 1 means "violations found", which is a result here, not a failure.
  out=$(/usr/bin/python3 "$repo/scripts/check-plan.py" "$tmp/Sources" "$tmp/Packages" "$1" "$ARCH") || rc=$?
  [[ $rc -le 1 ]] || return 1
  tail -n1 <<<"$out"
}
echo
echo "scripts/check-plan.py (checks only dependencies between scheduled sources):"
for plan in factory monitor rebuild; do
  summary=$(check "$tmp/$plan.json") || die "check-plan.py failed on $tmp/$plan.json"
  printf '  %-8s %s\n' "$plan" "$summary"
done
echo

# --- independent analysis and the table -----------------------------------
/usr/bin/python3 - "$tmp/Sources" "$tmp/Packages" "$LIBRARY" "$ARCH" \
  "factory=$tmp/factory.json" "ben monitor=$tmp/monitor.json" "ben rebuild=$tmp/rebuild.json" <<'EOF'
import json, sys
import apt_pkg

apt_pkg.init_system()
sources_path, packages_path, library, arch = sys.argv[1:5]
plans = [arg.split("=", 1) for arg in sys.argv[5:]]
FIELDS = ("Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep")


def stanzas(path):
    with apt_pkg.TagFile(path) as tags:
        for section in tags:
            yield {key: section[key] for key in section.keys()}


# Which source builds each binary name, directly or by Provides (for arch).
real, provided = {}, {}
satisfied_by_library = []  # (name, version or None): what the library package itself satisfies
for p in stanzas(packages_path):
    if p.get("Architecture") not in (arch, "all"):
        continue
    source = p.get("Source", p["Package"]).split(" ")[0]
    real.setdefault(p["Package"], []).append((p["Version"], source))
    if p["Package"] == library:
        satisfied_by_library.append((library, p["Version"]))
    for clause in apt_pkg.parse_depends(p.get("Provides", ""), False):
        for name, version, _op in clause:
            provided.setdefault(name, []).append((version or None, source))
            if p["Package"] == library:
                satisfied_by_library.append((name, version or None))
if not satisfied_by_library:
    sys.exit(f"no binary package {library} for {arch} in {packages_path}")


def names_library(name, version, op):
    """True when the library package satisfies this build dependency (by name or Provides)."""
    return any(name == n and (not op or (v and apt_pkg.check_dep(v, op, version)))
               for n, v in satisfied_by_library)


def producers(name, version, op):
    found = {src for v, src in real.get(name, []) if not op or apt_pkg.check_dep(v, op, version)}
    found |= {src for v, src in provided.get(name, []) if not op or (v and apt_pkg.check_dep(v, op, version))}
    return found


# Every build dependency for arch: architecture restrictions evaluated, no
# build profile active, :native/:any stripped, every alternative counted.
def builds_on(architectures):
    # dpkg wildcards as they occur in the archive for a Linux architecture.
    accepted = {"any", "all", arch, "linux-any", f"any-{arch}", f"linux-{arch}"}
    return any(token in accepted for token in architectures.split())


needs = {}
for s in stanzas(sources_path):
    if not builds_on(s.get("Architecture", "any")):
        continue
    names = needs.setdefault(s["Package"], set())
    for field in FIELDS:
        for clause in apt_pkg.parse_src_depends(s.get(field, ""), True, arch):
            names.update((name, version, op) for name, version, op in clause)

# "Build-depends on LIBRARY": some build dependency, alternatives included, is satisfied by it.
affected = {src for src, names in needs.items() if any(names_library(*n) for n in names)}
deps = {
    me: sorted({src for n in needs[me] for src in producers(*n) if src in affected and src != me})
    for me in affected
}


def strongly_connected(nodes, edges):
    """Tarjan's algorithm, iterative (the graph is deep enough to overflow recursion)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = edges[node]
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


components = strongly_connected(sorted(affected), deps)  # dependencies come first
unit = {m: i for i, c in enumerate(components) for m in c}
earliest = {}
for i, component in enumerate(components):
    below = [earliest[unit[d]] for m in component for d in deps[m] if unit[d] != i]
    earliest[i] = 1 + max(below) if below else 0
cycles = [sorted(c) for c in components if len(c) > 1]
in_cycle = {m for c in cycles for m in c}
behind_cycle = set()  # sources whose build needs, transitively, a member of a cycle
for component in components:  # dependencies come first
    for me in component:
        if any(d in in_cycle or d in behind_cycle for d in deps[me] if unit[d] != unit[me]):
            behind_cycle.update(component)

print(f"{library} on {arch}: {len(affected)} sources build-depend on it "
      f"({sum(len(d) for d in deps.values())} build dependencies among them, "
      f"{len(cycles)} build cycles: {', '.join(str(len(c)) for c in cycles)} sources; "
      f"{1 + max(earliest.values())} levels)")
print()

rows = []
for label, path in plans:
    plan = json.load(open(path))
    wave = {n: i for i, names in enumerate(plan["waves"]) for n in names}
    cycle_of = {n: i for i, names in enumerate(plan.get("cycles", [])) for n in names}
    included = set(wave) | set(plan.get("never_scheduled", []))
    unscheduled = included - set(wave)
    early, late_level = {}, []
    for me in sorted(affected & set(wave)):
        for dep in deps[me]:
            if cycle_of.get(dep, -1) == cycle_of.get(me, -2):
                continue
            if dep not in wave or wave[dep] >= wave[me]:
                early.setdefault(me, []).append(dep)
    sequential = all(len(w) == 1 for w in plan["waves"]) and len(plan["waves"]) > 1
    if not sequential:
        late_level = [n for n in affected & set(wave) if wave[n] != earliest[unit[n]]]
    rows.append((label, included, unscheduled, early, late_level, sequential))

header = ("plan", "included", "not on amd64", "missing", "scheduled", "never", "out of order",
          "in a cycle", "other level")
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for label, included, unscheduled, early, late_level, sequential in rows:
    scheduled = len(included) - len(unscheduled)
    print(f"| {label} | {len(included)} | {len(included - affected)} | {len(affected - included)} "
          f"| {scheduled} | {len(unscheduled)} | {len(early)} "
          f"| {len(set(early) & in_cycle)} | {'n/a' if sequential else len(late_level)} |")
print()
print("included: sources the tool selects; not on amd64: of these, sources that do not build-depend")
print(f"on {library} on {arch}; missing: build-dependers it leaves out; never: selected but never")
print("scheduled; out of order: build-dependers scheduled no later than (or without) one of their build")
print("dependencies, outside a cycle the plan declares; in a cycle: of these, members of a real build")
print("cycle; other level: build-dependers not at their earliest correct level (n/a: one at a time).")
for label, included, unscheduled, early, late_level, _ in rows:
    if early:
        print(f"\n{label}, out of order:")
        for me in sorted(early):
            print(f"  {me}: before {' '.join(early[me])}")
    if included - affected:
        print(f"{label}, not build-depending on {library} on {arch}: {' '.join(sorted(included - affected))}")
    if affected - included:
        print(f"{label}, missing: {' '.join(sorted(affected - included))}")
    if unscheduled:
        print(f"{label}, never scheduled: {len(unscheduled & in_cycle)} in a real build cycle, "
              f"{len((unscheduled & behind_cycle) - in_cycle)} build-depending (transitively) on one, "
              f"{len(unscheduled - in_cycle - behind_cycle)} neither: "
              f"{' '.join(sorted(unscheduled - in_cycle - behind_cycle))}")
EOF
