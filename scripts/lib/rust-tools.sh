# shellcheck shell=bash
# Helpers shared by scripts/fuzz.sh, scripts/sanitize.sh and
# scripts/ci-hardening.sh: find (or install) the Rust tools they need.
#
# cargo-fuzz and the sanitizers need unstable (-Z) flags. A nightly
# toolchain is used when rustup has one; otherwise the default (stable)
# toolchain with RUSTC_BOOTSTRAP=1, which accepts the same flags: the
# machine may have no way to fetch another toolchain, and the stable one
# ships the AddressSanitizer runtime for x86_64 Linux.

# Prints the rustup toolchain to use for -Z flags: "nightly" or "" (the
# default toolchain with RUSTC_BOOTSTRAP=1). LEAKLESS_NIGHTLY=bootstrap
# forces the latter, LEAKLESS_NIGHTLY=nightly the former.
unstable_toolchain() {
  case "${LEAKLESS_NIGHTLY:-auto}" in
    bootstrap) echo "" ;;
    nightly) echo "nightly" ;;
    *) if rustup run nightly rustc --version >/dev/null 2>&1; then echo "nightly"; else echo ""; fi ;;
  esac
}

# Runs cargo with unstable flags allowed: `cargo_unstable fuzz build ...`.
cargo_unstable() {
  local tc
  tc=$(unstable_toolchain)
  if [ -n "$tc" ]; then
    cargo "+$tc" "$@"
  else
    RUSTC_BOOTSTRAP=1 cargo "$@"
  fi
}

# cargo_unstable under `timeout`: `cargo_unstable_within 600 test ...` kills
# cargo and what it started (test binaries) after 600 seconds, and returns
# 124 then.
cargo_unstable_within() {
  local limit=$1 tc
  shift
  tc=$(unstable_toolchain)
  if [ -n "$tc" ]; then
    timeout --kill-after=30 "$limit" cargo "+$tc" "$@"
  else
    RUSTC_BOOTSTRAP=1 timeout --kill-after=30 "$limit" cargo "$@"
  fi
}

# Describes the choice, for logs.
describe_unstable_toolchain() {
  local tc
  tc=$(unstable_toolchain)
  if [ -n "$tc" ]; then
    echo "$(rustup run "$tc" rustc --version)"
  else
    echo "$(rustc --version) with RUSTC_BOOTSTRAP=1"
  fi
}

# Installs cargo-fuzz from crates.io when it is missing.
ensure_cargo_fuzz() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked --quiet
  fi
}
