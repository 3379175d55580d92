//! Tests of [`leakless_core::shared`]: threads hammering one store against
//! per-thread models of the keys each owns (the bound checked after every
//! operation), single-thread semantics, the registry, and deduplicated loads.
//!
//! `SHARED_OPS` overrides the number of operations of the concurrent test
//! (a million by default; fewer under Miri or ThreadSanitizer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use leakless_core::offheap::{number_key, KeyRef, ValueRef};
use leakless_core::shared::{
  self, Claim, Holder, Notify, OwnedKey, SharedConfig, SharedLookup, SharedStore, SharedStored,
  SharedValue, Waiter, SHARED_ENTRY_OVERHEAD,
};

fn config(max: usize, max_size: usize) -> SharedConfig {
  SharedConfig {
    max,
    max_size,
    ttl: 0.0,
    update_age_on_get: false,
    allow_stale: false,
  }
}

fn store(max: usize, max_size: usize) -> Holder {
  Holder::detached(SharedStore::new("test", config(max, max_size)))
}

fn k(s: &str) -> KeyRef<'_> {
  KeyRef::Utf8(s.as_bytes())
}

fn v(s: &str) -> ValueRef<'_> {
  ValueRef::Utf8(s.as_bytes())
}

fn text(value: &SharedValue) -> String {
  match value.as_ref() {
    ValueRef::Utf8(b) | ValueRef::Ascii(b) | ValueRef::Bytes(b) => {
      String::from_utf8(b.to_vec()).unwrap()
    }
    ValueRef::Utf16(u) => String::from_utf16(u).unwrap(),
  }
}

fn get_text(s: &SharedStore, key: &str, now: f64) -> Option<String> {
  s.get(k(key), now).value().map(|v| text(&v))
}

fn ops() -> usize {
  let default = if cfg!(miri) { 2_000 } else { 1_000_000 };
  std::env::var("SHARED_OPS")
    .ok()
    .and_then(|n| n.parse().ok())
    .unwrap_or(default)
}

/// A small deterministic generator (xorshift), one per thread.
struct Rng(u64);

impl Rng {
  fn next(&mut self) -> u64 {
    self.0 ^= self.0 << 13;
    self.0 ^= self.0 >> 7;
    self.0 ^= self.0 << 17;
    self.0
  }

  fn below(&mut self, n: u64) -> u64 {
    self.next() % n
  }
}

#[test]
fn eight_threads_against_their_models_with_the_bound_after_every_op() {
  const THREADS: usize = 8;
  const KEYS: u64 = 600;
  let max = 1_500;
  let max_size = 160 * 1024;
  let store = store(max, max_size);
  let per_thread = ops() / THREADS;
  let barrier = Barrier::new(THREADS);
  let reads_of_others = AtomicUsize::new(0);
  std::thread::scope(|scope| {
    for t in 0..THREADS {
      let store = store.clone();
      let barrier = &barrier;
      let reads_of_others = &reads_of_others;
      scope.spawn(move || {
        // wrapping_mul: the seed overflows from thread 6 on, and a thread
        // that panicked before the barrier would leave the others waiting.
        let mut rng =
          Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
        // What this thread last wrote to each of its keys (None: deleted).
        let mut model: HashMap<u64, Option<String>> = HashMap::new();
        barrier.wait();
        for i in 0..per_thread {
          let key_no = rng.below(KEYS);
          let key = format!("t{t}:{key_no}");
          match rng.below(100) {
            0..=39 => {
              let got = get_text(&store, &key, 0.0);
              if let Some(got) = got {
                assert_eq!(
                  Some(&Some(got.clone())),
                  model.get(&key_no),
                  "thread {t} read {key}"
                );
              }
            }
            40..=54 => {
              let other = rng.below(THREADS as u64);
              let key = format!("t{other}:{key_no}");
              if let Some(got) = get_text(&store, &key, 0.0) {
                assert!(got.starts_with(&format!("{key}=")), "{key} held {got}");
                reads_of_others.fetch_add(1, Ordering::Relaxed);
              }
            }
            55..=84 => {
              // Values of varied sizes, some large enough to force
              // evictions across shards.
              let longest = if rng.below(20) == 0 { 4000 } else { 200 };
              let pad = "x".repeat(rng.below(longest) as usize);
              let value = format!("{key}={i}{pad}");
              assert_eq!(
                store.set(k(&key), v(&value), 0.0, 0.0, None),
                SharedStored::Yes
              );
              model.insert(key_no, Some(value));
            }
            85..=94 => {
              let removed = store.delete(k(&key), 0.0);
              if removed {
                assert!(
                  matches!(model.get(&key_no), Some(Some(_))),
                  "{key} was not ours to delete"
                );
              }
              model.insert(key_no, None);
            }
            95..=97 => {
              if let Some(got) = store.peek(k(&key), 0.0, false) {
                assert_eq!(Some(&Some(text(&got))), model.get(&key_no));
              }
            }
            _ => {
              // Pops remove any thread's entry: each model allows absence.
              if let Some((OwnedKey::Utf8(popped), value)) = store.pop(0.0) {
                let popped = String::from_utf8(popped).unwrap();
                assert!(text(&value).starts_with(&format!("{popped}=")));
                if let Some(n) = popped.strip_prefix(&format!("t{t}:")) {
                  model.insert(n.parse().unwrap(), None);
                }
              }
            }
          }
          assert!(store.calculated_size() <= max_size, "bytes above maxSize");
          assert!(store.len() <= max, "entries above max");
        }
      });
    }
  });
  assert!(
    reads_of_others.load(Ordering::Relaxed) > 0,
    "threads saw each other's writes"
  );
  // Quiet now: the counters are exactly what the shards hold.
  assert_eq!(store.count_held(), (store.len(), store.calculated_size()));
  let c = store.counters();
  assert!(c.evictions > 0, "the bound forced evictions");
  assert!(c.hits > 0 && c.sets > 0);
  let held = store.len();
  assert_eq!(store.clear(), held);
  assert_eq!((store.len(), store.calculated_size()), (0, 0));
}

