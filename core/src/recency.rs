//! Recency order and victim selection for an LRU whose keys and values live
//! elsewhere (in JS arrays, for the heap LRU).
//!
//! Entries are named by *slot* numbers chosen by the caller, and recency is
//! expressed by *stamps*: the caller keeps a `stamps` array (shared with us,
//! a `Uint32Array` on the JS side) and on every access writes a fresh,
//! strictly increasing stamp into the entry's slot. A read costs the caller
//! one store and tells us nothing; we only look at the stamps when somebody
//! needs a victim or the order. Stamp 0 means "no entry".
//!
//! What we must be told, through an operation log replayed in batches, is
//! when entries appear ([`OP_INSERT`], with the stamp they were inserted
//! with), disappear ([`OP_DELETE`]), or change expiry time ([`OP_EXPIRY`]).
//! Three shortcuts need no log entry: a slot whose stamp becomes 0 is taken
//! as deleted; the slot of a victim from the last batch may be reused for a
//! new entry just by stamping it (see `readmit_last_batch`), which is what
//! makes a steady stream of evicting sets cost no log at all; and a caller
//! that hands out slots in order (`0, 1, 2...`, then reuses freed ones) and
//! says how many it has handed out (`used`, at every replay) needs not log
//! inserts into slots handed out since the previous replay (see
//! `file_fresh`), which is what makes filling an empty cache cost no log.
//!
//! To find the least recently used entry we keep *records* `(slot, stamp)`,
//! at least one per live entry, none with a stamp above the entry's current
//! stamp. Records of inserts sit in a FIFO queue, which is sorted by stamp
//! because inserts happen in stamp order. Popping records in stamp order (the
//! smaller of the queue's front and a min-heap's top), a record whose stamp
//! equals its slot's current stamp belongs to the exact least recently used
//! entry: every other live entry has a record with a stamp at least as large,
//! and its current stamp is larger still. A record whose slot's stamp has
//! moved on (the entry was touched, or the slot now holds a newer entry) is
//! re-filed in the heap under the current stamp; one whose slot's stamp is 0
//! (the entry is gone) is dropped. So a read costs nothing here, an entry
//! read many times between two evictions is re-filed at most once, and no
//! per-slot state is kept besides the caller's stamps. A slot can briefly
//! have two records with one stamp; the second is re-filed or dropped when it
//! comes out, and a rebuild bounds how many there can be.
//!
//! Victims are handed out in batches with the stamps they had: the caller
//! takes the first victim whose current stamp still matches. Entries touched,
//! deleted or replaced since the batch was made no longer match, untouched
//! ones keep their relative order, and everything touched since is more
//! recent than all of them, so this is still the exact LRU entry.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::expiry::ExpiryIndex;

/// Log operation tags, in the two high bits of the first word of each pair.
/// An entry was inserted in the slot; the second word is its stamp.
pub const OP_INSERT: u32 = 0;
/// The entry's expiry time changed (the second word is unused).
pub const OP_EXPIRY: u32 = 1 << 30;
/// The entry is gone (the second word is unused).
pub const OP_DELETE: u32 = 2 << 30;
const OP_KIND: u32 = 3 << 30;
/// Largest slot number the log can carry.
pub const MAX_SLOT: u32 = (1 << 30) - 1;
/// Stamps must stay below this; [`Recency::renumber`] makes room.
pub const STAMP_LIMIT: u32 = u32::MAX - 1;

/// What [`Recency::victims`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VictimBatch {
  /// Victims written to the output, oldest first.
  pub count: usize,
  /// How many of them, at the front of the batch, were expired.
  pub expired: usize,
  /// The earliest expiry time of any entry that is not among the batch's
  /// expired victims (`f64::INFINITY` when none): once the clock passes it,
  /// the batch no longer lists every expired entry.
  pub next_expiry: f64,
}

/// Errors from malformed input (a log or stamps array that does not fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecencyError {
  /// A slot number is beyond the stamps array.
  SlotOutOfRange(u32),
  /// The log holds an odd number of words.
  OddLog,
  /// `used` is beyond the stamps array.
  UsedOutOfRange(usize),
}

impl std::fmt::Display for RecencyError {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      RecencyError::SlotOutOfRange(s) => write!(f, "slot {s} is beyond the stamps array"),
      RecencyError::OddLog => write!(f, "the operation log must hold pairs of words"),
      RecencyError::UsedOutOfRange(n) => write!(f, "{n} slots used is beyond the stamps array"),
    }
  }
}

