//! Property tests of [`leakless_core::s3fifo::S3Fifo`]: random request
//! sequences replayed on the real queues (driven as the caches drive them:
//! slots from a free list, counters in the caller's array) and on a plain
//! model written from the paper's pseudocode, compared after every step.
//!
//! `PROPTEST_CASES` overrides the number of cases.

use std::collections::HashMap;

use leakless_core::s3fifo::S3Fifo;
use proptest::prelude::*;

/// S3-FIFO as the paper states it, over keys, with vectors (index 0 is the
/// oldest) and linear searches: slow and plain.
struct Model {
  capacity: u64,
  small_capacity: u64,
  ghost_capacity: u64,
  weighted: bool,
  small: Vec<u32>,
  main: Vec<u32>,
  ghost: Vec<(u32, u64)>,
  freq: HashMap<u32, u8>,
  weight: HashMap<u32, u64>,
  has_evicted: bool,
}

impl Model {
  fn new(capacity: u64, weighted: bool) -> Self {
    Model {
      capacity,
      small_capacity: ((capacity as f64 * 0.1) as u64).max(1),
      ghost_capacity: (capacity as f64 * 0.9) as u64,
      weighted,
      small: Vec::new(),
      main: Vec::new(),
      ghost: Vec::new(),
      freq: HashMap::new(),
      weight: HashMap::new(),
      has_evicted: false,
    }
  }

  fn sum(&self, q: &[u32]) -> u64 {
    q.iter().map(|k| self.weight[k]).sum()
  }

  fn size(&self) -> u64 {
    self.sum(&self.small) + self.sum(&self.main)
  }

  fn len(&self) -> usize {
    self.small.len() + self.main.len()
  }

  fn contains(&self, k: u32) -> bool {
    self.small.contains(&k) || self.main.contains(&k)
  }

  fn full_for(&self, w: u64) -> bool {
    if self.weighted {
      self.size() + w > self.capacity
    } else {
      self.len() as u64 >= self.capacity
    }
  }

  fn ghost_add(&mut self, k: u32, w: u64) {
    if self.ghost_capacity == 0
      || w > self.ghost_capacity
      || self.ghost.iter().any(|&(g, _)| g == k)
    {
      return;
    }
    while self.ghost.iter().map(|g| g.1).sum::<u64>() + w > self.ghost_capacity {
      self.ghost.remove(0);
    }
    self.ghost.push((k, w));
  }

  /// Evicts one key and returns it.
  fn evict(&mut self) -> Option<u32> {
    self.has_evicted = true;
    loop {
      if self.len() == 0 {
        return None;
      }
      let main_capacity = self.capacity - self.small_capacity.min(self.capacity);
      if self.sum(&self.main) > main_capacity || self.small.is_empty() {
        while !self.main.is_empty() {
          let k = self.main.remove(0);
          let f = self.freq[&k];
          if f >= 1 {
            self.freq.insert(k, f.min(3) - 1);
            self.main.push(k);
          } else {
            return Some(k);
          }
        }
        if self.small.is_empty() {
          return None;
        }
      }
      while !self.small.is_empty() {
        let k = self.small.remove(0);
        if self.freq[&k] >= 2 {
          self.freq.insert(k, 0);
          self.main.push(k);
        } else {
          let w = self.weight[&k];
          self.ghost_add(k, w);
          return Some(k);
        }
      }
    }
  }

  fn insert(&mut self, k: u32, w: u64) {
    let in_ghost = match self.ghost.iter().position(|&(g, _)| g == k) {
      Some(i) => {
        self.ghost.remove(i);
        true
      }
      None => false,
    };
    self.weight.insert(k, w);
    self.freq.insert(k, 0);
    let small_size = self.sum(&self.small);
    if in_ghost
      || (self.weighted && w > self.small_capacity)
      || (!self.has_evicted && small_size >= self.small_capacity)
    {
      self.main.push(k);
    } else {
      self.small.push(k);
    }
  }

  fn remove(&mut self, k: u32) {
    self.small.retain(|&x| x != k);
    self.main.retain(|&x| x != k);
  }

