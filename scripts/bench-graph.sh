#!/usr/bin/env bash
# Graph benchmarks, each beside its peer in the same run.
#
#   scripts/bench-graph.sh [LIBRARY]        (default: libssl-dev)
#
# Needs the bookworm main indexes as apt keeps them (a deb-src entry for
# Sources, then `apt-get update`), dose-ceve (dose-extra), hyperfine and GNU
# time. Prints hyperfine tables and peak memory; checks that both tools
# give the same answer before timing them.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=${1:-libssl-dev}
lists=/var/lib/apt/lists
sources=$(ls $lists/*_debian_dists_bookworm_main_source_Sources* | head -n1)
packages=$(ls $lists/*_debian_dists_bookworm_main_binary-amd64_Packages* | head -n1)
for tool in dose-ceve hyperfine /usr/bin/time lz4; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
cargo build --release -q -p factory
factory=$PWD/target/release/factory
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# dose-ceve reads plain or gzip files, not lz4: give it plain copies
# (decompressing is not counted against it).
lz4 -dcq "$sources" > "$work/Sources"
lz4 -dcq "$packages" > "$work/Packages"
dose="dose-ceve -T debsrc -r $lib -G pkg --deb-native-arch=amd64 deb://$work/Packages debsrc://$work/Sources"
ours_import="$factory --store $work/store import debian --sources $sources --packages $packages"
ours_query="$factory --store $work/store affected $lib --format lines"

echo "== same answer?"
$dose 2>/dev/null | sed -n 's/^Package: //p' | sort -u > "$work/dose.txt"
$ours_import >/dev/null
$ours_query > "$work/ours.txt"
if cmp -s "$work/dose.txt" "$work/ours.txt"; then
    echo "yes: $(wc -l < "$work/ours.txt") sources affected by $lib"
else
    echo "NO: dose-ceve and factory differ for $lib" >&2
    diff "$work/dose.txt" "$work/ours.txt" | head >&2
    exit 1
fi

echo "== import + one query (factory reads the compressed indexes) vs dose-ceve"
hyperfine --style basic --warmup 1 --runs 3 \
    -n dose-ceve "$dose" \
    -n "factory import + affected" "sh -c '$ours_import >/dev/null && $ours_query >/dev/null'"

echo "== one query against the stored graph"
hyperfine --style basic -N --warmup 5 --runs 50 -n "factory affected $lib" "$ours_query"

echo "== transitive mode (OBS's meaning) against the stored graph"
hyperfine --style basic -N --warmup 3 --runs 20 \
    -n "factory affected --mode transitive $lib" "$factory --store $work/store affected $lib --mode transitive --format lines"
echo "transitive set: $($factory --store "$work/store" affected "$lib" --mode transitive --format lines | wc -l) sources"

echo "== plan --mode direct"
hyperfine --style basic -N --warmup 3 --runs 20 \
    -n "factory plan --mode direct $lib" "$factory --store $work/store plan --mode direct $lib --format json"

echo "== peak memory (maximum resident set size)"
/usr/bin/time -f "dose-ceve: %M KB, %e s" $dose >/dev/null 2>"$work/t1" || true
tail -n1 "$work/t1"
/usr/bin/time -f "factory import: %M KB, %e s" $ours_import >/dev/null 2>"$work/t2"
tail -n1 "$work/t2"
/usr/bin/time -f "factory affected: %M KB, %e s" $ours_query >/dev/null 2>"$work/t3"
tail -n1 "$work/t3"
