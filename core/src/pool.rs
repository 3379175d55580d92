//! The engine of `BufferPool`: slots of native memory lent out as Buffers.
//!
//! A pool keeps slots in size classes: powers of two from [`MIN_CLASS`] up to
//! (excluding) `buffer_size`, plus `buffer_size` itself as the largest class.
//! Each slot is its own allocation, so freeing idle memory (`trim`, `close`,
//! making room under `max_bytes`) is exact.
//!
//! A slot moves through these states:
//!
//! ```text
//!            acquire                  release (after the binding detached the Buffer)
//!   Vacant ──────────▶ Lent(serial) ──────────────────────────────▶ Free ──┐
//!     ▲   (allocates)       │         finalize(serial) (Buffer collected)   │
//!     │                     └──────────────────────────────────────▶ Free  │
//!     └──────────────────────────── trim / close / make room ◀─────────────┘
//! ```
//!
//! Every lease carries a serial that is unique on its thread. The finalizer of
//! a released Buffer still runs later (Node calls it once the detached backing
//! store is gone); it names the lease by serial, and finds the slot either
//! lent to a newer lease or free, so it is ignored. Only the finalizer of the
//! current lease frees a lent slot, and that is a leak: the Buffer was
//! collected without `release`. A slot is therefore never handed out twice,
//! and never reused before its Buffer was detached or collected.
//!
//! In a zero-filling pool, free slots hold only zeros: the bytes a lease could
//! see (its first `len` bytes) are cleared when it comes back, so `acquire`
//! needs no `memset` and a new lease never shows an old one's bytes.
//!
//! This module has no Node.js inside; the binding (`src/pool.rs` of the root
//! crate) creates and detaches the Buffers and reports memory to V8.

use std::alloc::{self, Layout};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;

/// Smallest slot size: requests up to this many bytes share one class.
pub const MIN_CLASS: usize = 64;
/// Alignment of every slot, enough for any typed array over a pool Buffer.
pub const ALIGN: usize = 16;
/// Leak records kept per pool until they are taken; later leaks are counted
/// but not recorded, so the record queue itself cannot grow without bound.
pub const MAX_LEAK_RECORDS: usize = 4096;
/// Bits of a finalizer token that name the pool; the rest carry the serial.
pub const POOL_BITS: u32 = 20;
/// Most pools alive at once on one thread.
pub const MAX_POOLS: usize = 1 << POOL_BITS;
const SERIAL_BITS: u32 = usize::BITS - POOL_BITS;
// 44 bits of serial: a stale finalizer could only be mistaken for a current
// lease after 2^44 leases on one thread while it waited for its turn.
const _: () = assert!(usize::BITS >= 64, "finalizer tokens need 64-bit pointers");
/// The serial bits a finalizer token keeps: serials are compared modulo this.
pub const SERIAL_MASK: u64 = (1u64 << SERIAL_BITS) - 1;

/// How a pool is configured. Validated by [`Pool::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
  /// Largest request, and the size of the largest class.
  pub buffer_size: usize,
  /// Most bytes the pool keeps (idle and lent slots together).
  pub max_bytes: usize,
  /// Leases start zero-filled; otherwise they may hold old bytes.
  pub zero_fill: bool,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
  /// `buffer_size` is 0 or too large to allocate.
  BufferSize,
  /// `max_bytes` is smaller than `buffer_size`.
  MaxBytes,
}

/// Why `acquire` gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
  /// The pool is closed.
  Closed,
  /// The size is 0 or larger than `buffer_size`.
  BadSize,
  /// Taking a slot would exceed `max_bytes`, or the allocator failed.
  Exhausted,
}

/// Why `release` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseError {
  /// The pool is closed.
  Closed,
  /// The slot is not lent (released already, collected, or never lent).
  NotLent,
  /// The memory given is not exactly the lease's (a slice, or another Buffer).
  Mismatch,
}

