//! The off-heap LRU: keys and values held as bytes in native memory, exact
//! LRU order, per-entry expiry, and a byte-exact size bound.
//!
//! Keys are numbers or strings; values are strings or byte arrays. Strings
//! are kept as UTF-8 when that is exact, else as UTF-16 code units (a JS
//! string with a lone surrogate has no UTF-8 form), so that two keys are
//! equal here exactly when they are equal in JS.
//!
//! Layout, chosen for the fewest cache misses per lookup: a slab of small
//! entries indexed by slot number; a `HashTable<u32>` that finds a slot by
//! key without storing the key twice; each entry's key and value bytes in
//! one allocation, so comparing the key brings the value's first bytes in.
//! Recency is a stamp per slot, ordered by [`Recency`] (the same engine as
//! the heap LRU): a read writes one `u32` and touches no other entry.

use std::hash::{BuildHasher, Hasher};
use std::ptr::NonNull;

use hashbrown::HashTable;

use crate::recency::{Recency, STAMP_LIMIT};
use crate::s3fifo::{S3Fifo, FREQ_MAX};

/// Bookkeeping bytes charged to each entry on top of its key and value: its
/// block's header and the allocator's, its slab pointer and stamp, its share
/// of the hash table and of the recency records.
pub const ENTRY_OVERHEAD: usize = 32 + 16 + 8 + 4 + 9 + 8;

/// How a key's bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyKind {
  /// A JS number: 8 bytes, the bits of its value (`-0` as `0`, one NaN).
  Num,
  /// A string whose UTF-8 form is exact.
  Utf8,
  /// A string with a lone surrogate, as UTF-16 code units.
  Utf16,
}

/// How a value's bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueKind {
  /// A string whose UTF-8 form is exact.
  Utf8,
  /// A string of ASCII characters only: its bytes are UTF-8 and Latin-1
  /// alike, and V8 makes a string of them without decoding.
  Ascii,
  /// A string with a lone surrogate, as UTF-16 code units.
  Utf16,
  /// Bytes of a Buffer or Uint8Array.
  Bytes,
}

/// A key borrowed from the caller or from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef<'a> {
  Num(u64),
  Utf8(&'a [u8]),
  Utf16(&'a [u16]),
}

/// A value borrowed from the caller or from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRef<'a> {
  Utf8(&'a [u8]),
  /// ASCII text (the store's own form of a `Utf8` value that is ASCII).
  Ascii(&'a [u8]),
  Utf16(&'a [u16]),
  Bytes(&'a [u8]),
}

/// The key of a JS number, with `-0` and `0` one key and every NaN one key
/// (SameValueZero).
pub fn number_key(n: f64) -> u64 {
  if n == 0.0 {
    0f64.to_bits()
  } else if n.is_nan() {
    f64::NAN.to_bits()
  } else {
    n.to_bits()
  }
}

fn as_bytes_u16(units: &[u16]) -> &[u8] {
  // SAFETY: any u16 slice is a valid byte slice of twice the length.
  unsafe { std::slice::from_raw_parts(units.as_ptr() as *const u8, units.len() * 2) }
}

impl<'a> KeyRef<'a> {
  fn parts(self) -> (KeyKind, &'a [u8], u64) {
    match self {
      KeyRef::Num(n) => (KeyKind::Num, &[], n),
      KeyRef::Utf8(b) => (KeyKind::Utf8, b, 0),
      KeyRef::Utf16(u) => (KeyKind::Utf16, as_bytes_u16(u), 0),
    }
  }

  /// Bytes the key occupies when stored.
  pub fn byte_len(self) -> usize {
    match self {
      KeyRef::Num(_) => 8,
      KeyRef::Utf8(b) => b.len(),
      KeyRef::Utf16(u) => u.len() * 2,
    }
  }

  fn hash_with(self, state: &foldhash::fast::RandomState) -> u64 {
    let mut h = state.build_hasher();
    match self {
      KeyRef::Num(n) => {
        h.write_u8(0);
        h.write_u64(n);
      }
      KeyRef::Utf8(b) => {
        h.write_u8(1);
        h.write(b);
      }
      KeyRef::Utf16(u) => {
        h.write_u8(2);
        h.write(as_bytes_u16(u));
      }
    }
    h.finish()
  }
}

impl<'a> ValueRef<'a> {
  /// The form the store keeps: ASCII text is `Ascii`.
  fn normalized(self) -> ValueRef<'a> {
    match self {
      ValueRef::Utf8(b) if b.is_ascii() => ValueRef::Ascii(b),
      other => other,
    }
  }

  fn parts(self) -> (ValueKind, &'a [u8]) {
    match self {
      ValueRef::Utf8(b) => (ValueKind::Utf8, b),
      ValueRef::Ascii(b) => (ValueKind::Ascii, b),
      ValueRef::Utf16(u) => (ValueKind::Utf16, as_bytes_u16(u)),
      ValueRef::Bytes(b) => (ValueKind::Bytes, b),
    }
  }

  /// Bytes the value occupies when stored.
  pub fn byte_len(self) -> usize {
    self.parts().1.len()
  }
}

/// Why an entry left the store; the names are those of `onEvict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
  Evict,
  Expire,
  Delete,
  Set,
  Clear,
}

impl Reason {
  pub fn as_str(self) -> &'static str {
    match self {
      Reason::Evict => "evict",
      Reason::Expire => "expire",
      Reason::Delete => "delete",
      Reason::Set => "set",
      Reason::Clear => "clear",
    }
  }
}

fn pad8(n: usize) -> usize {
  n.div_ceil(8) * 8
}

/// The fixed part of an entry, at the start of its block.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Header {
  key_len: u32,
  value_len: u32,
  slot: u32,
  key_kind: KeyKind,
  value_kind: ValueKind,
  /// Absolute expiry time in the caller's clock (`INFINITY`: never).
  expires: f64,
  /// The TTL it was set with (0: none), for `updateAgeOnGet` and `dump`.
  ttl: f64,
}

