//! The expiry index shared by the recency log (`recency.rs`) and S3-FIFO
//! (`s3fifo.rs`): each slot's expiry time, and the slots ordered by it.

use std::collections::BTreeSet;

/// A totally ordered expiry time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expiry(pub(crate) f64);
impl PartialEq for Expiry {
  fn eq(&self, other: &Self) -> bool {
    self.cmp(other).is_eq()
  }
}
impl Eq for Expiry {}
impl PartialOrd for Expiry {
  fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
    Some(self.cmp(other))
  }
}
impl Ord for Expiry {
  fn cmp(&self, other: &Self) -> std::cmp::Ordering {
    self.0.total_cmp(&other.0)
  }
}

/// Slots by expiry time.
#[derive(Debug, Default)]
pub(crate) struct ExpiryIndex {
  /// Expiry time each slot is indexed under (`INFINITY`: not indexed).
  indexed: Vec<f64>,
  by_expiry: BTreeSet<(Expiry, u32)>,
}

impl ExpiryIndex {
  /// Bytes of native memory held, for accounting.
  pub(crate) fn heap_bytes(&self) -> usize {
    self.indexed.capacity() * 8
      // A B-tree node holds up to 11 keys of 16 bytes plus edges; about 24
      // bytes per key is what it costs when nodes are two-thirds full.
      + self.by_expiry.len() * 24
  }

  /// Indexes `slot` under `expiry` (`INFINITY` or NaN: never expires).
  pub(crate) fn set(&mut self, slot: u32, expiry: f64) {
    let s = slot as usize;
    let expiry = if expiry.is_nan() {
      f64::INFINITY
    } else {
      expiry
    };
    let old = self.indexed.get(s).copied().unwrap_or(f64::INFINITY);
    if old == expiry {
      return;
    }
    if old != f64::INFINITY {
      self.by_expiry.remove(&(Expiry(old), slot));
    }
    if expiry != f64::INFINITY {
      if self.indexed.len() <= s {
        if s >= self.indexed.capacity() {
          let target = (s + 1).max(self.indexed.capacity() * 2).max(16);
          self.indexed.reserve_exact(target - self.indexed.len());
        }
        self.indexed.resize(s + 1, f64::INFINITY);
      }
      self.by_expiry.insert((Expiry(expiry), slot));
    }
    if s < self.indexed.len() {
      self.indexed[s] = expiry;
    }
  }

  /// Slots of entries expired at `now` (past their expiry time, as
  /// lru-cache counts it: an entry whose age equals its TTL is still live),
  /// earliest expiry first.
  pub(crate) fn expired(&self, now: f64) -> Vec<u32> {
    self
      .by_expiry
      .iter()
      .take_while(|&&(Expiry(at), _)| at < now)
      .map(|&(_, slot)| slot)
      .collect()
  }

  /// Hands the live entries expired at `now` (a stamp of 0 in `stamps`:
  /// gone) to `take(index, slot, stamp)`, earliest first, at most `cap` of
  /// them. Returns how many were taken and the earliest expiry time not
  /// taken (`INFINITY` when none).
  pub(crate) fn take_expired(
    &self,
    stamps: &[u32],
    now: f64,
    cap: usize,
    mut take: impl FnMut(usize, u32, u32),
  ) -> (usize, f64) {
    let mut count = 0;
    for &(Expiry(at), slot) in &self.by_expiry {
      if at >= now || count == cap {
        return (count, at);
      }
      let stamp = stamps.get(slot as usize).copied().unwrap_or(0);
      if stamp == 0 {
        continue;
      }
      take(count, slot, stamp);
      count += 1;
    }
    (count, f64::INFINITY)
  }
}
