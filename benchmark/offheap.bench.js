'use strict'

// Off-heap storage against lru-cache on the same strings: 24-byte string
// keys, 100-byte string values, 50,000 entries of a 100,000-key space, then
// 1,000 entries (a cache that stays in the CPU caches).
// Each contender runs in fresh processes with the same --hash-seed,
// alternating, median of the rounds; answers are checked before timing.
// The floor row is one bare Node-API call per operation that reads the
// same strings and answers a fresh 100-byte string (src/floor.rs): the part
// of an off-heap operation that no design of the store removes. The
// native-map row is the plainest store behind such a call (a Rust hash map
// of key to value bytes, evicting in insertion order, nothing else): what
// finding a value in native memory and copying it out costs any design.
//
//   node benchmark/offheap.bench.js [--rounds N]

const path = require('node:path')
const { machineLine, printTable, saveResults, opsPerSec } = require('./lib/report')
const { runJson, median } = require('./lib/measure')

const args = process.argv.slice(2)
const roundsAt = args.indexOf('--rounds')
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 5
const NAMES = ['lru-cache', 'offheap', 'native-map', 'floor']
const LABELS = {
  'lru-cache': 'lru-cache 11',
  offheap: 'leakless off-heap',
  'native-map': 'floor: plain native map',
  floor: 'floor: bare N-API call',
}
const OPS = [
  ['getHit', 'get, hits'],
  ['getMixed', 'get, 50 % misses'],
  ['setEvict', 'set with eviction'],
]

function measure(max) {
  const samples = Object.fromEntries(NAMES.map((n) => [n, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? NAMES : [...NAMES].reverse()
    for (const name of order) {
      samples[name].push(
        runJson(path.join(__dirname, 'offheap', 'worker.js'), [name, String(max)], ['--hash-seed=1337']),
      )
    }
  }
  const table = {}
  for (const name of NAMES) {
    table[name] = Object.fromEntries(OPS.map(([op]) => [op, median(samples[name].map((s) => s[op]))]))
  }
  const base = table['lru-cache']
  printTable(
    ['cache', ...OPS.map(([, label]) => label)],
    NAMES.map((name) => [
      LABELS[name],
      ...OPS.map(([op]) => `${opsPerSec(1e9 / table[name][op])} (${(base[op] / table[name][op]).toFixed(2)}x)`),
    ]),
  )
  const ns = (name, op) => table[name][op].toFixed(0)
  console.log(`
- ns per operation: get hit ${ns('offheap', 'getHit')} (lru-cache ${ns('lru-cache', 'getHit')}, floor ${ns('floor', 'getHit')}); set with eviction ${ns('offheap', 'setEvict')} (lru-cache ${ns('lru-cache', 'setEvict')}, floor ${ns('floor', 'setEvict')})
- off-heap above the floor: get hit ${(table.offheap.getHit - table.floor.getHit).toFixed(0)} ns, set with eviction ${(table.offheap.setEvict - table.floor.setEvict).toFixed(0)} ns
- plain native map: get hit ${ns('native-map', 'getHit')}, set with eviction ${ns('native-map', 'setEvict')} (off-heap ${(table['native-map'].getHit / table.offheap.getHit).toFixed(2)}x and ${(table['native-map'].setEvict / table.offheap.setEvict).toFixed(2)}x its time)`)
  return table
}

console.log(machineLine())
console.log(
  `\n### max 50,000 of a 100,000-key space: operations per second (ratio to lru-cache), median of ${ROUNDS} rounds\n`,
)
const table = measure(50_000)
// The same operations on a cache small enough to stay in the CPU caches:
// what is left of the difference is the work per call, not memory.
console.log(`\n### max 1,000 of a 2,000-key space (fits in the CPU caches)\n`)
const small = measure(1_000)
saveResults('offheap', { rounds: ROUNDS, keyBytes: 24, valueBytes: 100, table, small })
