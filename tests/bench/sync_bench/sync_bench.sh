#!/bin/sh
# Builds and runs the sync writer benchmark ROUNDS times (each on a fresh cluster) and
# prints every round's table, then the median of each row. Extra arguments go to
# sync_bench. On two shared CPUs one run moves by ±15%; the median of 5 does not.
#   tests/bench/sync_bench/sync_bench.sh [BUILD_DIR] [--rounds N] [--rows N] [--batch N] [--events]
set -e
here=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$here/build}
case "$build" in --*) build=$here/build ;; *) [ $# -gt 0 ] && shift ;; esac
rounds=3
if [ "$1" = "--rounds" ]; then
  rounds=$2
  shift 2
fi
# A new build directory gets RelWithDebInfo; an existing one keeps its type (build-bench
# is Release), but an unoptimised one would measure the compiler, not the writer.
if [ -f "$build/CMakeCache.txt" ]; then
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
  case "$type" in
    Release | RelWithDebInfo) ;;
    *) echo "sync_bench.sh: $build is configured as '${type:-no type}'; use a Release or RelWithDebInfo build directory" >&2
       exit 2 ;;
  esac
else
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target sync_bench -j2 >/dev/null
tables=$(mktemp)
round=$(mktemp)
trap 'rm -f "$tables" "$round" "$round.log"' EXIT
i=1
while [ "$i" -le "$rounds" ]; do
  echo "round $i of $rounds"
  # sluice's log goes to a file, shown only when the round fails; a failed round stops
  # the run rather than leaving a median over fewer rounds.
  if ! "$build/tests/bench/sync_bench/sync_bench" "$@" >"$round" 2>"$round.log"; then
    cat "$round"
    tail -n 40 "$round.log" >&2
    echo "sync_bench.sh: round $i failed" >&2
    exit 1
  fi
  tee -a "$tables" <"$round"
  i=$((i + 1))
done
# Rows "| path | rows | seconds | rows/s | ratio% | database CPU s |": the medians per path.
echo
echo "median of $rounds rounds"
echo
echo "| path | seconds (median) | vs plain COPY (median) | database CPU s (median) |"
echo "|---|---|---|---|"
grep '^| [a-z]' "$tables" | grep -v '^| path' | awk -F'|' '
  { p = $2; gsub(/^ +| +$/, "", p); r = $6; gsub(/[ %]/, "", r)
    if (!(p in n)) order[++k] = p
    s[p, ++n[p]] = $4 + 0; q[p, n[p]] = r + 0; c[p, n[p]] = $7 + 0 }
  function median(a, key, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = a[key, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  END { for (i = 1; i <= k; i++) { p = order[i]
          printf "| %s | %.2f | %.0f%% | %.2f |\n", p, median(s, p, n[p]), median(q, p, n[p]),
            median(c, p, n[p]) } }'