/// What a finalizer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalized {
  /// The current lease was collected without release: the slot is free
  /// again and a [`Leak`] was recorded (or counted, past the record limit).
  Leaked,
  /// The current lease of a closed pool was collected: its memory was freed.
  Reclaimed,
  /// The lease had been released already (or the pool forgot the slot).
  Stale,
}

/// A slot lent out: the binding makes a Buffer of `len` bytes at `ptr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
  /// Index of the slot in its pool.
  pub slot: u32,
  /// Serial of this lease, unique on the thread.
  pub serial: u64,
  /// Start of the lent memory.
  pub ptr: NonNull<u8>,
  /// Bytes lent.
  pub len: usize,
}

/// A Buffer that was collected without being released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leak {
  /// Serial of the lease.
  pub serial: u64,
  /// Slot it occupied.
  pub slot: u32,
  /// Bytes of the Buffer.
  pub size: usize,
  /// Time between acquire and finalization, in the caller's clock unit.
  pub age: u64,
}

/// Counters and sizes of one pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
  /// Slots lent out now.
  pub in_use: usize,
  /// Slots allocated and free.
  pub idle: usize,
  /// Capacity of the lent slots.
  pub in_use_bytes: usize,
  /// Capacity of the free slots.
  pub idle_bytes: usize,
  /// All allocated slots: `in_use_bytes + idle_bytes`.
  pub reserved_bytes: usize,
  /// Largest `reserved_bytes` so far.
  pub high_water_bytes: usize,
  /// Bytes of the lent Buffers (at most `in_use_bytes`).
  pub lent_len_bytes: usize,
  /// Leases handed out.
  pub acquired: u64,
  /// Leases given back by `release`.
  pub released: u64,
  /// Leases collected without `release`.
  pub leaked: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
  /// No memory: the record waits for reuse.
  Vacant,
  /// Memory allocated, ready to lend.
  Free,
  /// Memory lent to the lease `serial`.
  Lent,
}

#[derive(Debug)]
struct Slot {
  ptr: *mut u8,
  class: u8,
  state: State,
  serial: u64,
  len: usize,
  since: u64,
}

#[derive(Debug)]
struct Class {
  cap: usize,
  free: Vec<u32>,
}

/// Hashes slot addresses (16-byte aligned) for the finalizer's lookup.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
  fn finish(&self) -> u64 {
    self.0
  }
  fn write(&mut self, bytes: &[u8]) {
    for &b in bytes {
      self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
  }
  fn write_usize(&mut self, n: usize) {
    self.0 = ((n as u64) >> 4)
      .wrapping_mul(0x9E37_79B9_7F4A_7C15)
      .rotate_left(29);
  }
}

type AddrMap = HashMap<usize, u32, BuildHasherDefault<AddrHasher>>;

/// One pool: its slots, classes and counters.
#[derive(Debug)]
pub struct Pool {
  config: PoolConfig,
  classes: Vec<Class>,
  slots: Vec<Slot>,
  vacant: Vec<u32>,
  by_addr: AddrMap,
  closed: bool,
  reserved: usize,
  in_use_bytes: usize,
  lent_len: usize,
  in_use: usize,
  high_water: usize,
  acquired: u64,
  released: u64,
  leaked: u64,
  leaks: VecDeque<Leak>,
}

impl Pool {
  /// Makes an empty pool: memory is allocated as leases need it.
  pub fn new(config: PoolConfig) -> Result<Pool, ConfigError> {
    if config.buffer_size == 0 || Layout::from_size_align(config.buffer_size, ALIGN).is_err() {
      return Err(ConfigError::BufferSize);
    }
    if config.max_bytes < config.buffer_size {
      return Err(ConfigError::MaxBytes);
    }
    let mut classes = Vec::new();
    let mut cap = MIN_CLASS;
    while cap < config.buffer_size {
      classes.push(Class {
        cap,
        free: Vec::new(),
      });
      cap *= 2;
    }
    classes.push(Class {
      cap: config.buffer_size,
      free: Vec::new(),
    });
    Ok(Pool {
      config,
      classes,
      slots: Vec::new(),
      vacant: Vec::new(),
      by_addr: AddrMap::default(),
      closed: false,
      reserved: 0,
      in_use_bytes: 0,
      lent_len: 0,
      in_use: 0,
      high_water: 0,
      acquired: 0,
      released: 0,
      leaked: 0,
      leaks: VecDeque::new(),
    })
  }

