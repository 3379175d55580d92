//! [`OffHeap`] checked against a plain model after every operation.
//!
//! The model is a list of entries, least recently used first, each with its
//! key, value, TTL, expiry time and slot. Slots are modelled (a free list
//! used last-in first-out, as the store's) only to know how the store breaks
//! ties between entries that expire at the same time; everything else is
//! what a user sees: answers, `len`, `calculated_size` (never above
//! `max_size`), counters, the order of `entries_mru`, and every removed
//! entry with its reason, in the order it left.
//!
//! Shared by `core/tests/offheap_model.rs` (proptest, and byte-driven runs
//! for Miri) and the `offheap` fuzz target (`fuzz/fuzz_targets/offheap.rs`),
//! which includes this file; [`run_bytes`] is what both run on raw bytes.

#![allow(dead_code)]

use arbitrary::{Result, Unstructured};
use leakless_core::offheap::{
  number_key, Counters, Entry, KeyRef, Limits, Lookup, OffHeap, Reason, Stored, ValueRef,
  ENTRY_OVERHEAD,
};
use leakless_core::recency::STAMP_LIMIT;

use super::runner::Model;

/// An owned key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
  /// The bits of a number, as `number_key` gives them.
  Num(u64),
  Utf8(Vec<u8>),
  Utf16(Vec<u16>),
}

impl Key {
  pub fn as_ref(&self) -> KeyRef<'_> {
    match self {
      Key::Num(n) => KeyRef::Num(*n),
      Key::Utf8(b) => KeyRef::Utf8(b),
      Key::Utf16(u) => KeyRef::Utf16(u),
    }
  }

  fn of(k: KeyRef<'_>) -> Key {
    match k {
      KeyRef::Num(n) => Key::Num(n),
      KeyRef::Utf8(b) => Key::Utf8(b.to_vec()),
      KeyRef::Utf16(u) => Key::Utf16(u.to_vec()),
    }
  }

  fn byte_len(&self) -> usize {
    match self {
      Key::Num(_) => 8,
      Key::Utf8(b) => b.len(),
      Key::Utf16(u) => 2 * u.len(),
    }
  }
}

/// An owned value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
  Utf8(Vec<u8>),
  Utf16(Vec<u16>),
  Bytes(Vec<u8>),
}

impl Value {
  pub fn as_ref(&self) -> ValueRef<'_> {
    match self {
      Value::Utf8(b) => ValueRef::Utf8(b),
      Value::Utf16(u) => ValueRef::Utf16(u),
      Value::Bytes(b) => ValueRef::Bytes(b),
    }
  }

  fn of(v: ValueRef<'_>) -> Value {
    match v {
      // The store keeps ASCII text as `Ascii`: the same string.
      ValueRef::Utf8(b) | ValueRef::Ascii(b) => Value::Utf8(b.to_vec()),
      ValueRef::Utf16(u) => Value::Utf16(u.to_vec()),
      ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
    }
  }

  fn byte_len(&self) -> usize {
    match self {
      Value::Utf8(b) | Value::Bytes(b) => b.len(),
      Value::Utf16(u) => 2 * u.len(),
    }
  }
}

/// Fixed for one run.
#[derive(Debug, Clone)]
pub struct Config {
  pub limits: Limits,
  /// Keep removed entries for `take_removed` (a cache with `onEvict`).
  pub collect: bool,
  /// Where the stamp counter starts (near `STAMP_LIMIT`: renumbering).
  pub first_tick: u32,
}

/// One operation.
#[derive(Debug, Clone)]
pub enum Op {
  Get(Key),
  Peek(Key, bool),
  Has(Key),
  RemainingTtl(Key),
  /// `set(key, value, ttl, now, expires_at)`.
  Set(Key, Value, f64, Option<f64>),
  Delete(Key),
  Clear,
  Pop,
  Resize(usize),
  PurgeStale,
  Advance(f64),
  Entries,
}

#[derive(Debug, Clone)]
struct ModelEntry {
  key: Key,
  value: Value,
  ttl: f64,
  expires: f64,
  slot: u32,
}

impl ModelEntry {
  fn size(&self) -> usize {
    self.key.byte_len() + self.value.byte_len() + ENTRY_OVERHEAD
  }
}