const HEADER_WORDS: usize = std::mem::size_of::<Header>().div_ceil(8);

/// One stored entry: header, key bytes and value bytes in one 8-aligned
/// block, so that finding a key and reading its value touch one allocation.
#[repr(transparent)]
pub struct Entry {
  block: NonNull<u64>,
}

impl Entry {
  /// Words of the block of an entry with these lengths: the header, the
  /// key padded to 8 bytes, the value, rounded up to an odd count. A block
  /// of `8 * words` bytes plus the allocator's 8-byte header then fills a
  /// 16-byte size class exactly (the granule of glibc's malloc), so the
  /// rounding costs no memory, and two entries whose blocks share a class
  /// can trade blocks (see [`Entry::build`]).
  fn words_for(key_len: usize, value_len: usize) -> usize {
    (HEADER_WORDS + (pad8(key_len) + value_len).div_ceil(8)) | 1
  }

  fn layout(words: usize) -> std::alloc::Layout {
    std::alloc::Layout::array::<u64>(words).expect("entry block layout")
  }

  /// Words of this entry's block.
  fn words(&self) -> usize {
    let h = self.header();
    Self::words_for(h.key_len as usize, h.value_len as usize)
  }

  fn new(key: KeyRef<'_>, value: ValueRef<'_>, slot: u32) -> Entry {
    Self::build(None, key, value, slot)
  }

  /// A new entry, written into `spare`'s block when it has the same size
  /// (an entry that just left the store: an evicting `set` trades the
  /// victim's block for the new entry's instead of a `free` and a
  /// `malloc`), else into a fresh block (and `spare` is freed).
  fn build(spare: Option<Entry>, key: KeyRef<'_>, value: ValueRef<'_>, slot: u32) -> Entry {
    let (key_kind, key_bytes, num) = key.parts();
    let (value_kind, value_bytes) = value.parts();
    let key_len = if key_kind == KeyKind::Num {
      8
    } else {
      key_bytes.len()
    };
    let words = Self::words_for(key_len, value_bytes.len());
    let block = match spare {
      Some(old) if old.words() == words => {
        let block = old.block;
        // The block changes owner: `old` must not free it.
        std::mem::forget(old);
        block
      }
      other => {
        drop(other);
        let layout = Self::layout(words);
        // SAFETY: the layout is not zero-sized (a header at least).
        let raw = unsafe { std::alloc::alloc(layout) } as *mut u64;
        match NonNull::new(raw) {
          Some(block) => block,
          None => std::alloc::handle_alloc_error(layout),
        }
      }
    };
    let header = Header {
      key_len: key_len as u32,
      value_len: value_bytes.len() as u32,
      slot,
      key_kind,
      value_kind,
      expires: f64::INFINITY,
      ttl: 0.0,
    };
    // SAFETY: the block holds `words` words, 8-aligned: HEADER_WORDS for a
    // Header, then room for the key padded to 8 bytes and the value. Every
    // byte read later (the header, `key_len` key bytes, `value_len` value
    // bytes) is written here; the padding is never read.
    unsafe {
      let base = block.as_ptr();
      std::ptr::write(base as *mut Header, header);
      let bytes = base.add(HEADER_WORDS) as *mut u8;
      if key_kind == KeyKind::Num {
        std::ptr::write(bytes as *mut u64, num);
      } else {
        std::ptr::copy_nonoverlapping(key_bytes.as_ptr(), bytes, key_len);
      }
      std::ptr::copy_nonoverlapping(
        value_bytes.as_ptr(),
        bytes.add(pad8(key_len)),
        value_bytes.len(),
      );
    }
    Entry { block }
  }

  fn header(&self) -> &Header {
    // SAFETY: every block starts with a Header written by `new`.
    unsafe { &*(self.block.as_ptr() as *const Header) }
  }

  fn header_mut(&mut self) -> &mut Header {
    // SAFETY: as above, and `&mut self` makes the access unique.
    unsafe { &mut *(self.block.as_ptr() as *mut Header) }
  }

  fn payload(&self) -> *const u8 {
    // SAFETY: the payload follows the header within the block.
    unsafe { self.block.as_ptr().add(HEADER_WORDS) as *const u8 }
  }

  /// The stored key.
  pub fn key(&self) -> KeyRef<'_> {
    let h = self.header();
    // SAFETY: the key's bytes are at the start of the payload; a UTF-16 key
    // starts 8-aligned.
    unsafe {
      let p = self.payload();
      match h.key_kind {
        KeyKind::Num => KeyRef::Num(std::ptr::read(p as *const u64)),
        KeyKind::Utf8 => KeyRef::Utf8(std::slice::from_raw_parts(p, h.key_len as usize)),
        KeyKind::Utf16 => KeyRef::Utf16(std::slice::from_raw_parts(
          p as *const u16,
          h.key_len as usize / 2,
        )),
      }
    }
  }

  /// The stored value.
  pub fn value(&self) -> ValueRef<'_> {
    let h = self.header();
    // SAFETY: the value's bytes follow the key, at an 8-aligned offset.
    unsafe {
      let p = self.payload().add(pad8(h.key_len as usize));
      let len = h.value_len as usize;
      match h.value_kind {
        ValueKind::Utf8 => ValueRef::Utf8(std::slice::from_raw_parts(p, len)),
        ValueKind::Ascii => ValueRef::Ascii(std::slice::from_raw_parts(p, len)),
        ValueKind::Bytes => ValueRef::Bytes(std::slice::from_raw_parts(p, len)),
        ValueKind::Utf16 => ValueRef::Utf16(std::slice::from_raw_parts(p as *const u16, len / 2)),
      }
    }
  }

  /// Absolute expiry time (`INFINITY`: never).
  pub fn expires(&self) -> f64 {
    self.header().expires
  }

  /// The TTL the entry was set with (0: none).
  pub fn ttl(&self) -> f64 {
    self.header().ttl
  }

  fn slot(&self) -> u32 {
    self.header().slot
  }

  /// Bytes charged to `calculated_size` for this entry.
  pub fn size(&self) -> usize {
    let h = self.header();
    h.key_len as usize + h.value_len as usize + ENTRY_OVERHEAD
  }

  fn key_is(&self, key: KeyRef<'_>) -> bool {
    self.key() == key
  }
}

