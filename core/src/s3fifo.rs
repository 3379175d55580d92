//! S3-FIFO eviction (Yang et al., "FIFO queues are all you need for cache
//! eviction", SOSP 2023) for caches whose entries live elsewhere and are
//! named by slot numbers: the heap LRU (slots index JS arrays) and the
//! off-heap store (slots index its slab).
//!
//! Three FIFO queues: *small* (about 10 % of the capacity) takes new
//! entries; *main* takes entries that were read at least twice while in
//! small, and entries whose key is in the *ghost*, a bounded FIFO of the
//! hashes of keys recently evicted from small. Each entry has a frequency
//! counter, capped at [`FREQ_MAX`], that a read bumps; the counters live in
//! the caller's `freq` array so that a read is one store there and nothing
//! here. Evicting from small moves an entry read [`MOVE_TO_MAIN`] times or
//! more to main (counter reset), else evicts it into the ghost; evicting from
//! main re-queues an entry whose counter is not 0 with the counter lowered
//! by one, else evicts it. Small is evicted from while main is within its
//! share and small is not empty. Until the first eviction, a new entry that
//! finds small full goes to main, as libCacheSim's S3FIFO does. Capacities
//! are in the cache's size units: entries count 1 each, or their weight
//! when the cache is bounded by size.
//!
//! Queues hold slot numbers at positions counted from the front's; a
//! record is live while the slot's place is that queue and its position the
//! one noted for the slot, so removing an entry costs O(1) and dead records
//! are dropped when they reach the front (or in a rebuild when they pile
//! up).
//!
//! For callers that evict in batches (the heap LRU), [`S3Fifo::victims`]
//! hands out several victims at once. Each is taken out of its queue and
//! held as *pending* with the caller's stamp of the slot and a read limit:
//! the caller evicts it only while the stamp is unchanged and its counter is
//! below the limit (a read since would have saved it). A pending victim
//! leaves when the caller says so: an insert into its slot or a delete
//! marked [`EVICTED`] in the log ([`S3Fifo::apply`]) means it was evicted
//! (its key goes to the ghost, at that point of the log), a plain delete
//! ([`S3Fifo::remove`]) that it was deleted (no ghost, as for any entry).
//! At the next batch ([`S3Fifo::settle`]), pending victims that are still
//! there go back to the front of their queue; those whose slot's stamp
//! changed without a word are taken as evicted.

use std::collections::VecDeque;

use crate::expiry::ExpiryIndex;
use crate::recency::{MAX_SLOT, OP_DELETE, OP_INSERT};

/// Highest value of a frequency counter.
pub const FREQ_MAX: u8 = 3;
/// Reads in small that earn a move to main.
pub const MOVE_TO_MAIN: u8 = 2;
/// Read limit of an expired victim: evicted whatever its counter.
pub const LIMIT_ALWAYS: u8 = u8::MAX;
/// Second word of an `OP_DELETE` pair in the log of [`S3Fifo::apply`]: the
/// entry left as a victim handed out by [`S3Fifo::victims`] (0: deleted).
pub const EVICTED: u32 = 1;

const NONE: u8 = 0;
const SMALL: u8 = 1;
const MAIN: u8 = 2;
/// A victim handed out and not yet evicted, deleted or put back, that
/// left small: evicted, its key goes to the ghost.
const PENDING_SMALL: u8 = 3;
/// Any other pending victim (from main, or also expired).
const PENDING_OTHER: u8 = 4;

/// The ghost: hashes of keys recently evicted from small, oldest first,
/// bounded by the total weight of the keys they stand for.
#[derive(Debug, Default)]
struct Ghost {
  /// Hashes in the order added; element `i` has the sequence number
  /// `head + i` (never 0). An element is live while `table` maps its hash
  /// to its sequence number.
  fifo: VecDeque<u32>,
  /// The weights of the elements of `fifo`, when they are not all 1.
  weights: Option<VecDeque<u32>>,
  head: u32,
  /// The live elements, `(seq << 32) | hash` (0: empty), by linear probing
  /// from [`Ghost::home`]: one array, so that a lookup mostly reads one
  /// cache line. At most 3/4 full; a power of two long (or empty).
  table: Vec<u64>,
  len: usize,
  size: u64,
  capacity: u64,
  /// Bits of the caller's Bloom filter of the ghost's hashes (see
  /// [`S3Fifo::mirror_ghost_filter`]; 0 until it is first written). Only
  /// the caller holds the filter: each write sets the bits of the hashes
  /// added since the last one. A hash leaving the ghost leaves its bits
  /// set (clearing them would need a count per bit); the filter is written
  /// whole from the table once as many hashes left as the ghost holds,
  /// which keeps it at most about twice as full as an exact one.
  filter_bits: usize,
  /// Hashes that left the ghost since the filter was last written whole.
  left: usize,
  /// Hashes added since the caller's filter was last written (`None`:
  /// write it whole, from the table: first, at a new length, after many
  /// additions or removals).
  added: Option<Vec<u32>>,
}

