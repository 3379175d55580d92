//! [`Recency`] driven the way `lib/lru.js` drives it, checked against a plain
//! model after every step.
//!
//! The caller half of [`Harness`] is a transcription of the heap LRU's
//! bookkeeping: a stamps array, an operation log replayed in batches, victim
//! batches consumed with the "first victim whose stamp is unchanged" rule,
//! slots of evicted entries reused by just stamping them (no log entry) on
//! the plain fast path, inserts into slots handed out since the last replay
//! not logged (the replay passes `used`; [`Config::fresh`]), deletions
//! logged only when the cache tracks expiry (optionally otherwise),
//! `nextExpiry` lowered whenever an expiry is set, and a renumbering when
//! the tick reaches [`STAMP_LIMIT`].
//!
//! The model half is a list of live slots, least recently used first, and
//! each slot's expiry time. It knows nothing of stamps or records.
//!
//! Checked: every victim the caller takes is the exact least recently used
//! entry, or an expired one whenever any entry is expired; every batch is
//! exactly the expired entries (earliest first) followed by the least
//! recently used ones, with no slot twice; `order()` and `oldest()` agree
//! with the model; renumbering keeps the order; the records stay bounded.
//!
//! Shared by `core/tests/recency_model.rs` (proptest, and byte-driven runs
//! for Miri) and the `recency` fuzz target (`fuzz/fuzz_targets/recency.rs`),
//! which includes this file; [`run_bytes`] is what both run on raw bytes.

#![allow(dead_code)]

use arbitrary::{Result, Unstructured};
use leakless_core::recency::{Recency, VictimBatch, OP_DELETE, OP_EXPIRY, OP_INSERT, STAMP_LIMIT};

use super::runner::Model;

/// Fixed for one run.
#[derive(Debug, Clone)]
pub struct Config {
  /// `max` of the cache: most live entries.
  pub max: usize,
  /// Victims asked for per batch (lib/lru.js: 128).
  pub batch: usize,
  /// Words of log kept before a replay is forced (lib/lru.js: 1024).
  pub log_size: usize,
  /// The tick the stamps start after (lib/lru.js's test hook); near
  /// [`STAMP_LIMIT`] it makes the caller renumber.
  pub first_tick: u32,
  /// Whether entries may get a TTL (the cache then tracks expiry from the
  /// first TTL on, as lib/lru.js does).
  pub ttl_allowed: bool,
  /// `updateAgeOnGet`.
  pub update_age_on_get: bool,
  /// Whether replays pass `used`, so that inserts into slots handed out
  /// since the last replay go unlogged (lib/lru.js under 'lru'); without,
  /// every insert is logged.
  pub fresh: bool,
}

/// One step, with indices taken modulo what exists when it runs.
#[derive(Debug, Clone)]
pub enum Op {
  /// A `set` of a new key; when full, the exact victim's slot is reused.
  /// `plain` takes lib/lru.js's fast path (no log entry for a reuse) when
  /// the cache does not track expiry. `ttl` 0 means none.
  Insert { ttl: u8, plain: bool },
  /// A `get` of live entry `i`: a stamp write (and, expired, a removal).
  Touch(u16),
  /// A `set` of existing entry `i`: a stamp write and a new expiry.
  Update { i: u16, ttl: u8 },
  /// A `delete` of entry `i`; `log` adds OP_DELETE where lib/lru.js would
  /// not (it always logs when tracking expiry).
  Delete { i: u16, log: bool },
  /// Evictions that do not reuse the slot (`resize`, `maxSize`).
  Evict(u8),
  /// `pop()`.
  Pop,
  /// Iteration: `order()`.
  Order,
  /// The clock moves on.
  Advance(u8),
  /// An explicit renumbering (any time is allowed).
  Renumber,
  /// `clear()`.
  Clear,
  /// Inserts each deleted at once: piles up dead records.
  Churn { n: u16, log: bool },
  /// A refill nobody consumes (only re-files records).
  Batch,
}

/// The caller (lib/lru.js) and the model side by side.
pub struct Harness {
  cfg: Config,
  r: Recency,
  // ---- caller
  stamps: Vec<u32>,
  /// `Some` once the cache tracks expiry: expiry time per slot.
  expires: Option<Vec<f64>>,
  ttls: Vec<f64>,
  used: usize,
  /// `used` at the last replay that passed it (lib/lru.js `#freshFrom`):
  /// inserts into slots from here on are not logged.
  fresh_from: usize,
  free: Vec<u32>,
  tick: u32,
  log: Vec<u32>,
  victims: Vec<u32>,
  victim_stamps: Vec<u32>,
  vi: usize,
  vn: usize,
  expired_in_batch: usize,
  next_expiry: f64,
  now: f64,
  // ---- model
  /// Live slots, least recently used first.
  order: Vec<u32>,
  /// Expiry time of each live slot (`INFINITY`: none).
  expiry: Vec<f64>,
  /// Counts, for the report of a run.
  pub evictions: usize,
  pub renumbers: usize,
  /// Inserts left out of the log (fresh slots).
  pub unlogged: usize,
}

