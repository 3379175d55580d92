//! The shared store: one bounded LRU that every thread of the process reads
//! and writes, found by name in a process-wide registry.
//!
//! Keys and values are the off-heap ones ([`KeyRef`], [`ValueRef`]), copied
//! in as bytes. The store is split into [`SHARDS`] shards by key hash, each
//! an [`lru::LruCache`] behind a `parking_lot` mutex, so threads that touch
//! different keys rarely meet. Recency is exact within a shard; eviction
//! takes the least recently used entry of a shard (the writer's own shard
//! first), not of the whole store.
//!
//! The bound is exact across shards: two global counters (bytes and
//! entries) are *reserved* before an entry is inserted and released after
//! one is removed, so the entries held never exceed `max` and their bytes
//! never exceed `max_size`, at any moment, whatever the threads do.
//!
//! `fetch` is deduplicated through a per-store table of loads in flight:
//! the first thread to miss a key leads its load; later ones register a
//! [`Waiter`] and are notified (never blocked) when the load completes or is
//! abandoned (the loader failed, or its thread went away), and then retry.
//!
//! Nothing here calls back into a caller while a lock is held: values are
//! handed out as reference-counted [`SharedValue`]s, and waiters are
//! notified after the in-flight table is unlocked.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use lru::LruCache;
use parking_lot::Mutex;

use crate::offheap::{KeyRef, ValueRef};

/// Number of shards of every store (a power of two).
pub const SHARDS: usize = 16;

/// Bookkeeping bytes charged to each entry on top of its key and value: the
/// LRU node (key, item, two links) and its allocation, the key's and the
/// value's allocations and headers when they do not fit in the node, the
/// entry's share of the hash table, and the key's hash kept with it. (A
/// node holding a short key and value inline is about 200 bytes whatever
/// their length, so entries of a few bytes are charged somewhat less than
/// they hold, and entries near the inline limits somewhat more.)
pub const SHARED_ENTRY_OVERHEAD: usize = 64 + 16 + 16 + 16 + 16 + 16 + 8;

/// Longest store name, in UTF-16 code units as JS counts them.
pub const MAX_NAME_UNITS: usize = 256;

/// Bytes before a key's own in its encoded form: its hash (8, little
/// endian) and its tag (1).
const KEY_PREFIX: usize = 9;

const KEY_NUM: u8 = 0;
const KEY_UTF8: u8 = 1;
const KEY_UTF16: u8 = 2;

/// Options fixed when a store is created; every later open must give the
/// same ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharedConfig {
  /// Most entries (`usize::MAX`: no bound by count).
  pub max: usize,
  /// Most bytes of key + value + [`SHARED_ENTRY_OVERHEAD`] (`usize::MAX`: none).
  pub max_size: usize,
  /// Default TTL in ms (0: none).
  pub ttl: f64,
  pub update_age_on_get: bool,
  pub allow_stale: bool,
}

/// A stored value, shared by reference count: a reader takes one under the
/// shard lock (a counter increment) and copies it out after unlocking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedValue {
  Utf8(Arc<[u8]>),
  Ascii(Arc<[u8]>),
  Utf16(Arc<[u16]>),
  Bytes(Arc<[u8]>),
}

impl SharedValue {
  /// A copy of `value`; UTF-8 that is all ASCII is kept as `Ascii`.
  pub fn new(value: ValueRef<'_>) -> SharedValue {
    match value {
      ValueRef::Utf8(b) if b.is_ascii() => SharedValue::Ascii(b.into()),
      ValueRef::Utf8(b) => SharedValue::Utf8(b.into()),
      ValueRef::Ascii(b) => SharedValue::Ascii(b.into()),
      ValueRef::Utf16(u) => SharedValue::Utf16(u.into()),
      ValueRef::Bytes(b) => SharedValue::Bytes(b.into()),
    }
  }

  pub fn as_ref(&self) -> ValueRef<'_> {
    match self {
      SharedValue::Utf8(b) => ValueRef::Utf8(b),
      SharedValue::Ascii(b) => ValueRef::Ascii(b),
      SharedValue::Utf16(u) => ValueRef::Utf16(u),
      SharedValue::Bytes(b) => ValueRef::Bytes(b),
    }
  }

  /// Bytes the value occupies.
  pub fn byte_len(&self) -> usize {
    self.as_ref().byte_len()
  }
}

/// A stored key, as owned by a caller (for `keys`, `dump` and `pop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedKey {
  Num(u64),
  Utf8(Vec<u8>),
  Utf16(Vec<u16>),
}