impl Ghost {
  /// Where `hash`'s probe sequence starts (the table is not empty).
  fn home(&self, hash: u32) -> usize {
    let log2 = self.table.len().trailing_zeros();
    (hash.wrapping_mul(0x2545_f491) >> (32 - log2)) as usize
  }

  /// The table index of `hash`, if it is there.
  fn find(&self, hash: u32) -> Option<usize> {
    if self.table.is_empty() {
      return None;
    }
    let mask = self.table.len() - 1;
    let mut i = self.home(hash);
    loop {
      let e = self.table[i];
      if e == 0 {
        return None;
      }
      if e as u32 == hash {
        return Some(i);
      }
      i = (i + 1) & mask;
    }
  }

  /// Puts `hash` (not there) in the table with sequence number `seq`.
  fn table_insert(&mut self, hash: u32, seq: u32) {
    if (self.len + 1) * 4 > self.table.len() * 3 {
      self.rehash((self.table.len() * 2).max(16));
    }
    let mask = self.table.len() - 1;
    let mut i = self.home(hash);
    while self.table[i] != 0 {
      i = (i + 1) & mask;
    }
    self.table[i] = (u64::from(seq) << 32) | u64::from(hash);
    self.len += 1;
  }

  /// Empties table index `i`, moving back the entries after it that would
  /// no longer be found.
  fn table_remove(&mut self, mut i: usize) {
    let mask = self.table.len() - 1;
    let mut j = i;
    loop {
      j = (j + 1) & mask;
      let e = self.table[j];
      if e == 0 {
        break;
      }
      let home = self.home(e as u32);
      // Entry j may move to i if its home is not cyclically in (i, j].
      if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(i) & mask) {
        self.table[i] = e;
        i = j;
      }
    }
    self.table[i] = 0;
    self.len -= 1;
  }

  fn rehash(&mut self, len: usize) {
    let old = std::mem::replace(&mut self.table, vec![0; len]);
    self.len = 0;
    for e in old {
      if e != 0 {
        self.table_insert(e as u32, (e >> 32) as u32);
      }
    }
  }

  /// The weight of `fifo[k]`.
  fn weight(&self, k: usize) -> u32 {
    self.weights.as_ref().map_or(1, |w| w[k])
  }

  /// The live element of `hash`: its table index and sequence number.
  fn live(&self, hash: u32) -> Option<(usize, u32)> {
    self.find(hash).map(|i| (i, (self.table[i] >> 32) as u32))
  }

  fn contains(&self, hash: u32) -> bool {
    self.find(hash).is_some()
  }

  /// Renumbers the live elements from 1, dropping the dead ones.
  fn compact(&mut self) {
    let mut fifo = VecDeque::with_capacity(self.len);
    let mut weights = self
      .weights
      .as_ref()
      .map(|_| VecDeque::with_capacity(self.len));
    for (k, &hash) in self.fifo.iter().enumerate() {
      let seq = self.head.wrapping_add(k as u32);
      if self.live(hash).is_some_and(|(_, s)| s == seq) {
        fifo.push_back(hash);
        if let (Some(to), Some(from)) = (weights.as_mut(), self.weights.as_ref()) {
          to.push_back(from[k]);
        }
      }
    }
    self.fifo = fifo;
    self.weights = weights;
    self.head = 1;
    self.table.fill(0);
    self.len = 0;
    let hashes: Vec<u32> = self.fifo.iter().copied().collect();
    for (k, h) in hashes.into_iter().enumerate() {
      self.table_insert(h, 1 + k as u32);
    }
  }

  /// `hash` joined the ghost: its bits are set at the next write.
  fn note_added(&mut self, hash: u32) {
    if let Some(added) = self.added.as_mut() {
      if added.len() < self.len + 64 {
        added.push(hash);
      } else {
        // Cheaper written whole.
        self.added = None;
      }
    }
  }

  /// A hash left the ghost: its bits stay, until enough have left that a
  /// whole write pays (about two words of work per hash that left).
  fn note_left(&mut self) {
    self.left += 1;
    if self.left > self.len.max(256) {
      self.added = None;
    }
  }

  /// Writes the filter into the caller's copy `out`, a power of two bytes
  /// long: sets the bits of the hashes added since the last write, or
  /// writes it whole from the table (first, at a new length, after many
  /// additions or removals). Every hash in the ghost then has its bits set.
  fn write_filter(&mut self, out: &mut [u8]) {
    let bits = out.len() * 8;
    if self.filter_bits != bits {
      self.filter_bits = bits;
      self.added = None;
    }
    match self.added.as_mut() {
      Some(added) => {
        for &hash in added.iter() {
          set_filter_bits(out, hash);
        }
        added.clear();
      }
      None => {
        out.fill(0);
        for &e in &self.table {
          if e != 0 {
            set_filter_bits(out, e as u32);
          }
        }
        self.left = 0;
        self.added = Some(Vec::new());
      }
    }
  }

  /// Removes `hash`; returns whether it was there.
  fn take(&mut self, hash: u32) -> bool {
    match self.live(hash) {
      Some((i, seq)) => {
        let w = self.weight(seq.wrapping_sub(self.head) as usize);
        self.size -= u64::from(w);
        self.table_remove(i);
        self.note_left();
        true
      }
      None => false,
    }
  }

  /// Adds `hash` as the newest (a hash already there keeps its place).
  fn add(&mut self, hash: u32, weight: u64) {
    if self.capacity == 0 || weight > self.capacity || self.contains(hash) {
      return;
    }
    while self.size + weight > self.capacity {
      let Some(h) = self.fifo.pop_front() else {
        break;
      };
      let w = match self.weights.as_mut() {
        Some(weights) => weights.pop_front().unwrap_or(1),
        None => 1,
      };
      let seq = self.head;
      self.head = self.head.wrapping_add(1);
      if let Some((i, s)) = self.live(h) {
        if s == seq {
          self.size -= u64::from(w);
          self.table_remove(i);
          self.note_left();
        }
      }
    }
    if self.head == 0 {
      self.head = 1;
    }
    if u64::from(self.head) + self.fifo.len() as u64 >= u64::from(u32::MAX) {
      // Sequence numbers would wrap around to 0.
      self.compact();
    }
    let w = weight.min(u64::from(u32::MAX)) as u32;
    let seq = self.head.wrapping_add(self.fifo.len() as u32);
    self.fifo.push_back(hash);
    if w != 1 && self.weights.is_none() {
      self.weights = Some(std::iter::repeat_n(1, self.fifo.len() - 1).collect());
    }
    if let Some(weights) = self.weights.as_mut() {
      weights.push_back(w);
    }
    self.table_insert(hash, seq);
    self.size += u64::from(w);
    self.note_added(hash);
    if self.fifo.len() > 2 * self.len + 64 {
      self.compact();
    }
  }

  fn heap_bytes(&self) -> usize {
    (self.fifo.capacity() + self.weights.as_ref().map_or(0, VecDeque::capacity)) * 4
      + self.table.capacity() * 8
      + self.added.as_ref().map_or(0, Vec::capacity) * 4
  }
}

