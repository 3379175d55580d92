//! Inputs for the byte-driven runs of the model harnesses, the kind of
//! input the fuzz targets get: from a fixed pseudo-random generator, or the
//! files of a fuzz corpus.
//!
//! - `LEAKLESS_CORPUS=fuzz/corpus` replays `fuzz/corpus/<target>/*`
//!   (`LEAKLESS_CORPUS_LIMIT` files at most, spread over the corpus);
//! - otherwise `LEAKLESS_RUNS` inputs (default given by the test) from
//!   seed `LEAKLESS_SEED` (default fixed).
//!
//! This is what Miri runs: proptest's value generation costs about half a
//! second per operation under Miri, these inputs almost nothing.

#![allow(dead_code)]

use std::path::Path;

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