impl OwnedKey {
  pub fn as_ref(&self) -> KeyRef<'_> {
    match self {
      OwnedKey::Num(n) => KeyRef::Num(*n),
      OwnedKey::Utf8(b) => KeyRef::Utf8(b),
      OwnedKey::Utf16(u) => KeyRef::Utf16(u),
    }
  }

  fn decode(encoded: &[u8]) -> OwnedKey {
    let (tag, rest) = encoded[KEY_PREFIX - 1..]
      .split_first()
      .expect("encoded keys have a tag");
    match *tag {
      KEY_NUM => OwnedKey::Num(u64::from_ne_bytes(rest.try_into().expect("8 bytes"))),
      KEY_UTF8 => OwnedKey::Utf8(rest.to_vec()),
      _ => OwnedKey::Utf16(
        rest
          .chunks_exact(2)
          .map(|c| u16::from_ne_bytes([c[0], c[1]]))
          .collect(),
      ),
    }
  }
}

/// Writes `key` in the form the shards keep: its hash, a tag byte and its
/// bytes. The hash is computed here once, and serves both to pick the
/// shard and as the key's hash in the shard's table ([`Prehashed`]).
fn encode_key(key: KeyRef<'_>, hasher: &Hasher, out: &mut Vec<u8>) {
  out.clear();
  out.extend_from_slice(&[0; 8]);
  match key {
    KeyRef::Num(n) => {
      out.push(KEY_NUM);
      out.extend_from_slice(&n.to_ne_bytes());
    }
    KeyRef::Utf8(b) => {
      out.push(KEY_UTF8);
      out.extend_from_slice(b);
    }
    KeyRef::Utf16(u) => {
      out.push(KEY_UTF16);
      out.reserve(u.len() * 2);
      for unit in u {
        out.extend_from_slice(&unit.to_ne_bytes());
      }
    }
  }
  let hash = hasher.hash_one(&out[8..]);
  out[..8].copy_from_slice(&hash.to_le_bytes());
}

/// The hash written at the start of an encoded key.
fn hash_of(encoded: &[u8]) -> u64 {
  let mut h = [0; 8];
  h.copy_from_slice(&encoded[..8]);
  u64::from_le_bytes(h)
}

/// The hasher of the shards' tables: an encoded key carries its hash in its
/// first eight bytes, which this takes as is instead of hashing the key
/// again. (A `[u8]` hashes as its length, then its bytes in one `write`.)
#[derive(Default)]
pub struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
  fn finish(&self) -> u64 {
    self.0
  }

  fn write(&mut self, bytes: &[u8]) {
    self.0 = match bytes.first_chunk::<8>() {
      Some(h) => u64::from_le_bytes(*h),
      // Never an encoded key; any function of the bytes is a valid hash.
      None => bytes
        .iter()
        .fold(self.0, |h, &b| h.rotate_left(8) ^ u64::from(b)),
    };
  }

  fn write_usize(&mut self, _len: usize) {
    // The slice's length prefix: the hash already covers the length.
  }
}

type PrehashedState = std::hash::BuildHasherDefault<Prehashed>;

/// Longest encoded key kept inside the shard's LRU node rather than in an
/// allocation of its own (a 24-byte key is 33 encoded bytes).
const INLINE_KEY: usize = 46;

/// An encoded key as a shard keeps it: a short one inside the LRU node, so
/// that comparing it during a lookup touches no further allocation.
#[derive(Clone)]
enum StoredKey {
  Inline { len: u8, bytes: [u8; INLINE_KEY] },
  Heap(Box<[u8]>),
}

impl StoredKey {
  fn new(encoded: &[u8]) -> StoredKey {
    if encoded.len() <= INLINE_KEY {
      let mut bytes = [0; INLINE_KEY];
      bytes[..encoded.len()].copy_from_slice(encoded);
      StoredKey::Inline {
        len: encoded.len() as u8,
        bytes,
      }
    } else {
      StoredKey::Heap(encoded.into())
    }
  }

  fn bytes(&self) -> &[u8] {
    match self {
      StoredKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
      StoredKey::Heap(b) => b,
    }
  }

  fn len(&self) -> usize {
    self.bytes().len()
  }
}

impl std::borrow::Borrow<[u8]> for StoredKey {
  fn borrow(&self) -> &[u8] {
    self.bytes()
  }
}

// Hashed and compared as its bytes, as `Borrow<[u8]>` requires.
impl std::hash::Hash for StoredKey {
  fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
    self.bytes().hash(state)
  }
}

impl PartialEq for StoredKey {
  fn eq(&self, other: &StoredKey) -> bool {
    self.bytes() == other.bytes()
  }
}

impl Eq for StoredKey {}

