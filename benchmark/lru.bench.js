'use strict'

// LRU against its peers. Each contender runs in fresh processes with the same
// --hash-seed (V8 picks a random string-hash seed per process, which moves
// string-keyed Map figures by up to 20 %), contenders alternate, each round
// is repeated, and the median of the rounds is reported.
//
//   node benchmark/lru.bench.js [--rounds N] [--only name,name]

const path = require('node:path')
const { contenders } = require('./lru/contenders')
const { machineLine, printTable, saveResults, opsPerSec } = require('./lib/report')
const { runJson, median } = require('./lib/measure')

const args = process.argv.slice(2)
const opt = (flag, fallback) => {
  const i = args.indexOf(flag)
  return i >= 0 ? args[i + 1] : fallback
}
const ROUNDS = Number(opt('--rounds', 5))
const ONLY = opt('--only', '')
const names = Object.keys(contenders).filter((n) => !ONLY || ONLY.split(',').includes(n))
const WORKER = path.join(__dirname, 'lru', 'worker.js')
const OPS = [
  ['setEmpty', 'set into empty'],
  ['getHit', 'get, hits'],
  ['getMixed', 'get, 50 % misses'],
  ['setEvict', 'set with eviction'],
  ['delete', 'delete'],
]

function runWorker(name, keyType, mode) {
  const flags = ['--hash-seed=1337', '--max-old-space-size=4096']
  if (mode === 'memory') flags.push('--expose-gc')
  return runJson(WORKER, [name, keyType, mode], flags)
}

console.log(`${machineLine()}`)
console.log(`100,000-key space, max 50,000; median of ${ROUNDS} rounds, each contender in its own process per round.\n`)

const results = { speed: {}, memory: {} }
for (const keyType of ['string', 'int']) {
  const samples = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so that no contender always runs on a warm or cold machine.
    const order = round % 2 === 0 ? names : [...names].reverse()
    for (const name of order) samples[name].push(runWorker(name, keyType, 'speed'))
  }
  const table = {}
  for (const name of names) {
    table[name] = Object.fromEntries(OPS.map(([op]) => [op, median(samples[name].map((s) => s[op]))]))
  }
  results.speed[keyType] = table
  const base = table['lru-cache']
  console.log(`### ${keyType} keys: operations per second (ratio to lru-cache)\n`)
  printTable(
    ['cache', ...OPS.map(([, label]) => label)],
    names.map((name) => [
      contenders[name].label,
      ...OPS.map(([op]) => {
        const ops = 1e9 / table[name][op]
        return base ? `${opsPerSec(ops)} (${(base[op] / table[name][op]).toFixed(2)}x)` : opsPerSec(ops)
      }),
    ]),
  )
  console.log()
}

console.log('### memory: bytes per entry at 1,000,000 entries (heap + external + leakless native, after GC)\n')
const memRows = []
for (const name of names) {
  const m = runWorker(name, 'string', 'memory')
  results.memory[name] = m
  memRows.push([contenders[name].label, m.bytesPerEntry.toFixed(1), (m.emptyBytes / 1024).toFixed(1), m.size])
}
printTable(['cache', 'bytes/entry', 'empty cache, max 1M (KiB)', 'entries'], memRows)
for (const name of names) {
  const notes = [contenders[name].note, ...(results.memory[name].notes ?? [])].filter(Boolean)
  if (notes.length > 0) console.log(`\n- ${contenders[name].label}: ${notes.join('; ')}`)
}

saveResults('lru', { rounds: ROUNDS, keySpace: 100_000, max: 50_000, ...results })
