#!/usr/bin/env bash
# Runs __test__/valgrind/exercise.js (a short tour of every path into the
# addon) under valgrind memcheck, and fails on an invalid read, write or
# free with a frame in the addon (leakless.*.node) in any of its stacks, or
# on an uninitialised value used by the addon itself. Everything valgrind
# reports is summarised; errors of node or V8 alone (e.g. V8's conservative
# stack scan) are listed but do not fail the run.
#
#   scripts/valgrind.sh            (npm run test:valgrind)
#
# The addon is the one built in the checkout (npm run build): release and
# stripped, as users get it, so addon frames show without names. For names,
# build with CARGO_PROFILE_RELEASE_STRIP=none first.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
  echo "valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi
if ! ls leakless.*.node >/dev/null 2>&1; then
  echo "no leakless.*.node here: build the addon first (npm run build)" >&2
  exit 1
fi

mkdir -p target
xml=target/valgrind.xml
start=$(date +%s)
echo "== valgrind memcheck: node $(node --version), $(valgrind --version)"
set +e
# --smc-check: V8 writes machine code into its heap. Leaks are not checked:
# node does not free everything at exit, and the accounting tests measure
# leaks by their effect.
valgrind --tool=memcheck --leak-check=no --smc-check=all-non-file --track-origins=no \
  --xml=yes --xml-file="$xml" --log-file=target/valgrind.log \
  node --expose-gc __test__/valgrind/exercise.js
rc=$?
set -e
echo "== valgrind run took $(($(date +%s) - start))s (node exited with $rc)"
node scripts/valgrind-report.js "$xml"
if [ "$rc" -ne 0 ]; then
  echo "!! the exercise itself failed under valgrind (exit $rc)" >&2
  exit 1
fi
