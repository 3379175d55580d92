//! Tests of [`leakless_core::pool`] through its public API: configuration,
//! size classes, leases and their reuse, zero-filling, release checks,
//! finalizers (current, stale, leaked), the leak records' bound, `max_bytes`,
//! trim and close, finalizer tokens, and a random walk
//! checked against counters kept on the side. The model-based property tests
//! are in `pool_model.rs`.

use leakless_core::pool::{
  token, untoken, AcquireError, ConfigError, Finalized, Leak, Lease, Pool, PoolConfig,
  ReleaseError, MAX_LEAK_RECORDS, MAX_POOLS, SERIAL_MASK,
};

const KB: usize = 1024;

fn pool(buffer_size: usize, max_bytes: usize, zero_fill: bool) -> Pool {
  Pool::new(PoolConfig {
    buffer_size,
    max_bytes,
    zero_fill,
  })
  .unwrap()
}

/// The lent bytes, as the binding's Buffer sees them.
fn bytes<'a>(lease: &Lease) -> &'a mut [u8] {
  // SAFETY: a lease is `len` bytes at `ptr`, allocated by the pool and
  // initialised (zero-filled or written by an earlier lease); the tests
  // use it only while the lease is lent and hold one slice of it at a time.
  unsafe { std::slice::from_raw_parts_mut(lease.ptr.as_ptr(), lease.len) }
}

fn release(p: &mut Pool, l: &Lease) -> Result<(), ReleaseError> {
  p.check_release(l.slot, l.ptr.as_ptr(), l.len, 0)?;
  p.release(l.slot)
}

#[test]
fn refuses_bad_configs() {
  let cfg = |buffer_size, max_bytes| PoolConfig {
    buffer_size,
    max_bytes,
    zero_fill: true,
  };
  assert_eq!(Pool::new(cfg(0, 10)).unwrap_err(), ConfigError::BufferSize);
  assert_eq!(
    Pool::new(cfg(usize::MAX, usize::MAX)).unwrap_err(),
    ConfigError::BufferSize
  );
  assert_eq!(
    Pool::new(cfg(4096, 4095)).unwrap_err(),
    ConfigError::MaxBytes
  );
  assert!(Pool::new(cfg(4096, 4096)).is_ok());
}

#[test]
fn classes_are_powers_of_two_up_to_buffer_size() {
  let p = pool(16 * KB, 64 * KB, true);
  assert_eq!(p.class_size(1), 64);
  assert_eq!(p.class_size(64), 64);
  assert_eq!(p.class_size(65), 128);
  assert_eq!(p.class_size(1024), 1024);
  assert_eq!(p.class_size(1025), 2048);
  assert_eq!(p.class_size(16 * KB), 16 * KB);
  let odd = pool(1500, 64 * KB, true);
  assert_eq!(odd.class_size(1024), 1024);
  assert_eq!(odd.class_size(1025), 1500);
  assert_eq!(odd.class_size(1500), 1500);
  let tiny = pool(50, 64 * KB, true);
  assert_eq!(tiny.class_size(1), 50);
  assert_eq!(tiny.class_size(50), 50);
}

#[test]
fn lease_has_exact_size_and_reuses_its_slot() {
  let mut p = pool(16 * KB, 64 * KB, true);
  let a = p.acquire(1500, 1, 0).unwrap();
  assert_eq!(a.len, 1500);
  assert_eq!(a.serial, 1);
  let s = p.stats();
  assert_eq!(
    (s.in_use, s.in_use_bytes, s.lent_len_bytes, s.reserved_bytes),
    (1, 2048, 1500, 2048)
  );
  release(&mut p, &a).unwrap();
  let b = p.acquire(2000, 2, 0).unwrap();
  assert_eq!(b.ptr, a.ptr, "the free slot of the class is reused");
  assert_eq!(p.stats().reserved_bytes, 2048);
}

#[test]
fn a_slot_is_never_lent_twice() {
  let mut p = pool(4 * KB, 64 * KB, true);
  let leases: Vec<Lease> = (0..16).map(|i| p.acquire(4 * KB, i, 0).unwrap()).collect();
  let mut ptrs: Vec<usize> = leases.iter().map(|l| l.ptr.as_ptr() as usize).collect();
  ptrs.sort();
  ptrs.dedup();
  assert_eq!(ptrs.len(), 16);
  assert_eq!(p.acquire(4 * KB, 99, 0), Err(AcquireError::Exhausted));
}