thread_local! {
  /// The encoded form of the key being looked up, so a lookup allocates nothing.
  static KEY_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with the encoded form of `key`.
fn with_encoded<R>(key: KeyRef<'_>, hasher: &Hasher, f: impl FnOnce(&[u8]) -> R) -> R {
  KEY_BUF.with(|buf| match buf.try_borrow_mut() {
    Ok(mut buf) => {
      encode_key(key, hasher, &mut buf);
      if buf.capacity() > 64 * 1024 {
        let out = f(&buf);
        *buf = Vec::new();
        out
      } else {
        f(&buf)
      }
    }
    Err(_) => {
      let mut own = Vec::new();
      encode_key(key, hasher, &mut own);
      f(&own)
    }
  })
}

/// Counters behind `cache.stats()`, kept per shard (so that threads do not
/// share a cache line on every read) and summed on demand.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SharedCounters {
  pub hits: u64,
  pub misses: u64,
  pub sets: u64,
  pub evictions: u64,
  pub expirations: u64,
}

impl SharedCounters {
  fn add(&mut self, other: &SharedCounters) {
    self.hits += other.hits;
    self.misses += other.misses;
    self.sets += other.sets;
    self.evictions += other.evictions;
    self.expirations += other.expirations;
  }
}

/// Longest value (UTF-8, ASCII or bytes) kept inside the shard's LRU node,
/// next to its key, so that a lookup reads it without reaching another
/// allocation. Longer values, and UTF-16 ones, are [`SharedValue`]s.
const INLINE_VALUE: usize = 112;

#[derive(Debug, Clone, Copy)]
enum InlineKind {
  Utf8,
  Ascii,
  Bytes,
}

/// A value as a shard keeps it.
#[derive(Debug)]
enum StoredValue {
  Inline {
    kind: InlineKind,
    len: u8,
    bytes: [u8; INLINE_VALUE],
  },
  Shared(SharedValue),
}

impl StoredValue {
  fn new(value: ValueRef<'_>) -> StoredValue {
    let (kind, b) = match value {
      ValueRef::Utf8(b) if b.is_ascii() => (InlineKind::Ascii, b),
      ValueRef::Utf8(b) => (InlineKind::Utf8, b),
      ValueRef::Ascii(b) => (InlineKind::Ascii, b),
      ValueRef::Bytes(b) => (InlineKind::Bytes, b),
      ValueRef::Utf16(_) => return StoredValue::Shared(SharedValue::new(value)),
    };
    if b.len() > INLINE_VALUE {
      return StoredValue::Shared(SharedValue::new(value));
    }
    let mut bytes = [0; INLINE_VALUE];
    bytes[..b.len()].copy_from_slice(b);
    StoredValue::Inline {
      kind,
      len: b.len() as u8,
      bytes,
    }
  }

  fn as_ref(&self) -> ValueRef<'_> {
    match self {
      StoredValue::Inline { kind, len, bytes } => {
        let b = &bytes[..usize::from(*len)];
        match kind {
          InlineKind::Utf8 => ValueRef::Utf8(b),
          InlineKind::Ascii => ValueRef::Ascii(b),
          InlineKind::Bytes => ValueRef::Bytes(b),
        }
      }
      StoredValue::Shared(v) => v.as_ref(),
    }
  }

  /// The value as a caller may keep it.
  fn shared(&self) -> SharedValue {
    match self {
      StoredValue::Inline { .. } => SharedValue::new(self.as_ref()),
      StoredValue::Shared(v) => v.clone(),
    }
  }

  fn byte_len(&self) -> usize {
    self.as_ref().byte_len()
  }
}

#[derive(Debug)]
struct Item {
  value: StoredValue,
  /// Absolute expiry time on the store's clock (`INFINITY`: never).
  expires: f64,
  /// The TTL it was set with (0: none).
  ttl: f64,
}

type Hasher = foldhash::fast::FixedState;

struct Shard {
  map: LruCache<StoredKey, Item, PrehashedState>,
  counters: SharedCounters,
}

/// A shard's lock on cache lines of its own, so that threads working in
/// different shards do not write to one line.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

impl std::ops::Deref for Padded {
  type Target = Mutex<Shard>;
  fn deref(&self) -> &Mutex<Shard> {
    &self.0
  }
}

/// What a `get` found (`V`: the value, or what [`SharedStore::get_with`]
/// made of it).
#[derive(Debug, PartialEq, Eq)]
pub enum SharedLookup<V = SharedValue> {
  Hit(V),
  /// Expired, returned once because of `allow_stale`, and now removed.
  Stale(V),
  Miss,
}

impl<V> SharedLookup<V> {
  pub fn value(self) -> Option<V> {
    match self {
      SharedLookup::Hit(v) | SharedLookup::Stale(v) => Some(v),
      SharedLookup::Miss => None,
    }
  }
}

/// What a `set` did.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum SharedStored {
  Yes,
  /// Larger than `max_size`: not stored (and any older value removed).
  TooLarge,
}

