'use strict'

// One worker of the Zipf run (see zipf.js): cache-aside over a Zipf(0.99)
// key space (get; on a miss, set), with the cache `workerData.variant` says.

const { parentPort, workerData } = require('node:worker_threads')
const { LRUCache: LruCache } = require('lru-cache')
const leakless = require('../..')
const { random, zipfRanks } = require('../lib/zipf')

const { variant, capacity, keySpace, warmOps, ops, seed, flag } = workerData
const go = new Int32Array(flag)
const VALUE_PAD = 'v'.repeat(200)

function makeCache() {
  switch (variant) {
    case 'shared':
      return new leakless.LRU({ storage: 'shared', name: 'bench:zipf', max: capacity })
    case 'offheap':
      return new leakless.LRU({ storage: 'offheap', max: capacity })
    case 'lru-cache':
      return new LruCache({ max: capacity })
    default:
      throw new Error(`unknown variant ${variant}`)
  }
}

const cache = makeCache()
const next = zipfRanks(keySpace, 0.99, random(seed))
// The key sequence is drawn up front, so that drawing is not timed.
const sequence = new Uint32Array(warmOps + ops)
for (let i = 0; i < sequence.length; i++) sequence[i] = next()

function run(from, to) {
  let hits = 0
  for (let i = from; i < to; i++) {
    const key = `k:${sequence[i]}`
    const value = cache.get(key)
    if (value !== undefined) {
      hits++
    } else {
      // A flat string of about 230 bytes, as a JSON payload would be.
      cache.set(key, JSON.stringify({ key, pad: VALUE_PAD }))
    }
  }
  return hits
}

// Check answers before timing.
cache.set('check', 'check:value')
if (cache.get('check') !== 'check:value') throw new Error(`${variant}: wrong answer`)
cache.delete('check')

global.gc()
const heap0 = process.memoryUsage().heapUsed
parentPort.postMessage({ type: 'ready' })
Atomics.wait(go, 0, 0)
run(0, warmOps)
const t0 = process.hrtime.bigint()
const hits = run(warmOps, warmOps + ops)
const ns = Number(process.hrtime.bigint() - t0)
global.gc()
parentPort.postMessage({
  type: 'done',
  hits,
  ops,
  ns,
  size: cache.size,
  heapGrowth: process.memoryUsage().heapUsed - heap0,
  externalBytes: leakless.stats().externalBytes,
})
// Stay alive (holding the cache) until the run has measured memory.
parentPort.once('message', () => process.exit(0))
