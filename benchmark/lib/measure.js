'use strict'

// What the benchmark suites measure with: child processes that print one
// JSON line, medians of rounds, best-of-runs timings and seeded indexes.

const { execFileSync } = require('node:child_process')

/** Runs `node ...flags script ...argv` and parses the last line it prints. */
function runJson(script, argv, flags = []) {
  const out = execFileSync(process.execPath, [...flags, script, ...argv], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  })
  return JSON.parse(out.trim().split('\n').at(-1))
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Deterministic pseudo-random indexes in [0, range) (xorshift32). */
function indexes(count, range, seed) {
  const out = new Uint32Array(count)
  let x = seed >>> 0 || 1
  for (let i = 0; i < count; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = (x >>> 0) % range
  }
  return out
}

/**
 * Runs `body(setup())` `reps` times after one warm-up and returns the best
 * nanoseconds per operation (`ops` operations a run).
 */
function bestNsPerOp(setup, body, ops, reps = 5) {
  let best = Infinity
  for (let r = -1; r < reps; r++) {
    const state = setup()
    const t0 = process.hrtime.bigint()
    body(state)
    const ns = Number(process.hrtime.bigint() - t0) / ops
    if (r >= 0 && ns < best) best = ns
  }
  return best
}

module.exports = { runJson, median, indexes, bestNsPerOp }