impl std::error::Error for RecencyError {}

/// Recency bookkeeping over stamps kept by the caller.
#[derive(Debug, Default)]
pub struct Recency {
  /// Records of inserts, in stamp order.
  queue: VecDeque<(u32, u32)>,
  /// Records of entries found touched, by stamp.
  heap: BinaryHeap<Reverse<(u32, u32)>>,
  /// Records popped for the last batch of victims, to file again.
  last_batch: Vec<(u32, u32)>,
  /// Scratch space of `readmit_last_batch`.
  moved: Vec<(u32, u32)>,
  /// Slots below this have had their records filed: the caller's `used`
  /// at the last replay that passed it (see `file_fresh`).
  fresh_from: usize,
  expiry: ExpiryIndex,
}

impl Recency {
  pub fn new() -> Self {
    Recency::default()
  }

  /// Bytes of native memory held, for accounting.
  pub fn heap_bytes(&self) -> usize {
    self.queue.capacity() * 8
      + self.heap.capacity() * 8
      + self.last_batch.capacity() * 8
      + self.expiry.heap_bytes()
  }

  /// Replays an operation log of `(op | slot, stamp)` pairs. `expiry_of(slot)`
  /// gives the current expiry time of a slot (only called when `track_expiry`).
  ///
  /// `used`, when given, is how many slots the caller has handed out, in
  /// order: slots from the `used` of the previous replay up to this one are
  /// *fresh*, and inserts into them need not be logged (see `file_fresh`).
  /// `None` files nothing but the log. A caller that passes `used` must pass
  /// it at every replay (the one before each [`Recency::victims`],
  /// [`Recency::oldest`] or [`Recency::renumber`] included), and may lower
  /// it only after [`Recency::clear`].
  ///
  /// The whole log is checked before any of it is applied: a refused call
  /// changes nothing.
  pub fn apply(
    &mut self,
    log: &[u32],
    stamps: &[u32],
    used: Option<usize>,
    track_expiry: bool,
    expiry_of: impl Fn(u32) -> f64,
  ) -> Result<(), RecencyError> {
    if !log.len().is_multiple_of(2) {
      return Err(RecencyError::OddLog);
    }
    if let Some(used) = used.filter(|&used| used > stamps.len()) {
      return Err(RecencyError::UsedOutOfRange(used));
    }
    for pair in log.chunks_exact(2) {
      let slot = pair[0] & !OP_KIND;
      if slot as usize >= stamps.len() {
        return Err(RecencyError::SlotOutOfRange(slot));
      }
    }
    // Room first, so that the inserts below do not double the queue.
    self.reserve_for(stamps.len());
    // Fresh records first: logged inserts stamped after them follow them in
    // the queue (the others go to the heap).
    let fresh = used.map_or(0..0, |used| self.file_fresh(stamps, used));
    let expiry = |slot: u32| {
      if track_expiry {
        expiry_of(slot)
      } else {
        f64::INFINITY
      }
    };
    for pair in log.chunks_exact(2) {
      let slot = pair[0] & !OP_KIND;
      match pair[0] & OP_KIND {
        OP_INSERT => self.insert(slot, pair[1], expiry(slot)),
        OP_EXPIRY => {
          if track_expiry {
            self.expiry_changed(slot, expiry_of(slot));
          }
        }
        _ => self.remove(slot),
      }
    }
    if track_expiry {
      // After the log, whose deletes may be of fresh slots handed out
      // again since (from the free list, unlogged): a live fresh slot
      // expires when the caller says it does now.
      for slot in fresh {
        if stamps[slot] != 0 {
          self.set_expiry(slot as u32, expiry_of(slot as u32));
        }
      }
    }
    self.maintain(stamps);
    Ok(())
  }