/// Told when a load it waits for completes or is abandoned.
pub trait Notify: Send + Sync {
  /// Called once per waiter, from whichever thread ended the load, with no
  /// lock of the store held. Must not block.
  fn notify(&self, token: u64);
}

/// One caller waiting for a load led elsewhere.
#[derive(Clone)]
pub struct Waiter {
  pub notify: Arc<dyn Notify>,
  pub token: u64,
}

struct Load {
  id: u64,
  owner: u64,
  waiters: Vec<Waiter>,
}

/// What [`SharedStore::claim`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
  /// The key is present: here is its value.
  Hit(SharedValue),
  /// Nobody loads the key: the caller leads load `id` and must end it with
  /// [`SharedStore::complete`] or [`SharedStore::abandon`].
  Lead(u64),
  /// Another caller leads the load; the waiter will be notified.
  Wait,
}

/// Why an open failed: `option` was created with `existing`, the caller
/// gave `given` (both as JS would print them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
  pub option: &'static str,
  pub existing: String,
  pub given: String,
}

/// One named store.
pub struct SharedStore {
  name: String,
  config: SharedConfig,
  shards: Box<[Padded]>,
  hasher: Hasher,
  /// Bytes reserved: the entries' charged sizes, plus those being inserted.
  bytes: AtomicUsize,
  /// Entries reserved: those held, plus those being inserted.
  entries: AtomicUsize,
  /// Holders alive (see [`Holder`]).
  holders: AtomicUsize,
  /// Whether any entry ever had a TTL (so callers can skip the clock).
  timed: AtomicBool,
  /// Where `pop` starts looking, turned by each `pop`.
  pop_cursor: AtomicUsize,
  inflight: Mutex<HashMap<Box<[u8]>, Load>>,
  next_load: AtomicU64,
}

impl std::fmt::Debug for SharedStore {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("SharedStore")
      .field("name", &self.name)
      .field("config", &self.config)
      .field("entries", &self.len())
      .field("bytes", &self.calculated_size())
      .finish()
  }
}

fn limit_str(n: usize) -> String {
  if n == usize::MAX {
    "Infinity".to_string()
  } else {
    n.to_string()
  }
}

fn ttl_str(ttl: f64) -> String {
  if ttl == 0.0 {
    "0".to_string()
  } else {
    format!("{ttl}")
  }
}

impl SharedStore {
  /// A store outside the registry (tests, benchmarks).
  pub fn new(name: &str, config: SharedConfig) -> SharedStore {
    let hasher = Hasher::with_seed(0x6c65_616b_6c65_7373);
    let shards = (0..SHARDS)
      .map(|_| {
        Padded(Mutex::new(Shard {
          map: LruCache::unbounded_with_hasher(PrehashedState::default()),
          counters: SharedCounters::default(),
        }))
      })
      .collect();
    SharedStore {
      name: name.to_string(),
      config,
      shards,
      hasher,
      bytes: AtomicUsize::new(0),
      entries: AtomicUsize::new(0),
      holders: AtomicUsize::new(0),
      timed: AtomicBool::new(config.ttl > 0.0),
      pop_cursor: AtomicUsize::new(0),
      inflight: Mutex::new(HashMap::new()),
      next_load: AtomicU64::new(1),
    }
  }

  pub fn name(&self) -> &str {
    &self.name
  }

  pub fn config(&self) -> SharedConfig {
    self.config
  }

  /// Entries held (and being inserted).
  pub fn len(&self) -> usize {
    self.entries.load(Ordering::Acquire)
  }

  pub fn is_empty(&self) -> bool {
    self.len() == 0
  }

  /// Bytes held (and being inserted), as charged against `max_size`.
  pub fn calculated_size(&self) -> usize {
    self.bytes.load(Ordering::Acquire)
  }

  /// Holders alive: JS caches open on this store, in every thread.
  pub fn holders(&self) -> usize {
    self.holders.load(Ordering::Acquire)
  }

  /// Whether entries may expire (a TTL was ever given).
  pub fn is_timed(&self) -> bool {
    self.timed.load(Ordering::Relaxed)
  }

  /// Counters summed over the shards.
  pub fn counters(&self) -> SharedCounters {
    let mut total = SharedCounters::default();
    for shard in self.shards.iter() {
      total.add(&shard.lock().counters);
    }
    total
  }

  /// Loads in flight.
  pub fn loads_in_flight(&self) -> usize {
    self.inflight.lock().len()
  }