impl Harness {
  pub fn live(&self) -> usize {
    self.order.len()
  }

  fn timed(&self) -> bool {
    self.expires.is_some()
  }

  fn is_expired(&self, slot: u32) -> bool {
    self
      .expires
      .as_ref()
      .is_some_and(|e| e[slot as usize] < self.now)
  }

  // ------------------------------------------------------------ caller

  /// The log replayed, as every native call starts by doing.
  fn sync(&mut self) {
    let expires = self.expires.clone();
    let used = self.cfg.fresh.then_some(self.used);
    let result = match &expires {
      Some(e) => self.r.apply(&self.log, &self.stamps, used, true, |s| {
        e.get(s as usize).copied().unwrap_or(f64::INFINITY)
      }),
      None => self
        .r
        .apply(&self.log, &self.stamps, used, false, |_| f64::INFINITY),
    };
    result.expect("a well-formed log is accepted");
    self.log.clear();
    if let Some(used) = used {
      self.fresh_from = used;
    }
  }

  fn log2(&mut self, op: u32, stamp: u32) {
    self.log.extend([op, stamp]);
    if self.log.len() >= self.cfg.log_size {
      self.sync();
    }
  }

  fn touch_stamp(&mut self, slot: u32) {
    self.tick += 1;
    self.stamps[slot as usize] = self.tick;
    if self.tick == STAMP_LIMIT {
      self.renumber();
    }
  }

  fn insert_stamp(&mut self, slot: u32) {
    self.tick += 1;
    self.stamps[slot as usize] = self.tick;
    // A slot handed out since the last replay is filed from `used`.
    if !self.cfg.fresh || (slot as usize) < self.fresh_from {
      self.log2(OP_INSERT | slot, self.tick);
    } else {
      self.unlogged += 1;
    }
    if self.tick == STAMP_LIMIT {
      self.renumber();
    }
  }

  fn renumber(&mut self) {
    self.sync();
    let before = self.r.order(&self.stamps);
    self.tick = self.r.renumber(&mut self.stamps);
    self.vi = 0;
    self.vn = 0;
    self.expired_in_batch = 0;
    self.renumbers += 1;
    assert_eq!(
      self.r.order(&self.stamps),
      before,
      "renumbering changed the order"
    );
    assert_eq!(
      self.tick as usize,
      self.live(),
      "renumbering returns the number of live entries"
    );
    let mut live: Vec<u32> = self.stamps.iter().copied().filter(|&s| s != 0).collect();
    live.sort_unstable();
    assert!(
      live.iter().copied().eq(1..=self.tick),
      "stamps after renumbering are 1..=n"
    );
    self.check_order();
  }

  fn init_ttl(&mut self) {
    self.expires = Some(vec![f64::INFINITY; self.stamps.len()]);
    self.ttls = vec![0.0; self.stamps.len()];
  }

  /// lib/lru.js `#setExpiry`.
  fn set_expiry(&mut self, slot: u32, ttl: f64) {
    let at = if ttl > 0.0 {
      self.now + ttl
    } else {
      f64::INFINITY
    };
    let s = slot as usize;
    self.ttls[s] = ttl;
    self.expires.as_mut().unwrap()[s] = at;
    if at < self.next_expiry {
      self.next_expiry = at;
    }
    self.expiry[s] = at;
  }

  fn new_slot(&mut self) -> u32 {
    let slot = self.used;
    self.used += 1;
    if slot >= self.stamps.len() {
      let capacity = (self.stamps.len() * 2).max(16).min(self.cfg.max);
      self.stamps.resize(capacity, 0);
      if let Some(e) = self.expires.as_mut() {
        e.resize(capacity, f64::INFINITY);
        self.ttls.resize(capacity, 0.0);
      }
      if self.expiry.len() < capacity {
        self.expiry.resize(capacity, f64::INFINITY);
      }
    }
    slot as u32
  }

  fn alloc_slot(&mut self) -> u32 {
    match self.free.pop() {
      Some(slot) => slot,
      None => self.new_slot(),
    }
  }