#[test]
fn sizes_bound_and_too_large_values() {
  let s = store(usize::MAX, 3 * (SHARED_ENTRY_OVERHEAD + 2));
  for key in ["a", "b", "c", "d", "e"] {
    assert_eq!(s.set(k(key), v("1"), 0.0, 0.0, None), SharedStored::Yes);
    assert!(s.calculated_size() <= 3 * (SHARED_ENTRY_OVERHEAD + 2));
  }
  assert_eq!(s.len(), 3);
  assert_eq!(s.calculated_size(), 3 * (SHARED_ENTRY_OVERHEAD + 2));
  assert_eq!(get_text(&s, "e", 0.0).as_deref(), Some("1"));
  let big = "z".repeat(4 * SHARED_ENTRY_OVERHEAD);
  assert_eq!(
    s.set(k("e"), v(&big), 0.0, 0.0, None),
    SharedStored::TooLarge
  );
  assert_eq!(
    get_text(&s, "e", 0.0),
    None,
    "the old value goes with a too large set"
  );
  assert_eq!(s.count_held(), (s.len(), s.calculated_size()));
}

#[test]
fn max_entries_evicts_least_recently_used_of_the_shard() {
  let s = store(1, usize::MAX);
  s.set(k("a"), v("1"), 0.0, 0.0, None);
  s.set(k("b"), v("2"), 0.0, 0.0, None);
  assert_eq!(s.len(), 1);
  assert_eq!(get_text(&s, "b", 0.0).as_deref(), Some("2"));
  assert_eq!(get_text(&s, "a", 0.0), None);
  // Replacing a key reuses its own room.
  s.set(k("b"), v("3"), 0.0, 0.0, None);
  assert_eq!(get_text(&s, "b", 0.0).as_deref(), Some("3"));
  assert_eq!(s.counters().evictions, 1);
}