  /// Files a record for every live slot in `fresh_from..used`: the slots
  /// handed out since the last replay, whose inserts the caller did not log
  /// (nor those of entries it put there again after deleting one). Returns
  /// that range, whose expiry times `apply` indexes after the log.
  ///
  /// Every stamp such a slot ever had was written since the last replay,
  /// so it is above every record already filed. Each record gets the least
  /// current stamp among its slot and the fresh slots after it: at most its
  /// slot's stamp, as a record must be, and ascending, so that they follow
  /// the queue in order. An entry inserted and left alone is filed under
  /// its exact stamp (slots are handed out in stamp order); one read since
  /// gets a lower stamp, and is re-filed under its own when popped, as a
  /// logged insert would have been.
  fn file_fresh(&mut self, stamps: &[u32], used: usize) -> std::ops::Range<usize> {
    let from = self.fresh_from.min(used);
    self.fresh_from = used;
    let start = self.queue.len();
    let back = self.queue.back().map(|&(_, stamp)| stamp);
    for (slot, &stamp) in stamps[from..used].iter().enumerate() {
      if stamp != 0 {
        let slot = (from + slot) as u32;
        self.queue.push_back((slot, stamp));
      }
    }
    let mut least = u32::MAX;
    for record in self.queue.range_mut(start..).rev() {
      least = least.min(record.1);
      record.1 = least;
    }
    // A caller whose stamps did not grow since the last replay (it broke
    // the contract of `used`) still gets a sorted queue.
    if back.is_some_and(|back| {
      self
        .queue
        .get(start)
        .is_some_and(|&(_, first)| first < back)
    }) {
      for (slot, stamp) in self.queue.drain(start..) {
        self.heap.push(Reverse((stamp, slot)));
      }
    }
    from..used
  }

  /// Keeps the records in bounds after inserts: room for one per slot the
  /// caller has (allocated exactly), and a rebuild when stale ones pile up.
  pub fn maintain(&mut self, stamps: &[u32]) {
    self.reserve_for(stamps.len());
    self.compact_if_sparse(stamps);
  }

  /// An entry was inserted in `slot` with `stamp` (and expires at `expiry`).
  /// Inserts come in stamp order, so the record goes to the back of the
  /// queue, unless fresh slots filed since (`file_fresh`) went there with
  /// later stamps: then to the heap.
  pub fn insert(&mut self, slot: u32, stamp: u32, expiry: f64) {
    if self.queue.back().is_none_or(|&(_, last)| last <= stamp) {
      self.queue.push_back((slot, stamp));
    } else {
      self.heap.push(Reverse((stamp, slot)));
    }
    self.set_expiry(slot, expiry);
  }

  /// The entry in `slot` now expires at `expiry` (`INFINITY`: never).
  pub fn expiry_changed(&mut self, slot: u32, expiry: f64) {
    self.set_expiry(slot, expiry);
  }

  /// The entry in `slot` is gone (its stamp is 0 now).
  pub fn remove(&mut self, slot: u32) {
    self.set_expiry(slot, f64::INFINITY);
  }

  /// Makes room for `slots` records without over-allocating: the caller
  /// grows its stamps array to a bound (`max`), and the queue follows.
  fn reserve_for(&mut self, slots: usize) {
    if self.queue.capacity() < slots {
      self.queue.reserve_exact(slots - self.queue.len());
    }
  }

  /// Slots of entries expired at `now` (past their expiry time, as
  /// lru-cache counts it: an entry whose age equals its TTL is still live),
  /// earliest expiry first.
  pub fn expired(&self, now: f64) -> Vec<u32> {
    self.expiry.expired(now)
  }

  /// Indexes `slot` under `expiry` (`INFINITY` or NaN: never expires).
  fn set_expiry(&mut self, slot: u32, expiry: f64) {
    self.expiry.set(slot, expiry);
  }

  /// Stale records are dropped or re-filed lazily; when there are many more
  /// records than slots, rebuild them from the stamps.
  fn compact_if_sparse(&mut self, stamps: &[u32]) {
    let records = self.queue.len() + self.heap.len() + self.last_batch.len();
    if records > 2 * stamps.len() + 1024 {
      let mut live = live_by_stamp(stamps);
      live.sort_unstable();
      self.queue = live
        .into_iter()
        .map(|(stamp, slot)| (slot, stamp))
        .collect();
      self.heap = BinaryHeap::new();
      self.last_batch = Vec::new();
    }
  }