  /// Compares `config` with the one the store was created with.
  pub fn check(&self, config: &SharedConfig) -> Result<(), Mismatch> {
    let c = &self.config;
    let mismatch = |option, existing: String, given: String| {
      Err(Mismatch {
        option,
        existing,
        given,
      })
    };
    if c.max != config.max {
      return mismatch("max", limit_str(c.max), limit_str(config.max));
    }
    if c.max_size != config.max_size {
      return mismatch("maxSize", limit_str(c.max_size), limit_str(config.max_size));
    }
    if c.ttl != config.ttl {
      return mismatch("ttl", ttl_str(c.ttl), ttl_str(config.ttl));
    }
    if c.update_age_on_get != config.update_age_on_get {
      return mismatch(
        "updateAgeOnGet",
        c.update_age_on_get.to_string(),
        config.update_age_on_get.to_string(),
      );
    }
    if c.allow_stale != config.allow_stale {
      return mismatch(
        "allowStale",
        c.allow_stale.to_string(),
        config.allow_stale.to_string(),
      );
    }
    Ok(())
  }

  fn shard_of(&self, encoded: &[u8]) -> usize {
    // Bits the shard's own table does not use for buckets (low bits) or
    // tags (top seven), so that keys of one shard stay spread within it.
    (hash_of(encoded) >> 40) as usize & (SHARDS - 1)
  }

  /// Runs `f` with the encoded form of `key` (see [`encode_key`]).
  fn with_encoded<R>(&self, key: KeyRef<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    with_encoded(key, &self.hasher, f)
  }

  fn encode(&self, key: KeyRef<'_>) -> Vec<u8> {
    let mut encoded = Vec::new();
    encode_key(key, &self.hasher, &mut encoded);
    encoded
  }

  /// Reserves room for one entry of `size` bytes; false if it does not fit now.
  fn try_reserve(&self, size: usize) -> bool {
    let fits =
      |max: usize, add: usize| move |cur: usize| cur.checked_add(add).filter(|&n| n <= max);
    if self
      .bytes
      .fetch_update(
        Ordering::AcqRel,
        Ordering::Acquire,
        fits(self.config.max_size, size),
      )
      .is_err()
    {
      return false;
    }
    if self
      .entries
      .fetch_update(
        Ordering::AcqRel,
        Ordering::Acquire,
        fits(self.config.max, 1),
      )
      .is_err()
    {
      self.bytes.fetch_sub(size, Ordering::AcqRel);
      return false;
    }
    true
  }

  /// Gives back the reservation of an entry that left.
  fn release(&self, size: usize) {
    self.bytes.fetch_sub(size, Ordering::AcqRel);
    self.entries.fetch_sub(1, Ordering::AcqRel);
  }

  fn item_size(key_len: usize, item: &Item) -> usize {
    // The hash and the tag are bookkeeping: a key's size is its JS bytes.
    key_len - KEY_PREFIX + item.value.byte_len() + SHARED_ENTRY_OVERHEAD
  }

  /// Removes the least recently used entry of `shard`; false if empty.
  fn evict_lru(&self, shard: &mut Shard, now: f64) -> bool {
    match shard.map.pop_lru() {
      None => false,
      Some((key, item)) => {
        if item.expires < now {
          shard.counters.expirations += 1;
        } else {
          shard.counters.evictions += 1;
        }
        self.release(Self::item_size(key.len(), &item));
        true
      }
    }
  }

  /// The value of `key`, which becomes the most recently used of its shard.
  pub fn get(&self, key: KeyRef<'_>, now: f64) -> SharedLookup {
    self.lookup(key, now, StoredValue::shared)
  }