#[test]
fn ttl_stale_and_update_age() {
  let mut c = config(100, usize::MAX);
  c.allow_stale = true;
  c.update_age_on_get = true;
  let s = Holder::detached(SharedStore::new("ttl", c));
  assert!(!s.is_timed());
  s.set(k("a"), v("1"), 10.0, 0.0, None);
  assert!(s.is_timed());
  assert_eq!(s.remaining_ttl(k("a"), 4.0), 6.0);
  assert!(matches!(s.get(k("a"), 5.0), SharedLookup::Hit(_)));
  assert_eq!(
    s.remaining_ttl(k("a"), 5.0),
    10.0,
    "updateAgeOnGet restarts the TTL"
  );
  assert!(s.has(k("a"), 14.0));
  // As lru-cache and the other storages: expired once its age is past the TTL.
  assert!(s.has(k("a"), 15.0), "live at age == ttl");
  assert!(!s.has(k("a"), 15.5));
  assert_eq!(s.peek(k("a"), 15.5, false), None);
  assert!(s.peek(k("a"), 15.5, true).is_some());
  assert!(
    matches!(s.get(k("a"), 15.5), SharedLookup::Stale(_)),
    "returned once"
  );
  assert_eq!(s.get(k("a"), 15.5), SharedLookup::Miss);
  s.set(k("b"), v("1"), 0.0, 0.0, None);
  assert_eq!(s.remaining_ttl(k("b"), 1e9), f64::INFINITY);
  assert_eq!(s.remaining_ttl(k("zz"), 0.0), 0.0);
  s.set(k("c"), v("1"), 5.0, 0.0, None);
  s.set(k("d"), v("1"), 0.0, 0.0, Some(3.0));
  assert_eq!(s.purge_stale(10.0), 2);
  assert_eq!(s.len(), 1);
  assert_eq!(s.counters().expirations, 3);
  assert!(!s.delete(k("c"), 10.0));
}

#[test]
fn keys_of_every_kind_and_values_come_back_equal() {
  let s = store(100, usize::MAX);
  let lone = [0xd800u16, 0x41];
  let keys = [
    KeyRef::Num(number_key(-0.0)),
    KeyRef::Num(number_key(f64::NAN)),
    KeyRef::Utf8("é".as_bytes()),
    KeyRef::Utf16(&lone),
    KeyRef::Utf8(b""),
  ];
  let values = [
    ValueRef::Bytes(&[0, 1, 2]),
    ValueRef::Utf16(&lone),
    ValueRef::Utf8("ü".as_bytes()),
    ValueRef::Utf8(b"ascii"),
    ValueRef::Bytes(&[]),
  ];
  for (key, value) in keys.iter().zip(values.iter()) {
    s.set(*key, *value, 0.0, 0.0, None);
  }
  assert_eq!(
    s.get(KeyRef::Num(number_key(0.0)), 0.0)
      .value()
      .unwrap()
      .as_ref(),
    values[0]
  );
  assert_eq!(s.get(keys[1], 0.0).value().unwrap().as_ref(), values[1]);
  // ASCII text is kept (and handed back) as such.
  assert_eq!(
    s.get(keys[3], 0.0).value().unwrap().as_ref(),
    ValueRef::Ascii(b"ascii")
  );
  assert_eq!(s.get(keys[2], 0.0).value().unwrap().as_ref(), values[2]);
  assert_eq!(s.get(keys[4], 0.0).value().unwrap().as_ref(), values[4]);
  let mut listed: Vec<OwnedKey> = s.entries(0.0).into_iter().map(|e| e.0).collect();
  listed.sort_by_key(|k| format!("{k:?}"));
  let mut expected: Vec<OwnedKey> = vec![
    OwnedKey::Num(number_key(0.0)),
    OwnedKey::Num(number_key(f64::NAN)),
    OwnedKey::Utf8("é".as_bytes().to_vec()),
    OwnedKey::Utf16(lone.to_vec()),
    OwnedKey::Utf8(vec![]),
  ];
  expected.sort_by_key(|k| format!("{k:?}"));
  assert_eq!(listed, expected);
  let mut popped = 0;
  while s.pop(0.0).is_some() {
    popped += 1;
  }
  assert_eq!((popped, s.len(), s.calculated_size()), (5, 0, 0));
}

#[test]
fn registry_creates_opens_refuses_mismatches_and_frees() {
  let a = shared::open("registry-test", config(10, usize::MAX)).unwrap();
  let b = shared::open("registry-test", config(10, usize::MAX)).unwrap();
  a.set(k("x"), v("1"), 0.0, 0.0, None);
  assert_eq!(get_text(&b, "x", 0.0).as_deref(), Some("1"));
  assert_eq!(a.holders(), 2);
  let err = shared::open("registry-test", config(10, 4096)).unwrap_err();
  assert_eq!(
    (err.option, err.existing.as_str(), err.given.as_str()),
    ("maxSize", "Infinity", "4096")
  );
  let mut ttl = config(10, usize::MAX);
  ttl.ttl = 1.5;
  assert_eq!(
    shared::open("registry-test", ttl).unwrap_err().option,
    "ttl"
  );
  let listed = shared::list()
    .into_iter()
    .find(|s| s.name == "registry-test")
    .unwrap();
  assert_eq!((listed.entries, listed.holders), (1, 2));
  let weak = a.downgrade();
  drop(a);
  assert_eq!(b.holders(), 1);
  drop(b);
  assert!(weak.upgrade().is_none(), "freed with its last holder");
  assert!(!shared::list().iter().any(|s| s.name == "registry-test"));
  // The name is free again, with other options.
  let c = shared::open("registry-test", config(3, 4096)).unwrap();
  assert_eq!(c.len(), 0);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<u64>>);

