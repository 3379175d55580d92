#!/usr/bin/env bash
# Fuzzes every target in fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer,
# debug assertions and overflow checks on) for a bounded time each, and
# fails on the first crash, panic, timeout or sanitizer report.
#
#   scripts/fuzz.sh [-j jobs] [seconds per target, default 60] [target ...]
#
# -j runs that many targets at once (default 1: the machine's cores may be
# shared). The corpus grows in fuzz/corpus/<target> between runs; a
# crashing input is kept in fuzz/artifacts/<target>/ and the command that
# replays it is printed. Executions per target are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/rust-tools.sh
source scripts/lib/rust-tools.sh

jobs=1
if [ "${1:-}" = "-j" ]; then
  jobs=${2:?-j needs a number}
  shift 2
fi
seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ && "$jobs" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ] || [ "$jobs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [-j jobs] [seconds per target] [target ...]" >&2
  exit 2
fi

ensure_cargo_fuzz
echo "== fuzz: $(describe_unstable_toolchain), $(cargo fuzz --version)"
cd fuzz
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
cargo_unstable fuzz build

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Runs one target; its exit status and timing land in target/fuzz-<t>.rc.
run_target() {
  local target=$1 log="target/fuzz-$1.log" start rc
  mkdir -p "corpus/$target"
  start=$(date +%s)
  set +e
  # -timeout: one input taking 10 s is a hang. -rss_limit_mb: a run that
  # grows past 2 GiB is a leak. Both count as crashes.
  cargo_unstable fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  echo "$rc $(($(date +%s) - start))" >"target/fuzz-$target.rc"
}

for target in "${targets[@]}"; do
  rm -f "target/fuzz-$target.rc"
  echo "== fuzz $target for ${seconds}s"
  run_target "$target" &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait
pids=()

summary=()
status=0
for target in "${targets[@]}"; do
  log="target/fuzz-$target.log"
  read -r rc took <"target/fuzz-$target.rc"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "corpus/$target" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "!! fuzz $target FAILED (exit $rc) after ${took}s:"
    grep -E -A12 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY:' "$log" | head -60 ||
      grep -v '^#' "$log" | tail -40
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ -n "$artifact" ]; then
      echo "!! input kept in $artifact; replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target $artifact)"
    fi
    summary+=("$target: FAILED after ${execs:-?} executions in ${took}s")
  else
    summary+=("$target: ${execs:-?} executions in ${took}s, corpus $corpus inputs")
  fi
done

echo "== fuzz summary"
for line in "${summary[@]}"; do echo "   $line"; done
exit "$status"
