#!/bin/sh
# compare.sh: gorun side by side with ansible-playbook on real sshd hosts
# (TestCompare in bench/compare_test.go); BENCHMARKS.md describes it.
#
# Knobs, from the environment (or make's command line):
#   BENCH_HOSTS      fleet sizes, comma-separated (default 10,50; up to 1000)
#   BENCH_ROUNDS     rounds per fleet size (default 3)
#   BENCH_SCENARIOS  s1..s6, comma-separated, or all (default all)
#   BENCH_RUNNERS    ansible,gorun,gorun-warm or a part of it (default all three)
#   BENCH_TIMEOUT    go test's timeout (default 120m)
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
echo "compare: hosts ${BENCH_HOSTS:-10,50}, rounds ${BENCH_ROUNDS:-3}, scenarios ${BENCH_SCENARIOS:-all}, runners ${BENCH_RUNNERS:-ansible,gorun,gorun-warm}"
mkdir -p bench/results
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
status=0
GORUN_BENCH=1 "$GO" test ./bench -run '^TestCompare$' -v -timeout "${BENCH_TIMEOUT:-120m}" -count=1 || status=$?
results=$(find bench/results -maxdepth 1 -type f -newer "$marker" \( -name '*.md' -o -name '*.json' \) | sort)
if [ -n "$results" ]; then
	echo "compare: results written to:"
	echo "$results" | sed 's/^/  /'
	echo "  (and each run's output in the directories of the same names)"
else
	echo "compare: no results written"
fi
exit $status