/// The store and the model side by side.
pub struct Harness {
  st: OffHeap,
  collect: bool,
  now: f64,
  // ---- model
  entries: Vec<ModelEntry>,
  free: Vec<u32>,
  slots: u32,
  limits: Limits,
  calculated: usize,
  counters: Counters,
  removed: Vec<(Key, Value, Reason)>,
  /// For the report of a run.
  pub evictions: u64,
}

fn same(a: f64, b: f64) -> bool {
  a == b || (a.is_nan() && b.is_nan())
}

impl Harness {
  /// The clock the operations run at.
  pub fn now(&self) -> f64 {
    self.now
  }

  // ------------------------------------------------------------ model

  fn find(&self, key: &Key) -> Option<usize> {
    self.entries.iter().position(|e| &e.key == key)
  }

  fn expired(&self, e: &ModelEntry) -> bool {
    // As lru-cache: expired once its age is past the TTL.
    e.expires < self.now
  }

  fn remove(&mut self, at: usize, reason: Reason) -> ModelEntry {
    let e = self.entries.remove(at);
    self.free.push(e.slot);
    self.calculated -= e.size();
    match reason {
      Reason::Evict => self.counters.evictions += 1,
      Reason::Expire => self.counters.expirations += 1,
      _ => {}
    }
    if self.collect {
      self.removed.push((e.key.clone(), e.value.clone(), reason));
    }
    e
  }

  /// Positions of the entries expired now, earliest expiry first, ties by
  /// slot (the order of the store's expiry index).
  fn expired_order(&self) -> Vec<usize> {
    let mut v: Vec<usize> = (0..self.entries.len())
      .filter(|&i| self.expired(&self.entries[i]))
      .collect();
    v.sort_by(|&a, &b| {
      let (a, b) = (&self.entries[a], &self.entries[b]);
      a.expires.total_cmp(&b.expires).then(a.slot.cmp(&b.slot))
    });
    v
  }

  /// The store's `evict_one`: an expired entry first, else the least
  /// recently used; the entry in `keep` only if it is expired.
  fn evict_one(&mut self, keep: Option<u32>) -> bool {
    let (at, reason) = match self.expired_order().first() {
      Some(&at) => (at, Reason::Expire),
      None if !self.entries.is_empty() => (0, Reason::Evict),
      None => return false,
    };
    if Some(self.entries[at].slot) == keep && reason != Reason::Expire {
      return false;
    }
    if reason == Reason::Evict {
      self.evictions += 1;
    }
    self.remove(at, reason);
    true
  }

  fn model_get(&mut self, key: &Key) -> Option<(Value, bool)> {
    let Some(at) = self.find(key) else {
      self.counters.misses += 1;
      return None;
    };
    if self.expired(&self.entries[at]) {
      self.counters.misses += 1;
      let e = self.remove(at, Reason::Expire);
      return self.limits.allow_stale.then_some((e.value, true));
    }
    self.counters.hits += 1;
    let mut e = self.entries.remove(at);
    if self.limits.update_age_on_get && e.ttl > 0.0 {
      e.expires = self.now + e.ttl;
    }
    let value = e.value.clone();
    self.entries.push(e);
    Some((value, false))
  }

  fn model_set(&mut self, key: Key, value: Value, ttl: f64, expires_at: Option<f64>) -> Stored {
    let existing = self.find(&key);
    let size = key.byte_len() + value.byte_len() + ENTRY_OVERHEAD;
    if size > self.limits.max_size {
      if let Some(at) = existing {
        self.remove(at, Reason::Set);
      }
      if self.collect {
        self.removed.push((key, value, Reason::Set));
      }
      return Stored::TooLarge;
    }
    self.counters.sets += 1;
    let expires = expires_at.unwrap_or(if ttl > 0.0 {
      self.now + ttl
    } else {
      f64::INFINITY
    });
    let slot = match existing {
      Some(at) => {
        let mut e = self.entries.remove(at);
        let old = std::mem::replace(&mut e.value, value);
        self.calculated =
          self.calculated - (e.key.byte_len() + old.byte_len() + ENTRY_OVERHEAD) + size;
        if self.collect && old != e.value {
          self.removed.push((e.key.clone(), old, Reason::Set));
        }
        e.ttl = ttl;
        e.expires = expires;
        let slot = e.slot;
        self.entries.push(e);
        slot
      }
      None => {
        if self.entries.len() >= self.limits.max {
          self.evict_one(None);
        }
        let slot = self.free.pop().unwrap_or_else(|| {
          self.slots += 1;
          self.slots - 1
        });
        self.entries.push(ModelEntry {
          key,
          value,
          ttl,
          expires,
          slot,
        });
        self.calculated += size;
        slot
      }
    };
    while self.calculated > self.limits.max_size {
      if !self.evict_one(Some(slot)) {
        break;
      }
    }
    Stored::Yes
  }