impl Clone for Entry {
  fn clone(&self) -> Entry {
    let h = *self.header();
    let mut copy = Entry::new(self.key(), self.value(), h.slot);
    *copy.header_mut() = h;
    copy
  }
}

impl Drop for Entry {
  fn drop(&mut self) {
    let layout = Self::layout(self.words());
    // SAFETY: the block was allocated by `build` with this layout.
    unsafe { std::alloc::dealloc(self.block.as_ptr() as *mut u8, layout) };
  }
}

impl std::fmt::Debug for Entry {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Entry")
      .field("key", &self.key())
      .field("value", &self.value())
      .finish()
  }
}

/// Options fixed at construction.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
  /// Most entries (`usize::MAX`: no bound by count).
  pub max: usize,
  /// Most bytes of key + value + [`ENTRY_OVERHEAD`] (`usize::MAX`: none).
  pub max_size: usize,
  pub update_age_on_get: bool,
  pub allow_stale: bool,
}

/// Counters behind `cache.stats()`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
  pub hits: u64,
  pub misses: u64,
  pub sets: u64,
  pub evictions: u64,
  pub expirations: u64,
}

/// What a `get` found.
#[derive(Debug)]
pub enum Lookup<'a> {
  Hit(&'a Entry),
  /// Expired, returned once because of `allowStale`, and now removed.
  Stale(Entry),
  Miss,
}

/// What a `set` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
  Yes,
  /// Larger than `max_size`: not stored (and any older value removed).
  TooLarge,
}

/// The off-heap store.
pub struct OffHeap {
  /// Owns the entries, by slot.
  slots: Vec<Option<Entry>>,
  free: Vec<u32>,
  /// Finds an entry by key; points at blocks owned by `slots`.
  index: HashTable<NonNull<u64>>,
  hasher: foldhash::fast::RandomState,
  stamps: Vec<u32>,
  tick: u32,
  recency: Recency,
  len: usize,
  limits: Limits,
  calculated: usize,
  counters: Counters,
  /// When `Some`, entries that leave are kept here for `onEvict`.
  removed: Option<Vec<(Entry, Reason)>>,
  /// Largest charged size of one entry (`usize::MAX`: `max_size` only).
  max_entry_size: usize,
  /// With `policy: 's3fifo'`: the queues (which then decide eviction and
  /// order instead of `recency`) and a read counter per slot.
  s3: Option<S3Fifo>,
  freq: Vec<u8>,
}

impl OffHeap {
  pub fn new(limits: Limits, collect_removed: bool) -> Self {
    OffHeap {
      slots: Vec::new(),
      free: Vec::new(),
      index: HashTable::new(),
      hasher: foldhash::fast::RandomState::default(),
      stamps: Vec::new(),
      tick: 0,
      recency: Recency::new(),
      len: 0,
      limits,
      calculated: 0,
      counters: Counters::default(),
      removed: collect_removed.then(Vec::new),
      max_entry_size: usize::MAX,
      s3: None,
      freq: Vec::new(),
    }
  }

  /// Entries whose charged size is above `max` are not stored (lru-cache's
  /// `maxEntrySize`); `max_size` still bounds every entry.
  pub fn set_max_entry_size(&mut self, max: usize) {
    self.max_entry_size = max;
  }

  /// Restarts the TTL of `key` if it is live, without changing recency
  /// (lru-cache's `updateAgeOnHas`). Returns whether it is live.
  pub fn refresh_ttl(&mut self, key: KeyRef<'_>, now: f64) -> bool {
    let Some(slot) = self.find(key) else {
      return false;
    };
    if self.is_expired(slot, now) {
      return false;
    }
    let ttl = self.entry(slot).ttl();
    if ttl > 0.0 {
      self.set_expiry(slot, now + ttl);
    }
    true
  }

  /// Evicts by S3-FIFO instead of LRU; its queues are sized in bytes when
  /// `max_size` is set, else in entries. Only on an empty store.
  pub fn with_s3fifo(mut self) -> Self {
    assert!(self.is_empty(), "the policy is chosen on an empty store");
    let weighted = self.limits.max_size != usize::MAX;
    let capacity = if weighted {
      self.limits.max_size
    } else {
      self.limits.max
    };
    self.s3 = Some(S3Fifo::new(capacity as u64, weighted));
    self
  }

  pub fn len(&self) -> usize {
    self.len
  }

  pub fn is_empty(&self) -> bool {
    self.len == 0
  }

  pub fn limits(&self) -> Limits {
    self.limits
  }

  /// Sum of the entries' charged sizes.
  pub fn calculated_size(&self) -> usize {
    self.calculated
  }

  pub fn counters(&self) -> Counters {
    self.counters
  }

  /// Starts the stamp counter at `tick`, so that tests can reach
  /// [`STAMP_LIMIT`] (and the renumbering it forces) in a few operations.
  /// Only on an empty store, whose order it cannot disturb.
  #[doc(hidden)]
  pub fn start_stamps_at(&mut self, tick: u32) {
    assert!(
      self.is_empty(),
      "stamps can only be moved on an empty store"
    );
    self.tick = tick.min(STAMP_LIMIT - 1);
  }

  /// Native bytes held: the entries' charged sizes plus the spare capacity
  /// of the slab, stamps, free list, hash table and recency records.
  pub fn heap_bytes(&self) -> usize {
    if self.slots.capacity() == 0 {
      return 0;
    }
    let spare_slots = self.slots.capacity() - self.len;
    self.calculated
      + spare_slots * 12
      + self.free.capacity() * 4
      + (self.index.capacity() - self.len) * 9
      + self.recency.heap_bytes().saturating_sub(self.len * 8)
      + self.freq.capacity()
      + self.s3.as_ref().map_or(0, |s3| s3.heap_bytes())
  }

