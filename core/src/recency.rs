//! Recency order and victim selection for an LRU whose keys and values live
//! elsewhere (in JS arrays, for the heap LRU).
//!
//! Entries are named by *slot* numbers chosen by the caller. The caller does
//! not tell us about each access as it happens: it appends operations to a
//! log ([`OP_TOUCH`], [`OP_SET`], [`OP_DELETE`] tagged slot numbers) and hands
//! us the log in batches ([`Recency::apply`]). The order only has to be exact
//! when somebody asks for victims or for the iteration order, and by then the
//! log has been replayed.
//!
//! Victims are handed out in batches too ([`Recency::victims`]): the least
//! recently used slots, oldest first, preceded by the expired ones when
//! entries have a time to live. Each victim in a batch is marked in a `flags`
//! byte array shared with the caller, and the caller clears a slot's flag on
//! every touch or delete. So, between two batches, the true LRU entry is the
//! first victim of the batch whose flag is still set: untouched entries keep
//! their relative order, and everything touched since is more recent than all
//! of them. See `lib/lru.js` for the caller's side.

use std::collections::BTreeSet;

/// Operation tags, in the two high bits of each log word.
pub const OP_TOUCH: u32 = 0;
/// The entry was written (inserted or replaced): move it to the front and
/// re-read its expiry time.
pub const OP_SET: u32 = 1 << 30;
/// The entry is gone: unlink it.
pub const OP_DELETE: u32 = 2 << 30;
const OP_KIND: u32 = 3 << 30;
/// Largest slot number the log can carry.
pub const MAX_SLOT: u32 = (1 << 30) - 1;

const NIL: u32 = u32::MAX;
const UNLINKED: u32 = u32::MAX - 1;

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

/// A totally ordered expiry time (finite, non-negative milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Expiry(f64);
impl Eq for Expiry {}
impl Ord for Expiry {
  fn cmp(&self, other: &Self) -> std::cmp::Ordering {
    self.0.total_cmp(&other.0)
  }
}

/// Doubly linked recency list over slot numbers, plus an index of expiry
/// times for entries that have one.
#[derive(Debug, Default)]
pub struct Recency {
  prev: Vec<u32>,
  next: Vec<u32>,
  /// Most recently used slot.
  head: u32,
  /// Least recently used slot.
  tail: u32,
  len: usize,
  /// Expiry time each slot is indexed under (`INFINITY`: not indexed).
  indexed_expiry: Vec<f64>,
  by_expiry: BTreeSet<(Expiry, u32)>,
  /// The victims handed out by the last call to [`Recency::victims`], whose
  /// flags are still ours to clear.
  last_batch: Vec<u32>,
}

impl Recency {
  pub fn new() -> Self {
    Recency {
      head: NIL,
      tail: NIL,
      ..Default::default()
    }
  }

  /// Number of linked slots.
  pub fn len(&self) -> usize {
    self.len
  }

  pub fn is_empty(&self) -> bool {
    self.len == 0
  }

  /// Bytes of native memory held, for accounting.
  pub fn heap_bytes(&self) -> usize {
    self.prev.capacity() * 4
      + self.next.capacity() * 4
      + self.indexed_expiry.capacity() * 8
      + self.last_batch.capacity() * 4
      // A B-tree node holds up to 11 keys of 16 bytes plus edges; about 24
      // bytes per key is what it costs when nodes are two-thirds full.
      + self.by_expiry.len() * 24
  }

  /// One more than the largest slot number seen: the length a `flags`
  /// array passed to [`Recency::victims`] must have at least.
  pub fn slots(&self) -> usize {
    self.prev.len()
  }

  /// Whether `slot` is in the list.
  pub fn contains(&self, slot: u32) -> bool {
    (slot as usize) < self.prev.len() && self.prev[slot as usize] != UNLINKED
  }

  fn ensure(&mut self, slot: u32) {
    let need = slot as usize + 1;
    if need > self.prev.len() {
      // Grow like a Vec would, but never by less than what is needed.
      let target = need.max(self.prev.len() * 2).max(16);
      self.prev.reserve_exact(target - self.prev.len());
      self.next.reserve_exact(target - self.next.len());
      self.prev.resize(need, UNLINKED);
      self.next.resize(need, NIL);
    }
  }