  fn order(&self) -> Vec<u32> {
    self
      .main
      .iter()
      .rev()
      .chain(self.small.iter().rev())
      .copied()
      .collect()
  }
}

/// The real queues with a caller around them: key -> slot, a free list,
/// the counters and (for the batched mode) stamps.
struct Real {
  s: S3Fifo,
  slot_of: HashMap<u32, u32>,
  key_of: HashMap<u32, u32>,
  free: Vec<u32>,
  next: u32,
  freq: Vec<u8>,
  stamps: Vec<u32>,
  tick: u32,
  weighted: bool,
  weights: HashMap<u32, u64>,
  /// The ghost filter as a batched caller mirrors it.
  filter: Vec<u8>,
}

impl Real {
  fn new(capacity: u64, weighted: bool) -> Self {
    Real {
      s: S3Fifo::new(capacity, weighted),
      slot_of: HashMap::new(),
      key_of: HashMap::new(),
      free: Vec::new(),
      next: 0,
      freq: vec![0; 4096],
      stamps: vec![0; 4096],
      tick: 0,
      weighted,
      weights: HashMap::new(),
      filter: vec![0; 64],
    }
  }

  fn hash(k: u32) -> u32 {
    k.wrapping_mul(2_654_435_761)
  }

  fn size(&self) -> u64 {
    self.slot_of.keys().map(|k| self.weights[k]).sum()
  }

  fn full_for(&self, w: u64) -> bool {
    if self.weighted {
      self.size() + w > self.s.capacity()
    } else {
      self.slot_of.len() as u64 >= self.s.capacity()
    }
  }

  fn drop_slot(&mut self, slot: u32) -> u32 {
    let k = self.key_of.remove(&slot).unwrap();
    self.slot_of.remove(&k);
    self.stamps[slot as usize] = 0;
    self.free.push(slot);
    k
  }

  /// One eviction, directly or through a batch of one victim.
  fn evict(&mut self, batched: bool) -> Option<u32> {
    let slot = if batched {
      self.s.settle(&self.stamps);
      let (mut slots, mut st, mut lim) = ([0u32; 4], [0u32; 4], [0u8; 4]);
      let b = self.s.victims(
        &mut slots,
        &mut st,
        &mut lim,
        &self.stamps,
        &mut self.freq,
        0.0,
        1,
      );
      self.s.mirror_ghost_filter(&mut self.filter);
      if b.count == 0 {
        return None;
      }
      assert_eq!(st[0], self.stamps[slots[0] as usize]);
      assert!(self.freq[slots[0] as usize] < lim[0]);
      slots[0]
    } else {
      self.s.evict(&mut self.freq)?
    };
    Some(self.drop_slot(slot))
  }

  fn insert(&mut self, k: u32, w: u64, batched: bool) {
    let slot = self.free.pop().unwrap_or_else(|| {
      self.next += 1;
      self.next - 1
    });
    self.slot_of.insert(k, slot);
    self.key_of.insert(slot, k);
    self.weights.insert(k, w);
    self.freq[slot as usize] = 0;
    self.tick += 1;
    self.stamps[slot as usize] = self.tick;
    if batched {
      self.s.settle(&self.stamps);
      // The filter must flag every key in the ghost (it may flag others).
      if self.s.in_ghost(Self::hash(k)) {
        assert_ne!(
          self.filter[Self::hash(k) as usize & 63],
          0,
          "ghost key {k} not in the filter"
        );
      }
    }
    self.s.insert(slot, Self::hash(k), w, f64::INFINITY);
    if batched {
      self.s.mirror_ghost_filter(&mut self.filter);
    }
  }

  fn hit(&mut self, k: u32) -> bool {
    match self.slot_of.get(&k) {
      Some(&slot) => {
        let f = &mut self.freq[slot as usize];
        if *f < 3 {
          *f += 1;
        }
        true
      }
      None => false,
    }
  }

  fn order(&mut self, batched: bool) -> Vec<u32> {
    if batched {
      self.s.settle(&self.stamps);
    }
    self.s.order().iter().map(|s| self.key_of[s]).collect()
  }
}