impl Notify for Recorder {
  fn notify(&self, token: u64) {
    self.0.lock().unwrap().push(token);
  }
}

fn waiter(rec: &Arc<Recorder>, token: u64) -> Waiter {
  Waiter {
    notify: rec.clone(),
    token,
  }
}

#[test]
fn loads_lead_wait_complete_and_abandon() {
  let s = store(100, usize::MAX);
  let rec = Arc::new(Recorder::default());
  let Claim::Lead(id) = s.claim(k("a"), 0.0, 1, waiter(&rec, 10)) else {
    panic!("the first claim leads");
  };
  assert_eq!(s.claim(k("a"), 0.0, 2, waiter(&rec, 11)), Claim::Wait);
  assert_eq!(s.claim(k("a"), 0.0, 3, waiter(&rec, 12)), Claim::Wait);
  // A failed load: waiters are told, one of them leads next.
  assert!(s.abandon(k("a"), id));
  assert!(!s.abandon(k("a"), id), "ended once");
  assert_eq!(*rec.0.lock().unwrap(), vec![11, 12]);
  let Claim::Lead(id2) = s.claim(k("a"), 0.0, 2, waiter(&rec, 11)) else {
    panic!("a waiter takes over");
  };
  assert_eq!(s.claim(k("a"), 0.0, 3, waiter(&rec, 12)), Claim::Wait);
  assert!(
    !s.complete(k("a"), id, v("stale"), 0.0, 0.0),
    "an ended load stores nothing"
  );
  assert!(s.complete(k("a"), id2, v("loaded"), 0.0, 0.0));
  assert_eq!(*rec.0.lock().unwrap(), vec![11, 12, 12]);
  assert_eq!(
    s.claim(k("a"), 0.0, 3, waiter(&rec, 12)),
    Claim::Hit(SharedValue::new(v("loaded")))
  );
  // A thread that goes away abandons what it leads.
  assert!(matches!(
    s.claim(k("b"), 0.0, 7, waiter(&rec, 20)),
    Claim::Lead(_)
  ));
  assert!(matches!(
    s.claim(k("c"), 0.0, 7, waiter(&rec, 21)),
    Claim::Lead(_)
  ));
  assert_eq!(s.claim(k("b"), 0.0, 8, waiter(&rec, 22)), Claim::Wait);
  assert_eq!(s.abandon_owner(7), 2);
  assert_eq!(rec.0.lock().unwrap().last(), Some(&22));
  assert_eq!(s.loads_in_flight(), 0);
}

#[test]
fn concurrent_claims_load_each_key_once() {
  const THREADS: usize = 8;
  let s = store(10_000, usize::MAX);
  let loads = AtomicUsize::new(0);
  let rec = Arc::new(Recorder::default());
  let barrier = Barrier::new(THREADS);
  let rounds = if cfg!(miri) { 5 } else { 2_000 };
  std::thread::scope(|scope| {
    for t in 0..THREADS {
      let (s, loads, rec, barrier) = (&s, &loads, &rec, &barrier);
      scope.spawn(move || {
        barrier.wait();
        for round in 0..rounds {
          let key = format!("k{round}");
          // Waiters retry until the value is there, as the JS side does
          // when notified.
          loop {
            match s.claim(k(&key), 0.0, t as u64, waiter(rec, t as u64)) {
              Claim::Hit(value) => {
                assert_eq!(text(&value), format!("v{round}"));
                break;
              }
              Claim::Lead(id) => {
                loads.fetch_add(1, Ordering::Relaxed);
                assert!(s.complete(k(&key), id, v(&format!("v{round}")), 0.0, 0.0));
              }
              Claim::Wait => std::thread::yield_now(),
            }
          }
        }
      });
    }
  });
  assert_eq!(loads.load(Ordering::Relaxed), rounds, "one load per key");
  assert_eq!(s.loads_in_flight(), 0);
}