  /// lib/lru.js `#refill`, with the whole batch checked.
  fn refill(&mut self) {
    let now = if self.timed() { self.now } else { 0.0 };
    self.sync();
    let mut slots = vec![u32::MAX; self.cfg.batch];
    let mut stamps = vec![u32::MAX; self.cfg.batch];
    let b = self.r.victims(&mut slots, &mut stamps, &self.stamps, now);
    self.check_batch(&slots, &stamps, &b);
    self.victims = slots;
    self.victim_stamps = stamps;
    self.vi = 0;
    self.vn = b.count;
    self.expired_in_batch = b.expired;
    self.next_expiry = b.next_expiry;
  }

  /// lib/lru.js `#nextVictim`, with the victim checked against the model.
  fn next_victim(&mut self) -> u32 {
    assert!(self.live() > 0);
    loop {
      if self.vi >= self.vn
        || (self.timed() && self.vi >= self.expired_in_batch && self.next_expiry < self.now)
      {
        self.refill();
        assert!(self.vn > 0, "no victim while {} entries live", self.live());
      }
      let slot = self.victims[self.vi];
      let stamp = self.victim_stamps[self.vi];
      self.vi += 1;
      if self.stamps[slot as usize] == stamp {
        self.check_victim(slot);
        self.evictions += 1;
        return slot;
      }
    }
  }

  /// lib/lru.js `#removeSlot`.
  fn remove_slot(&mut self, slot: u32, log: bool) {
    let s = slot as usize;
    self.stamps[s] = 0;
    if let Some(e) = self.expires.as_mut() {
      e[s] = f64::INFINITY;
      self.log2(OP_DELETE | slot, 0);
    } else if log {
      self.log2(OP_DELETE | slot, 0);
    }
    self.free.push(slot);
    self.model_remove(slot);
  }

  fn pick(&self, i: u16) -> Option<u32> {
    if self.order.is_empty() {
      None
    } else {
      Some(self.order[i as usize % self.order.len()])
    }
  }

  // ------------------------------------------------------------ model

  /// Takes `slot` out of the model's recency order.
  fn model_unlink(&mut self, slot: u32) {
    let at = self
      .order
      .iter()
      .position(|&s| s == slot)
      .expect("model: live slot");
    self.order.remove(at);
  }

  fn model_remove(&mut self, slot: u32) {
    self.model_unlink(slot);
    self.expiry[slot as usize] = f64::INFINITY;
  }

  fn model_touch(&mut self, slot: u32) {
    self.model_unlink(slot);
    self.order.push(slot);
  }

  /// Live slots expired now, earliest expiry first (ties by slot, as the
  /// expiry index orders them).
  fn model_expired(&self) -> Vec<(f64, u32)> {
    let mut v: Vec<(f64, u32)> = self
      .order
      .iter()
      .map(|&s| (self.expiry[s as usize], s))
      .filter(|&(at, _)| at != f64::INFINITY)
      .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v
  }

  // ------------------------------------------------------------ checks

  fn model_is_expired(&self, slot: u32) -> bool {
    self.expiry[slot as usize] < self.now
  }

  fn check_victim(&self, slot: u32) {
    let any_expired = self.order.iter().any(|&s| self.model_is_expired(s));
    if any_expired {
      assert!(
        self.model_is_expired(slot),
        "victim {slot} is live while an expired entry exists (now {}, order {:?})",
        self.now,
        self.order
      );
    } else {
      assert_eq!(
        Some(&slot),
        self.order.first(),
        "victim is not the least recently used entry"
      );
    }
  }