  /// [`SharedStore::get`], handing the value to `f` instead of a copy or a
  /// new reference to it: under the shard's lock for a live entry (so `f`
  /// must be quick, and must not use the store), after unlocking for a
  /// stale one. A caller that copies the value out this way spares an
  /// allocation or the two atomic updates of a reference count, and
  /// another thread's reads of a hot value a shared cache line.
  pub fn get_with<R>(
    &self,
    key: KeyRef<'_>,
    now: f64,
    f: impl FnOnce(ValueRef<'_>) -> R,
  ) -> SharedLookup<R> {
    self.lookup(key, now, |v| f(v.as_ref()))
  }

  fn lookup<R>(
    &self,
    key: KeyRef<'_>,
    now: f64,
    f: impl FnOnce(&StoredValue) -> R,
  ) -> SharedLookup<R> {
    self.with_encoded(key, |encoded| {
      let mut guard = self.shards[self.shard_of(encoded)].lock();
      let shard = &mut *guard;
      let Some(item) = shard.map.get_mut(encoded) else {
        shard.counters.misses += 1;
        return SharedLookup::Miss;
      };
      if item.expires < now {
        shard.counters.misses += 1;
        shard.counters.expirations += 1;
        let item = shard.map.pop(encoded).expect("present");
        self.release(Self::item_size(encoded.len(), &item));
        drop(guard);
        return if self.config.allow_stale {
          SharedLookup::Stale(f(&item.value))
        } else {
          SharedLookup::Miss
        };
      }
      shard.counters.hits += 1;
      if self.config.update_age_on_get && item.ttl > 0.0 {
        item.expires = now + item.ttl;
      }
      SharedLookup::Hit(f(&item.value))
    })
  }

  /// The value of `key` without changing recency; an expired entry only
  /// when `allow_stale`.
  pub fn peek(&self, key: KeyRef<'_>, now: f64, allow_stale: bool) -> Option<SharedValue> {
    self.with_encoded(key, |encoded| {
      let shard = self.shards[self.shard_of(encoded)].lock();
      let item = shard.map.peek(encoded)?;
      (allow_stale || item.expires >= now).then(|| item.value.shared())
    })
  }

  /// Whether `key` has a live entry (recency unchanged).
  pub fn has(&self, key: KeyRef<'_>, now: f64) -> bool {
    self.with_encoded(key, |encoded| {
      let shard = self.shards[self.shard_of(encoded)].lock();
      shard
        .map
        .peek(encoded)
        .is_some_and(|item| item.expires >= now)
    })
  }

  /// Milliseconds `key` has left: `INFINITY` without TTL, 0 if absent.
  pub fn remaining_ttl(&self, key: KeyRef<'_>, now: f64) -> f64 {
    self.with_encoded(key, |encoded| {
      let shard = self.shards[self.shard_of(encoded)].lock();
      match shard.map.peek(encoded) {
        None => 0.0,
        Some(item) if item.expires == f64::INFINITY => f64::INFINITY,
        Some(item) => (item.expires - now).max(0.0),
      }
    })
  }

  /// Stores `value` under `key` as the most recently used entry of its
  /// shard. `ttl` in ms (0: none); `expires_at` overrides it (for `load`).
  pub fn set(
    &self,
    key: KeyRef<'_>,
    value: ValueRef<'_>,
    ttl: f64,
    now: f64,
    expires_at: Option<f64>,
  ) -> SharedStored {
    self.with_encoded(key, |encoded| {
      self.set_encoded(encoded, value, ttl, now, expires_at)
    })
  }

  fn set_encoded(
    &self,
    encoded: &[u8],
    value: ValueRef<'_>,
    ttl: f64,
    now: f64,
    expires_at: Option<f64>,
  ) -> SharedStored {
    let size = encoded.len() - KEY_PREFIX + value.byte_len() + SHARED_ENTRY_OVERHEAD;
    let index = self.shard_of(encoded);
    if size > self.config.max_size {
      let mut shard = self.shards[index].lock();
      if let Some(old) = shard.map.pop(encoded) {
        self.release(Self::item_size(encoded.len(), &old));
      }
      return SharedStored::TooLarge;
    }
    let expires = expires_at.unwrap_or(if ttl > 0.0 { now + ttl } else { f64::INFINITY });
    if expires != f64::INFINITY {
      self.timed.store(true, Ordering::Relaxed);
    }
    // Copied before any lock is taken; stored only once room is reserved.
    let item = Item {
      value: StoredValue::new(value),
      expires,
      ttl,
    };
    let key = StoredKey::new(encoded);
    let mut shard = self.shards[index].lock();
    // The old value goes first: its room is the first the new one may use.
    if let Some(old) = shard.map.pop(encoded) {
      self.release(Self::item_size(encoded.len(), &old));
    }
    while !self.try_reserve(size) {
      if self.evict_lru(&mut shard, now) {
        continue;
      }
      // This shard is empty: evict from the others, never holding two
      // shard locks at once (that could deadlock with another writer).
      drop(shard);
      if !self.evict_elsewhere(index, now) {
        // Everything left is reserved by inserts in progress on other
        // threads, which cannot wait for this one: let them finish.
        std::thread::yield_now();
      }
      shard = self.shards[index].lock();
    }
    shard.counters.sets += 1;
    // Another thread may have stored the key while this shard was unlocked.
    if let Some(old) = shard.map.put(key, item) {
      self.release(Self::item_size(encoded.len(), &old));
    }
    SharedStored::Yes
  }

  /// Evicts the least recently used entry of the first non-empty shard
  /// after `index`; false if all were empty.
  fn evict_elsewhere(&self, index: usize, now: f64) -> bool {
    (1..SHARDS).any(|step| {
      let mut shard = self.shards[(index + step) & (SHARDS - 1)].lock();
      self.evict_lru(&mut shard, now)
    })
  }

  /// Removes `key`. Returns whether a live entry was removed (an expired
  /// one is removed too, and counted as an expiration).
  pub fn delete(&self, key: KeyRef<'_>, now: f64) -> bool {
    self.with_encoded(key, |encoded| {
      let mut shard = self.shards[self.shard_of(encoded)].lock();
      let Some(item) = shard.map.pop(encoded) else {
        return false;
      };
      self.release(Self::item_size(encoded.len(), &item));
      if item.expires < now {
        shard.counters.expirations += 1;
        false
      } else {
        true
      }
    })
  }

  /// Removes every entry; returns how many.
  pub fn clear(&self) -> usize {
    let mut removed = 0;
    for shard in self.shards.iter() {
      let mut shard = shard.lock();
      while let Some((key, item)) = shard.map.pop_lru() {
        self.release(Self::item_size(key.len(), &item));
        removed += 1;
      }
      // Give the table's memory back too.
      shard.map = LruCache::unbounded_with_hasher(PrehashedState::default());
    }
    removed
  }

  /// Removes and returns the least recently used entry of one shard; the
  /// shards are taken in turn, so repeated pops drain the whole store.
  /// Expired entries met on the way are removed and skipped.
  pub fn pop(&self, now: f64) -> Option<(OwnedKey, SharedValue)> {
    let start = self.pop_cursor.fetch_add(1, Ordering::Relaxed);
    for step in 0..SHARDS {
      let mut shard = self.shards[(start + step) & (SHARDS - 1)].lock();
      while let Some((key, item)) = shard.map.pop_lru() {
        self.release(Self::item_size(key.len(), &item));
        if item.expires < now {
          shard.counters.expirations += 1;
          continue;
        }
        return Some((OwnedKey::decode(key.bytes()), item.value.shared()));
      }
    }
    None
  }

  /// Removes expired entries; returns how many.
  pub fn purge_stale(&self, now: f64) -> usize {
    if !self.is_timed() {
      return 0;
    }
    let mut removed = 0;
    for shard in self.shards.iter() {
      let mut shard = shard.lock();
      let stale: Vec<StoredKey> = shard
        .map
        .iter()
        .filter(|(_, item)| item.expires < now)
        .map(|(k, _)| k.clone())
        .collect();
      for key in stale {
        if let Some(item) = shard.map.pop(key.bytes()) {
          self.release(Self::item_size(key.len(), &item));
          shard.counters.expirations += 1;
          removed += 1;
        }
      }
    }
    removed
  }

  /// Live entries as `(key, value, ttl, expires)`, each shard most recently
  /// used first, shard after shard (each shard read under its lock, so the
  /// whole is not one snapshot while other threads write).
  pub fn entries(&self, now: f64) -> Vec<(OwnedKey, SharedValue, f64, f64)> {
    let mut out = Vec::new();
    for shard in self.shards.iter() {
      let shard = shard.lock();
      out.extend(
        shard
          .map
          .iter()
          .filter(|(_, item)| item.expires >= now)
          .map(|(k, item)| {
            (
              OwnedKey::decode(k.bytes()),
              item.value.shared(),
              item.ttl,
              item.expires,
            )
          }),
      );
    }
    out
  }

  /// Entries actually in the shards and their charged bytes, counted shard
  /// by shard (exact only when no thread writes meanwhile).
  pub fn count_held(&self) -> (usize, usize) {
    let mut entries = 0;
    let mut bytes = 0;
    for shard in self.shards.iter() {
      let shard = shard.lock();
      entries += shard.map.len();
      bytes += shard
        .map
        .iter()
        .map(|(k, item)| Self::item_size(k.len(), item))
        .sum::<usize>();
    }
    (entries, bytes)
  }

  /// Native bytes held: the entries' charged sizes.
  pub fn native_bytes(&self) -> usize {
    self.calculated_size()
  }

  // ------------------------------------------------------------ loads

  /// Looks `key` up and, on a miss, either makes the caller the leader of
  /// its load (tagged `owner`, for [`SharedStore::abandon_owner`]) or
  /// registers `waiter` behind the load in flight. The lookup and the
  /// decision are one step against [`SharedStore::complete`], so a key is
  /// never loaded twice because a load ended in between.
  pub fn claim(&self, key: KeyRef<'_>, now: f64, owner: u64, waiter: Waiter) -> Claim {
    let encoded = self.encode(key);
    let mut inflight = self.inflight.lock();
    if let Some(load) = inflight.get_mut(&encoded[..]) {
      load.waiters.push(waiter);
      return Claim::Wait;
    }
    if let Some(value) = self.get(key, now).value() {
      return Claim::Hit(value);
    }
    let id = self.next_load.fetch_add(1, Ordering::Relaxed);
    inflight.insert(
      encoded.into_boxed_slice(),
      Load {
        id,
        owner,
        waiters: Vec::new(),
      },
    );
    Claim::Lead(id)
  }

  /// Ends load `id` of `key` with `value` (stored with `ttl`) and notifies
  /// its waiters. False (nothing stored) if the load was already ended.
  pub fn complete(
    &self,
    key: KeyRef<'_>,
    id: u64,
    value: ValueRef<'_>,
    ttl: f64,
    now: f64,
  ) -> bool {
    let encoded = self.encode(key);
    let waiters = {
      let mut inflight = self.inflight.lock();
      match inflight.get(&encoded[..]) {
        Some(load) if load.id == id => {}
        _ => return false,
      }
      self.set_encoded(&encoded, value, ttl, now, None);
      inflight.remove(&encoded[..]).expect("present").waiters
    };
    Self::wake(waiters);
    true
  }

  /// Ends load `id` of `key` without a value (the loader failed, or gave
  /// nothing): its waiters are notified and retry, one of them leading.
  pub fn abandon(&self, key: KeyRef<'_>, id: u64) -> bool {
    let encoded = self.encode(key);
    let waiters = {
      let mut inflight = self.inflight.lock();
      match inflight.get(&encoded[..]) {
        Some(load) if load.id == id => inflight.remove(&encoded[..]).expect("present").waiters,
        _ => return false,
      }
    };
    Self::wake(waiters);
    true
  }

  /// Abandons every load led by `owner` (a thread that went away); returns
  /// how many.
  pub fn abandon_owner(&self, owner: u64) -> usize {
    let mut waiters = Vec::new();
    let mut count = 0;
    {
      let mut inflight = self.inflight.lock();
      inflight.retain(|_, load| {
        if load.owner == owner {
          waiters.append(&mut load.waiters);
          count += 1;
          false
        } else {
          true
        }
      });
    }
    Self::wake(waiters);
    count
  }

  fn wake(waiters: Vec<Waiter>) {
    for waiter in waiters {
      waiter.notify.notify(waiter.token);
    }
  }
}

// ------------------------------------------------------------ registry

/// One opening of a store. The store lives while any holder does (in any
/// thread); dropping the last one frees it and its entries.
#[derive(Debug)]
pub struct Holder(Arc<SharedStore>);

impl Holder {
  fn new(store: Arc<SharedStore>) -> Holder {
    store.holders.fetch_add(1, Ordering::AcqRel);
    Holder(store)
  }

