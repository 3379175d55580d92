#!/usr/bin/env bash
# The core's tests under sanitizers, for the code with `unsafe`
# (core/src/offheap.rs: entries as raw blocks with a header, NonNull
# pointers shared with the hash table, byte and u16 slices made from raw
# parts). Two tools, because each sees what the other cannot:
#
# 1. Miri (nightly + miri component) interprets the tests and reports
#    undefined behaviour even when it happens to work: out-of-bounds or
#    misaligned accesses, use after free, and aliasing violations (Stacked
#    Borrows) and integer-to-pointer casts (strict provenance), which no
#    runtime sanitizer sees. It is slow (thousands of times), so it runs the
#    unit tests and short byte-driven runs of the model harnesses (the fuzz
#    targets' decoder; proptest's generation is too slow there), and on
#    request (LEAKLESS_MIRI_CORPUS=N) N inputs of each fuzz corpus.
# 2. AddressSanitizer with LeakSanitizer, on stable with RUSTC_BOOTSTRAP=1
#    (or nightly), runs every unit and property test at full case counts at
#    native speed: heap overflows, use after free, double frees, leaks.
# 3. ThreadSanitizer runs the shared store's concurrent tests
#    (core/tests/shared_store.rs: threads hammering one store, concurrent
#    loads) for data races. It needs the standard library rebuilt with the
#    sanitizer (-Zbuild-std, nightly with rust-src), else std's own
#    uninstrumented atomics are reported as races; skipped with a note
#    without it. SHARED_OPS (a million; 200,000 with --quick) sizes the
#    hammering.
#
# Miri is skipped (with a note) when no nightly toolchain is installed and
# none can be had; LEAKLESS_REQUIRE_MIRI=1 makes that a failure.
#
# Every run is under `timeout` (Miri 20 minutes a run, ASan 30 minutes,
# both times LEAKLESS_STAGE_SCALE): a test that hangs fails the script with
# the names of the tests still running instead of blocking CI.
#
#   scripts/sanitize.sh [--quick]    --quick: the off-heap store only under
#                                    Miri (about a minute), fewer property
#                                    cases under ASan
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/rust-tools.sh
source scripts/lib/rust-tools.sh

quick=0
[ "${1:-}" = "--quick" ] && quick=1
host=$(rustc -vV | sed -n 's/^host: //p')
summary=()
scale=${LEAKLESS_STAGE_SCALE:-1}
miri_limit=$((1200 * scale))
asan_limit=$((1800 * scale))

# check_run WHAT RC LIMIT LOG PATTERN: returns when RC is 0; otherwise
# prints what went wrong and exits. A run killed by `timeout` (124, 137)
# shows the tests libtest saw still running (it names them after 60 s) and
# the log's last lines; a failed one, the lines of LOG matching PATTERN.
check_run() {
  local what=$1 rc=$2 limit=$3 log=$4 pattern=$5
  [ "$rc" -eq 0 ] && return 0
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "!! $what TIMED OUT: still running after ${limit}s. Tests running for over 60 s:"
    grep -E 'has been running for over' "$log" | sed 's/^/   /' || echo "   (none named)"
    echo "   last lines of $log:"
    tail -15 "$log" | sed 's/^/   /'
  else
    echo "!! $what FAILED:"
    grep -E -B2 -A30 "$pattern" "$log" | head -80
  fi
  exit 1
}

passed_of() {
  # Sums "N passed" over libtest's result lines.
  grep -E '^test result: ' "$1" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}

# ---------------------------------------------------------------- Miri
have_miri() {
  # LEAKLESS_NIGHTLY=bootstrap: act as a machine without nightly.
  [ "${LEAKLESS_NIGHTLY:-auto}" != bootstrap ] && rustup run nightly cargo miri --version >/dev/null 2>&1
}
if ! have_miri && [ "${LEAKLESS_NIGHTLY:-auto}" != bootstrap ] && rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "== adding the miri component to the nightly toolchain"
  timeout 300 rustup component add miri rust-src --toolchain nightly >/dev/null 2>&1 || true