  fn check_batch(&self, slots: &[u32], stamps: &[u32], b: &VictimBatch) {
    let cap = self.cfg.batch;
    assert!(
      b.count <= cap && b.expired <= b.count,
      "batch {b:?} over capacity {cap}"
    );
    let got = &slots[..b.count];
    let mut distinct = got.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
      distinct.len(),
      got.len(),
      "a slot handed out twice in one batch: {got:?}"
    );
    for (i, &slot) in got.iter().enumerate() {
      assert!(self.stamps[slot as usize] != 0, "victim {slot} is not live");
      assert_eq!(
        stamps[i], self.stamps[slot as usize],
        "victim {slot} handed out with a stale stamp"
      );
    }
    let now = if self.timed() { self.now } else { 0.0 };
    let indexed = if self.timed() {
      self.model_expired()
    } else {
      Vec::new()
    };
    let expired: Vec<u32> = indexed
      .iter()
      .take_while(|&&(at, _)| at < now)
      .take(cap)
      .map(|&(_, s)| s)
      .collect();
    let next = indexed
      .get(expired.len())
      .map_or(f64::INFINITY, |&(at, _)| at);
    assert_eq!(&got[..b.expired], &expired[..], "expired part of the batch");
    assert_eq!(
      b.next_expiry.to_bits(),
      next.to_bits(),
      "next_expiry of the batch"
    );
    let lru: Vec<u32> = self
      .order
      .iter()
      .copied()
      .filter(|s| !expired.contains(s))
      .take(cap - expired.len())
      .collect();
    assert_eq!(
      &got[b.expired..],
      &lru[..],
      "least recently used part of the batch"
    );
  }

  fn check_order(&self) {
    let mut expected = self.order.clone();
    expected.reverse();
    assert_eq!(
      self.r.order(&self.stamps),
      expected,
      "order() is not most recently used first"
    );
  }

  fn check_bounded(&self) {
    // Records: at most about two per slot plus the rebuild slack; a loose
    // bound that still catches growth without limit.
    let bound =
      8 * 4 * (3 * self.stamps.len() + 4096) + 24 * self.stamps.len() + 8 * self.cfg.batch;
    assert!(
      self.r.heap_bytes() <= bound,
      "recency holds {} bytes for {} slots",
      self.r.heap_bytes(),
      self.stamps.len()
    );
  }

  // ------------------------------------------------------------ steps

  fn insert(&mut self, ttl: f64, plain: bool) {
    let ttl = if self.cfg.ttl_allowed { ttl } else { 0.0 };
    if ttl > 0.0 && !self.timed() {
      self.init_ttl();
    }
    let full = self.live() >= self.cfg.max;
    if plain && !self.timed() {
      // The fast path of lib/lru.js `set`.
      if full {
        let slot = self.next_victim();
        self.model_remove(slot);
        self.order.push(slot);
        self.touch_stamp(slot);
      } else {
        let slot = self.alloc_slot();
        self.order.push(slot);
        self.insert_stamp(slot);
      }
      return;
    }
    // lib/lru.js `#store`.
    let slot = if full {
      let slot = self.next_victim();
      self.model_remove(slot);
      slot
    } else {
      self.alloc_slot()
    };
    self.order.push(slot);
    if self.timed() {
      self.set_expiry(slot, ttl);
    }
    self.insert_stamp(slot);
  }

  fn pop(&mut self) {
    while self.live() > 0 {
      self.sync();
      let oldest = self.r.oldest(&self.stamps);
      assert_eq!(
        oldest,
        self.order.first().copied(),
        "oldest() is not the least recently used entry"
      );
      let slot = oldest.unwrap();
      let expired = self.is_expired(slot);
      self.remove_slot(slot, false);
      if !expired {
        return;
      }
    }
  }

  fn clear(&mut self) {
    self.stamps = Vec::new();
    self.used = 0;
    self.fresh_from = 0;
    self.free.clear();
    self.tick = 0;
    self.log.clear();
    self.vi = 0;
    self.vn = 0;
    self.expired_in_batch = 0;
    self.next_expiry = f64::INFINITY;
    if self.timed() {
      self.init_ttl();
    }
    self.r.clear();
    self.order.clear();
    self.expiry.clear();
  }
}

impl Model for Harness {
  type Config = Config;
  type Op = Op;

  fn new(cfg: Config) -> Self {
    assert!(cfg.max >= 1 && cfg.batch >= 1 && cfg.log_size >= 2 && cfg.log_size.is_multiple_of(2));
    let batch = cfg.batch;
    Harness {
      tick: cfg.first_tick,
      cfg,
      r: Recency::new(),
      stamps: Vec::new(),
      expires: None,
      ttls: Vec::new(),
      used: 0,
      fresh_from: 0,
      free: Vec::new(),
      log: Vec::new(),
      victims: vec![0; batch],
      victim_stamps: vec![0; batch],
      vi: 0,
      vn: 0,
      expired_in_batch: 0,
      next_expiry: f64::INFINITY,
      now: 1000.0,
      order: Vec::new(),
      expiry: Vec::new(),
      evictions: 0,
      renumbers: 0,
      unlogged: 0,
    }
  }

