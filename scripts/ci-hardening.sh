#!/usr/bin/env bash
# Hardening checks for CI (issue 7), each stage timed, failing on any
# finding:
#
#   lint       cargo fmt --check (root, core, fuzz), clippy -D warnings (root
#              crate; core with all targets), eslint, prettier --check
#   fuzz       every cargo-fuzz target for LEAKLESS_FUZZ_SECONDS (default
#              60) each, two at a time
#   sanitize   Miri on the off-heap store (when a nightly with miri is
#              installed), AddressSanitizer + LeakSanitizer on every core
#              test, ThreadSanitizer on the shared store's concurrent tests
#              (scripts/sanitize.sh --quick)
#   valgrind   the addon's tour under memcheck (scripts/valgrind.sh)
#
# Run from a checkout where `npm ci` has run (it builds the addon). Installs
# what is missing: cargo-fuzz (crates.io, a few minutes the first time),
# valgrind (apt) and, until package.json lists them, eslint/prettier (npm,
# into a temporary folder). Takes about five minutes once cargo-fuzz is
# installed. Prints one line per stage and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/rust-tools.sh
source scripts/lib/rust-tools.sh

fuzz_seconds=${LEAKLESS_FUZZ_SECONDS:-60}
start_all=$(date +%s)
timings=()

stage() {
  local name=$1
  shift
  local start=$(date +%s)
  echo
  echo "==== stage $name"
  if "$@"; then
    timings+=("$name $(($(date +%s) - start))s ok")
    echo "==== stage $name passed in $(($(date +%s) - start))s"
  else
    echo "==== stage $name FAILED after $(($(date +%s) - start))s"
    echo "hardening: $name failed after $(($(date +%s) - start_all))s"
    exit 1
  fi
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
  # eslint and prettier come from package.json's devDependencies; until
  # they are there, a temporary install outside the checkout.
  ESLINT=node_modules/.bin/eslint
  PRETTIER=node_modules/.bin/prettier
  if [ ! -x "$ESLINT" ] || [ ! -x "$PRETTIER" ] || [ ! -d node_modules/@eslint/js ] || [ ! -d node_modules/globals ]; then
    local tmp=${TMPDIR:-/tmp}/leakless-lint-tools
    if [ ! -x "$tmp/node_modules/.bin/eslint" ] || [ ! -x "$tmp/node_modules/.bin/prettier" ]; then
      echo "== installing eslint and prettier into $tmp"
      npm install --prefix "$tmp" --no-audit --no-fund --silent eslint@9 @eslint/js@9 globals@17 prettier@3
    fi
    ESLINT=$tmp/node_modules/.bin/eslint
    PRETTIER=$tmp/node_modules/.bin/prettier
    export NODE_PATH="$tmp/node_modules${NODE_PATH:+:$NODE_PATH}"
  fi
  echo "== rust $(rustc --version), -Z flags from $(describe_unstable_toolchain)"
  echo "== $(cargo fuzz --version), $(valgrind --version), eslint $("$ESLINT" --version), prettier $("$PRETTIER" --version)"
}

lint() {
  cargo fmt --all -- --check
  (cd fuzz && cargo fmt -- --check)
  cargo clippy --quiet -- -D warnings
  cargo clippy --quiet -p leakless-core --all-targets -- -D warnings
  "$ESLINT" .
  "$PRETTIER" --check . >/dev/null
  echo "== lint: rustfmt, clippy (root, core), eslint and prettier found nothing"
}

stage setup setup
stage lint lint
stage fuzz scripts/fuzz.sh -j 2 "$fuzz_seconds"
stage sanitize scripts/sanitize.sh --quick
stage valgrind scripts/valgrind.sh

echo
echo "==== hardening summary ($(($(date +%s) - start_all))s)"
for line in "${timings[@]}"; do echo "   $line"; done
echo "hardening: ${#timings[@]} passed, 0 failed"