  /// The entry a block pointer from the index belongs to.
  fn view(block: &NonNull<u64>) -> &Entry {
    // SAFETY: Entry is a transparent wrapper of the block pointer, and the
    // index only holds pointers to blocks owned by `slots`.
    unsafe { &*(block as *const NonNull<u64> as *const Entry) }
  }

  fn entry(&self, slot: u32) -> &Entry {
    self.slots[slot as usize]
      .as_ref()
      .expect("live slot holds an entry")
  }

  fn entry_mut(&mut self, slot: u32) -> &mut Entry {
    self.slots[slot as usize]
      .as_mut()
      .expect("live slot holds an entry")
  }

  fn find(&self, key: KeyRef<'_>) -> Option<u32> {
    self.find_hashed(key, key.hash_with(&self.hasher))
  }

  /// [`OffHeap::find`] with the key's hash already computed.
  fn find_hashed(&self, key: KeyRef<'_>, hash: u64) -> Option<u32> {
    self
      .index
      .find(hash, |b| Self::view(b).key_is(key))
      .map(|b| Self::view(b).slot())
  }

  fn next_stamp(&mut self) -> u32 {
    if self.tick >= STAMP_LIMIT - 1 {
      self.tick = self.recency.renumber(&mut self.stamps);
    }
    self.tick += 1;
    self.tick
  }

  fn touch(&mut self, slot: u32) {
    if self.s3.is_some() {
      let f = &mut self.freq[slot as usize];
      if *f < FREQ_MAX {
        *f += 1;
      }
      return;
    }
    let stamp = self.next_stamp();
    self.stamps[slot as usize] = stamp;
  }

  fn set_expiry(&mut self, slot: u32, expires: f64) {
    if self.entry(slot).expires() != expires {
      self.entry_mut(slot).header_mut().expires = expires;
      match self.s3.as_mut() {
        Some(s3) => s3.set_expiry(slot, expires),
        None => self.recency.expiry_changed(slot, expires),
      }
    }
  }

  /// Removes the entry in `slot` and returns it.
  fn remove_slot(&mut self, slot: u32, reason: Reason) -> Entry {
    let entry = self.slots[slot as usize]
      .take()
      .expect("slot holds an entry");
    let hash = entry.key().hash_with(&self.hasher);
    if let Ok(found) = self.index.find_entry(hash, |b| *b == entry.block) {
      found.remove();
    }
    self.stamps[slot as usize] = 0;
    match self.s3.as_mut() {
      Some(s3) => s3.remove(slot),
      None => self.recency.remove(slot),
    }
    self.free.push(slot);
    self.len -= 1;
    self.calculated -= entry.size();
    match reason {
      Reason::Evict => self.counters.evictions += 1,
      Reason::Expire => self.counters.expirations += 1,
      _ => {}
    }
    entry
  }

  /// Removes `slot`, keeping the entry for `onEvict` when collecting.
  fn drop_slot(&mut self, slot: u32, reason: Reason) {
    drop(self.release_slot(slot, reason));
  }

  /// Removes `slot`; its entry is kept for `onEvict` when collecting, else
  /// handed back (for its block to be reused).
  fn release_slot(&mut self, slot: u32, reason: Reason) -> Option<Entry> {
    let entry = self.remove_slot(slot, reason);
    match self.removed.as_mut() {
      Some(removed) => {
        removed.push((entry, reason));
        None
      }
      None => Some(entry),
    }
  }

  /// Takes the entries removed since the last call (when collecting).
  pub fn take_removed(&mut self) -> Vec<(Entry, Reason)> {
    self
      .removed
      .as_mut()
      .map(std::mem::take)
      .unwrap_or_default()
  }

  /// Starts or stops keeping removed entries for [`OffHeap::take_removed`];
  /// stopping drops those waiting.
  pub fn set_collect_removed(&mut self, on: bool) {
    if !on {
      self.removed = None;
    } else if self.removed.is_none() {
      self.removed = Some(Vec::new());
    }
  }

  /// Whether removed entries are waiting in [`OffHeap::take_removed`].
  pub fn has_removed(&self) -> bool {
    self.removed.as_ref().is_some_and(|r| !r.is_empty())
  }

  fn is_expired(&self, slot: u32, now: f64) -> bool {
    self.entry(slot).expires() < now
  }

