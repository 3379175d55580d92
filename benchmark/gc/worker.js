'use strict'

// One case of the GC workload, in its own process:
//   node worker.js <case> [entries] [requests]
// Fills a cache with `entries` records of about 250 bytes, then runs
// `requests` request-like iterations: allocate some garbage, get a key from
// a space 25 % larger than the cache, set it on a miss. Prints JSON.
// Two floors: 'none' allocates only the request's own garbage (the floor of
// ../shared/NOTES.md); 'none-build' is the same service without a cache,
// which builds every record (as a JSON string) on every request.

const { PerformanceObserver, performance } = require('node:perf_hooks')

const [which, entriesArg, requestsArg] = process.argv.slice(2)
const ENTRIES = Number(entriesArg || 500_000)
const REQUESTS = Number(requestsArg || 2_000_000)
const KEY_SPACE = Math.round(ENTRIES * 1.25)

function record(i) {
  return {
    id: i,
    name: `user-${i}`,
    email: `user-${i}@example.com`,
    roles: ['reader', i % 7 === 0 ? 'admin' : 'member'],
    createdAt: 1700000000000 + i,
    bio: 'x'.repeat(120),
  }
}

function makeCache() {
  switch (which) {
    case 'none':
    case 'none-build':
      return null
    case 'lru-cache-objects':
    case 'lru-cache-json': {
      const { LRUCache } = require('lru-cache')
      return new LRUCache({ max: ENTRIES })
    }
    case 'leakless-heap': {
      const { LRU } = require('../..')
      return new LRU({ max: ENTRIES })
    }
    case 'leakless-offheap': {
      const { LRU } = require('../..')
      return new LRU({ max: ENTRIES, storage: 'offheap' })
    }
    default:
      throw new Error(`unknown case ${which}`)
  }
}

const asJson = which === 'lru-cache-json' || which === 'leakless-offheap'
const value = asJson ? (i) => JSON.stringify(record(i)) : record
const keys = Array.from({ length: KEY_SPACE }, (_, i) => `user:${i}`)

const cache = makeCache()
if (cache !== null) for (let i = 0; i < ENTRIES; i++) cache.set(keys[i], value(i))
if (typeof global.gc === 'function') global.gc()

const pauses = []
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) pauses.push(entry.duration)
})
observer.observe({ entryTypes: ['gc'] })

// Recent requests stay reachable for a while, as in a server, so the
// optimiser cannot elide them.
const recent = new Array(1024)
let x = 12345
let hits = 0
let sink = 0
const t0 = performance.now()
for (let r = 0; r < REQUESTS; r++) {
  // The request's own garbage: headers, a parsed body, a response object.
  const request = {
    id: r,
    headers: { 'x-request-id': `req-${r}`, accept: 'application/json' },
    parts: [r, r + 1, r + 2],
  }
  recent[r & 1023] = request
  x ^= x << 13
  x ^= x >>> 17
  x ^= x << 5
  const i = (x >>> 0) % KEY_SPACE
  if (cache === null) {
    sink += request.parts.length + (which === 'none-build' ? JSON.stringify(record(i)).length : 0)
    continue
  }
  let v = cache.get(keys[i])
  if (v === undefined) {
    v = value(i)
    cache.set(keys[i], v)
  } else {
    hits++
  }
  sink += request.parts.length + (typeof v === 'string' ? v.length : v.id)
}
const elapsed = performance.now() - t0

// GC entries are delivered after the loop yields.
setTimeout(finish, 100)

function finish() {
  observer.disconnect()
  global.gc()
  const m = process.memoryUsage()
  const leakless = cache !== null && which.startsWith('leakless') ? require('../..').stats().externalBytes : 0
  const out = {
    case: which,
    entries: ENTRIES,
    requests: REQUESTS,
    hitRate: cache === null ? 0 : hits / REQUESTS,
    elapsedMs: elapsed,
    gcCount: pauses.length,
    gcTotalMs: pauses.reduce((a, b) => a + b, 0),
    gcMaxMs: pauses.reduce((a, b) => Math.max(a, b), 0),
    heapUsed: m.heapUsed,
    external: m.external,
    leaklessExternal: leakless,
    rss: m.rss,
    ...(cache === null ? {} : throughput()),
    sink: sink > 0,
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

// Throughput of the cache alone, after the GC figures were taken: random
// gets over the whole key space (80 % hits), then sets of new keys (each
// evicts), in ns per operation.
function throughput() {
  const OPS = 500_000
  const idx = new Uint32Array(OPS)
  for (let k = 0; k < OPS; k++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    idx[k] = (x >>> 0) % KEY_SPACE
  }
  let t = performance.now()
  for (let k = 0; k < OPS; k++) {
    if (cache.get(keys[idx[k]]) !== undefined) sink += 1
  }
  const getNs = ((performance.now() - t) * 1e6) / OPS
  const fresh = Array.from({ length: OPS }, (_, k) => value(k))
  t = performance.now()
  for (let k = 0; k < OPS; k++) cache.set(`new:${k}`, fresh[k])
  const setNs = ((performance.now() - t) * 1e6) / OPS
  return { getNs, setNs }
}