  /// Pops records in stamp order until one belongs to an untouched live
  /// entry; re-files stale ones. Returns `(slot, stamp)`.
  #[inline]
  fn pop_oldest(&mut self, stamps: &[u32]) -> Option<(u32, u32)> {
    loop {
      let from_queue = match (self.queue.front(), self.heap.peek()) {
        (None, None) => return None,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (Some(&(_, q)), Some(&Reverse((h, _)))) => q <= h,
      };
      let (slot, stamp) = if from_queue {
        self.queue.pop_front()?
      } else {
        let Reverse((stamp, slot)) = self.heap.pop()?;
        (slot, stamp)
      };
      match stamps.get(slot as usize).copied().unwrap_or(0) {
        0 => continue, // the entry is gone
        current if current == stamp => return Some((slot, stamp)),
        current => self.heap.push(Reverse((current, slot))),
      }
    }
  }

  /// Files again the records popped for the previous batch. A victim the
  /// caller left alone goes back under its stamp. A victim whose slot now
  /// has another stamp was either touched or evicted and its slot reused for
  /// a new entry without a log entry (the caller may do that: either way the
  /// slot holds a live entry with that stamp), and is filed under the new
  /// stamp: at the back of the queue when that keeps it sorted, which is the
  /// usual case for slots reused in order, else in the heap.
  fn readmit_last_batch(&mut self, stamps: &[u32]) {
    let mut batch = std::mem::take(&mut self.last_batch);
    let mut moved = std::mem::take(&mut self.moved);
    for &(slot, stamp) in &batch {
      match stamps.get(slot as usize).copied().unwrap_or(0) {
        0 => {}
        current if current == stamp => self.heap.push(Reverse((stamp, slot))),
        current => moved.push((current, slot)),
      }
    }
    // Slots reused in the order they were handed out come back sorted:
    // then they all go to the back of the queue when they follow it.
    let ascending = moved.windows(2).all(|w| w[0].0 < w[1].0);
    let follows =
      |queue: &VecDeque<(u32, u32)>, stamp: u32| queue.back().is_none_or(|&(_, last)| last < stamp);
    if ascending
      && moved
        .first()
        .is_some_and(|&(stamp, _)| follows(&self.queue, stamp))
    {
      self
        .queue
        .extend(moved.iter().map(|&(stamp, slot)| (slot, stamp)));
    } else {
      moved.sort_unstable();
      moved.dedup();
      for &(stamp, slot) in &moved {
        if follows(&self.queue, stamp) {
          self.queue.push_back((slot, stamp));
        } else {
          self.heap.push(Reverse((stamp, slot)));
        }
      }
    }
    moved.clear();
    batch.clear();
    self.moved = moved;
    self.last_batch = batch;
  }

  /// Fills `out_slots`/`out_stamps` with the next victims, oldest first:
  /// entries expired at `now` first, then the least recently used.
  pub fn victims(
    &mut self,
    out_slots: &mut [u32],
    out_stamps: &mut [u32],
    stamps: &[u32],
    now: f64,
  ) -> VictimBatch {
    self.readmit_last_batch(stamps);
    let cap = out_slots.len().min(out_stamps.len());
    let (mut count, next_expiry) = self
      .expiry
      .take_expired(stamps, now, cap, |i, slot, stamp| {
        out_slots[i] = slot;
        out_stamps[i] = stamp;
      });
    let expired = count;
    let mut previous = None;
    while count < cap {
      let Some((slot, stamp)) = self.pop_oldest(stamps) else {
        break;
      };
      // Two records of one slot and stamp come out one after the other
      // (stamps are unique per slot write): keep one.
      if previous == Some((slot, stamp)) {
        continue;
      }
      previous = Some((slot, stamp));
      self.last_batch.push((slot, stamp));
      if !out_slots[..expired].contains(&slot) {
        out_slots[count] = slot;
        out_stamps[count] = stamp;
        count += 1;
      }
    }
    VictimBatch {
      count,
      expired,
      next_expiry,
    }
  }

  /// The least recently used slot.
  pub fn oldest(&mut self, stamps: &[u32]) -> Option<u32> {
    self.readmit_last_batch(stamps);
    let (slot, stamp) = self.pop_oldest(stamps)?;
    self.heap.push(Reverse((stamp, slot)));
    Some(slot)
  }

  /// Live slots (stamp not 0) from most to least recently used.
  pub fn order(&self, stamps: &[u32]) -> Vec<u32> {
    let mut live = live_by_stamp(stamps);
    live.sort_unstable_by(|a, b| b.cmp(a));
    live.into_iter().map(|(_, slot)| slot).collect()
  }

