'use strict'

// Request traces for the hit-ratio benchmark, generated from a fixed seed so
// that every run (and every simulator) sees the same requests. Keys are
// integers from 1.

const { random, zipfRanks } = require('../lib/zipf')

const KEYS = 100_000
const REQUESTS = 1_000_000

/** A sampler of keys 1..n with P(k-th most popular) proportional to 1 / k^alpha. */
function zipf(n, alpha, rnd) {
  const rank = zipfRanks(n, alpha, rnd)
  // Ranks are shuffled onto keys, so that a key's number says nothing of
  // its popularity.
  const keyOf = new Uint32Array(n)
  for (let i = 0; i < n; i++) keyOf[i] = i + 1
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[keyOf[i], keyOf[j]] = [keyOf[j], keyOf[i]]
  }
  return () => keyOf[rank()]
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
