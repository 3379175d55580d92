'use strict'

// The seeded Zipf sampling the benchmarks share (policy traces, the Zipf
// run of the shared store).

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

/**
 * A sampler of ranks 0..n-1 with P(rank) proportional to 1 / (rank + 1)^alpha,
 * by inverse CDF over `rnd` (floats in [0, 1)).
 */
function zipfRanks(n, alpha, rnd) {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 1; k <= n; k++) cdf[k - 1] = sum += 1 / k ** alpha
  for (let i = 0; i < n; i++) cdf[i] /= sum
  return () => {
    const u = rnd()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

module.exports = { random, zipfRanks }
