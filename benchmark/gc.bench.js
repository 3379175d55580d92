'use strict'

// The GC workload of ../shared/NOTES.md, each case in its own process:
// fill 500,000 entries of ~250-byte records, then 2,000,000 request-like
// iterations, each with a cache get over a key space 25 % larger than the
// cache and a set on a miss. Reports total GC time, longest pause and heap
// used (perf_hooks gc entries, process.memoryUsage() after a full GC), then
// get/set throughput of the cache alone.
//
//   node benchmark/gc.bench.js [--entries N] [--requests N] [--rounds N]

const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { machineLine, printTable, saveResults } = require('./lib/report')
const { median } = require('./lib/measure')

const args = process.argv.slice(2)
const opt = (flag, fallback) => {
  const i = args.indexOf(flag)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const ENTRIES = opt('--entries', 500_000)
const REQUESTS = opt('--requests', 2_000_000)
const ROUNDS = opt('--rounds', 3)
const CASES = [
  ['none', 'no cache: request garbage only (floor)'],
  ['none-build', 'no cache: record built per request'],
  ['lru-cache-objects', 'lru-cache, objects'],
  ['lru-cache-json', 'lru-cache, JSON strings'],
  ['leakless-heap', 'leakless LRU heap, objects'],
  ['leakless-offheap', 'leakless LRU offheap, JSON strings'],
]

console.log(machineLine())
console.log(
  `${ENTRIES.toLocaleString('en-US')} entries, ${REQUESTS.toLocaleString('en-US')} requests; median of ${ROUNDS} rounds, each case in its own process\n`,
)

const runs = Object.fromEntries(CASES.map(([c]) => [c, []]))
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? CASES : [...CASES].reverse()
  for (const [c] of order) {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=4096', path.join(__dirname, 'gc', 'worker.js'), c, ENTRIES, REQUESTS],
      { encoding: 'utf8' },
    )
    runs[c].push(JSON.parse(out.trim().split('\n').at(-1)))
  }
}

const result = {}
for (const [c] of CASES) {
  const pick = (k) => median(runs[c].map((r) => r[k] ?? 0))
  result[c] = {
    gcTotalMs: pick('gcTotalMs'),
    gcMaxMs: pick('gcMaxMs'),
    gcCount: pick('gcCount'),
    heapUsed: pick('heapUsed'),
    leaklessExternal: pick('leaklessExternal'),
    elapsedMs: pick('elapsedMs'),
    getNs: pick('getNs'),
    setNs: pick('setNs'),
  }
}
const floor = result.none
const mib = (b) => (b / 2 ** 20).toFixed(1)
printTable(
  [
    'case',
    'GC total ms',
    'x floor',
    'longest pause ms',
    'x floor',
    'GCs',
    'heap used MiB',
    'cache heap MiB',
    'native MiB',
    'loop s',
  ],
  CASES.map(([c, label]) => {
    const r = result[c]
    return [
      label,
      r.gcTotalMs.toFixed(0),
      (r.gcTotalMs / floor.gcTotalMs).toFixed(1),
      r.gcMaxMs.toFixed(1),
      (r.gcMaxMs / floor.gcMaxMs).toFixed(1),
      r.gcCount,
      mib(r.heapUsed),
      c.startsWith('none') ? '' : mib(r.heapUsed - floor.heapUsed),
      mib(r.leaklessExternal),
      (r.elapsedMs / 1000).toFixed(2),
    ]
  }),
)

console.log('\n### cache throughput at this size (random keys over the whole space)\n')
const base = result['lru-cache-json']
printTable(
  ['case', 'get ops/s', 'vs lru-cache JSON', 'set (evicting) ops/s', 'vs lru-cache JSON'],
  CASES.filter(([c]) => !c.startsWith('none')).map(([c, label]) => {
    const r = result[c]
    return [
      label,
      Math.round(1e9 / r.getNs).toLocaleString('en-US'),
      `${(base.getNs / r.getNs).toFixed(2)}x`,
      Math.round(1e9 / r.setNs).toLocaleString('en-US'),
      `${(base.setNs / r.setNs).toFixed(2)}x`,
    ]
  }),
)
const off = result['leakless-offheap']
// "cache heap": heap used minus the floor's, which holds the workload's own
// key strings (the same in every case).
const cacheHeap = (r) => r.heapUsed - floor.heapUsed
console.log(
  `\nOff-heap heap used is ${((100 * off.heapUsed) / base.heapUsed).toFixed(1)} % of lru-cache's (JSON strings), ` +
    `and the heap the cache itself holds ${((100 * cacheHeap(off)) / cacheHeap(base)).toFixed(1)} %; ` +
    `its GC time is ${(off.gcTotalMs / floor.gcTotalMs).toFixed(1)}x the request-garbage floor and ` +
    `${(off.gcTotalMs / result['none-build'].gcTotalMs).toFixed(2)}x the build-per-request floor.`,
)
saveResults('gc', { entries: ENTRIES, requests: REQUESTS, rounds: ROUNDS, result })