  // ------------------------------------------------------------ steps

  fn check_entries(&self) {
    let expected: Vec<(Key, Value)> = self
      .entries
      .iter()
      .rev()
      .filter(|e| e.expires >= self.now)
      .map(|e| (e.key.clone(), e.value.clone()))
      .collect();
    let got: Vec<(Key, Value)> = self
      .st
      .entries_mru(self.now)
      .into_iter()
      .map(|e: &Entry| (Key::of(e.key()), Value::of(e.value())))
      .collect();
    assert_eq!(got, expected, "entries_mru() is not the model's order");
    for e in self.st.entries_mru(self.now) {
      assert!(same(
        e.expires(),
        self.entries[self.find(&Key::of(e.key())).unwrap()].expires
      ));
    }
  }

  fn check(&mut self) {
    assert_eq!(self.st.len(), self.entries.len(), "len");
    assert_eq!(
      self.st.calculated_size(),
      self.calculated,
      "calculated_size"
    );
    assert!(
      self.st.calculated_size() <= self.limits.max_size,
      "calculated_size {} above max_size {}",
      self.st.calculated_size(),
      self.limits.max_size
    );
    assert!(
      self.st.heap_bytes() >= self.st.calculated_size(),
      "heap_bytes below the entries' sizes"
    );
    assert_eq!(self.st.counters(), self.counters, "counters");
    assert_eq!(self.st.limits().max, self.limits.max);
    let removed: Vec<(Key, Value, Reason)> = self
      .st
      .take_removed()
      .into_iter()
      .map(|(e, r)| (Key::of(e.key()), Value::of(e.value()), r))
      .collect();
    assert_eq!(
      removed,
      std::mem::take(&mut self.removed),
      "removed entries and reasons"
    );
    assert!(!self.st.has_removed());
  }
}

impl Model for Harness {
  type Config = Config;
  type Op = Op;

  fn new(cfg: Config) -> Self {
    let mut st = OffHeap::new(cfg.limits, cfg.collect);
    st.start_stamps_at(cfg.first_tick);
    Harness {
      st,
      collect: cfg.collect,
      now: 100.0,
      entries: Vec::new(),
      free: Vec::new(),
      slots: 0,
      limits: cfg.limits,
      calculated: 0,
      counters: Counters::default(),
      removed: Vec::new(),
      evictions: 0,
    }
  }