/// Bits of a block of a ghost filter (a cache line).
pub const FILTER_BLOCK: usize = 512;

/// The two bits of `hash` in a ghost filter of `bits` bits (a power of
/// two): its low bits, and in the same block of [`FILTER_BLOCK`] bits (the
/// whole filter if smaller) the high bits of its product with the golden
/// ratio, so that a test or an update touches one cache line. A key may be
/// in the ghost only if both are set. Bit `i` is bit `i % 8` of byte `i / 8`.
pub fn filter_positions(hash: u32, bits: usize) -> [usize; 2] {
  let first = hash as usize & (bits - 1);
  let block = bits.min(FILTER_BLOCK);
  let log2 = block.trailing_zeros();
  let within = if log2 == 0 {
    0
  } else {
    (hash.wrapping_mul(0x9e37_79b1) >> (32 - log2)) as usize
  };
  [first, (first & !(block - 1)) | within]
}

/// Sets `hash`'s two bits in `filter` (a power of two bytes long).
fn set_filter_bits(filter: &mut [u8], hash: u32) {
  for p in filter_positions(hash, filter.len() * 8) {
    filter[p / 8] |= 1 << (p % 8);
  }
}

/// A FIFO of slots. Records have positions, counted on from the front's
/// (wrapping; the queue is always far shorter than 2^32): a record is live
/// while its slot is in this queue with that position (`S3Fifo::pos`), so
/// records left behind by a removal need no search.
#[derive(Debug, Default)]
struct Queue {
  recs: VecDeque<u32>,
  /// Position of the front record.
  head: u32,
}

impl Queue {
  /// Appends `slot`; returns its position.
  fn push_back(&mut self, slot: u32) -> u32 {
    let pos = self.head.wrapping_add(self.recs.len() as u32);
    self.recs.push_back(slot);
    pos
  }

  /// Prepends `slot`; returns its position.
  fn push_front(&mut self, slot: u32) -> u32 {
    self.head = self.head.wrapping_sub(1);
    self.recs.push_front(slot);
    self.head
  }

  /// The front record, `(slot, position)`.
  fn pop_front(&mut self) -> Option<(u32, u32)> {
    let slot = self.recs.pop_front()?;
    let pos = self.head;
    self.head = self.head.wrapping_add(1);
    Some((slot, pos))
  }

  /// Records `(slot, position)`, front first.
  fn iter(&self) -> impl DoubleEndedIterator<Item = (u32, u32)> + '_ {
    let head = self.head;
    self
      .recs
      .iter()
      .enumerate()
      .map(move |(k, &slot)| (slot, head.wrapping_add(k as u32)))
  }

  /// Drops the records that are not live (the queue is `place`), and
  /// renumbers the others' positions in `pos`.
  fn keep_live(&mut self, place: u8, places: &[u8], pos: &mut [u32]) {
    let mut kept = VecDeque::with_capacity(self.recs.len());
    for (slot, p) in self.iter() {
      let s = slot as usize;
      if places[s] == place && pos[s] == p {
        kept.push_back(slot);
      }
    }
    for (k, &slot) in kept.iter().enumerate() {
      pos[slot as usize] = self.head.wrapping_add(k as u32);
    }
    self.recs = kept;
  }
}