  fn unlink(&mut self, slot: u32) {
    let s = slot as usize;
    let (p, n) = (self.prev[s], self.next[s]);
    if p == NIL {
      self.head = n;
    } else {
      self.next[p as usize] = n;
    }
    if n == NIL {
      self.tail = p;
    } else {
      self.prev[n as usize] = p;
    }
    self.prev[s] = UNLINKED;
    self.next[s] = NIL;
    self.len -= 1;
  }

  fn push_front(&mut self, slot: u32) {
    let s = slot as usize;
    self.prev[s] = NIL;
    self.next[s] = self.head;
    if self.head == NIL {
      self.tail = slot;
    } else {
      self.prev[self.head as usize] = slot;
    }
    self.head = slot;
    self.len += 1;
  }

  /// Makes `slot` the most recently used, linking it if it was not linked.
  pub fn touch(&mut self, slot: u32) {
    assert!(slot <= MAX_SLOT, "slot {slot} out of range");
    self.ensure(slot);
    if self.head == slot {
      return;
    }
    if self.prev[slot as usize] != UNLINKED {
      self.unlink(slot);
    }
    self.push_front(slot);
  }

  /// Removes `slot` from the list and the expiry index; absent slots are ignored.
  pub fn remove(&mut self, slot: u32) {
    if self.contains(slot) {
      self.unlink(slot);
    }
    self.set_expiry(slot, f64::INFINITY);
  }

  /// Indexes `slot` under `expiry` (`INFINITY` or NaN: never expires).
  pub fn set_expiry(&mut self, slot: u32, expiry: f64) {
    let s = slot as usize;
    let expiry = if expiry.is_nan() { f64::INFINITY } else { expiry };
    let old = self.indexed_expiry.get(s).copied().unwrap_or(f64::INFINITY);
    if old == expiry {
      return;
    }
    if old != f64::INFINITY {
      self.by_expiry.remove(&(Expiry(old), slot));
    }
    if expiry != f64::INFINITY {
      if s >= self.indexed_expiry.len() {
        let target = (s + 1).max(self.indexed_expiry.len() * 2).max(16);
        self.indexed_expiry.reserve_exact(target - self.indexed_expiry.len());
        self.indexed_expiry.resize(s + 1, f64::INFINITY);
      }
      self.by_expiry.insert((Expiry(expiry), slot));
    }
    if s < self.indexed_expiry.len() {
      self.indexed_expiry[s] = expiry;
    }
  }

  /// Replays an operation log. `expiry_of(slot)` gives the current expiry
  /// time of a slot for [`OP_SET`] entries (only called when `track_expiry`).
  pub fn apply(&mut self, ops: &[u32], track_expiry: bool, expiry_of: impl Fn(u32) -> f64) {
    for &op in ops {
      let slot = op & !OP_KIND;
      match op & OP_KIND {
        OP_TOUCH => self.touch(slot),
        OP_SET => {
          self.touch(slot);
          if track_expiry {
            self.set_expiry(slot, expiry_of(slot));
          }
        }
        _ => self.remove(slot),
      }
    }
  }

  /// Fills `out` with the next victims, oldest first: entries expired at
  /// `now` first, then the least recently used. Sets `flags[slot] = 1` for
  /// each victim and clears the flags of the previous batch. `flags` must be
  /// at least as long as the largest slot number plus one.
  pub fn victims(&mut self, out: &mut [u32], flags: &mut [u8], now: f64) -> VictimBatch {
    for &slot in &self.last_batch {
      if let Some(f) = flags.get_mut(slot as usize) {
        *f = 0;
      }
    }
    self.last_batch.clear();
    let mut count = 0;
    let mut next_expiry = f64::INFINITY;
    for &(Expiry(at), slot) in &self.by_expiry {
      if at > now || count == out.len() {
        next_expiry = at;
        break;
      }
      out[count] = slot;
      flags[slot as usize] = 1;
      count += 1;
    }
    let expired = count;
    let mut cursor = self.tail;
    while cursor != NIL && count < out.len() {
      if flags[cursor as usize] == 0 {
        out[count] = cursor;
        flags[cursor as usize] = 1;
        count += 1;
      }
      cursor = self.prev[cursor as usize];
    }
    self.last_batch.extend_from_slice(&out[..count]);
    VictimBatch {
      count,
      expired,
      next_expiry,
    }
  }