  fn step(&mut self, op: &Op) {
    let now = self.now;
    match op {
      Op::Get(k) => {
        let expected = self.model_get(k);
        let got = match self.st.get(k.as_ref(), now) {
          Lookup::Hit(e) => Some((Value::of(e.value()), false)),
          Lookup::Stale(e) => Some((Value::of(e.value()), true)),
          Lookup::Miss => None,
        };
        assert_eq!(got, expected, "get({k:?})");
      }
      Op::Peek(k, stale) => {
        let expected = self
          .find(k)
          .map(|at| &self.entries[at])
          .filter(|e| *stale || !self.expired(e))
          .map(|e| e.value.clone());
        let got = self.st.peek(k.as_ref(), now, *stale).map(Value::of);
        assert_eq!(got, expected, "peek({k:?}, {stale})");
      }
      Op::Has(k) => {
        let expected = self
          .find(k)
          .is_some_and(|at| !self.expired(&self.entries[at]));
        assert_eq!(self.st.has(k.as_ref(), now), expected, "has({k:?})");
      }
      Op::RemainingTtl(k) => {
        let expected = match self.find(k) {
          None => 0.0,
          Some(at) if self.entries[at].expires == f64::INFINITY => f64::INFINITY,
          Some(at) => (self.entries[at].expires - now).max(0.0),
        };
        let got = self.st.remaining_ttl(k.as_ref(), now);
        assert!(
          same(got, expected),
          "remaining_ttl({k:?}): {got} != {expected}"
        );
      }
      Op::Set(k, v, ttl, expires_at) => {
        let expected = self.model_set(k.clone(), v.clone(), *ttl, *expires_at);
        let got = self.st.set(k.as_ref(), v.as_ref(), *ttl, now, *expires_at);
        assert_eq!(got, expected, "set({k:?})");
      }
      Op::Delete(k) => {
        let expected = match self.find(k) {
          None => false,
          Some(at) if self.expired(&self.entries[at]) => {
            self.remove(at, Reason::Expire);
            false
          }
          Some(at) => {
            self.remove(at, Reason::Delete);
            true
          }
        };
        assert_eq!(self.st.delete(k.as_ref(), now), expected, "delete({k:?})");
      }
      Op::Clear => {
        if self.collect {
          // Least recently used first, as lru-cache disposes them.
          for e in self.entries.iter() {
            self
              .removed
              .push((e.key.clone(), e.value.clone(), Reason::Clear));
          }
        }
        self.entries.clear();
        self.free.clear();
        self.slots = 0;
        self.calculated = 0;
        self.st.clear();
        assert_eq!(self.st.heap_bytes(), 0, "a cleared store holds no memory");
      }
      Op::Pop => {
        let mut expected = None;
        while !self.entries.is_empty() {
          if self.expired(&self.entries[0]) {
            self.remove(0, Reason::Expire);
            continue;
          }
          let e = self.remove(0, Reason::Evict);
          expected = Some((e.key, e.value));
          break;
        }
        let got = self
          .st
          .pop(now)
          .map(|e| (Key::of(e.key()), Value::of(e.value())));
        assert_eq!(got, expected, "pop()");
      }
      Op::Resize(max) => {
        self.limits.max = *max;
        while self.entries.len() > *max {
          if !self.evict_one(None) {
            break;
          }
        }
        self.st.resize(*max, now);
      }
      Op::PurgeStale => {
        let mut doomed: Vec<u32> = self
          .expired_order()
          .into_iter()
          .map(|at| self.entries[at].slot)
          .collect();
        let n = doomed.len();
        for slot in doomed.drain(..) {
          let at = self.entries.iter().position(|e| e.slot == slot).unwrap();
          self.remove(at, Reason::Expire);
        }
        assert_eq!(self.st.purge_stale(now), n, "purge_stale()");
      }
      Op::Advance(d) => self.now += d,
      Op::Entries => self.check_entries(),
    }
    self.check();
  }

  /// A last look: the order, every value, and everything popped in turn.
  fn finish(&mut self) {
    self.check_entries();
    for e in &self.entries {
      assert_eq!(
        self.st.peek(e.key.as_ref(), self.now, true).map(Value::of),
        Some(e.value.clone())
      );
    }
    while !self.entries.is_empty() {
      self.step(&Op::Pop);
    }
    assert!(self.st.is_empty());
    assert_eq!(self.st.calculated_size(), 0);
  }

  fn config_from(u: &mut Unstructured<'_>) -> Result<Config> {
    config_from(u)
  }

  fn op_from(&self, u: &mut Unstructured<'_>) -> Result<Op> {
    op_from(u, self.now())
  }
}

// ------------------------------------------------------------ from bytes

/// A configuration decoded from fuzz input.
pub fn config_from(u: &mut Unstructured<'_>) -> Result<Config> {
  let max = if u.ratio(1, 3)? {
    usize::MAX
  } else {
    u.int_in_range(1..=12usize)?
  };
  let max_size = match u.int_in_range(0..=4u8)? {
    0 => usize::MAX,
    1 => ENTRY_OVERHEAD + u.int_in_range(0..=64usize)?,
    _ => u.int_in_range(ENTRY_OVERHEAD..=4096usize)?,
  };
  let first_tick = if u.ratio(1, 4)? {
    STAMP_LIMIT - u.int_in_range(1..=200u32)?
  } else {
    0
  };
  Ok(Config {
    limits: Limits {
      max,
      max_size,
      update_age_on_get: u.arbitrary()?,
      allow_stale: u.arbitrary()?,
    },
    collect: !u.ratio(1, 5)?,
    first_tick,
  })
}