#[derive(Debug, Clone)]
enum Op {
  Request(u32, u64),
  Delete(u32),
}

fn op(keys: u32) -> impl Strategy<Value = Op> {
  prop_oneof![
    10 => (0..keys, 1u64..=6).prop_map(|(k, w)| Op::Request(k, w)),
    1 => (0..keys).prop_map(Op::Delete),
  ]
}

fn case() -> impl Strategy<Value = (u64, bool, bool, Vec<Op>)> {
  (
    prop_oneof![1u64..=12, 13u64..=60],
    any::<bool>(),
    any::<bool>(),
    8u32..=120,
  )
    .prop_flat_map(|(cap, weighted, batched, keys)| {
      let cap = if weighted { cap * 3 } else { cap };
      (
        Just(cap),
        Just(weighted),
        Just(batched),
        prop::collection::vec(op(keys), 1..600),
      )
    })
}

fn run(cap: u64, weighted: bool, batched: bool, ops: &[Op]) {
  let mut m = Model::new(cap, weighted);
  let mut r = Real::new(cap, weighted);
  let mut hits = (0, 0);
  for op in ops {
    match *op {
      Op::Request(k, w) => {
        let w = if weighted { w } else { 1 };
        let hit = r.hit(k);
        if m.contains(k) {
          let f = m.freq[&k];
          m.freq.insert(k, (f + 1).min(3));
          hits.0 += 1;
        } else if !(weighted && w > cap) {
          while m.full_for(w) {
            let a = m.evict();
            let b = r.evict(batched);
            assert_eq!(a, b, "victims differ");
          }
          assert!(!r.full_for(w));
          m.insert(k, w);
          r.insert(k, w, batched);
        }
        assert_eq!(hit, hits.0 > hits.1);
        hits.1 = hits.0;
      }
      Op::Delete(k) => {
        m.remove(k);
        if let Some(&slot) = r.slot_of.get(&k) {
          r.drop_slot(slot);
          r.s.remove(slot);
        }
      }
    }
    assert_eq!(r.order(batched), m.order());
    assert_eq!(r.s.size(), m.size());
    assert_eq!(r.s.len(), m.len());
    for (&k, &slot) in &r.slot_of {
      assert_eq!(r.freq[slot as usize], m.freq[&k], "counter of {k}");
    }
  }
}

proptest! {
  #![proptest_config(ProptestConfig {
    cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1024),
    ..ProptestConfig::default()
  })]

  #[test]
  fn s3fifo_agrees_with_the_model((cap, weighted, batched, ops) in case()) {
    run(cap, weighted, batched, &ops);
  }
}

/// Larger batches keep the queues consistent: every entry the caller keeps
/// is in the order exactly once, and the sizes add up.
#[test]
fn larger_batches_keep_every_kept_entry() {
  let mut r = Real::new(50, false);
  let mut rng = 12345u64;
  for _ in 0..20_000 {
    rng = rng
      .wrapping_mul(6364136223846793005)
      .wrapping_add(1442695040888963407);
    let k = ((rng >> 33) % 400) as u32;
    if r.hit(k) {
      continue;
    }
    if r.slot_of.len() >= 50 {
      r.s.settle(&r.stamps);
      let (mut slots, mut st, mut lim) = ([0u32; 8], [0u32; 8], [0u8; 8]);
      let b = r.s.victims(
        &mut slots,
        &mut st,
        &mut lim,
        &r.stamps,
        &mut r.freq,
        0.0,
        8,
      );
      // Take the first victim still valid; leave the rest pending.
      let i = (0..b.count)
        .find(|&i| r.stamps[slots[i] as usize] == st[i] && r.freq[slots[i] as usize] < lim[i])
        .unwrap();
      r.drop_slot(slots[i]);
    }
    r.insert(k, 1, true);
    let mut order = r.order(true);
    assert_eq!(order.len(), r.slot_of.len());
    order.sort_unstable();
    order.dedup();
    assert_eq!(order.len(), r.slot_of.len());
    assert_eq!(r.s.size(), 50.min(r.slot_of.len() as u64));
  }
}
