'use strict'

// A short tour of every path into the addon, small enough to run under
// valgrind memcheck (scripts/valgrind.sh, `npm run test:valgrind`): heap
// and off-heap LRUs (eviction batches, renumbering, TTLs, iteration, pop,
// resize, dump/load, clear, onEvict), key and value conversions (UTF-8,
// lone surrogates, long strings, Buffers, typed array views), bad input
// refused by the native side, finalizers of dropped caches after a forced
// GC, a worker thread that loads the addon and exits, the registry, and
// stats/memoryUsage. Plain node:assert: AVA under valgrind would take many
// minutes. Run with --expose-gc.

const assert = require('node:assert/strict')
const { Worker } = require('node:worker_threads')
const { LRU, ListenerRegistry, stats, memoryUsage } = require('../..')
const { EventEmitter } = require('node:events')

const { kTickStart } = require('../../lib/lru/hooks')
const STAMP_LIMIT = 2 ** 32 - 2
const HOUR = 60 * 60 * 1000

function clock(t = 1000) {
  const c = { t, now: () => c.t }
  return c
}

function heapLRU() {
  const evicted = []
  const cache = new LRU({ max: 50, onEvict: (v, k, r) => evicted.push(r), [kTickStart]: STAMP_LIMIT - 300 })
  for (let i = 0; i < 400; i++) {
    cache.set(`k${i}`, { i })
    if (i % 3 === 0) cache.get(`k${i - 10}`)
  }
  assert.equal(cache.size, 50)
  assert.ok(evicted.filter((r) => r === 'evict').length >= 350)
  assert.equal([...cache.keys()].length, 50)
  assert.ok(Array.isArray(cache.pop()))
  cache.resize(10)
  assert.equal(cache.size, 10)

  const plain = new LRU(100)
  for (let i = 0; i < 2000; i++) plain.set(i % 300, i).get((i * 7) % 300)
  assert.equal(plain.size, 100)

  const c = clock()
  const timed = new LRU({ max: 20, ttl: 50, perf: c, updateAgeOnGet: true, maxSize: 1000, sizeCalculation: () => 7 })
  // Odd keys expire on the test clock; even ones live an hour, so that the
  // dump below still holds live entries however slowly valgrind runs.
  for (let i = 0; i < 100; i++) {
    timed.set(i, i, { ttl: i % 2 ? 10 : HOUR })
    c.t += 3
    timed.get(i - 1)
  }
  assert.ok(timed.purgeStale() >= 0)
  const dump = timed.dump()
  const copy = new LRU({ max: 20, perf: c })
  copy.load(dump)
  // dump() and load() place expiry times by Date.now(): entries about to
  // expire may be dropped when real milliseconds pass in between, never the
  // hour-long ones.
  assert.ok(copy.size > 0 && copy.size <= timed.size)
  assert.ok(timed.stats().externalBytes > 0)
  timed.clear()
  assert.equal(timed.size, 0)
}

function offheapLRU() {
  const removed = []
  const c = clock()
  const cache = new LRU({
    storage: 'offheap',
    maxSize: 64 * 1024,
    ttl: 100,
    perf: c,
    allowStale: true,
    onEvict: (value, key, reason) => removed.push([key, reason]),
  })
  const strings = ['', 'ascii', 'café', '漢字', '😀', 'a\ud800b', '\udc00', 'x\ufffdy', 'k'.repeat(5000)]
  for (const s of strings) {
    cache.set(s, s)
    assert.equal(cache.get(s), s)
  }
  cache.set(1.5, Buffer.from([1, 2, 3]))
  assert.deepEqual(cache.get(1.5), Buffer.from([1, 2, 3]))
  cache.set(-0, new Uint8Array(new ArrayBuffer(16), 4, 8).fill(9))
  assert.deepEqual(cache.get(0), Buffer.alloc(8, 9))
  cache.set(NaN, Buffer.alloc(0))
  assert.equal(cache.get(NaN).length, 0)
  for (let i = 0; i < 2000; i++) {
    cache.set(`key:${i}`, 'v'.repeat(i % 300), { ttl: i % 5 ? 0 : 20 })
    if (i % 4 === 0) cache.get(`key:${i - 3}`)
    if (i % 50 === 0) c.t += 7
  }
  assert.ok(cache.calculatedSize <= 64 * 1024)
  assert.ok(removed.length > 0)
  // Expired entries count in size until removed, and are never iterated.
  assert.ok([...cache].length <= cache.size)
  assert.ok(Array.isArray(cache.pop()))
  cache.resize(5)
  assert.ok(cache.size <= 5)
  c.t += 1000
  cache.purgeStale()
  const dump = cache.dump()
  cache.load(dump)
  assert.equal(typeof cache.getRemainingTTL('key:1999'), 'number')
  assert.throws(() => cache.set({}, 'x'), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => cache.set('x', 42), { code: 'ERR_INVALID_ARG_TYPE' })
  cache.clear()
  assert.equal(cache.size, 0)
  assert.equal(cache.stats().calculatedSize, 0)
}

function droppedCaches() {
  for (let i = 0; i < 20; i++) {
    const off = new LRU({ storage: 'offheap', max: 100 })
    const heap = new LRU({ max: 100 })
    for (let j = 0; j < 200; j++) {
      off.set(j, `value ${j}`)
      heap.set(j, j)
    }
  }
}

function registry() {
  const reg = new ListenerRegistry({ maxListeners: 5 })
  const emitter = new EventEmitter()
  const scope = reg.scope()
  for (let i = 0; i < 4; i++) scope.on(emitter, 'data', () => {})
  const controller = new AbortController()
  reg.on(emitter, 'end', () => {}, { signal: controller.signal })
  controller.abort()
  assert.equal(reg.count(emitter), 4)
  assert.equal(scope.dispose(), 4)
  assert.equal(reg.count(), 0)
}

async function worker() {
  const code = `
    const { LRU } = require(${JSON.stringify(require.resolve('../..'))})
    const cache = new LRU({ storage: 'offheap', maxSize: 2 ** 20 })
    for (let i = 0; i < 500; i++) cache.set('k' + i, 'v'.repeat(100))
    require('node:worker_threads').parentPort.postMessage(cache.size)
  `
  const w = new Worker(code, { eval: true })
  const [size] = await Promise.all([
    new Promise((resolve) => w.once('message', resolve)),
    new Promise((resolve, reject) => {
      w.once('error', reject)
      w.once('exit', resolve)
    }),
  ])
  assert.equal(size, 500)
}

async function main() {
  const start = stats().externalBytes
  heapLRU()
  offheapLRU()
  droppedCaches()
  registry()
  await worker()
  for (let i = 0; i < 5; i++) {
    global.gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const s = stats()
  assert.equal(typeof memoryUsage().leakless, 'number')
  assert.ok(s.externalBytes >= 0)
  console.log(`exercise done: externalBytes ${start} -> ${s.externalBytes}, lru instances ${s.lru.instances}`)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
