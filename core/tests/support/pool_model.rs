//! Model harness of [`leakless_core::pool::Pool`]: the slot state machine
//! driven through acquire, release, finalize, trim and close in any order,
//! with the binding's part played here (it "writes" into lent memory, and a
//! released Buffer is detached, so a second release names no memory).
//!
//! After every step:
//! - a lease never overlaps the memory of another lease still out (lent and
//!   neither released nor collected): a slot is never handed out twice, and
//!   never reused before its Buffer was detached or finalized;
//! - a zero-filling pool lends only zeros;
//! - a finalizer of a lease that was released is ignored, even when its slot
//!   was lent again since;
//! - `max_bytes` holds, and the counters match the model.
//!
//! Shared by the property test (core/tests/pool_model.rs) and the fuzz target
//! (fuzz/fuzz_targets/pool.rs).

#![allow(dead_code)]

use arbitrary::{Result, Unstructured};
use leakless_core::pool::{AcquireError, Finalized, Pool, PoolConfig, ReleaseError};

use super::runner::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
  /// Lent to the caller.
  Out,
  /// Released: its Buffer was detached, its finalizer is still to come.
  Released,
  /// Collected: the finalizer ran (as a leak, or after release).
  Gone,
}

#[derive(Debug, Clone)]
struct Lease {
  serial: u64,
  slot: u32,
  addr: usize,
  len: usize,
  cap: usize,
  status: Status,
}

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
  Acquire(usize),
  /// Release the `n`th lease (modulo the number of leases made).
  Release(usize),
  /// The finalizer of the `n`th lease runs (its Buffer was collected).
  Finalize(usize),
  Trim,
  Close,
}

pub struct Harness {
  pool: Pool,
  config: PoolConfig,
  leases: Vec<Lease>,
  next_serial: u64,
  now: u64,
  leaked: u64,
  released: u64,
  closed: bool,
}

impl Harness {
  fn out(&self) -> impl Iterator<Item = &Lease> {
    self.leases.iter().filter(|l| l.status == Status::Out)
  }

  fn acquire(&mut self, size: usize) {
    let serial = self.next_serial;
    self.next_serial += 1;
    let result = self.pool.acquire(size, serial, self.now);
    if self.closed {
      assert_eq!(result, Err(AcquireError::Closed));
      return;
    }
    if size == 0 || size > self.config.buffer_size {
      assert_eq!(result, Err(AcquireError::BadSize));
      return;
    }
    let cap = self.pool.class_size(size);
    let out_bytes: usize = self.out().map(|l| l.cap).sum();
    let lease = match result {
      Err(AcquireError::Exhausted) => {
        // Idle slots are freed to make room, so only what is out can stop it.
        assert!(
          out_bytes + cap > self.config.max_bytes,
          "refused with room left"
        );
        return;
      }
      Err(e) => panic!("acquire({size}) failed: {e:?}"),
      Ok(lease) => lease,
    };
    assert_eq!(lease.len, size);
    assert_eq!(lease.serial, serial);
    let addr = lease.ptr.as_ptr() as usize;
    for other in self.out() {
      assert_ne!(other.slot, lease.slot, "slot {} lent twice", lease.slot);
      let disjoint = addr + cap <= other.addr || other.addr + other.cap <= addr;
      assert!(
        disjoint,
        "lease overlaps the memory of lease {} still out",
        other.serial
      );
    }
    // SAFETY: the pool lent `size` bytes at `ptr` to this caller.
    let bytes = unsafe { std::slice::from_raw_parts_mut(lease.ptr.as_ptr(), size) };
    if self.config.zero_fill {
      assert!(
        bytes.iter().all(|&b| b == 0),
        "a zero-filled lease shows old bytes"
      );
    }
    // The caller writes into what it was lent.
    bytes.fill(0xa5);
    self.leases.push(Lease {
      serial,
      slot: lease.slot,
      addr,
      len: size,
      cap,
      status: Status::Out,
    });
  }

  /// The `n`th lease made (modulo their number) with its index, unless
  /// there is none or its Buffer was collected already.
  fn pick(&self, n: usize) -> Option<(usize, Lease)> {
    if self.leases.is_empty() {
      return None;
    }
    let i = n % self.leases.len();
    let lease = &self.leases[i];
    (lease.status != Status::Gone).then(|| (i, lease.clone()))
  }