  /// The least recently used slot.
  pub fn lru(&self) -> Option<u32> {
    (self.tail != NIL).then_some(self.tail)
  }

  /// Writes slots from most to least recently used into `out`; returns how many.
  pub fn order(&self, out: &mut [u32]) -> usize {
    let mut cursor = self.head;
    let mut count = 0;
    while cursor != NIL && count < out.len() {
      out[count] = cursor;
      count += 1;
      cursor = self.next[cursor as usize];
    }
    count
  }

  /// Slots from most to least recently used.
  pub fn order_vec(&self) -> Vec<u32> {
    let mut out = vec![0; self.len];
    let n = self.order(&mut out);
    out.truncate(n);
    out
  }

  /// Forgets everything and gives the memory back.
  pub fn clear(&mut self) {
    *self = Recency::new();
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn touch_orders_most_recent_first() {
    let mut r = Recency::new();
    r.apply(&[0, 1, 2, 1], false, |_| f64::INFINITY);
    assert_eq!(r.order_vec(), vec![1, 2, 0]);
    assert_eq!(r.lru(), Some(0));
    r.apply(&[OP_DELETE], false, |_| f64::INFINITY);
    assert_eq!(r.order_vec(), vec![1, 2]);
    assert_eq!(r.len(), 2);
  }

  #[test]
  fn deleting_an_absent_slot_is_harmless() {
    let mut r = Recency::new();
    r.apply(&[OP_DELETE | 7, 3, OP_DELETE | 3, OP_DELETE | 3], false, |_| 0.0);
    assert!(r.is_empty());
    assert_eq!(r.lru(), None);
  }

  #[test]
  fn victims_are_oldest_first_and_flagged() {
    let mut r = Recency::new();
    r.apply(&[0, 1, 2, 3, 4], false, |_| f64::INFINITY);
    let mut out = [0u32; 3];
    let mut flags = [0u8; 5];
    let b = r.victims(&mut out, &mut flags, 0.0);
    assert_eq!(b.count, 3);
    assert_eq!(b.expired, 0);
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(flags, [1, 1, 1, 0, 0]);
    // A second batch clears the first one's flags.
    r.apply(&[0], false, |_| f64::INFINITY);
    let b = r.victims(&mut out, &mut flags, 0.0);
    assert_eq!(&out[..b.count], &[1, 2, 3]);
    assert_eq!(flags, [0, 1, 1, 1, 0]);
  }

  #[test]
  fn expired_entries_come_first() {
    let mut r = Recency::new();
    let expiry = [10.0, f64::INFINITY, 5.0, 50.0];
    r.apply(&[OP_SET, OP_SET | 1, OP_SET | 2, OP_SET | 3], true, |s| expiry[s as usize]);
    let mut out = [0u32; 4];
    let mut flags = [0u8; 4];
    let b = r.victims(&mut out, &mut flags, 20.0);
    assert_eq!(b.expired, 2);
    assert_eq!(b.next_expiry, 50.0);
    assert_eq!(&out[..b.count], &[2, 0, 1, 3]);
  }

  #[test]
  fn expiry_index_follows_rewrites_and_deletes() {
    let mut r = Recency::new();
    let mut expiry = [10.0, 20.0];
    r.apply(&[OP_SET, OP_SET | 1], true, |s| expiry[s as usize]);
    expiry[0] = 30.0;
    r.apply(&[OP_SET], true, |s| expiry[s as usize]);
    r.apply(&[OP_DELETE | 1], true, |s| expiry[s as usize]);
    let mut out = [0u32; 2];
    let mut flags = [0u8; 2];
    let b = r.victims(&mut out, &mut flags, 25.0);
    assert_eq!(b.expired, 0);
    assert_eq!(b.next_expiry, 30.0);
    assert_eq!(&out[..b.count], &[0]);
  }

  #[test]
  fn memory_grows_with_slots_not_up_front() {
    let mut r = Recency::new();
    assert_eq!(r.heap_bytes(), 0);
    r.touch(0);
    let small = r.heap_bytes();
    assert!(small > 0 && small < 1024);
    r.clear();
    assert_eq!(r.heap_bytes(), 0);
  }
}