  /// The configuration.
  pub fn config(&self) -> PoolConfig {
    self.config
  }

  /// Capacity of the slot that serves `size` bytes (`size` in `1..=buffer_size`).
  pub fn class_size(&self, size: usize) -> usize {
    self.classes[self.class_of(size)].cap
  }

  fn class_of(&self, size: usize) -> usize {
    let idx = if size <= MIN_CLASS {
      0
    } else {
      (usize::BITS - (size - 1).leading_zeros()) as usize - MIN_CLASS.trailing_zeros() as usize
    };
    idx.min(self.classes.len() - 1)
  }

  /// Lends a slot for `size` bytes as lease `serial`, at time `now`.
  pub fn acquire(&mut self, size: usize, serial: u64, now: u64) -> Result<Lease, AcquireError> {
    if self.closed {
      return Err(AcquireError::Closed);
    }
    if size == 0 || size > self.config.buffer_size {
      return Err(AcquireError::BadSize);
    }
    let class = self.class_of(size);
    let idx = match self.classes[class].free.pop() {
      Some(idx) => idx,
      None => self.grow(class)?,
    };
    let cap = self.classes[class].cap;
    let slot = &mut self.slots[idx as usize];
    debug_assert_eq!(slot.state, State::Free);
    slot.state = State::Lent;
    slot.serial = serial;
    slot.len = size;
    slot.since = now;
    self.in_use += 1;
    self.in_use_bytes += cap;
    self.lent_len += size;
    self.acquired += 1;
    Ok(Lease {
      slot: idx,
      serial,
      // SAFETY: a Free slot always has memory.
      ptr: unsafe { NonNull::new_unchecked(slot.ptr) },
      len: size,
    })
  }

  /// Allocates a slot of `class`, freeing idle slots of other classes first
  /// when `max_bytes` would be exceeded.
  fn grow(&mut self, class: usize) -> Result<u32, AcquireError> {
    let cap = self.classes[class].cap;
    if self.reserved + cap > self.config.max_bytes {
      let need = self.reserved + cap - self.config.max_bytes;
      self.free_idle(need);
      if self.reserved + cap > self.config.max_bytes {
        return Err(AcquireError::Exhausted);
      }
    }
    let layout = Layout::from_size_align(cap, ALIGN).map_err(|_| AcquireError::Exhausted)?;
    // SAFETY: `cap` is non-zero.
    let ptr = unsafe {
      if self.config.zero_fill {
        alloc::alloc_zeroed(layout)
      } else {
        alloc::alloc(layout)
      }
    };
    if ptr.is_null() {
      return Err(AcquireError::Exhausted);
    }
    let record = Slot {
      ptr,
      class: class as u8,
      state: State::Free,
      serial: 0,
      len: 0,
      since: 0,
    };
    let idx = match self.vacant.pop() {
      Some(idx) => {
        self.slots[idx as usize] = record;
        idx
      }
      None => {
        self.slots.push(record);
        (self.slots.len() - 1) as u32
      }
    };
    self.by_addr.insert(ptr as usize, idx);
    self.reserved += cap;
    self.high_water = self.high_water.max(self.reserved);
    Ok(idx)
  }

  /// Gives back a lease that never reached JS (its Buffer could not be
  /// made): the slot is free again and no counter moves.
  pub fn cancel(&mut self, slot: u32, serial: u64) {
    let Some(s) = self.slots.get_mut(slot as usize) else {
      return;
    };
    if s.state != State::Lent || s.serial != serial {
      return;
    }
    let cap = self.classes[s.class as usize].cap;
    let len = s.len;
    self.in_use -= 1;
    self.in_use_bytes -= cap;
    self.lent_len -= len;
    self.acquired -= 1;
    self.make_free(slot, len);
  }