  fn step(&mut self, op: &Op) {
    match *op {
      Op::Insert { ttl, plain } => self.insert(ttl as f64, plain),
      Op::Touch(i) => {
        let Some(slot) = self.pick(i) else { return };
        if self.timed() {
          // lib/lru.js #getTimed
          if self.is_expired(slot) {
            self.remove_slot(slot, false);
            return;
          }
          self.model_touch(slot);
          self.touch_stamp(slot);
          if self.cfg.update_age_on_get {
            let ttl = self.ttls[slot as usize];
            self.set_expiry(slot, ttl);
            self.log2(OP_EXPIRY | slot, 0);
          }
        } else {
          self.model_touch(slot);
          self.touch_stamp(slot);
        }
      }
      Op::Update { i, ttl } => {
        let Some(slot) = self.pick(i) else { return };
        let ttl = if self.cfg.ttl_allowed {
          ttl as f64
        } else {
          0.0
        };
        if ttl > 0.0 && !self.timed() {
          self.init_ttl();
        }
        if self.timed() {
          self.set_expiry(slot, ttl);
        }
        self.model_touch(slot);
        self.touch_stamp(slot);
        if self.timed() {
          self.log2(OP_EXPIRY | slot, 0);
        }
      }
      Op::Delete { i, log } => {
        let Some(slot) = self.pick(i) else { return };
        self.remove_slot(slot, log);
      }
      Op::Evict(n) => {
        for _ in 0..n.min(8) {
          if self.live() == 0 {
            break;
          }
          let slot = self.next_victim();
          self.remove_slot(slot, false);
        }
      }
      Op::Pop => self.pop(),
      Op::Order => {
        self.sync();
        self.check_order();
      }
      Op::Advance(d) => self.now += d as f64,
      Op::Renumber => self.renumber(),
      Op::Clear => self.clear(),
      Op::Churn { n, log } => {
        if self.live() >= self.cfg.max {
          return;
        }
        for _ in 0..n {
          let slot = self.alloc_slot();
          self.order.push(slot);
          self.insert_stamp(slot);
          // The stamp may have been renumbered: read the slot back.
          self.remove_slot(slot, log);
        }
      }
      Op::Batch => self.refill(),
    }
    self.check_bounded();
  }

  /// A last look after a run: the order, and every entry evicted in turn.
  fn finish(&mut self) {
    self.sync();
    self.check_order();
    while self.live() > 0 {
      let slot = self.next_victim();
      self.remove_slot(slot, false);
    }
    self.sync();
    assert!(self.r.order(&self.stamps).is_empty());
  }

  fn config_from(u: &mut Unstructured<'_>) -> Result<Config> {
    config_from(u)
  }

  fn op_from(&self, u: &mut Unstructured<'_>) -> Result<Op> {
    op_from(u)
  }
}

// ------------------------------------------------------------ from bytes

/// A configuration decoded from fuzz input.
pub fn config_from(u: &mut Unstructured<'_>) -> Result<Config> {
  let max = match u.int_in_range(0..=3u8)? {
    0 => u.int_in_range(1..=4usize)?,
    1 | 2 => u.int_in_range(5..=64usize)?,
    _ => u.int_in_range(65..=600usize)?,
  };
  let batch = match u.int_in_range(0..=2u8)? {
    0 => 1,
    1 => u.int_in_range(2..=16usize)?,
    _ => 128,
  };
  let log_size = 2 * u.int_in_range(1..=512usize)?;
  let first_tick = if u.ratio(1, 4)? {
    STAMP_LIMIT - u.int_in_range(1..=500u32)?
  } else {
    0
  };
  Ok(Config {
    max,
    batch,
    log_size,
    first_tick,
    ttl_allowed: u.arbitrary()?,
    update_age_on_get: u.arbitrary()?,
    fresh: u.arbitrary()?,
  })
}

fn ttl_from(u: &mut Unstructured<'_>) -> Result<u8> {
  Ok(if u.ratio(2, 3)? {
    0
  } else {
    u.int_in_range(1..=60)?
  })
}

/// An operation decoded from fuzz input.
pub fn op_from(u: &mut Unstructured<'_>) -> Result<Op> {
  Ok(match u.int_in_range(0..=43u8)? {
    0..=11 => Op::Insert {
      ttl: ttl_from(u)?,
      plain: u.arbitrary()?,
    },
    12..=21 => Op::Touch(u.arbitrary()?),
    22..=25 => Op::Update {
      i: u.arbitrary()?,
      ttl: ttl_from(u)?,
    },
    26..=29 => Op::Delete {
      i: u.arbitrary()?,
      log: u.arbitrary()?,
    },
    30..=31 => Op::Evict(u.int_in_range(1..=4)?),
    32..=33 => Op::Pop,
    34..=35 => Op::Order,
    36..=38 => Op::Advance(u.int_in_range(1..=30)?),
    39 => Op::Renumber,
    40 => Op::Clear,
    41 => Op::Churn {
      n: if u.ratio(1, 8)? {
        u.int_in_range(600..=1500)?
      } else {
        u.int_in_range(1..=8)?
      },
      log: u.arbitrary()?,
    },
    _ => Op::Batch,
  })
}