  /// The entry of `key`, which becomes the most recently used.
  pub fn get(&mut self, key: KeyRef<'_>, now: f64) -> Lookup<'_> {
    let Some(slot) = self.find(key) else {
      self.counters.misses += 1;
      return Lookup::Miss;
    };
    if self.is_expired(slot, now) {
      self.counters.misses += 1;
      let entry = self.remove_slot(slot, Reason::Expire);
      if let Some(removed) = self.removed.as_mut() {
        removed.push((entry.clone(), Reason::Expire));
      }
      return if self.limits.allow_stale {
        Lookup::Stale(entry)
      } else {
        Lookup::Miss
      };
    }
    self.counters.hits += 1;
    self.touch(slot);
    if self.limits.update_age_on_get {
      let ttl = self.entry(slot).ttl();
      if ttl > 0.0 {
        self.set_expiry(slot, now + ttl);
      }
    }
    Lookup::Hit(self.entry(slot))
  }

  /// The value of `key` without changing recency; an expired entry only
  /// when `allow_stale`.
  pub fn peek(&self, key: KeyRef<'_>, now: f64, allow_stale: bool) -> Option<ValueRef<'_>> {
    let slot = self.find(key)?;
    if self.is_expired(slot, now) && !allow_stale {
      return None;
    }
    Some(self.entry(slot).value())
  }

  /// Whether `key` has a live entry.
  pub fn has(&self, key: KeyRef<'_>, now: f64) -> bool {
    self
      .find(key)
      .is_some_and(|slot| !self.is_expired(slot, now))
  }

  /// Milliseconds `key` has left: `INFINITY` without TTL, 0 if absent.
  pub fn remaining_ttl(&self, key: KeyRef<'_>, now: f64) -> f64 {
    match self.find(key) {
      None => 0.0,
      Some(slot) => {
        let expires = self.entry(slot).expires();
        if expires == f64::INFINITY {
          f64::INFINITY
        } else {
          (expires - now).max(0.0)
        }
      }
    }
  }

  /// Stores `value` under `key` as the most recently used entry. `ttl` in
  /// ms (0: none); `expires_at` overrides it (used by `load`).
  pub fn set(
    &mut self,
    key: KeyRef<'_>,
    value: ValueRef<'_>,
    ttl: f64,
    now: f64,
    expires_at: Option<f64>,
  ) -> Stored {
    let value = value.normalized();
    let hash = key.hash_with(&self.hasher);
    let existing = self.find_hashed(key, hash);
    let size = key.byte_len() + value.byte_len() + ENTRY_OVERHEAD;
    if size > self.limits.max_size || size > self.max_entry_size {
      if let Some(slot) = existing {
        self.drop_slot(slot, Reason::Set);
      }
      if let Some(removed) = self.removed.as_mut() {
        removed.push((Entry::new(key, value, u32::MAX), Reason::Set));
      }
      return Stored::TooLarge;
    }
    self.counters.sets += 1;
    let expires = expires_at.unwrap_or(if ttl > 0.0 { now + ttl } else { f64::INFINITY });
    let slot = match existing {
      Some(slot) => {
        let old = self.slots[slot as usize].take().expect("live slot");
        let (old_block, old_size, old_expires) = (old.block, old.size(), old.expires());
        // The old entry is reported to `onEvict` when its value changes;
        // else its block can take the new one.
        let spare = match self.removed.as_mut() {
          Some(removed) if old.value() != value => {
            removed.push((old, Reason::Set));
            None
          }
          _ => Some(old),
        };
        let mut entry = Entry::build(spare, key, value, slot);
        entry.header_mut().ttl = ttl;
        entry.header_mut().expires = old_expires;
        if entry.block != old_block {
          if let Ok(mut found) = self.index.find_entry(hash, |b| *b == old_block) {
            *found.get_mut() = entry.block;
          }
        }
        self.calculated = self.calculated - old_size + entry.size();
        let size = entry.size();
        self.slots[slot as usize] = Some(entry);
        if let Some(s3) = self.s3.as_mut() {
          s3.reweigh(slot, size as u64);
        }
        self.touch(slot);
        self.set_expiry(slot, expires);
        slot
      }
      None => {
        // The victim's block, unless `onEvict` gets the victim.
        let spare = if self.len >= self.limits.max {
          self.evict_one_releasing(now, u32::MAX).flatten()
        } else {
          None
        };
        let slot = match self.free.pop() {
          Some(slot) => slot,
          None => {
            self.slots.push(None);
            self.stamps.push(0);
            if self.s3.is_some() {
              self.freq.push(0);
            }
            (self.slots.len() - 1) as u32
          }
        };
        let mut entry = Entry::build(spare, key, value, slot);
        entry.header_mut().ttl = ttl;
        entry.header_mut().expires = expires;
        let hasher = &self.hasher;
        self
          .index
          .insert_unique(hash, entry.block, |b| Self::view(b).key().hash_with(hasher));
        self.calculated += entry.size();
        self.slots[slot as usize] = Some(entry);
        self.len += 1;
        if let Some(s3) = self.s3.as_mut() {
          // The ghost keeps 32 bits of the key's hash.
          let size = self.slots[slot as usize].as_ref().map_or(0, Entry::size);
          self.freq[slot as usize] = 0;
          self.stamps[slot as usize] = 1;
          s3.insert(slot, hash as u32, size as u64, expires);
          return self.shrink_to_fit(now, slot);
        }
        let stamp = self.next_stamp();
        self.stamps[slot as usize] = stamp;
        self.recency.maintain(&self.stamps);
        self.recency.insert(slot, stamp, expires);
        slot
      }
    };
    self.shrink_to_fit(now, slot)
  }

  /// Evicts until the store is within `max_size` again.
  fn shrink_to_fit(&mut self, now: f64, slot: u32) -> Stored {
    while self.calculated > self.limits.max_size {
      // The entry just stored fits alone, so others go first.
      if !self.evict_one(now, slot) {
        break;
      }
    }
    Stored::Yes
  }

  /// The next victim by S3-FIFO: an expired entry if any, else the queues'
  /// choice (already out of them). `(slot, expired)`.
  fn s3_victim(&mut self, now: f64) -> Option<(u32, bool)> {
    let s3 = self.s3.as_mut()?;
    if let Some(&slot) = s3.expired(now).first() {
      return Some((slot, true));
    }
    s3.evict(&mut self.freq).map(|slot| (slot, false))
  }

  /// Evicts one entry: an expired one if any, else the least recently
  /// used. `keep` (the entry just stored) goes only if it is expired, as it
  /// can be when stored with an `expires_at` already past: it would never be
  /// returned, and keeping it would leave the store above `max_size`.
  /// Returns false when there is nothing to evict.
  fn evict_one(&mut self, now: f64, keep: u32) -> bool {
    self.evict_one_releasing(now, keep).is_some()
  }

  /// [`OffHeap::evict_one`], which hands back the evicted entry when it is
  /// not kept for `onEvict`: `None` when nothing was evicted, `Some(None)`
  /// when the entry was kept.
  fn evict_one_releasing(&mut self, now: f64, keep: u32) -> Option<Option<Entry>> {
    if self.s3.is_some() {
      // S3-FIFO seldom picks the entry just stored (only when every other
      // one earned another round); it is evicted then, as the policy says.
      let _ = keep;
      let (slot, expired) = self.s3_victim(now)?;
      let reason = if expired {
        Reason::Expire
      } else {
        Reason::Evict
      };
      return Some(self.release_slot(slot, reason));
    }
    let mut victim = [0u32];
    let mut stamp = [0u32];
    let batch = self
      .recency
      .victims(&mut victim, &mut stamp, &self.stamps, now);
    if batch.count == 0 || (victim[0] == keep && batch.expired == 0) {
      return None;
    }
    let reason = if batch.expired > 0 {
      Reason::Expire
    } else {
      Reason::Evict
    };
    Some(self.release_slot(victim[0], reason))
  }

  /// Removes `key`. Returns whether a live entry was removed (an expired
  /// one is removed too, with reason `expire`).
  pub fn delete(&mut self, key: KeyRef<'_>, now: f64) -> bool {
    let Some(slot) = self.find(key) else {
      return false;
    };
    let expired = self.is_expired(slot, now);
    self.drop_slot(
      slot,
      if expired {
        Reason::Expire
      } else {
        Reason::Delete
      },
    );
    !expired
  }

  /// Removes everything and gives the memory back. Removed entries are
  /// reported least recently used first, as lru-cache disposes them.
  pub fn clear(&mut self) {
    let mut order = match self.s3.as_mut() {
      Some(s3) => {
        let order = s3.order();
        s3.clear();
        self.freq = Vec::new();
        order
      }
      None => self.recency.order(&self.stamps),
    };
    order.reverse();
    self.index = HashTable::new();
    if let Some(removed) = self.removed.as_mut() {
      for slot in order {
        if let Some(e) = self.slots[slot as usize].take() {
          removed.push((e, Reason::Clear));
        }
      }
    }
    self.slots = Vec::new();
    self.free = Vec::new();
    self.stamps = Vec::new();
    self.tick = 0;
    self.recency.clear();
    self.len = 0;
    self.calculated = 0;
  }

  /// Removes and returns the least recently used live entry (expired ones
  /// met on the way are removed as expired).
  pub fn pop(&mut self, now: f64) -> Option<Entry> {
    loop {
      let slot = if self.s3.is_some() {
        self.s3_victim(now)?.0
      } else {
        self.recency.oldest(&self.stamps)?
      };
      if self.is_expired(slot, now) {
        self.drop_slot(slot, Reason::Expire);
        continue;
      }
      let entry = self.remove_slot(slot, Reason::Evict);
      if let Some(removed) = self.removed.as_mut() {
        removed.push((entry.clone(), Reason::Evict));
      }
      return Some(entry);
    }
  }

  /// Changes `max`, evicting down to it.
  pub fn resize(&mut self, max: usize, now: f64) {
    self.limits.max = max;
    if let Some(s3) = self.s3.as_mut() {
      if self.limits.max_size == usize::MAX {
        s3.set_capacity(max as u64);
      }
    }
    while self.len > max {
      if !self.evict_one(now, u32::MAX) {
        break;
      }
    }
  }

  /// Removes every expired entry; returns how many.
  pub fn purge_stale(&mut self, now: f64) -> usize {
    let expired = match self.s3.as_ref() {
      Some(s3) => s3.expired(now),
      None => self.recency.expired(now),
    };
    for &slot in &expired {
      self.drop_slot(slot, Reason::Expire);
    }
    expired.len()
  }

  /// Live entries from most to least recently used.
  pub fn entries_mru(&self, now: f64) -> Vec<&Entry> {
    let order = match self.s3.as_ref() {
      Some(s3) => s3.order(),
      None => self.recency.order(&self.stamps),
    };
    order
      .into_iter()
      .map(|slot| self.entry(slot))
      .filter(|e| e.expires() >= now)
      .collect()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn s(text: &str) -> KeyRef<'_> {
    KeyRef::Utf8(text.as_bytes())
  }

  fn v(text: &str) -> ValueRef<'_> {
    ValueRef::Utf8(text.as_bytes())
  }

  /// A store of at most `max` entries and `max_size` bytes.
  fn bounded(max: usize, max_size: usize) -> OffHeap {
    OffHeap::new(
      Limits {
        max,
        max_size,
        update_age_on_get: false,
        allow_stale: false,
      },
      true,
    )
  }

  fn store(max: usize) -> OffHeap {
    bounded(max, usize::MAX)
  }

  fn keys(st: &OffHeap) -> Vec<String> {
    st.entries_mru(0.0)
      .into_iter()
      .map(|e| match e.key() {
        KeyRef::Utf8(b) => String::from_utf8(b.to_vec()).unwrap(),
        KeyRef::Num(n) => f64::from_bits(n).to_string(),
        KeyRef::Utf16(u) => String::from_utf16_lossy(u),
      })
      .collect()
  }

  #[test]
  fn lru_order_and_eviction() {
    let mut st = store(3);
    for k in ["a", "b", "c"] {
      st.set(s(k), v(k), 0.0, 0.0, None);
    }
    assert!(matches!(st.get(s("a"), 0.0), Lookup::Hit(_)));
    st.set(s("d"), v("d"), 0.0, 0.0, None);
    assert_eq!(keys(&st), ["d", "a", "c"]);
    let removed = st.take_removed();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].0.key(), s("b"));
    assert_eq!(removed[0].1, Reason::Evict);
    assert_eq!(st.counters().evictions, 1);
  }

  #[test]
  fn removed_entries_are_kept_only_while_collecting() {
    let mut st = bounded(1, usize::MAX);
    st.set_collect_removed(false);
    st.set(s("a"), v("a"), 0.0, 0.0, None);
    st.set(s("b"), v("b"), 0.0, 0.0, None);
    assert!(!st.has_removed());
    st.set_collect_removed(true);
    st.set(s("c"), v("c"), 0.0, 0.0, None);
    assert!(st.has_removed());
    st.set_collect_removed(true);
    assert!(st.has_removed(), "turning it on again keeps what waits");
    st.set_collect_removed(false);
    assert!(!st.has_removed());
    assert!(st.take_removed().is_empty());
    st.set(s("d"), v("d"), 0.0, 0.0, None);
    st.set_collect_removed(true);
    assert!(
      st.take_removed().is_empty(),
      "nothing from while it was off"
    );
  }

  #[test]
  fn keys_and_values_round_trip() {
    let mut st = store(10);
    let lone = [0xd800u16, 0x41];
    st.set(KeyRef::Utf16(&lone), ValueRef::Utf16(&lone), 0.0, 0.0, None);
    st.set(
      KeyRef::Num(number_key(1.5)),
      ValueRef::Bytes(&[1, 2, 3]),
      0.0,
      0.0,
      None,
    );
    st.set(s("odd"), v("x"), 0.0, 0.0, None);
    assert_eq!(
      st.peek(KeyRef::Utf16(&lone), 0.0, false),
      Some(ValueRef::Utf16(&lone))
    );
    assert_eq!(
      st.peek(KeyRef::Num(number_key(1.5)), 0.0, false),
      Some(ValueRef::Bytes(&[1, 2, 3]))
    );
    assert_eq!(st.peek(s("odd"), 0.0, false), Some(ValueRef::Ascii(b"x")));
    assert!(!st.has(KeyRef::Utf16(&[0xd801, 0x41]), 0.0));
  }

  #[test]
  fn numbers_follow_same_value_zero() {
    let mut st = store(10);
    st.set(KeyRef::Num(number_key(-0.0)), v("zero"), 0.0, 0.0, None);
    st.set(KeyRef::Num(number_key(f64::NAN)), v("nan"), 0.0, 0.0, None);
    assert!(st.has(KeyRef::Num(number_key(0.0)), 0.0));
    assert!(st.has(KeyRef::Num(number_key(-f64::NAN)), 0.0));
    assert!(!st.has(s("0"), 0.0));
  }

  #[test]
  fn max_size_counts_bytes() {
    let mut st = bounded(usize::MAX, 3 * (ENTRY_OVERHEAD + 11));
    for k in ["k1", "k2", "k3", "k4"] {
      st.set(s(k), v("123456789"), 0.0, 0.0, None);
    }
    assert_eq!(st.len(), 3);
    assert_eq!(st.calculated_size(), 3 * (ENTRY_OVERHEAD + 11));
    let big = "x".repeat(4 * ENTRY_OVERHEAD);
    assert_eq!(st.set(s("big"), v(&big), 0.0, 0.0, None), Stored::TooLarge);
    assert!(!st.has(s("big"), 0.0));
  }

  #[test]
  fn expired_entries_go_first_and_are_never_returned() {
    let mut st = store(2);
    st.set(s("old"), v("1"), 0.0, 0.0, None);
    st.set(s("brief"), v("2"), 10.0, 0.0, None);
    assert!(matches!(st.get(s("brief"), 5.0), Lookup::Hit(_)));
    st.set(s("new"), v("3"), 0.0, 20.0, None);
    assert_eq!(keys(&st), ["new", "old"]);
    assert_eq!(st.take_removed()[0].1, Reason::Expire);
    st.set(s("t"), v("4"), 5.0, 20.0, None);
    assert!(matches!(st.get(s("t"), 30.0), Lookup::Miss));
    assert_eq!(st.purge_stale(30.0), 0);
  }

  #[test]
  fn max_entry_size_refuses_large_entries_and_refresh_ttl_restarts_one() {
    let mut st = store(10);
    st.set_max_entry_size(ENTRY_OVERHEAD + 4);
    assert_eq!(st.set(s("ab"), v("cd"), 0.0, 0.0, None), Stored::Yes);
    assert_eq!(st.set(s("ab"), v("cdef"), 0.0, 0.0, None), Stored::TooLarge);
    assert!(!st.has(s("ab"), 0.0), "the older value is dropped too");
    st.set(s("t"), v("T"), 100.0, 0.0, None);
    assert!(st.refresh_ttl(s("t"), 60.0));
    assert_eq!(st.remaining_ttl(s("t"), 60.0), 100.0);
    assert!(!st.refresh_ttl(s("t"), 500.0));
    assert!(!st.refresh_ttl(s("absent"), 0.0));
  }

  #[test]
  fn an_entry_expires_past_its_ttl_and_clear_reports_oldest_first() {
    let mut st = store(10);
    st.set(s("a"), v("A"), 100.0, 0.0, None);
    st.set(s("b"), v("B"), 0.0, 0.0, None);
    // As lru-cache: live at age == ttl, expired just after.
    assert!(st.has(s("a"), 100.0));
    assert!(!st.has(s("a"), 100.5));
    assert!(matches!(st.get(s("b"), 0.0), Lookup::Hit(_)));
    st.take_removed();
    st.clear();
    let order: Vec<_> = st
      .take_removed()
      .iter()
      .map(|(e, _)| e.key() == s("a"))
      .collect();
    assert_eq!(order, [true, false], "least recently used first");
  }

  #[test]
  fn clear_reports_every_entry_and_frees() {
    let mut st = store(10);
    for i in 0..5 {
      st.set(
        KeyRef::Num(number_key(i as f64)),
        ValueRef::Bytes(&[0; 100]),
        0.0,
        0.0,
        None,
      );
    }
    assert!(st.heap_bytes() >= 5 * 100);
    st.take_removed();
    st.clear();
    assert_eq!(st.take_removed().len(), 5);
    assert_eq!(st.heap_bytes(), 0);
    assert!(st.is_empty());
  }

  #[test]
  fn an_entry_stored_already_expired_never_leaves_the_store_oversized() {
    let mut st = bounded(usize::MAX, 2 * (ENTRY_OVERHEAD + 2));
    st.set(s("a"), v("1"), 0.0, 0.0, None);
    st.set(s("b"), v("2"), 0.0, 0.0, None);
    // `load` can hand over an expiry that passed between its check and the store.
    assert_eq!(st.set(s("c"), v("3"), 0.0, 10.0, Some(5.0)), Stored::Yes);
    assert!(st.calculated_size() <= st.limits().max_size);
    assert!(!st.has(s("c"), 10.0));
    assert_eq!(keys(&st), ["b", "a"]);
    let removed = st.take_removed();
    assert_eq!(removed.len(), 1);
    assert_eq!((removed[0].0.key(), removed[0].1), (s("c"), Reason::Expire));
  }

  #[test]
  fn blocks_of_leaving_entries_take_new_ones_with_the_same_answers() {
    for collect in [false, true] {
      let mut st = store(2);
      st.set_collect_removed(collect);
      st.set(s("a"), v("first"), 0.0, 0.0, None);
      st.set(s("b"), v("second"), 0.0, 0.0, None);
      // Same size class as the victim `a`, then a larger one, then a number key.
      st.set(s("c"), v("third"), 0.0, 0.0, None);
      st.set(s("d"), v(&"x".repeat(300)), 0.0, 0.0, None);
      st.set(
        KeyRef::Num(number_key(7.0)),
        ValueRef::Bytes(&[7; 9]),
        5.0,
        0.0,
        None,
      );
      assert_eq!(keys(&st), ["7", "d"]);
      assert_eq!(
        st.peek(s("d"), 0.0, false),
        Some(ValueRef::Ascii("x".repeat(300).as_bytes()))
      );
      assert_eq!(st.remaining_ttl(KeyRef::Num(number_key(7.0)), 1.0), 4.0);
      // Replacing a value, with the same size and with another one.
      st.set(s("d"), v(&"y".repeat(300)), 0.0, 0.0, None);
      st.set(
        KeyRef::Num(number_key(7.0)),
        ValueRef::Bytes(&[8; 40]),
        0.0,
        0.0,
        None,
      );
      assert_eq!(
        st.peek(s("d"), 0.0, false),
        Some(ValueRef::Ascii("y".repeat(300).as_bytes()))
      );
      assert_eq!(
        st.peek(KeyRef::Num(number_key(7.0)), 0.0, false),
        Some(ValueRef::Bytes(&[8; 40]))
      );
      assert_eq!(
        st.calculated_size(),
        (1 + 300 + ENTRY_OVERHEAD) + (8 + 40 + ENTRY_OVERHEAD)
      );
      let removed = st.take_removed();
      if collect {
        let gone: Vec<_> = removed.iter().map(|(e, r)| (e.key(), *r)).collect();
        assert_eq!(
          gone,
          [
            (s("a"), Reason::Evict),
            (s("b"), Reason::Evict),
            (s("c"), Reason::Evict),
            (s("d"), Reason::Set),
            (KeyRef::Num(number_key(7.0)), Reason::Set),
          ]
        );
        assert_eq!(removed[0].0.value(), ValueRef::Ascii(b"first"));
        assert_eq!(
          removed[3].0.value(),
          ValueRef::Ascii("x".repeat(300).as_bytes())
        );
      } else {
        assert!(removed.is_empty());
      }
      st.clear();
      assert_eq!(st.heap_bytes(), 0);
    }
  }

  #[test]
  fn stamps_renumber_without_losing_order() {
    let mut st = store(3);
    st.tick = STAMP_LIMIT - 4;
    for k in ["a", "b", "c"] {
      st.set(s(k), v(k), 0.0, 0.0, None);
    }
    for _ in 0..5 {
      st.get(s("a"), 0.0);
    }
    st.set(s("d"), v("d"), 0.0, 0.0, None);
    assert_eq!(keys(&st), ["d", "a", "c"]);
  }
}