#[test]
fn zero_fill_clears_what_the_previous_lease_wrote() {
  let mut p = pool(4 * KB, 64 * KB, true);
  let a = p.acquire(4 * KB, 1, 0).unwrap();
  assert!(bytes(&a).iter().all(|&b| b == 0));
  bytes(&a).fill(0xAB);
  release(&mut p, &a).unwrap();
  let b = p.acquire(4 * KB, 2, 0).unwrap();
  assert_eq!(b.ptr, a.ptr);
  assert!(bytes(&b).iter().all(|&b| b == 0));
  // A shorter lease, then a longer one: the tail was never exposed.
  bytes(&b)[..100].fill(0xCD);
  release(&mut p, &b).unwrap();
  let c = p.acquire(3000, 3, 0).unwrap();
  assert!(bytes(&c).iter().all(|&b| b == 0));
}

#[test]
fn without_zero_fill_old_bytes_may_remain() {
  let mut p = pool(4 * KB, 64 * KB, false);
  let a = p.acquire(4 * KB, 1, 0).unwrap();
  bytes(&a).fill(7);
  release(&mut p, &a).unwrap();
  let b = p.acquire(4 * KB, 2, 0).unwrap();
  assert_eq!(bytes(&b)[0], 7);
}

#[test]
fn release_validates_the_memory() {
  let mut p = pool(4 * KB, 64 * KB, true);
  let a = p.acquire(1000, 1, 0).unwrap();
  let base = a.ptr.as_ptr();
  assert_eq!(
    p.check_release(a.slot, base, 999, 0),
    Err(ReleaseError::Mismatch)
  );
  assert_eq!(
    p.check_release(a.slot, base.wrapping_add(1), 999, 1),
    Err(ReleaseError::Mismatch)
  );
  assert_eq!(
    p.check_release(a.slot, base, 1000, 4),
    Err(ReleaseError::Mismatch)
  );
  assert_eq!(
    p.check_release(a.slot + 1, base, 1000, 0),
    Err(ReleaseError::NotLent)
  );
  assert_eq!(
    p.check_release(u32::MAX, base, 1000, 0),
    Err(ReleaseError::NotLent)
  );
  assert_eq!(p.stats().in_use, 1, "refusals change nothing");
  release(&mut p, &a).unwrap();
  assert_eq!(release(&mut p, &a), Err(ReleaseError::NotLent));
  assert_eq!(p.release(a.slot), Err(ReleaseError::NotLent));
  let s = p.stats();
  assert_eq!((s.acquired, s.released, s.in_use, s.idle), (1, 1, 0, 1));
}

#[test]
fn stale_finalizers_are_ignored() {
  let mut p = pool(4 * KB, 64 * KB, true);
  let a = p.acquire(4 * KB, 1, 0).unwrap();
  release(&mut p, &a).unwrap();
  let b = p.acquire(4 * KB, 2, 0).unwrap();
  assert_eq!(b.ptr, a.ptr);
  // The finalizer of the released lease 1 arrives while lease 2 holds the slot.
  assert_eq!(p.finalize(a.ptr.as_ptr() as usize, 1, 10), Finalized::Stale);
  assert_eq!(p.stats().in_use, 1);
  assert_eq!(p.stats().leaked, 0);
  release(&mut p, &b).unwrap();
  assert_eq!(p.finalize(b.ptr.as_ptr() as usize, 2, 10), Finalized::Stale);
  assert_eq!(p.finalize(12345, 2, 10), Finalized::Stale);
}