/// A victim handed out by [`S3Fifo::victims`]. While its slot's place is
/// pending, the slot's hash and weight are still the victim's.
#[derive(Debug, Clone, Copy)]
struct Pending {
  slot: u32,
  stamp: u32,
  /// The queue it left.
  place: u8,
}

/// What [`S3Fifo::victims`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VictimBatch {
  /// Victims written to the output, in eviction order.
  pub count: usize,
  /// How many of them, at the front, were expired.
  pub expired: usize,
  /// Earliest expiry time of an entry not among the expired victims.
  pub next_expiry: f64,
}

/// S3-FIFO queues over caller-owned slots.
#[derive(Debug)]
pub struct S3Fifo {
  capacity: u64,
  small_capacity: u64,
  main_capacity: u64,
  small: Queue,
  main: Queue,
  small_size: u64,
  main_size: u64,
  /// Per slot: the queue it is in (`NONE`, `SMALL`, `MAIN`), or that it is
  /// a pending victim (`PENDING_SMALL`, `PENDING_OTHER`).
  place: Vec<u8>,
  /// Per slot: the position of its live record in its queue.
  pos: Vec<u32>,
  /// Per slot: the key's hash, for the ghost.
  hash: Vec<u32>,
  /// Per slot: its weight, when weights are not all 1.
  weight: Vec<u64>,
  weighted: bool,
  ghost: Ghost,
  has_evicted: bool,
  live: usize,
  pending: Vec<Pending>,
  expiry: ExpiryIndex,
}

impl S3Fifo {
  /// Queues for a cache of `capacity` size units; `weighted`: entries have
  /// their own weights (else each weighs 1).
  pub fn new(capacity: u64, weighted: bool) -> Self {
    let mut s = S3Fifo {
      capacity: 0,
      small_capacity: 0,
      main_capacity: 0,
      small: Queue::default(),
      main: Queue::default(),
      small_size: 0,
      main_size: 0,
      place: Vec::new(),
      pos: Vec::new(),
      hash: Vec::new(),
      weight: Vec::new(),
      weighted,
      ghost: Ghost::default(),
      has_evicted: false,
      live: 0,
      pending: Vec::new(),
      expiry: ExpiryIndex::default(),
    };
    s.set_capacity(capacity);
    s
  }

  /// The small queue's capacity in size units: an entry heavier than this
  /// goes straight to main.
  pub fn small_capacity(&self) -> u64 {
    self.small_capacity
  }

  /// Sets the capacity: small gets 10 % (at least 1), main the rest, the
  /// ghost remembers keys worth 90 %.
  pub fn set_capacity(&mut self, capacity: u64) {
    // Rounded as libCacheSim rounds them.
    let capacity = capacity.max(1);
    self.capacity = capacity;
    self.small_capacity = ((capacity as f64 * 0.1) as u64).max(1);
    self.main_capacity = capacity - self.small_capacity.min(capacity);
    self.ghost.capacity = (capacity as f64 * 0.9) as u64;
  }

  pub fn capacity(&self) -> u64 {
    self.capacity
  }

  /// Entries in the queues (pending victims excluded).
  pub fn len(&self) -> usize {
    self.live
  }

  pub fn is_empty(&self) -> bool {
    self.live == 0
  }

  /// Weight held by small and main.
  pub fn size(&self) -> u64 {
    self.small_size + self.main_size
  }

  /// Bytes of native memory held, for accounting.
  pub fn heap_bytes(&self) -> usize {
    (self.small.recs.capacity() + self.main.recs.capacity()) * 4
      + self.place.capacity()
      + self.pos.capacity() * 4
      + self.hash.capacity() * 4
      + self.weight.capacity() * 8
      + self.pending.capacity() * std::mem::size_of::<Pending>()
      + self.expiry.heap_bytes()
      + self.ghost.heap_bytes()
  }

  fn grow(&mut self, slot: u32) {
    let need = slot as usize + 1;
    if self.place.len() < need {
      // Unweighted, slots stay below the capacity (in entries) unless it
      // grows: no more room than that.
      let most = if self.weighted {
        usize::MAX
      } else {
        usize::try_from(self.capacity).unwrap_or(usize::MAX)
      };
      let target = need.max((self.place.len() * 2).max(16).min(most));
      self.place.resize(target, NONE);
      self.pos.resize(target, 0);
      self.hash.resize(target, 0);
      if self.weighted {
        self.weight.resize(target, 0);
      }
    }
  }

  fn weight_of(&self, slot: u32) -> u64 {
    if self.weighted {
      self.weight[slot as usize]
    } else {
      1
    }
  }

  fn add_size(&mut self, place: u8, w: u64) {
    if place == SMALL {
      self.small_size += w;
    } else {
      self.main_size += w;
    }
  }

  fn sub_size(&mut self, place: u8, w: u64) {
    if place == SMALL {
      self.small_size -= w;
    } else {
      self.main_size -= w;
    }
  }

