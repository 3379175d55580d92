'use strict'

// One policy's cost, in a fresh process (run with --expose-gc):
// node --expose-gc cost.js <policy> <storage>. Prints JSON: ns per get hit,
// ns per evicting set, and bytes per entry (JS heap, typed arrays and native
// memory) of a full cache once it evicted one entry (so that 'lru' holds its
// records, which a cache only filled does not yet), and the same with the
// native memory it holds after the timed evictions (S3-FIFO's ghost full; the
// ghost is native, and the JS heap is not measured again, as by then it holds
// the garbage a Map leaves after deletes, which varies from run to run by more
// than the ghost).

const { LRU, stats } = require('../..')

const [policy = 'lru', storage = 'heap'] = process.argv.slice(2)
const N = 100_000
const OPS = 2_000_000

function usedBytes() {
  globalThis.gc()
  globalThis.gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers + stats().externalBytes
}

const base = usedBytes()
const cache = new LRU({ max: N, policy, storage })
const value = storage === 'heap' ? 1 : 'v'
for (let i = 0; i <= N; i++) cache.set(i, value)
const bytesPerEntry = (usedBytes() - base) / N
const nativeFull = stats().externalBytes

// Warm up, then time.
let sink = 0
for (let i = 0; i < OPS; i++) sink += cache.get(1 + (i % N)) === undefined ? 0 : 1
let t = process.hrtime.bigint()
for (let i = 0; i < OPS; i++) sink += cache.get(1 + ((i * 7919) % N)) === undefined ? 0 : 1
const getNs = Number(process.hrtime.bigint() - t) / OPS
t = process.hrtime.bigint()
for (let i = 0; i < OPS; i++) cache.set(N + 1 + i, value)
const setNs = Number(process.hrtime.bigint() - t) / OPS
if (sink !== 2 * OPS) throw new Error('a get missed')
if (cache.size !== N) throw new Error(`the cache holds ${cache.size} entries`)
const bytesPerEntryGhostFull = bytesPerEntry + (stats().externalBytes - nativeFull) / N
console.log(JSON.stringify({ getNs, setNs, bytesPerEntry, bytesPerEntryGhostFull }))