  /// A holder of a store outside the registry (tests, benchmarks).
  pub fn detached(store: SharedStore) -> Holder {
    Holder::new(Arc::new(store))
  }

  /// A weak handle, which does not keep the store alive.
  pub fn downgrade(&self) -> Weak<SharedStore> {
    Arc::downgrade(&self.0)
  }
}

impl Clone for Holder {
  fn clone(&self) -> Holder {
    Holder::new(self.0.clone())
  }
}

impl std::ops::Deref for Holder {
  type Target = SharedStore;
  fn deref(&self) -> &SharedStore {
    &self.0
  }
}

impl Drop for Holder {
  fn drop(&mut self) {
    self.0.holders.fetch_sub(1, Ordering::AcqRel);
  }
}

fn registry() -> &'static Mutex<HashMap<String, Weak<SharedStore>>> {
  static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<SharedStore>>>> = OnceLock::new();
  REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Opens the store `name`, creating it with `config` if no holder of it is
/// alive. An open store must have been created with the same `config`.
pub fn open(name: &str, config: SharedConfig) -> Result<Holder, Mismatch> {
  let mut stores = registry().lock();
  // Stores whose last holder went: their names are free again.
  stores.retain(|_, weak| weak.strong_count() > 0);
  if let Some(store) = stores.get(name).and_then(Weak::upgrade) {
    // Dropping `store` never locks the registry, so it may be dropped here.
    return store.check(&config).map(|()| Holder::new(store.clone()));
  }
  let store = Arc::new(SharedStore::new(name, config));
  stores.insert(name.to_string(), Arc::downgrade(&store));
  Ok(Holder::new(store))
}

/// A figure of one live store, for `leakless.stats()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSummary {
  pub name: String,
  pub entries: usize,
  pub bytes: usize,
  pub holders: usize,
}

/// Every live store of the process, by name.
pub fn list() -> Vec<StoreSummary> {
  let stores: Vec<Arc<SharedStore>> = {
    let mut stores = registry().lock();
    stores.retain(|_, weak| weak.strong_count() > 0);
    stores.values().filter_map(Weak::upgrade).collect()
  };
  // The strong references are dropped outside the registry lock: one of
  // them may be the last, and freeing a store takes its time.
  let mut out: Vec<StoreSummary> = stores
    .iter()
    .filter(|s| s.holders() > 0)
    .map(|s| StoreSummary {
      name: s.name.clone(),
      entries: s.len(),
      bytes: s.native_bytes(),
      holders: s.holders(),
    })
    .collect();
  out.sort_by(|a, b| a.name.cmp(&b.name));
  out
}