  fn push(&mut self, place: u8, slot: u32, front: bool) {
    let s = slot as usize;
    let q = if place == SMALL {
      &mut self.small
    } else {
      &mut self.main
    };
    self.pos[s] = if front {
      q.push_front(slot)
    } else {
      q.push_back(slot)
    };
    self.place[s] = place;
    let w = self.weight_of(slot);
    self.add_size(place, w);
  }

  /// Keeps `out` (a power of two long) a Bloom filter of the hashes in the
  /// ghost: both of a hash's [`filter_positions`] are set while it is there.
  /// Bits of hashes that left stay set until the filter is written whole
  /// (first, at a new length, and once as many hashes left as the ghost
  /// holds); later calls set the bits of the hashes added since. The caller
  /// may set bits of its own in between (they stay until a whole write).
  pub fn mirror_ghost_filter(&mut self, out: &mut [u8]) {
    if out.is_empty() || !out.len().is_power_of_two() {
      return;
    }
    self.ghost.write_filter(out);
  }

  /// Sets in the caller's ghost filter `out` (just written by
  /// [`Self::mirror_ghost_filter`]) the bits of the pending victims whose
  /// keys reach the ghost if they are evicted, so that the caller takes an
  /// insert of one of those keys for a possible ghost hit; the bits of
  /// those that do not stay set until the filter is next written whole.
  pub fn flag_pending(&self, out: &mut [u8]) {
    let bits = self.ghost.filter_bits;
    if bits == 0 || out.len() * 8 != bits {
      return;
    }
    for p in &self.pending {
      let slot = p.slot as usize;
      if self.place[slot] == PENDING_SMALL {
        set_filter_bits(out, self.hash[slot]);
      }
    }
  }

  /// Whether the key of `hash` is in the ghost.
  pub fn in_ghost(&self, hash: u32) -> bool {
    self.ghost.contains(hash)
  }

  /// Whether `slot` is in small or main.
  pub fn contains(&self, slot: u32) -> bool {
    self
      .place
      .get(slot as usize)
      .is_some_and(|&p| p == SMALL || p == MAIN)
  }

  /// Whether `slot` holds a pending victim.
  fn is_pending(&self, slot: u32) -> bool {
    self
      .place
      .get(slot as usize)
      .is_some_and(|&p| p >= PENDING_SMALL)
  }

  /// The pending victim in `slot` (if any) left the cache: `evicted` (its
  /// key goes to the ghost if it left small), else deleted.
  fn victim_left(&mut self, slot: u32, evicted: bool) {
    if !self.is_pending(slot) {
      return;
    }
    let s = slot as usize;
    let pending = self.place[s];
    self.place[s] = NONE;
    if evicted && pending == PENDING_SMALL {
      let w = self.weight_of(slot);
      self.ghost.add(self.hash[s], w);
    }
    self.set_expiry(slot, f64::INFINITY);
  }

  /// A new entry in `slot` (key hash `hash`, weight `weight`; expiring at
  /// `expiry`, `INFINITY` for never). Its counter is the caller's to reset.
  /// An entry already in `slot` is replaced; a pending victim there was
  /// evicted.
  pub fn insert(&mut self, slot: u32, hash: u32, weight: u64, expiry: f64) {
    self.victim_left(slot, true);
    self.remove(slot);
    self.grow(slot);
    let s = slot as usize;
    self.hash[s] = hash;
    if self.weighted {
      self.weight[s] = weight;
    }
    let place = if self.ghost.take(hash)
      || (self.weighted && weight > self.small_capacity)
      || (!self.has_evicted && self.small_size >= self.small_capacity)
    {
      MAIN
    } else {
      SMALL
    };
    self.push(place, slot, false);
    self.live += 1;
    self.set_expiry(slot, expiry);
    self.compact_if_sparse();
  }

  /// The entry in `slot` now weighs `weight`.
  pub fn reweigh(&mut self, slot: u32, weight: u64) {
    if self.weighted && self.is_pending(slot) {
      // Out of the queues: weighs in again if put back.
      self.weight[slot as usize] = weight;
      return;
    }
    if !self.weighted || !self.contains(slot) {
      return;
    }
    let place = self.place[slot as usize];
    let old = self.weight[slot as usize];
    self.sub_size(place, old);
    self.weight[slot as usize] = weight;
    self.add_size(place, weight);
  }

  /// The entry in `slot` is gone (deleted, not evicted: no ghost), a
  /// pending victim included.
  pub fn remove(&mut self, slot: u32) {
    if self.is_pending(slot) {
      self.victim_left(slot, false);
      return;
    }
    if !self.contains(slot) {
      return;
    }
    let place = self.place[slot as usize];
    let w = self.weight_of(slot);
    self.sub_size(place, w);
    self.place[slot as usize] = NONE;
    self.live -= 1;
    self.set_expiry(slot, f64::INFINITY);
  }

  /// Indexes `slot` under `expiry` (`INFINITY` or NaN: never expires).
  pub fn set_expiry(&mut self, slot: u32, expiry: f64) {
    self.expiry.set(slot, expiry);
  }