  /// Checks that `ptr`/`len` is exactly the memory of the lease in `slot`
  /// (`byte_offset` of the view within its ArrayBuffer must be 0). Nothing
  /// changes; the binding detaches the Buffer, then calls [`Pool::release`].
  pub fn check_release(
    &self,
    slot: u32,
    ptr: *const u8,
    len: usize,
    byte_offset: usize,
  ) -> Result<(), ReleaseError> {
    if self.closed {
      return Err(ReleaseError::Closed);
    }
    let s = self.slots.get(slot as usize).ok_or(ReleaseError::NotLent)?;
    if s.state != State::Lent {
      return Err(ReleaseError::NotLent);
    }
    if !std::ptr::eq(s.ptr, ptr) || s.len != len || byte_offset != 0 {
      return Err(ReleaseError::Mismatch);
    }
    Ok(())
  }

  /// Takes back the lease in `slot`, whose Buffer the binding has detached:
  /// no view can read the memory any more, so it is cleared (in a
  /// zero-filling pool) and free for the next lease at once.
  pub fn release(&mut self, slot: u32) -> Result<(), ReleaseError> {
    if self.closed {
      return Err(ReleaseError::Closed);
    }
    let s = self.slots.get(slot as usize).ok_or(ReleaseError::NotLent)?;
    if s.state != State::Lent {
      return Err(ReleaseError::NotLent);
    }
    let cap = self.classes[s.class as usize].cap;
    let len = s.len;
    self.in_use -= 1;
    self.in_use_bytes -= cap;
    self.lent_len -= len;
    self.released += 1;
    self.make_free(slot, len);
    Ok(())
  }

  /// A lent slot comes back: clear what the lease could see and make it free.
  fn make_free(&mut self, slot: u32, len: usize) {
    let s = &mut self.slots[slot as usize];
    if self.config.zero_fill {
      // SAFETY: the slot holds `cap >= len` bytes and no Buffer views them.
      unsafe { std::ptr::write_bytes(s.ptr, 0, len) };
    }
    s.state = State::Free;
    s.len = 0;
    self.classes[s.class as usize].free.push(slot);
  }

  /// The finalizer of the Buffer of lease `serial` at `addr` ran at `now`.
  /// Only the low bits of `serial` that a finalizer token carries are
  /// compared (see [`token`]).
  pub fn finalize(&mut self, addr: usize, serial: u64, now: u64) -> Finalized {
    let Some(&idx) = self.by_addr.get(&addr) else {
      return Finalized::Stale;
    };
    let s = &self.slots[idx as usize];
    if s.state != State::Lent || (s.serial & SERIAL_MASK) != (serial & SERIAL_MASK) {
      return Finalized::Stale;
    }
    let cap = self.classes[s.class as usize].cap;
    let (len, since, full_serial) = (s.len, s.since, s.serial);
    self.in_use -= 1;
    self.in_use_bytes -= cap;
    self.lent_len -= len;
    if self.closed {
      self.slots[idx as usize].state = State::Free;
      self.free_slot(idx);
      return Finalized::Reclaimed;
    }
    self.leaked += 1;
    if self.leaks.len() < MAX_LEAK_RECORDS {
      self.leaks.push_back(Leak {
        serial: full_serial,
        slot: idx,
        size: len,
        age: now.saturating_sub(since),
      });
    }
    self.make_free(idx, len);
    Finalized::Leaked
  }

  /// Frees the memory of the free slot `idx`.
  fn free_slot(&mut self, idx: u32) {
    let s = &mut self.slots[idx as usize];
    debug_assert_eq!(s.state, State::Free);
    let cap = self.classes[s.class as usize].cap;
    self.by_addr.remove(&(s.ptr as usize));
    // SAFETY: allocated in `grow` with this layout; no Buffer views it.
    unsafe { alloc::dealloc(s.ptr, Layout::from_size_align_unchecked(cap, ALIGN)) };
    s.ptr = std::ptr::null_mut();
    s.state = State::Vacant;
    self.vacant.push(idx);
    self.reserved -= cap;
  }