  /// Rewrites every live stamp as 1, 2, 3... in the same order, so that
  /// stamps can keep growing without reaching [`STAMP_LIMIT`]. Returns the
  /// largest stamp now in use. Victims handed out before are void.
  pub fn renumber(&mut self, stamps: &mut [u32]) -> u32 {
    let order = self.order(stamps);
    self.queue.clear();
    self.heap.clear();
    self.last_batch.clear();
    let n = order.len() as u32;
    for (i, &slot) in order.iter().rev().enumerate() {
      let stamp = i as u32 + 1;
      stamps[slot as usize] = stamp;
      self.queue.push_back((slot, stamp));
    }
    n
  }

  /// Forgets everything and gives the memory back.
  pub fn clear(&mut self) {
    *self = Recency::new();
  }
}

/// `(stamp, slot)` of every live slot (stamp not 0), in slot order.
fn live_by_stamp(stamps: &[u32]) -> Vec<(u32, u32)> {
  stamps
    .iter()
    .enumerate()
    .filter(|(_, &stamp)| stamp != 0)
    .map(|(slot, &stamp)| (stamp, slot as u32))
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  /// A caller's side: stamps and a log, as lib/lru.js keeps them.
  struct Caller {
    stamps: Vec<u32>,
    log: Vec<u32>,
    tick: u32,
    expires: Vec<f64>,
  }

  impl Caller {
    fn new(slots: usize) -> Self {
      Caller {
        stamps: vec![0; slots],
        log: Vec::new(),
        tick: 0,
        expires: vec![f64::INFINITY; slots],
      }
    }
    fn insert(&mut self, slot: u32) {
      self.tick += 1;
      self.stamps[slot as usize] = self.tick;
      self.log.extend([OP_INSERT | slot, self.tick]);
    }
    fn touch(&mut self, slot: u32) {
      self.tick += 1;
      self.stamps[slot as usize] = self.tick;
    }
    fn delete(&mut self, slot: u32) {
      self.stamps[slot as usize] = 0;
      self.log.extend([OP_DELETE | slot, 0]);
    }
    fn sync(&mut self, r: &mut Recency) {
      let exp = self.expires.clone();
      r.apply(&self.log, &self.stamps, None, true, |s| exp[s as usize])
        .unwrap();
      self.log.clear();
    }
    fn batch(&mut self, r: &mut Recency, n: usize, now: f64) -> (Vec<u32>, VictimBatch) {
      self.sync(r);
      let mut slots = vec![0; n];
      let mut stamps = vec![0; n];
      let b = r.victims(&mut slots, &mut stamps, &self.stamps, now);
      slots.truncate(b.count);
      (slots, b)
    }
  }

  /// A fresh core and a caller of `capacity` slots holding entries in slots
  /// `0..n`, inserted in that order.
  fn filled(capacity: usize, n: u32) -> (Recency, Caller) {
    let mut c = Caller::new(capacity);
    for s in 0..n {
      c.insert(s);
    }
    (Recency::new(), c)
  }

  /// Four entries, of which a first batch took the two oldest as victims.
  fn two_victims_taken() -> (Recency, Caller) {
    let (mut r, mut c) = filled(8, 4);
    let (v, _) = c.batch(&mut r, 2, 0.0);
    assert_eq!(v, vec![0, 1]);
    (r, c)
  }

  #[test]
  fn untouched_entries_come_out_in_insert_order() {
    let (mut r, mut c) = filled(8, 5);
    let (v, b) = c.batch(&mut r, 3, 0.0);
    assert_eq!(v, vec![0, 1, 2]);
    assert_eq!(b.expired, 0);
  }

  #[test]
  fn touched_entries_move_behind_untouched_ones() {
    let (mut r, mut c) = filled(8, 5);
    c.touch(0);
    c.touch(2);
    c.touch(0);
    c.sync(&mut r);
    assert_eq!(r.order(&c.stamps), vec![0, 2, 4, 3, 1]);
    let (v, _) = c.batch(&mut r, 5, 0.0);
    assert_eq!(v, vec![1, 3, 4, 2, 0]);
  }

  #[test]
  fn unconsumed_victims_are_filed_again() {
    let (mut r, mut c) = two_victims_taken();
    // The caller evicts 0 by reusing its slot, touches 1, and asks again.
    c.insert(0);
    c.touch(1);
    let (v, _) = c.batch(&mut r, 4, 0.0);
    assert_eq!(v, vec![2, 3, 0, 1]);
    assert_eq!(r.order(&c.stamps).len(), 4);
  }

  #[test]
  fn victims_reused_without_a_log_keep_exact_order() {
    let (mut r, mut c) = two_victims_taken();
    // Evict 0 and 1 by stamping their slots for new entries, no log.
    c.touch(0);
    c.touch(1);
    c.touch(2); // and read entry 2
    let (v, _) = c.batch(&mut r, 4, 0.0);
    assert_eq!(v, vec![3, 0, 1, 2]);
    assert_eq!(r.order(&c.stamps).len(), 4);
    assert_eq!(r.order(&c.stamps), vec![2, 1, 0, 3]);
  }

  #[test]
  fn deleted_entries_are_never_victims() {
    let (mut r, mut c) = filled(8, 4);
    c.delete(1);
    c.delete(3);
    let (v, _) = c.batch(&mut r, 4, 0.0);
    assert_eq!(v, vec![0, 2]);
    assert_eq!(r.order(&c.stamps).len(), 2);
    c.insert(3);
    c.sync(&mut r);
    assert_eq!(r.order(&c.stamps), vec![3, 2, 0]);
  }

  #[test]
  fn expired_entries_come_first() {
    let mut r = Recency::new();
    let mut c = Caller::new(4);
    c.expires = vec![10.0, f64::INFINITY, 5.0, 50.0];
    for s in 0..4 {
      c.insert(s);
    }
    let (v, b) = c.batch(&mut r, 4, 20.0);
    assert_eq!(b.expired, 2);
    assert_eq!(b.next_expiry, 50.0);
    assert_eq!(v, vec![2, 0, 1, 3]);
  }

  #[test]
  fn expiry_index_follows_changes_and_deletes() {
    let mut r = Recency::new();
    let mut c = Caller::new(2);
    c.expires = vec![10.0, 20.0];
    c.insert(0);
    c.insert(1);
    c.sync(&mut r);
    c.expires[0] = 30.0;
    c.log.extend([OP_EXPIRY, 0]);
    c.delete(1);
    let (v, b) = c.batch(&mut r, 2, 25.0);
    assert_eq!(b.expired, 0);
    assert_eq!(b.next_expiry, 30.0);
    assert_eq!(v, vec![0]);
  }

  #[test]
  fn renumber_keeps_the_order() {
    let mut r = Recency::new();
    let mut c = Caller::new(6);
    c.tick = STAMP_LIMIT - 20;
    for s in 0..6 {
      c.insert(s);
    }
    c.touch(1);
    c.delete(4);
    c.sync(&mut r);
    let before = r.order(&c.stamps);
    let top = r.renumber(&mut c.stamps);
    assert_eq!(top, 5);
    assert_eq!(r.order(&c.stamps), before);
    assert_eq!(c.stamps.iter().copied().max(), Some(5));
    c.tick = top;
    let (v, _) = c.batch(&mut r, 6, 0.0);
    assert_eq!(v, vec![0, 2, 3, 5, 1]);
  }

  #[test]
  fn dead_records_are_compacted() {
    let mut r = Recency::new();
    let mut c = Caller::new(2);
    for _ in 0..10_000 {
      c.insert(0);
      c.delete(0);
      c.sync(&mut r);
    }
    assert!(r.heap_bytes() < 64 * 1024, "{} bytes", r.heap_bytes());
    assert!(r.order(&c.stamps).is_empty());
  }

  #[test]
  fn malformed_logs_are_refused() {
    let mut r = Recency::new();
    assert_eq!(
      r.apply(&[1], &[0; 4], None, false, |_| 0.0),
      Err(RecencyError::OddLog)
    );
    assert_eq!(
      r.apply(&[9, 1], &[0; 4], None, false, |_| 0.0),
      Err(RecencyError::SlotOutOfRange(9))
    );
  }

  #[test]
  fn used_beyond_the_stamps_is_refused_and_changes_nothing() {
    let mut r = Recency::new();
    assert_eq!(
      r.apply(&[OP_INSERT, 1], &[1, 0], Some(3), false, |_| 0.0),
      Err(RecencyError::UsedOutOfRange(3))
    );
    assert_eq!(
      r.apply(&[OP_INSERT, 1, 9, 1], &[1, 0], Some(2), false, |_| 0.0),
      Err(RecencyError::SlotOutOfRange(9))
    );
    assert_eq!(r.heap_bytes(), 0);
  }

  /// Stamps written into slots handed out in order, without a log.
  fn fresh(stamps: &[u32], expires: &[f64], used: usize, r: &mut Recency) {
    r.apply(&[], stamps, Some(used), true, |s| expires[s as usize])
      .unwrap();
  }

  #[test]
  fn fresh_slots_are_filed_without_a_log() {
    let mut r = Recency::new();
    let mut stamps = vec![1, 2, 3, 0, 0, 0];
    let mut expires = vec![f64::INFINITY; 6];
    fresh(&stamps, &expires, 3, &mut r);
    assert_eq!(r.order(&stamps), vec![2, 1, 0]);
    // Slot 3 and 4 handed out, 0 and 3 read, 4 expires at 5.
    stamps[3] = 4;
    stamps[4] = 5;
    expires[4] = 5.0;
    stamps[0] = 6;
    stamps[3] = 7;
    fresh(&stamps, &expires, 5, &mut r);
    let mut slots = [0; 6];
    let mut out = [0; 6];
    let b = r.victims(&mut slots, &mut out, &stamps, 10.0);
    assert_eq!((b.count, b.expired), (5, 1));
    assert_eq!(slots[..5], [4, 1, 2, 0, 3]);
    assert_eq!(out[..5], [5, 2, 3, 6, 7]);
  }

  #[test]
  fn fresh_slots_interleave_with_logged_inserts() {
    let mut r = Recency::new();
    let mut stamps = vec![1, 2, 0, 0];
    fresh(&stamps, &[f64::INFINITY; 4], 2, &mut r);
    // Slot 1 freed and given to a new entry (logged), then slot 2 handed
    // out fresh, then slot 0 freed and reused (logged), slot 3 fresh.
    stamps[1] = 3;
    stamps[2] = 4;
    stamps[0] = 5;
    stamps[3] = 6;
    let log = [
      OP_DELETE | 1,
      0,
      OP_INSERT | 1,
      3,
      OP_DELETE,
      0,
      OP_INSERT,
      5,
    ];
    r.apply(&log, &stamps, Some(4), false, |_| 0.0).unwrap();
    let mut slots = [0; 4];
    let mut out = [0; 4];
    let b = r.victims(&mut slots, &mut out, &stamps, 0.0);
    assert_eq!(b.count, 4);
    assert_eq!(slots, [1, 2, 0, 3]);
  }

  #[test]
  fn a_fresh_slot_deleted_before_the_replay_is_not_filed() {
    let mut r = Recency::new();
    let stamps = vec![1, 0, 3];
    let expires = [5.0, 6.0, f64::INFINITY];
    fresh(&stamps, &expires, 3, &mut r);
    assert_eq!(r.order(&stamps), vec![2, 0]);
    assert_eq!(r.expired(100.0), vec![0]);
    assert_eq!(r.queue.len(), 2);
  }

  #[test]
  fn fresh_slots_stamped_below_the_queue_still_come_out_in_order() {
    // A caller that breaks the contract of `used`: slot 1 handed out after
    // the replay that filed slot 0, but with a lower stamp.
    let mut r = Recency::new();
    let stamps = vec![10, 0];
    r.apply(&[OP_INSERT, 10], &stamps, Some(1), false, |_| 0.0)
      .unwrap();
    let stamps = vec![10, 5];
    r.apply(&[], &stamps, Some(2), false, |_| 0.0).unwrap();
    let mut slots = [0; 2];
    let mut out = [0; 2];
    let b = r.victims(&mut slots, &mut out, &stamps, 0.0);
    assert_eq!(b.count, 2);
    assert_eq!(slots, [1, 0]);
  }

  #[test]
  fn memory_grows_with_entries_not_up_front() {
    let mut r = Recency::new();
    assert_eq!(r.heap_bytes(), 0);
    let mut c = Caller::new(1);
    c.insert(0);
    c.sync(&mut r);
    assert!(r.heap_bytes() > 0 && r.heap_bytes() < 1024);
    r.clear();
    assert_eq!(r.heap_bytes(), 0);
  }
}