const NUMS: [f64; 8] = [
  0.0,
  -0.0,
  1.0,
  1.5,
  -1e300,
  f64::INFINITY,
  f64::NAN,
  -f64::NAN,
];
const STRS: [&str; 6] = ["", "a", "b", "c", "dd", "é"];
const UNITS: [&[u16]; 4] = [&[0xd800], &[0xd800, 0x41], &[0xdc00, 0xdc00, 0x42], &[]];

fn key_from(u: &mut Unstructured<'_>) -> Result<Key> {
  Ok(match u.int_in_range(0..=9u8)? {
    0..=2 => Key::Num(number_key(*u.choose(&NUMS)?)),
    3..=6 => Key::Utf8(u.choose(&STRS)?.as_bytes().to_vec()),
    7 => Key::Utf8(vec![b'k'; u.int_in_range(0..=300usize)?]),
    8 => Key::Utf16(u.choose(&UNITS)?.to_vec()),
    // Any bits: numbers the store never normalises itself.
    _ => Key::Num(u.arbitrary()?),
  })
}

fn value_from(u: &mut Unstructured<'_>) -> Result<Value> {
  let len = match u.int_in_range(0..=9u8)? {
    0..=5 => u.int_in_range(0..=4usize)?,
    6..=8 => u.int_in_range(5..=64usize)?,
    _ => u.int_in_range(65..=2048usize)?,
  };
  let seed: u8 = if u.ratio(3, 4)? {
    u.int_in_range(0..=1)?
  } else {
    u.arbitrary()?
  };
  Ok(value_of(u.int_in_range(0..=2u8)?, len, seed))
}

/// A value of `kind` (0: UTF-8, 1: UTF-16, else bytes) of `len` bytes
/// counting up from `seed` (UTF-16: `len / 2` units, lone surrogates among
/// them). Few seeds make equal values common, so that a key is often set
/// again to an equal value (which is not a replacement).
pub fn value_of(kind: u8, len: usize, seed: u8) -> Value {
  let bytes: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
  match kind {
    0 => Value::Utf8(bytes),
    1 => Value::Utf16(
      (0..len / 2)
        .map(|i| 0xd7f0 + (seed as u16 + i as u16) % 32)
        .collect(),
    ),
    _ => Value::Bytes(bytes),
  }
}

fn ttl_from(u: &mut Unstructured<'_>) -> Result<f64> {
  Ok(match u.int_in_range(0..=7u8)? {
    0..=3 => 0.0,
    4..=6 => f64::from(u.int_in_range(1..=50u8)?),
    _ => -5.0,
  })
}

/// An operation decoded from fuzz input, at clock `now`.
pub fn op_from(u: &mut Unstructured<'_>, now: f64) -> Result<Op> {
  Ok(match u.int_in_range(0..=39u8)? {
    0..=7 => Op::Get(key_from(u)?),
    8..=9 => Op::Peek(key_from(u)?, u.arbitrary()?),
    10..=11 => Op::Has(key_from(u)?),
    12 => Op::RemainingTtl(key_from(u)?),
    13..=24 => {
      let expires_at = if u.ratio(1, 10)? {
        Some(now + f64::from(u.int_in_range(-20..=50i8)?))
      } else {
        None
      };
      Op::Set(key_from(u)?, value_from(u)?, ttl_from(u)?, expires_at)
    }
    25..=27 => Op::Delete(key_from(u)?),
    28 => Op::Clear,
    29..=30 => Op::Pop,
    31 => Op::Resize(if u.ratio(1, 4)? {
      usize::MAX
    } else {
      u.int_in_range(1..=12)?
    }),
    32 => Op::PurgeStale,
    33..=36 => Op::Advance(f64::from(u.int_in_range(1..=20u8)?)),
    _ => Op::Entries,
  })
}