  /// Frees idle slots, largest classes first, until `need` bytes were freed
  /// (or all of them with `usize::MAX`). Returns the bytes freed.
  fn free_idle(&mut self, need: usize) -> usize {
    let mut freed = 0;
    for class in (0..self.classes.len()).rev() {
      while freed < need {
        let Some(idx) = self.classes[class].free.pop() else {
          break;
        };
        freed += self.classes[class].cap;
        self.free_slot(idx);
      }
    }
    freed
  }

  /// Frees every idle slot. Returns the bytes freed.
  pub fn trim(&mut self) -> usize {
    self.free_idle(usize::MAX)
  }

  /// Frees every idle slot and refuses further leases and releases. Lent
  /// slots stay valid until their Buffers are collected. Returns the bytes
  /// freed now.
  pub fn close(&mut self) -> usize {
    self.closed = true;
    self.free_idle(usize::MAX)
  }

  /// Whether [`Pool::close`] was called.
  pub fn is_closed(&self) -> bool {
    self.closed
  }

  /// Leases not yet released nor collected.
  pub fn lent(&self) -> usize {
    self.in_use
  }

  /// The lent slot whose memory contains `addr`, if any (for error messages
  /// about views of pooled Buffers; not a fast path).
  pub fn lent_slot_containing(&self, addr: usize) -> Option<u32> {
    self
      .slots
      .iter()
      .position(|s| {
        s.state == State::Lent && addr >= s.ptr as usize && addr < s.ptr as usize + s.len.max(1)
      })
      .map(|i| i as u32)
  }

  /// Bytes this pool holds that V8 does not count: everything reserved
  /// except the bytes of lent Buffers (V8 counts external ArrayBuffers).
  pub fn unseen_bytes(&self) -> usize {
    self.reserved - self.lent_len
  }

  /// Leak records waiting to be taken.
  pub fn pending_leaks(&self) -> usize {
    self.leaks.len()
  }

  /// Takes the waiting leak records, oldest first.
  pub fn take_leaks(&mut self) -> Vec<Leak> {
    self.leaks.drain(..).collect()
  }

  /// Current counters.
  pub fn stats(&self) -> PoolStats {
    PoolStats {
      in_use: self.in_use,
      idle: self.classes.iter().map(|c| c.free.len()).sum(),
      in_use_bytes: self.in_use_bytes,
      idle_bytes: self.reserved - self.in_use_bytes,
      reserved_bytes: self.reserved,
      high_water_bytes: self.high_water,
      lent_len_bytes: self.lent_len,
      acquired: self.acquired,
      released: self.released,
      leaked: self.leaked,
    }
  }
}

impl Drop for Pool {
  /// Frees all memory, lent slots included: the owner drops a pool only when
  /// no Buffer can read it any more (the binding, src/pool.rs, keeps an orphaned pool until its last Buffer is collected).
  fn drop(&mut self) {
    for s in &self.slots {
      if !s.ptr.is_null() {
        let cap = self.classes[s.class as usize].cap;
        // SAFETY: allocated in `grow` with this layout.
        unsafe { alloc::dealloc(s.ptr, Layout::from_size_align_unchecked(cap, ALIGN)) };
      }
    }
  }
}

/// The finalizer token of lease `serial` of pool `id`: a pointer-sized
/// value handed to Node as the finalize hint of the Buffer. Serials are
/// unique on the thread, so a late finalizer can never be mistaken for a
/// lease of a pool that reused the id.
pub fn token(id: u32, serial: u64) -> usize {
  (id as usize) | (((serial & SERIAL_MASK) as usize) << POOL_BITS)
}

/// Pool id and (low bits of the) serial of a token.
pub fn untoken(token: usize) -> (u32, u64) {
  (
    (token & (MAX_POOLS - 1)) as u32,
    (token >> POOL_BITS) as u64,
  )
}
