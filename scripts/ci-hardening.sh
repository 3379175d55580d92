#!/usr/bin/env bash
# Hardening checks for CI (issue 7), each stage timed and bounded, failing
# on any finding. Lint is not here: .ci/run runs `npm run lint` first, before
# the tests, because it takes seconds and fails fastest.
#
#   fuzz       every cargo-fuzz target for LEAKLESS_FUZZ_SECONDS (default
#              60) each, two at a time
#   sanitize   Miri on the off-heap store (when a nightly with miri is
#              installed), AddressSanitizer + LeakSanitizer on every core
#              test, ThreadSanitizer on the shared store's concurrent tests
#              (scripts/sanitize.sh --quick, which bounds each run too)
#   valgrind   the addon's tour under memcheck (scripts/valgrind.sh)
#
# Each stage runs under `timeout`: a stage that hangs fails with a message
# naming it after its limit instead of using up the CI budget. The limits
# are several times the stage's usual time on 2 cores; LEAKLESS_STAGE_SCALE
# (default 1) multiplies them, for slower machines.
#
# Run from a checkout where `npm ci` has run (it builds the addon). Installs
# what is missing: cargo-fuzz (crates.io, a few minutes the first time) and
# valgrind (apt). Takes about five minutes once cargo-fuzz is installed.
# Prints one line per stage and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/rust-tools.sh
source scripts/lib/rust-tools.sh

fuzz_seconds=${LEAKLESS_FUZZ_SECONDS:-60}
start_all=$(date +%s)
timings=()

# stage NAME LIMIT COMMAND...: runs COMMAND, killed (with its children)
# after LIMIT seconds times LEAKLESS_STAGE_SCALE; LIMIT 0 means no limit
# (for shell functions, which `timeout` cannot run).
stage() {
  local name=$1 limit=$2
  shift 2
  local start rc
  start=$(date +%s)
  limit=$((limit * ${LEAKLESS_STAGE_SCALE:-1}))
  echo
  if [ "$limit" -gt 0 ]; then
    echo "==== stage $name (limit ${limit}s)"
  else
    echo "==== stage $name"
  fi
  set +e
  if [ "$limit" -gt 0 ]; then
    timeout --kill-after=30 "$limit" "$@"
  else
    "$@"
  fi
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    timings+=("$name $(($(date +%s) - start))s ok")
    echo "==== stage $name passed in $(($(date +%s) - start))s"
    return
  fi
  if [ "$limit" -gt 0 ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; }; then
    echo "==== stage $name TIMED OUT: still running after its limit of ${limit}s (a hang or a much slower machine; its log is under target/)"
  else
    echo "==== stage $name FAILED (exit $rc) after $(($(date +%s) - start))s"
  fi
  echo "hardening: $name failed after $(($(date +%s) - start_all))s"
  exit 1
}

# ------------------------------------------------------------------ setup
setup() {
  ensure_cargo_fuzz
  if ! command -v valgrind >/dev/null; then
    echo "== installing valgrind (apt)"
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
  fi
  if ! ls leakless.*.node >/dev/null 2>&1; then
    echo "== building the addon"
    npx napi build --platform --release --js binding.js --dts binding.d.ts
  fi
  echo "== rust $(rustc --version), -Z flags from $(describe_unstable_toolchain)"
  echo "== $(cargo fuzz --version), $(valgrind --version)"
}

# Limits: fuzz builds the targets (a few minutes) then runs them two at a
# time; sanitize builds the core twice (Miri, ASan) and runs its tests
# (usually under ten minutes; each of its runs has its own, smaller limit,
# which names the tests that hang); the valgrind tour takes a few minutes.
stage setup 0 setup
stage fuzz $((1200 + 2 * fuzz_seconds)) scripts/fuzz.sh -j 2 "$fuzz_seconds"
stage sanitize 4800 scripts/sanitize.sh --quick
stage valgrind 1200 scripts/valgrind.sh

echo
echo "==== hardening summary ($(($(date +%s) - start_all))s)"
for line in "${timings[@]}"; do echo "   $line"; done
echo "hardening: ${#timings[@]} passed, 0 failed"
