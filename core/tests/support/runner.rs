//! The runner the model tests share: a [`Model`] is a harness that applies
//! operations to a core and to a plain model and checks them after every
//! step; this file runs one from proptest's cases, from fuzz input, or from
//! the byte-driven inputs that stand in for both under Miri.
//!
//! Included by every `core/tests/*_model.rs` and by the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`), next to the harness, as `mod runner`.
//!
//! Byte-driven inputs come from a fixed pseudo-random generator, or from
//! the files of a fuzz corpus:
//!
//! - `LEAKLESS_CORPUS=fuzz/corpus` replays `fuzz/corpus/<target>/*`
//!   (`LEAKLESS_CORPUS_LIMIT` files at most, spread over the corpus);
//! - otherwise `LEAKLESS_RUNS` inputs (default given by the test) from
//!   seed `LEAKLESS_SEED` (default fixed).
//!
//! This is what Miri runs: proptest's value generation costs about half a
//! second per operation under Miri, these inputs almost nothing.
//!
//! `PROPTEST_CASES` sets the number of proptest cases ([`cases`]).

#![allow(dead_code)]

use std::path::Path;

use arbitrary::{Result, Unstructured};

/// A model harness.
pub trait Model: Sized {
  type Config;
  type Op;

  fn new(config: Self::Config) -> Self;
  /// Applies `op` to the core and the model; panics on any disagreement.
  fn step(&mut self, op: &Self::Op);
  /// Checks what can only be checked at the end (drains, final counters).
  fn finish(&mut self) {}

  /// Decodes a configuration from fuzz input.
  fn config_from(u: &mut Unstructured<'_>) -> Result<Self::Config>;
  /// Decodes the next operation from fuzz input (the harness lends what the
  /// decoding depends on: its clock, its configuration).
  fn op_from(&self, u: &mut Unstructured<'_>) -> Result<Self::Op>;
}

/// Runs `ops` on a new harness, then its final checks.
pub fn run<M: Model>(config: M::Config, ops: &[M::Op]) -> M {
  let mut h = M::new(config);
  for op in ops {
    h.step(op);
  }
  h.finish();
  h
}

/// Runs the configuration and at most `max_ops` operations decoded from
/// `data`; panics on any disagreement. What the fuzz targets run.
pub fn run_bytes<M: Model>(data: &[u8], max_ops: usize) {
  let mut u = Unstructured::new(data);
  let Ok(config) = M::config_from(&mut u) else {
    return;
  };
  let mut h = M::new(config);
  for _ in 0..max_ops {
    if u.is_empty() {
      break;
    }
    let Ok(op) = h.op_from(&mut u) else {
      break;
    };
    h.step(&op);
  }
  h.finish();
}

/// The two tests of a model test file: `$property`, proptest cases (as many
/// as [`cases`]) of `$case`, a strategy of `(configuration, operations)`;
/// and `byte_driven_runs_agree_with_the_model`, the inputs of fuzz target
/// `$target` through [`byte_driven`], at most `$max_ops` operations each
/// (what Miri runs: proptest's generation is too slow there).
#[allow(unused_macros)]
macro_rules! model_tests {
  ($harness:ty, $property:ident, $case:expr, $target:literal, $max_ops:expr) => {
    proptest::proptest! {
      #![proptest_config(proptest::prelude::ProptestConfig {
        cases: runner::cases(),
        max_shrink_iters: 20_000,
        ..proptest::prelude::ProptestConfig::default()
      })]

      #[test]
      #[cfg_attr(miri, ignore = "proptest's generation is too slow under Miri: see byte_driven_runs")]
      fn $property((cfg, ops) in $case) {
        runner::run::<$harness>(cfg, &ops);
      }
    }

    #[test]
    fn byte_driven_runs_agree_with_the_model() {
      runner::byte_driven::<$harness>($target, $max_ops);
    }
  };
}

/// Proptest cases per property: `PROPTEST_CASES`, or 2048.
pub fn cases() -> u32 {
  env_usize("PROPTEST_CASES").map_or(2048, |n| n as u32)
}

/// Runs the byte-driven inputs of fuzz target `target` through `M` (at most
/// `max_ops` operations each; short inputs and 40 operations under Miri,
/// which interprets every step) and names the first input that fails.
pub fn byte_driven<M: Model>(target: &str, max_ops: usize) {
  let (runs, max_len, max_ops) = if cfg!(miri) {
    (24, 300, 40)
  } else {
    (400, 4096, max_ops)
  };
  for (name, bytes) in inputs(target, runs, max_len) {
    let outcome = std::panic::catch_unwind(|| run_bytes::<M>(&bytes, max_ops));
    assert!(outcome.is_ok(), "{name} ({} bytes) failed", bytes.len());
  }
}

fn env_usize(name: &str) -> Option<usize> {
  std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// SplitMix64: enough to spread bytes, and the same on every machine.
fn next(state: &mut u64) -> u64 {
  *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
  let mut z = *state;
  z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
  z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
  z ^ (z >> 31)
}

/// The inputs to run for fuzz target `target`: `(name, bytes)`.
pub fn inputs(target: &str, default_runs: usize, max_len: usize) -> Vec<(String, Vec<u8>)> {
  if let Ok(root) = std::env::var("LEAKLESS_CORPUS") {
    let dir = Path::new(&root).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
      .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", dir.display()))
      .map(|entry| entry.expect("corpus entry").path())
      .filter(|p| p.is_file())
      .collect();
    files.sort();
    let limit = env_usize("LEAKLESS_CORPUS_LIMIT")
      .unwrap_or(files.len())
      .max(1);
    let step = files.len().div_ceil(limit).max(1);
    return files
      .iter()
      .step_by(step)
      .map(|p| {
        (
          p.display().to_string(),
          std::fs::read(p).expect("corpus file"),
        )
      })
      .collect();
  }
  let runs = env_usize("LEAKLESS_RUNS").unwrap_or(default_runs);
  let mut state = std::env::var("LEAKLESS_SEED")
    .ok()
    .and_then(|s| s.parse().ok())
    .unwrap_or(0x1ea4_1e55_u64);
  (0..runs)
    .map(|i| {
      let len = 16 + (next(&mut state) as usize) % max_len.max(1);
      let bytes = (0..len.div_ceil(8))
        .flat_map(|_| next(&mut state).to_le_bytes())
        .take(len)
        .collect();
      (format!("generated input {i}"), bytes)
    })
    .collect()
}