  /// Replays a caller's operation log of `(op | slot, word)` pairs (the
  /// operations of [`crate::recency`]): `OP_INSERT` with the key's hash,
  /// `OP_EXPIRY` when the entry's weight or expiry time changed, `OP_DELETE`
  /// with [`EVICTED`] for an entry that left as a victim, else 0. Weights
  /// are read from `weight_of(i)`, the weight the entry had when the `i`th
  /// pair was logged, expiry times from `expiry_of(slot)`, the current one.
  /// Then settles the last batch of victims ([`Self::settle`]).
  pub fn apply(
    &mut self,
    log: &[u32],
    stamps: &[u32],
    weight_of: impl Fn(usize) -> u64,
    expiry_of: impl Fn(u32) -> f64,
  ) {
    for (i, pair) in log.chunks_exact(2).enumerate() {
      let slot = pair[0] & MAX_SLOT;
      match pair[0] & !MAX_SLOT {
        OP_INSERT => self.insert(slot, pair[1], weight_of(i), expiry_of(slot)),
        OP_DELETE => {
          if pair[1] == EVICTED {
            self.victim_left(slot, true);
          }
          self.remove(slot);
        }
        _ => {
          self.reweigh(slot, weight_of(i));
          if self.contains(slot) || self.is_pending(slot) {
            self.set_expiry(slot, expiry_of(slot));
          }
        }
      }
    }
    self.settle(stamps);
  }

  /// Slots of entries expired at `now` (past their expiry time: an entry
  /// whose age equals its TTL is still live), earliest first.
  pub fn expired(&self, now: f64) -> Vec<u32> {
    self.expiry.expired(now)
  }

  fn is_live(&self, place: u8, (slot, pos): (u32, u32)) -> bool {
    let s = slot as usize;
    self.place[s] == place && self.pos[s] == pos
  }

  fn pop_live(&mut self, place: u8) -> Option<u32> {
    loop {
      let rec = if place == SMALL {
        self.small.pop_front()?
      } else {
        self.main.pop_front()?
      };
      if self.is_live(place, rec) {
        return Some(rec.0);
      }
    }
  }

  /// Puts back at the front of its queue the record of `slot` that
  /// [`Self::pop_live`] just took (it is still live: nothing else changed).
  fn unpop(&mut self, place: u8, slot: u32) {
    self.pos[slot as usize] = if place == SMALL {
      self.small.push_front(slot)
    } else {
      self.main.push_front(slot)
    };
  }

  /// Takes `slot` out of its queue as a victim; returns its queue.
  fn take_out(&mut self, slot: u32) -> u8 {
    let place = self.place[slot as usize];
    let w = self.weight_of(slot);
    self.sub_size(place, w);
    self.place[slot as usize] = NONE;
    self.live -= 1;
    place
  }

  /// Runs the eviction until one entry leaves; returns its slot and the
  /// queue it left, without touching the ghost or the expiry index.
  ///
  /// With `no_moves`, stops (returning `None`) instead of moving an entry to
  /// main or round main again: a batch of victims must not hold such a move
  /// after a victim, since a read of that victim before it is used would
  /// have moved it first.
  fn take_victim(&mut self, freq: &mut [u8], no_moves: bool) -> Option<(u32, u8)> {
    self.has_evicted = true;
    loop {
      if self.live == 0 {
        return None;
      }
      if self.main_size > self.main_capacity || self.small_size == 0 {
        // Main: an entry read since it was queued goes round again.
        while let Some(slot) = self.pop_live(MAIN) {
          let f = freq.get(slot as usize).copied().unwrap_or(0);
          if f >= 1 {
            if no_moves {
              self.unpop(MAIN, slot);
              return None;
            }
            freq[slot as usize] = f.min(FREQ_MAX) - 1;
            self.place[slot as usize] = NONE;
            let w = self.weight_of(slot);
            self.sub_size(MAIN, w);
            self.push(MAIN, slot, false);
          } else {
            return Some((slot, self.take_out(slot)));
          }
        }
        if self.small_size == 0 {
          return None;
        }
      }
      // Small: an entry read often enough moves to main, else leaves.
      while let Some(slot) = self.pop_live(SMALL) {
        let f = freq.get(slot as usize).copied().unwrap_or(0);
        if f >= MOVE_TO_MAIN {
          if no_moves {
            self.unpop(SMALL, slot);
            return None;
          }
          freq[slot as usize] = 0;
          let w = self.weight_of(slot);
          self.sub_size(SMALL, w);
          self.place[slot as usize] = NONE;
          self.push(MAIN, slot, false);
        } else {
          return Some((slot, self.take_out(slot)));
        }
      }
    }
  }

  /// Evicts one entry: its key goes to the ghost. Returns its slot. Call
  /// [`Self::settle`] first if victims were handed out.
  pub fn evict(&mut self, freq: &mut [u8]) -> Option<u32> {
    let (slot, place) = self.take_victim(freq, false)?;
    if place == SMALL {
      let w = self.weight_of(slot);
      self.ghost.add(self.hash[slot as usize], w);
    }
    self.set_expiry(slot, f64::INFINITY);
    Some(slot)
  }

