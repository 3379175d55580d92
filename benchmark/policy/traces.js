'use strict'

// Request traces for the hit-ratio benchmark, generated from a fixed seed so
// that every run (and every simulator) sees the same requests. Keys are
// integers from 1.

const KEYS = 100_000
const REQUESTS = 1_000_000

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** A sampler of ranks 1..n with P(k) proportional to 1 / k^alpha. */
function zipf(n, alpha, rnd) {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 1; k <= n; k++) cdf[k - 1] = sum += 1 / k ** alpha
  for (let i = 0; i < n; i++) cdf[i] /= sum
  // Ranks are shuffled onto keys, so that a key's number says nothing of
  // its popularity.
  const keyOf = new Uint32Array(n)
  for (let i = 0; i < n; i++) keyOf[i] = i + 1
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[keyOf[i], keyOf[j]] = [keyOf[j], keyOf[i]]
  }
  return () => {
    const u = rnd()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    return keyOf[lo]
  }
}

function zipfTrace(alpha, seed) {
  const next = zipf(KEYS, alpha, random(seed))
  const out = new Uint32Array(REQUESTS)
  for (let i = 0; i < REQUESTS; i++) out[i] = next()
  return out
}

/**
 * Zipf 1.0 with, after every quarter of the requests, a one-off scan of as
 * many new keys as the Zipf part has (each read once, never again).
 */
function scanTrace(seed) {
  const next = zipf(KEYS, 1.0, random(seed))
  const quarter = REQUESTS / 4
  const out = new Uint32Array(REQUESTS + 3 * KEYS)
  let n = 0
  let fresh = KEYS + 1
  for (let q = 0; q < 4; q++) {
    for (let i = 0; i < quarter; i++) out[n++] = next()
    if (q < 3) for (let i = 0; i < KEYS; i++) out[n++] = fresh++
  }
  return out
}

/** A loop over `length` keys, repeated for REQUESTS requests. */
function loopTrace(length) {
  const out = new Uint32Array(REQUESTS)
  for (let i = 0; i < REQUESTS; i++) out[i] = (i % length) + 1
  return out
}

function distinct(trace) {
  return new Set(trace).size
}

module.exports = { KEYS, REQUESTS, zipfTrace, scanTrace, loopTrace, distinct }