#[cfg(test)]
mod s3fifo_tests {
  use super::*;

  #[test]
  fn s3fifo_keeps_entries_read_often_through_a_scan() {
    let mut st = OffHeap::new(
      Limits {
        max: 10,
        max_size: usize::MAX,
        update_age_on_get: false,
        allow_stale: false,
      },
      true,
    )
    .with_s3fifo();
    let key = |i: u32| KeyRef::Num(number_key(f64::from(i)));
    for i in 0..10 {
      st.set(key(i), ValueRef::Bytes(&[1]), 0.0, 0.0, None);
      st.get(key(i), 0.0);
      st.get(key(i), 0.0);
    }
    for i in 100..200 {
      st.set(key(i), ValueRef::Bytes(&[2]), 0.0, 0.0, None);
    }
    assert_eq!(st.len(), 10);
    let kept = (0..10).filter(|&i| st.has(key(i), 0.0)).count();
    assert!(kept >= 8, "kept {kept}");
    assert_eq!(st.counters().evictions, 100);
    assert!(st.pop(0.0).is_some());
    st.clear();
    assert_eq!(st.heap_bytes(), 0);
  }

  #[test]
  fn s3fifo_evicts_an_entry_first_once_past_its_ttl() {
    let mut st = OffHeap::new(
      Limits {
        max: 2,
        max_size: usize::MAX,
        update_age_on_get: false,
        allow_stale: false,
      },
      true,
    )
    .with_s3fifo();
    let key = |i: u32| KeyRef::Num(number_key(f64::from(i)));
    st.set(key(1), ValueRef::Bytes(&[1]), 0.0, 0.0, None);
    st.set(key(2), ValueRef::Bytes(&[2]), 100.0, 0.0, None);
    // At age == ttl the entry is live: the queues choose the victim.
    assert_eq!(st.purge_stale(100.0), 0);
    st.set(key(3), ValueRef::Bytes(&[3]), 0.0, 100.0, None);
    assert!(st.has(key(2), 100.0));
    assert_eq!((st.counters().evictions, st.counters().expirations), (1, 0));
    // Just past it, the expired entry goes first.
    st.set(key(4), ValueRef::Bytes(&[4]), 0.0, 100.5, None);
    assert!(!st.has(key(2), 100.5));
    assert!(st.has(key(3), 100.5));
    assert_eq!((st.counters().evictions, st.counters().expirations), (1, 1));
  }
}