  fn release(&mut self, n: usize) {
    // A collected Buffer cannot be released.
    let Some((i, lease)) = self.pick(n) else {
      return;
    };
    // A released Buffer was detached: it names no memory any more.
    let (ptr, len) = match lease.status {
      Status::Out => (lease.addr as *const u8, lease.len),
      _ => (std::ptr::null(), 0),
    };
    let checked = self.pool.check_release(lease.slot, ptr, len, 0);
    if self.closed {
      assert_eq!(checked, Err(ReleaseError::Closed));
      return;
    }
    if lease.status == Status::Released {
      assert!(checked.is_err(), "a released Buffer was accepted again");
      return;
    }
    assert_eq!(checked, Ok(()));
    assert_eq!(self.pool.release(lease.slot), Ok(()));
    self.leases[i].status = Status::Released;
    self.released += 1;
  }

  fn finalize(&mut self, n: usize) {
    // A finalizer runs once.
    let Some((i, lease)) = self.pick(n) else {
      return;
    };
    let found = self.pool.finalize(lease.addr, lease.serial, self.now);
    match lease.status {
      Status::Released => assert_eq!(
        found,
        Finalized::Stale,
        "the late finalizer of a released lease acted"
      ),
      Status::Out if self.closed => assert_eq!(found, Finalized::Reclaimed),
      Status::Out => {
        assert_eq!(found, Finalized::Leaked);
        self.leaked += 1;
      }
      Status::Gone => unreachable!(),
    }
    self.leases[i].status = Status::Gone;
  }

  fn check(&self) {
    let s = self.pool.stats();
    assert_eq!(s.in_use, self.out().count(), "in_use");
    assert_eq!(
      s.in_use_bytes,
      self.out().map(|l| l.cap).sum::<usize>(),
      "in_use_bytes"
    );
    assert_eq!(
      s.lent_len_bytes,
      self.out().map(|l| l.len).sum::<usize>(),
      "lent_len_bytes"
    );
    assert_eq!(s.leaked, self.leaked, "leaked");
    assert_eq!(s.released, self.released, "released");
    assert_eq!(s.reserved_bytes, s.in_use_bytes + s.idle_bytes);
    assert!(
      s.reserved_bytes <= self.config.max_bytes,
      "max_bytes exceeded"
    );
    assert!(self.pool.pending_leaks() as u64 <= self.leaked);
  }
}

impl Model for Harness {
  type Config = PoolConfig;
  type Op = Op;

  fn new(config: PoolConfig) -> Harness {
    Harness {
      pool: Pool::new(config).expect("a valid configuration"),
      config,
      leases: Vec::new(),
      next_serial: 1,
      now: 0,
      leaked: 0,
      released: 0,
      closed: false,
    }
  }

  fn step(&mut self, op: &Op) {
    self.now += 1;
    match *op {
      Op::Acquire(size) => self.acquire(size),
      Op::Release(n) => self.release(n),
      Op::Finalize(n) => self.finalize(n),
      Op::Trim => {
        let before = self.pool.stats();
        let freed = self.pool.trim();
        assert_eq!(freed, before.idle_bytes, "trim frees every idle byte");
        assert_eq!(self.pool.stats().idle, 0);
      }
      Op::Close => {
        self.pool.close();
        self.closed = true;
        assert_eq!(self.pool.stats().idle_bytes, 0);
      }
    }
    self.check();
  }

  fn config_from(u: &mut Unstructured<'_>) -> Result<PoolConfig> {
    config_from(u)
  }

  fn op_from(&self, u: &mut Unstructured<'_>) -> Result<Op> {
    op_from(u, &self.config)
  }
}

pub fn config_from(u: &mut Unstructured<'_>) -> Result<PoolConfig> {
  let buffer_size = *u.choose(&[1usize, 64, 100, 1024, 4096])?;
  let max_bytes = buffer_size * u.int_in_range(1..=8usize)? + u.int_in_range(0..=256usize)?;
  Ok(PoolConfig {
    buffer_size,
    max_bytes: max_bytes.max(buffer_size),
    zero_fill: u.arbitrary()?,
  })
}

pub fn op_from(u: &mut Unstructured<'_>, config: &PoolConfig) -> Result<Op> {
  Ok(match u.int_in_range(0..=19u8)? {
    0..=7 => Op::Acquire(match u.int_in_range(0..=9u8)? {
      0 => 0,
      1 => config.buffer_size + 1,
      2 => config.buffer_size,
      _ => u.int_in_range(1..=config.buffer_size)?,
    }),
    8..=12 => Op::Release(u.arbitrary()?),
    13..=17 => Op::Finalize(u.arbitrary()?),
    18 => Op::Trim,
    _ => {
      if u.ratio(1, 4)? {
        Op::Close
      } else {
        Op::Trim
      }
    }
  })
}