#[test]
fn collected_leases_are_leaks() {
  let mut p = pool(16 * KB, 64 * KB, true);
  let a = p.acquire(10_000, 7, 100).unwrap();
  bytes(&a).fill(0xEE);
  assert_eq!(
    p.finalize(a.ptr.as_ptr() as usize, 7, 350),
    Finalized::Leaked
  );
  let s = p.stats();
  assert_eq!((s.in_use, s.idle, s.leaked, s.released), (0, 1, 1, 0));
  assert_eq!(p.pending_leaks(), 1);
  assert_eq!(
    p.take_leaks(),
    vec![Leak {
      serial: 7,
      slot: a.slot,
      size: 10_000,
      age: 250
    }]
  );
  assert_eq!(p.pending_leaks(), 0);
  // The slot came back cleared.
  let b = p.acquire(16 * KB, 8, 400).unwrap();
  assert_eq!(b.ptr, a.ptr);
  assert!(bytes(&b).iter().all(|&b| b == 0));
  // A second finalizer for the same lease is stale.
  assert_eq!(
    p.finalize(a.ptr.as_ptr() as usize, 7, 500),
    Finalized::Stale
  );
}

#[test]
fn leak_records_are_bounded() {
  let mut p = pool(64, 1 << 20, false);
  for i in 0..(MAX_LEAK_RECORDS as u64 + 10) {
    let l = p.acquire(64, i, 0).unwrap();
    assert_eq!(p.finalize(l.ptr.as_ptr() as usize, i, 0), Finalized::Leaked);
  }
  assert_eq!(p.stats().leaked, MAX_LEAK_RECORDS as u64 + 10);
  assert_eq!(p.take_leaks().len(), MAX_LEAK_RECORDS);
}

#[test]
fn max_bytes_bounds_memory_and_idle_classes_make_room() {
  let mut p = pool(16 * KB, 32 * KB, true);
  let small = p.acquire(1024, 1, 0).unwrap();
  release(&mut p, &small).unwrap();
  let a = p.acquire(16 * KB, 2, 0).unwrap();
  // 1 KiB idle + 16 KiB lent: a second 16 KiB slot must free the idle 1 KiB.
  let b = p.acquire(16 * KB, 3, 0).unwrap();
  let s = p.stats();
  assert_eq!((s.reserved_bytes, s.idle, s.in_use), (32 * KB, 0, 2));
  assert_eq!(p.acquire(1, 4, 0), Err(AcquireError::Exhausted));
  assert_eq!(p.stats().acquired, 2 + 1, "a refusal is not an acquisition");
  release(&mut p, &a).unwrap();
  release(&mut p, &b).unwrap();
  assert!(p.stats().high_water_bytes >= 32 * KB);
}

#[test]
fn sizes_are_checked() {
  let mut p = pool(4 * KB, 64 * KB, true);
  assert_eq!(p.acquire(0, 1, 0), Err(AcquireError::BadSize));
  assert_eq!(p.acquire(4 * KB + 1, 1, 0), Err(AcquireError::BadSize));
}

#[test]
fn trim_and_close_free_idle_memory() {
  let mut p = pool(16 * KB, 1 << 20, true);
  let leases: Vec<Lease> = (0..4).map(|i| p.acquire(16 * KB, i, 0).unwrap()).collect();
  for l in &leases[..3] {
    release(&mut p, l).unwrap();
  }
  assert_eq!(p.trim(), 48 * KB);
  assert_eq!(p.trim(), 0);
  assert_eq!(p.stats().reserved_bytes, 16 * KB);
  let again = p.acquire(100, 10, 0).unwrap();
  release(&mut p, &again).unwrap();
  assert_eq!(p.close(), 128);
  assert_eq!(p.close(), 0);
  assert_eq!(p.acquire(1, 11, 0), Err(AcquireError::Closed));
  let last = &leases[3];
  assert_eq!(release(&mut p, last), Err(ReleaseError::Closed));
  assert_eq!(p.stats().in_use, 1, "the lent slot stays valid");
  assert_eq!(
    p.finalize(last.ptr.as_ptr() as usize, 3, 0),
    Finalized::Reclaimed
  );
  let s = p.stats();
  assert_eq!((s.reserved_bytes, s.in_use, s.leaked), (0, 0, 0));
}

#[test]
fn cancel_undoes_an_acquire() {
  let mut p = pool(4 * KB, 64 * KB, true);
  let a = p.acquire(4 * KB, 1, 0).unwrap();
  bytes(&a)[0] = 1;
  p.cancel(a.slot, 1);
  let s = p.stats();
  assert_eq!((s.acquired, s.in_use, s.idle), (0, 0, 1));
  p.cancel(a.slot, 1);
  assert_eq!(p.stats().idle, 1);
  let b = p.acquire(4 * KB, 2, 0).unwrap();
  assert_eq!(bytes(&b)[0], 0);
}