fi
if have_miri; then
  echo "== miri: $(rustup run nightly cargo miri --version)"
  export MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-strict-provenance ${MIRIFLAGS:-}"
  log=target/sanitize-miri.log
  mkdir -p target
  : >"$log"
  start=$(date +%s)
  # miri_run WHAT [VAR=value ...] ARGS...: one `cargo miri test -p
  # leakless-core ARGS` with the variables set, appended to $log.
  miri_run() {
    local what=$1 rc=0
    shift
    timeout --kill-after=30 "$miri_limit" env "$@" >>"$log" 2>&1 || rc=$?
    check_run "$what" "$rc" "$miri_limit" "$log" 'Undefined Behavior|^error|panicked at'
  }
  if [ "$quick" = 1 ]; then
    runs=(
      "--lib offheap"
      "--test offheap_model"
    )
  else
    runs=(
      "--lib"
      "--test pool"
      "--test offheap_model"
      "--test recency_model"
      # Threads on one shared store, 2,000 operations under Miri (about 2 min).
      "--test shared_store"
    )
  fi
  for args in "${runs[@]}"; do
    # shellcheck disable=SC2086
    miri_run "miri ($args)" cargo +nightly miri test -p leakless-core $args
  done
  # The corpus favours large values, which Miri pays for byte by byte
  # (about 85 s per off-heap input): only on request, LEAKLESS_MIRI_CORPUS=N
  # inputs per target, and never in --quick.
  for target in offheap recency; do
    [ "$quick" = 1 ] || [ "${LEAKLESS_MIRI_CORPUS:-0}" = 0 ] && continue
    if [ -d "fuzz/corpus/$target" ] && [ -n "$(ls -A "fuzz/corpus/$target")" ]; then
      miri_run "miri on the $target fuzz corpus" \
        LEAKLESS_CORPUS="$PWD/fuzz/corpus" LEAKLESS_CORPUS_LIMIT="$LEAKLESS_MIRI_CORPUS" \
        cargo +nightly miri test -p leakless-core --test "${target}_model" byte_driven
    fi
  done
  summary+=("miri: $(passed_of "$log") tests passed, no undefined behaviour, in $(($(date +%s) - start))s")
else
  if [ "${LEAKLESS_REQUIRE_MIRI:-0}" = 1 ]; then
    echo "!! miri is not available (no nightly toolchain with the miri component)" >&2
    exit 1
  fi
  summary+=("miri: skipped, no nightly toolchain with miri here (AddressSanitizer below still runs)")
fi

# ---------------------------------------------------------------- ASan
echo "== asan: $(describe_unstable_toolchain)"
log=target/sanitize-asan.log
start=$(date +%s)
cases=2048
[ "$quick" = 1 ] && cases=512
# --target keeps build scripts uninstrumented; opt-level 2 keeps debug
# assertions and overflow checks but runs ten times faster than opt-level 0.
rc=0
PROPTEST_CASES="${PROPTEST_CASES:-$cases}" CARGO_PROFILE_DEV_OPT_LEVEL=2 \
  RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}" ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
  cargo_unstable_within "$asan_limit" test -p leakless-core --target "$host" --target-dir target/asan >"$log" 2>&1 || rc=$?
check_run asan "$rc" "$asan_limit" "$log" 'ERROR: (AddressSanitizer|LeakSanitizer)|panicked at|^error'
summary+=("asan+lsan: $(passed_of "$log") tests passed, no report, in $(($(date +%s) - start))s")

# ---------------------------------------------------------------- TSan
if [ "${LEAKLESS_NIGHTLY:-auto}" != bootstrap ] && rustup run nightly rustc --version >/dev/null 2>&1 &&
  rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  echo "== tsan: $(rustup run nightly rustc --version)"
  log=target/sanitize-tsan.log
  start=$(date +%s)
  ops=1000000
  [ "$quick" = 1 ] && ops=200000
  if ! SHARED_OPS="${SHARED_OPS:-$ops}" CARGO_PROFILE_DEV_OPT_LEVEL=2 RUSTFLAGS="-Zsanitizer=thread ${RUSTFLAGS:-}" \
    TSAN_OPTIONS="halt_on_error=1:${TSAN_OPTIONS:-}" \
    timeout 1200 cargo +nightly test -Zbuild-std -p leakless-core --target "$host" --target-dir target/tsan \
    --test shared_store >"$log" 2>&1; then
    echo "!! tsan FAILED (or timed out):"
    grep -E -A30 'WARNING: ThreadSanitizer|panicked at|^error' "$log" | head -80
    exit 1
  fi
  summary+=("tsan: $(passed_of "$log") shared-store tests passed, no race reported, in $(($(date +%s) - start))s")
else
  summary+=("tsan: skipped, needs a nightly toolchain with rust-src (-Zbuild-std)")
fi

echo "== sanitize summary"
for line in "${summary[@]}"; do echo "   $line"; done
