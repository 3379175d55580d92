'use strict'

// Accounting of native memory (SPEC section 4), measured: --expose-gc (from
// the AVA config), forced collections, process.memoryUsage(), and V8's own
// running total of adjusted external memory.

const test = require('ava')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const { LRU, stats, memoryUsage } = require('..')
const native = require('../lib/common/native')

const MiB = 2 ** 20

async function collect(until = () => false) {
  for (let i = 0; i < 20; i++) {
    global.gc()
    await new Promise((resolve) => setTimeout(resolve, 10))
    if (until()) return
  }
}

function fill(cache, n, size) {
  const value = 'v'.repeat(size)
  for (let i = 0; i < n; i++) cache.set(`key:${i}`, value)
}

test.serial('100,000 off-heap entries of 1 KB are counted, reported to V8 and kept off the JS heap', async (t) => {
  await collect()
  const start = { ...stats(), v8: native.nativeStats().v8AdjustedTotal, heap: process.memoryUsage().heapUsed }

  const cache = new LRU({ maxSize: 512 * MiB, storage: 'offheap' })
  fill(cache, 100_000, 1024)
  await collect()
  const held = cache.calculatedSize
  const s = stats()
  const v8 = native.nativeStats().v8AdjustedTotal
  const heap = process.memoryUsage().heapUsed

  // What the entries hold: key + value + bookkeeping, per entry.
  const payload = 100_000 * 1024 + [...Array(100_000).keys()].reduce((n, i) => n + `key:${i}`.length, 0)
  t.log(
    `payload ${(payload / MiB).toFixed(1)} MiB, calculatedSize ${(held / MiB).toFixed(1)} MiB, ` +
      `externalBytes ${((s.externalBytes - start.externalBytes) / MiB).toFixed(1)} MiB, ` +
      `V8 adjusted total moved ${((v8 - start.v8) / MiB).toFixed(1)} MiB, heap moved ${((heap - start.heap) / MiB).toFixed(1)} MiB`,
  )
  t.true(held >= payload && held <= payload * 1.1, `calculatedSize ${held} vs payload ${payload}`)
  const external = s.externalBytes - start.externalBytes
  t.true(Math.abs(external - held) <= held * 0.1, `externalBytes ${external} vs held ${held}`)
  // V8's total also moves with Buffers and other addons: equal within 1 MiB.
  t.true(Math.abs(v8 - start.v8 - external) < MiB, `V8 total moved ${v8 - start.v8}, stats() says ${external}`)
  t.true(heap - start.heap < 10 * MiB, `JS heap grew by ${heap - start.heap}`)
  t.is(memoryUsage().leakless, s.externalBytes)
  t.is(s.lru.entries - start.lru.entries, 100_000)

  cache.clear()
  t.is(cache.calculatedSize, 0)
  t.is(stats().externalBytes, start.externalBytes)
  t.true(Math.abs(native.nativeStats().v8AdjustedTotal - start.v8) < MiB)
})

test.serial('a dropped off-heap cache gives everything back when collected', async (t) => {
  await collect()
  const start = stats().externalBytes
  const v8Start = native.nativeStats().v8AdjustedTotal
  ;(() => {
    const cache = new LRU({ maxSize: 512 * MiB, storage: 'offheap' })
    fill(cache, 50_000, 1024)
  })()
  t.true(stats().externalBytes - start > 50 * MiB)
  await collect(() => stats().externalBytes === start)
  t.is(stats().externalBytes, start)
  t.true(Math.abs(native.nativeStats().v8AdjustedTotal - v8Start) < MiB)
})

test.serial('heap LRUs report their native bookkeeping too, and give it back', async (t) => {
  await collect()
  const start = stats().externalBytes
  const cache = new LRU({ max: 100_000 })
  for (let i = 0; i < 100_000; i++) cache.set(i, i)
  cache.stats()
  const grown = stats().externalBytes - start
  t.true(grown >= 100_000 * 8, `reported ${grown} bytes for 100,000 entries`)
  cache.clear()
  t.is(stats().externalBytes, start)
})

test('the accounting lets V8 collect dropped caches in time: 300 caches of 10 MB keep RSS bounded', (t) => {
  // Without --expose-gc: V8 decides alone when to collect, from what it was told.
  const script = `
    const { LRU } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const value = 'x'.repeat(4096)
    let peak = 0
    ;(async () => {
      for (let i = 0; i < 300; i++) {
        const cache = new LRU({ maxSize: 64 * 2 ** 20, storage: 'offheap' })
        for (let j = 0; j < 2500; j++) cache.set(j, value)
        peak = Math.max(peak, process.memoryUsage().rss)
        await new Promise((resolve) => setImmediate(resolve))
      }
      console.log(JSON.stringify({ peak, maxRSS: process.resourceUsage().maxRSS * 1024 }))
    })()
  `
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
  t.log(`300 caches of ~10 MB each, dropped without clear(): peak RSS ${(out.maxRSS / MiB).toFixed(0)} MiB`)
  // 300 x 10 MB is 3 GB if nothing is given back in time.
  t.true(out.maxRSS < 600 * MiB, `peak RSS ${(out.maxRSS / MiB).toFixed(0)} MiB`)
})

test('workers that fill off-heap caches and exit give their memory back', async (t) => {
  const code = `
    const { parentPort } = require('node:worker_threads')
    const { LRU, stats } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const cache = new LRU({ maxSize: 64 * 2 ** 20, storage: 'offheap' })
    for (let i = 0; i < 5000; i++) cache.set('k' + i, 'v'.repeat(1000))
    const heap = new LRU({ max: 1000 })
    for (let i = 0; i < 2000; i++) heap.set(i, { i })
    parentPort.postMessage(stats().externalBytes)
  `
  await collect()
  const mainBefore = stats().externalBytes
  // RSS is measured from the end of a first round: the first worker threads
  // leave memory in the allocator that later ones reuse, with or without
  // leakless (Node 24: 20 plain workers keep ~350 MiB of RSS after they end).
  let rssBefore
  const reported = []
  for (let round = 0; round < 3; round++) {
    if (round === 1) {
      await collect()
      rssBefore = process.memoryUsage().rss
    }
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const worker = new Worker(code, { eval: true })
        worker.on('message', (bytes) => reported.push(bytes))
        const exitCode = await new Promise((resolve, reject) => {
          worker.on('error', reject)
          worker.on('exit', resolve)
        })
        t.is(exitCode, 0)
      }),
    )
  }
  t.is(reported.length, 30)
  t.true(
    reported.every((bytes) => bytes > 5 * MiB),
    'each worker accounted for its own cache',
  )
  t.is(stats().externalBytes, mainBefore, "the main thread's accounting is its own")
  await collect()
  const rssGrowth = process.memoryUsage().rss - rssBefore
  t.log(`RSS after 20 more workers: ${(rssGrowth / MiB).toFixed(1)} MiB above the first round's end`)
  // Each worker held ~6 MB of cache; 20 of them kept would be 120 MB and more.
  t.true(rssGrowth < 100 * MiB)
})
