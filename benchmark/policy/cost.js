'use strict'

// One policy's cost, in a fresh process (run with --expose-gc):
// node --expose-gc cost.js <policy> <storage>. Prints JSON: ns per get hit,
// ns per evicting set, and bytes per entry (JS heap + native) of a full cache.

const { LRU, stats } = require('../..')

const [policy = 'lru', storage = 'heap'] = process.argv.slice(2)
const N = 100_000
const OPS = 2_000_000

function usedBytes() {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed + stats().externalBytes
}

const base = usedBytes()
const cache = new LRU({ max: N, policy, storage })
const value = storage === 'heap' ? 1 : 'v'
for (let i = 0; i < N; i++) cache.set(i, value)
const bytesPerEntry = (usedBytes() - base) / N

// Warm up, then time.
let sink = 0
for (let i = 0; i < OPS; i++) sink += cache.get(i % N) === undefined ? 0 : 1
let t = process.hrtime.bigint()
for (let i = 0; i < OPS; i++) sink += cache.get((i * 7919) % N) === undefined ? 0 : 1
const getNs = Number(process.hrtime.bigint() - t) / OPS
t = process.hrtime.bigint()
for (let i = 0; i < OPS; i++) cache.set(N + i, value)
const setNs = Number(process.hrtime.bigint() - t) / OPS
if (sink !== 2 * OPS) throw new Error('a get missed')
console.log(JSON.stringify({ getNs, setNs, bytesPerEntry }))
