'use strict'

// Memory is measured, not inferred from counters: run with --expose-gc
// (the AVA config passes it), force collection, compare process.memoryUsage().

const test = require('ava')
const { LRU, stats } = require('..')

function settle() {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage()
}

test.serial('a million sets into a max 10,000 cache leave heap and external memory flat', (t) => {
  t.is(typeof global.gc, 'function', 'run with --expose-gc')
  const cache = new LRU({ max: 10_000 })
  let n = 0
  const fill = (count) => {
    for (let i = 0; i < count; i++, n++) cache.set(`key-${n}`, { n, payload: `value-${n}` })
  }
  fill(100_000) // warm-up: the cache is full and every structure has grown
  const before = settle()
  const nativeBefore = stats().externalBytes
  const samples = []
  for (let round = 0; round < 9; round++) {
    fill(100_000)
    samples.push(settle().heapUsed)
  }
  const after = settle()
  t.is(cache.size, 10_000)
  const heapGrowth = after.heapUsed - before.heapUsed
  const externalGrowth = after.external - before.external
  t.log(
    `heap ${(before.heapUsed / 2 ** 20).toFixed(1)} -> ${(after.heapUsed / 2 ** 20).toFixed(1)} MiB,`,
    `external ${(before.external / 2 ** 20).toFixed(2)} -> ${(after.external / 2 ** 20).toFixed(2)} MiB,`,
    `leakless native ${nativeBefore} -> ${stats().externalBytes} bytes`,
  )
  // 900,000 more entries passed through; a leak of even 8 bytes each would show 7 MiB.
  t.true(heapGrowth < 2 * 2 ** 20, `heap grew by ${heapGrowth} bytes`)
  t.true(externalGrowth < 2 ** 20, `external grew by ${externalGrowth} bytes`)
  t.is(stats().externalBytes, nativeBefore)
  // No upward trend across rounds either.
  t.true(samples.at(-1) - samples[0] < 2 * 2 ** 20)
  cache.clear()
  t.is(stats().externalBytes, 0)
})

test.serial('dropped caches give their native memory back', async (t) => {
  const start = stats().externalBytes
  const instancesBefore = stats().lru.instances
  for (let i = 0; i < 50; i++) {
    const cache = new LRU({ max: 5000 })
    // One set more than max: the eviction makes Rust file the records of
    // every entry (a cache filled and only read holds none).
    for (let j = 0; j <= 5000; j++) cache.set(j, j)
    cache.get(1)
  }
  t.true(stats().externalBytes > start)
  const settled = () => stats().externalBytes === start && stats().lru.instances <= instancesBefore
  for (let i = 0; i < 50 && !settled(); i++) {
    global.gc()
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.is(stats().externalBytes, start)
  t.true(stats().lru.instances <= instancesBefore)
})