#[test]
fn unseen_bytes_exclude_lent_buffers() {
  let mut p = pool(16 * KB, 1 << 20, true);
  let a = p.acquire(1500, 1, 0).unwrap();
  assert_eq!(p.unseen_bytes(), 2048 - 1500);
  release(&mut p, &a).unwrap();
  assert_eq!(p.unseen_bytes(), 2048);
  p.trim();
  assert_eq!(p.unseen_bytes(), 0);
}

#[test]
fn slices_are_found_for_messages() {
  let mut p = pool(4 * KB, 64 * KB, true);
  let a = p.acquire(100, 1, 0).unwrap();
  let base = a.ptr.as_ptr() as usize;
  assert_eq!(p.lent_slot_containing(base + 10), Some(a.slot));
  assert_eq!(p.lent_slot_containing(base + 100), None);
  release(&mut p, &a).unwrap();
  assert_eq!(p.lent_slot_containing(base), None);
}

#[test]
fn tokens_round_trip() {
  for (id, serial) in [
    (0, 1),
    (5, 123_456_789),
    ((MAX_POOLS - 1) as u32, SERIAL_MASK),
  ] {
    assert_eq!(untoken(token(id, serial)), (id, serial));
  }
}

/// A random walk over acquire / release / finalize (current and stale) /
/// trim, checked against a model: no two live leases share memory, every
/// new zero-filled lease reads zeros, and the counters add up.
#[test]
fn random_walk_keeps_the_invariants() {
  let mut rng = 0x2545_F491_4F6C_DD1Du64;
  let mut next = move || {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    rng
  };
  let mut p = pool(8 * KB, 64 * KB, true);
  let mut live: Vec<Lease> = Vec::new();
  let mut dead: Vec<(usize, u64)> = Vec::new(); // finalizers still to come
  let mut serial = 0u64;
  let (mut acquired, mut released, mut leaked) = (0u64, 0u64, 0u64);
  for _ in 0..20_000 {
    match next() % 6 {
      0 | 1 => {
        serial += 1;
        let size = 1 + (next() % (8 * KB as u64)) as usize;
        match p.acquire(size, serial, 0) {
          Ok(l) => {
            acquired += 1;
            assert!(
              bytes(&l).iter().all(|&b| b == 0),
              "lease {serial} shows old bytes"
            );
            for o in &live {
              let (a0, a1) = (l.ptr.as_ptr() as usize, l.ptr.as_ptr() as usize + l.len);
              let (b0, b1) = (o.ptr.as_ptr() as usize, o.ptr.as_ptr() as usize + o.len);
              assert!(a1 <= b0 || b1 <= a0, "two live leases overlap");
            }
            bytes(&l).fill((serial % 251) as u8 + 1);
            live.push(l);
          }
          Err(AcquireError::Exhausted) => {
            assert!(p.stats().in_use_bytes + p.class_size(size) > 64 * KB)
          }
          Err(e) => panic!("{e:?}"),
        }
      }
      2 if !live.is_empty() => {
        let l = live.swap_remove((next() % live.len() as u64) as usize);
        release(&mut p, &l).unwrap();
        released += 1;
        dead.push((l.ptr.as_ptr() as usize, l.serial));
      }
      3 if !live.is_empty() => {
        let l = live.swap_remove((next() % live.len() as u64) as usize);
        assert_eq!(
          p.finalize(l.ptr.as_ptr() as usize, l.serial, 0),
          Finalized::Leaked
        );
        leaked += 1;
      }
      4 if !dead.is_empty() => {
        let (addr, s) = dead.swap_remove((next() % dead.len() as u64) as usize);
        assert_eq!(p.finalize(addr, s, 0), Finalized::Stale);
      }
      5 if next() % 50 == 0 => {
        p.trim();
      }
      _ => {}
    }
    let s = p.stats();
    assert_eq!(s.in_use, live.len());
    assert_eq!(
      (s.acquired, s.released, s.leaked),
      (acquired, released, leaked)
    );
    assert!(s.reserved_bytes <= 64 * KB);
    assert_eq!(s.lent_len_bytes, live.iter().map(|l| l.len).sum::<usize>());
  }
  p.take_leaks();
}