  /// Puts back the pending victims still there (their slot's stamp is
  /// unchanged), at the front of their queue in their order. Those whose
  /// stamp changed, with no insert or delete of their slot said since, were
  /// evicted: their keys go to the ghost.
  pub fn settle(&mut self, stamps: &[u32]) {
    if self.pending.is_empty() {
      return;
    }
    let mut pending = std::mem::take(&mut self.pending);
    for p in &pending {
      if stamps.get(p.slot as usize).copied().unwrap_or(0) != p.stamp {
        self.victim_left(p.slot, true);
      }
    }
    for p in pending.iter().rev() {
      if self.is_pending(p.slot) {
        self.push(p.place, p.slot, true);
        self.live += 1;
      }
    }
    pending.clear();
    self.pending = pending;
  }

  /// Fills `out_slots`, `out_stamps` and `out_limits` with the next
  /// victims: entries expired at `now` (limit [`LIMIT_ALWAYS`]), or if there
  /// are none, at most `want` S3-FIFO victims; each with the stamp its slot had and the
  /// counter value at which a read since would have kept it. The caller
  /// evicts a victim only while `stamps[slot]` still equals its stamp and
  /// `freq[slot]` is below its limit, and says which it evicted and which
  /// it deleted (see [`S3Fifo::apply`]). Call [`S3Fifo::settle`] first.
  #[allow(clippy::too_many_arguments)]
  pub fn victims(
    &mut self,
    out_slots: &mut [u32],
    out_stamps: &mut [u32],
    out_limits: &mut [u8],
    stamps: &[u32],
    freq: &mut [u8],
    now: f64,
    want: usize,
  ) -> VictimBatch {
    let cap = out_slots.len().min(out_stamps.len()).min(out_limits.len());
    let (mut count, next_expiry) = self
      .expiry
      .take_expired(stamps, now, cap, |i, slot, stamp| {
        out_slots[i] = slot;
        out_stamps[i] = stamp;
        out_limits[i] = LIMIT_ALWAYS;
      });
    let expired = count;
    // Expired entries leave first; the queues' victims are picked once they
    // are out of the queues (they count in the queues' sizes until then).
    let want = if expired > 0 { 0 } else { want };
    let mut taken = 0;
    while count < cap && taken < want {
      // Inserts made while the batch is used go to small (the caller ends
      // the batch at an insert that may be a ghost hit, which would go to
      // main). So later victims are those of the sequential policy while
      // small has entries older than those inserts.
      if taken > 0 && self.small_size == 0 {
        break;
      }
      let Some((slot, place)) = self.take_victim(freq, taken > 0) else {
        break;
      };
      taken += 1;
      let s = slot as usize;
      let also_expired = out_slots[..expired].contains(&slot);
      // An expired entry leaves without reaching the ghost.
      self.place[s] = if place == SMALL && !also_expired {
        PENDING_SMALL
      } else {
        PENDING_OTHER
      };
      self.pending.push(Pending {
        slot,
        stamp: stamps.get(s).copied().unwrap_or(0),
        place,
      });
      if also_expired {
        continue;
      }
      out_slots[count] = slot;
      out_stamps[count] = stamps.get(s).copied().unwrap_or(0);
      out_limits[count] = if place == SMALL { MOVE_TO_MAIN } else { 1 };
      count += 1;
    }
    VictimBatch {
      count,
      expired,
      next_expiry,
    }
  }

  /// Live slots in the documented order: main from newest to oldest, then
  /// small from newest to oldest (roughly the reverse of eviction order).
  pub fn order(&self) -> Vec<u32> {
    let mut out = Vec::with_capacity(self.live);
    for (q, place) in [(&self.main, MAIN), (&self.small, SMALL)] {
      for rec in q.iter().rev() {
        if self.is_live(place, rec) {
          out.push(rec.0);
        }
      }
    }
    out
  }

  /// Drops dead records when they outnumber the live ones.
  fn compact_if_sparse(&mut self) {
    if self.small.recs.len() + self.main.recs.len() > 2 * self.live + 1024 {
      self.small.keep_live(SMALL, &self.place, &mut self.pos);
      self.main.keep_live(MAIN, &self.place, &mut self.pos);
    }
  }

