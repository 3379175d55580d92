'use strict'

// storage: 'shared' against off-heap and lru-cache.
//
// 1. One thread: shared get/set against off-heap get/set (the shards' locks
//    must be nearly free when nobody else takes them). Each storage runs in
//    fresh processes, alternating, median of the rounds.
// 2. Worker threads on a Zipf(0.99) key space of 1,000,000 keys, cache-aside
//    (get; on a miss, set a ~230-byte JSON string), with equal total
//    capacity: one shared store for both workers against one lru-cache and
//    one off-heap LRU per worker; plus one shared worker (for scaling) and
//    per-worker lru-caches twice as large (for memory at the same hit
//    ratio). Each variant runs in its own process.
//
//   node benchmark/shared.bench.js [--rounds N]
//   ZIPF_OPS / ZIPF_WARM: timed and warm-up operations per worker.

const path = require('node:path')
const { machineLine, printTable, saveResults, opsPerSec } = require('./lib/report')
const { runJson, median } = require('./lib/measure')

const args = process.argv.slice(2)
const roundsAt = args.indexOf('--rounds')
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3
const MiB = 2 ** 20
const CAPACITY = 100_000

function run(script, argv, flags = []) {
  return runJson(path.join(__dirname, 'shared', script), argv, flags)
}

console.log(machineLine())
console.log(`\n### One thread: shared against off-heap (100,000-key space, max 50,000; median of ${ROUNDS} rounds)\n`)
const OPS = [
  ['setEmpty', 'set into empty'],
  ['getHit', 'get, hits'],
  ['getMixed', 'get, 50 % misses'],
  ['setEvict', 'set with eviction'],
]
const samples = { offheap: [], shared: [] }
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ['offheap', 'shared'] : ['shared', 'offheap']
  for (const storage of order) samples[storage].push(run('single.js', [storage], ['--hash-seed=1337']))
}
const single = {}
for (const storage of ['offheap', 'shared']) {
  single[storage] = Object.fromEntries(OPS.map(([op]) => [op, median(samples[storage].map((s) => s[op]))]))
}
printTable(
  ['storage', ...OPS.map(([, label]) => label)],
  ['offheap', 'shared'].map((storage) => [
    storage,
    ...OPS.map(([op]) => {
      const ratio = single.offheap[op] / single[storage][op]
      return `${opsPerSec(1e9 / single[storage][op])} (${ratio.toFixed(2)}x)`
    }),
  ]),
)

console.log(
  `\n### Zipf(0.99) over 1,000,000 keys, cache-aside, ${CAPACITY.toLocaleString('en-US')} entries in total unless stated\n`,
)
const VARIANTS = [
  ['shared, 1 worker', 'shared', 1, CAPACITY],
  ['shared, 2 workers', 'shared', 2, CAPACITY],
  ['lru-cache per worker, 2 workers', 'lru-cache', 2, CAPACITY / 2],
  ['off-heap per worker, 2 workers', 'offheap', 2, CAPACITY / 2],
  ['lru-cache per worker, 2 workers, 2x entries', 'lru-cache', 2, CAPACITY],
]
const zipf = {}
for (const [label, variant, workers, capacity] of VARIANTS) {
  zipf[label] = run('zipf.js', [variant, String(workers), String(capacity)], ['--expose-gc'])
}
printTable(
  ['cache', 'entries', 'hit ratio', 'total ops/s', 'RSS growth (MiB)', 'JS heap + native (MiB)'],
  VARIANTS.map(([label]) => {
    const r = zipf[label]
    return [
      label,
      r.entries.toLocaleString('en-US'),
      r.hitRatio.toFixed(3),
      opsPerSec(r.opsPerSec),
      (r.rssGrowth / MiB).toFixed(1),
      ((r.heapGrowth + r.nativeBytes) / MiB).toFixed(1),
    ]
  }),
)
const two = zipf['shared, 2 workers']
const one = zipf['shared, 1 worker']
const perWorker = zipf['lru-cache per worker, 2 workers']
const sameHit = zipf['lru-cache per worker, 2 workers, 2x entries']
const memory = (r) => r.heapGrowth + r.nativeBytes
const summary = {
  singleThreadGet: single.offheap.getHit / single.shared.getHit,
  singleThreadSet: single.offheap.setEvict / single.shared.setEvict,
  hitRatioGain: two.hitRatio - perWorker.hitRatio,
  scaling: two.opsPerSec / one.opsPerSec,
  memoryVsLruCacheSameHit: memory(two) / memory(sameHit),
  rssVsLruCacheSameHit: two.rssGrowth / sameHit.rssGrowth,
}
console.log(`
- one thread, shared / off-heap throughput: get ${summary.singleThreadGet.toFixed(2)}x, set with eviction ${summary.singleThreadSet.toFixed(2)}x (target >= 0.8x)
- hit ratio, shared minus per-worker lru-cache of the same total size: ${summary.hitRatioGain >= 0 ? '+' : ''}${summary.hitRatioGain.toFixed(3)} (target > 0)
- shared, two workers / one worker throughput: ${summary.scaling.toFixed(2)}x (target >= 1.6x; needs two idle cores)
- memory, shared / per-worker lru-cache at the same hit ratio: ${summary.memoryVsLruCacheSameHit.toFixed(2)}x in JS heap + native bytes, ${summary.rssVsLruCacheSameHit.toFixed(2)}x in RSS growth (target <= 0.6x)`)

saveResults('shared', { rounds: ROUNDS, capacity: CAPACITY, single, zipf, summary })