  /// Forgets everything (the ghost included) and gives the memory back.
  pub fn clear(&mut self) {
    *self = S3Fifo::new(self.capacity, self.weighted);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_scan_does_not_flush_entries_read_twice() {
    let mut s = S3Fifo::new(10, false);
    let mut freq = vec![0u8; 64];
    // 0..10 fill the cache (one in small, the rest in main: never evicted yet).
    for k in 0..10 {
      s.insert(k, k, 1, f64::INFINITY);
    }
    for k in 0..10 {
      freq[k as usize] = 2;
    }
    // A scan of 20 new keys passes through small.
    for k in 10..30 {
      let v = s.evict(&mut freq).unwrap();
      freq[v as usize] = 0;
      s.insert(k, k, 1, f64::INFINITY);
      assert!(v == 0 || v >= 10, "evicted {v}");
    }
    for k in 1..10 {
      assert!(s.contains(k), "lost {k}");
    }
  }

  #[test]
  fn ghost_hits_go_to_main() {
    let mut s = S3Fifo::new(10, false);
    let mut freq = vec![0u8; 64];
    for k in 0..10 {
      s.insert(k, 100 + k, 1, f64::INFINITY);
    }
    let v = s.evict(&mut freq).unwrap();
    assert_eq!(v, 0);
    assert!(s.in_ghost(100));
    s.insert(v, 100, 1, f64::INFINITY);
    assert!(!s.in_ghost(100));
    assert_eq!(s.order()[0], 0);
  }

  /// The ghost against a plain FIFO with linear searches, with hashes
  /// drawn from a small range (so probe sequences collide) and sequence
  /// numbers started near their wrap-around.
  #[test]
  fn the_ghost_table_agrees_with_a_plain_fifo() {
    for start in [0u32, u32::MAX - 300] {
      let mut g = Ghost {
        capacity: 40,
        head: start,
        ..Ghost::default()
      };
      let mut plain: VecDeque<(u32, u64)> = VecDeque::new();
      // A caller's copy of the filter, small enough for hashes to share bits.
      let mut copy = [0u8; 16];
      g.write_filter(&mut copy);
      let mut rng = 0x1234_5678_u64;
      let mut rebuilds = 0;
      for step in 0..20_000 {
        rng = rng
          .wrapping_mul(6_364_136_223_846_793_005)
          .wrapping_add(1_442_695_040_888_963_407);
        let hash = ((rng >> 33) % 97) as u32 * 0x0100_0000;
        let weight = 1 + (rng >> 20) % 3;
        if (rng >> 40).is_multiple_of(3) {
          let there = plain.iter().position(|&(h, _)| h == hash);
          if let Some(i) = there {
            plain.remove(i);
          }
          assert_eq!(g.take(hash), there.is_some(), "step {step}");
        } else {
          if !plain.iter().any(|&(h, _)| h == hash) {
            while plain.iter().map(|e| e.1).sum::<u64>() + weight > 40 {
              plain.pop_front();
            }
            plain.push_back((hash, weight));
          }
          g.add(hash, weight);
        }
        assert_eq!(g.len, plain.len(), "step {step}");
        assert_eq!(g.size, plain.iter().map(|e| e.1).sum::<u64>());
        for h in 0..97u32 {
          let h = h * 0x0100_0000;
          assert_eq!(g.contains(h), plain.iter().any(|e| e.0 == h), "step {step}");
        }
        // Once written, the copy has every bit of the hashes there (and may
        // have bits of hashes that left, until it is written whole, when it
        // has exactly theirs).
        let mut want = [0u8; 16];
        for &(h, _) in &plain {
          for p in filter_positions(h, 128) {
            want[p / 8] |= 1 << (p % 8);
          }
        }
        if step % 7 == 0 {
          let whole = g.added.is_none();
          g.write_filter(&mut copy);
          for (i, (&got, &need)) in copy.iter().zip(&want).enumerate() {
            assert_eq!(got & need, need, "step {step}, byte {i}");
          }
          if whole {
            rebuilds += 1;
            assert_eq!(copy, want, "step {step}: written whole");
          }
        }
      }
      // Written whole many times over (after 257 removals here, or as
      // many additions as the ghost holds and 64 more).
      assert!(rebuilds > 20, "written whole {rebuilds} times");
    }
  }

  #[test]
  fn dead_records_are_dropped_and_the_live_renumbered() {
    let mut s = S3Fifo::new(1000, false);
    let mut freq = vec![0u8; 64];
    // Each insert and delete leaves a dead record behind, before the live
    // ones and after them.
    let churn = |s: &mut S3Fifo, n: u32| {
      for r in 0..n {
        s.insert(20, 100 + r, 1, f64::INFINITY);
        s.remove(20);
      }
    };
    churn(&mut s, 500);
    for k in 0..10 {
      s.insert(k, k, 1, f64::INFINITY);
    }
    churn(&mut s, 5000);
    assert!(s.small.recs.len() + s.main.recs.len() <= 2 * s.len() + 1025);
    assert_eq!(s.order(), (0..10).rev().collect::<Vec<u32>>());
    for k in 0..10 {
      assert_eq!(s.evict(&mut freq), Some(k));
    }
  }

  #[test]
  fn weights_size_the_queues() {
    let mut s = S3Fifo::new(100, true);
    let mut freq = vec![0u8; 16];
    s.insert(0, 0, 30, f64::INFINITY);
    s.insert(1, 1, 5, f64::INFINITY);
    assert_eq!(s.size(), 35);
    s.reweigh(1, 8);
    assert_eq!(s.size(), 38);
    s.remove(0);
    assert_eq!(s.size(), 8);
    assert_eq!(s.evict(&mut freq), Some(1));
    assert_eq!(s.size(), 0);
    assert!(s.is_empty());
  }
}
