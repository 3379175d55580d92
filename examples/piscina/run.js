'use strict'

// A Piscina pool whose workers share one cache: `storage: 'shared'`.
//
// 400 tasks ask for 40 reports, all at once, on 4 worker threads. With a
// cache per worker, each report would be rendered up to 4 times (once per
// worker that misses it); with one shared store and fetch() deduplicated
// across threads, each is rendered exactly once, and the main thread reads
// the same entries.
//
//   node examples/piscina/run.js

const path = require('node:path')
const assert = require('node:assert/strict')
const { Piscina } = require('piscina')
const leakless = require('./leakless')

const THREADS = 4
const REPORTS = 40
const TASKS = 400

async function main() {
  // Opened here too, with the same options as in render.js: the store lives
  // while any thread holds it.
  const reports = new leakless.LRU({ storage: 'shared', name: 'reports', maxSize: 16 * 2 ** 20, ttl: 60_000 })
  const renders = new Int32Array(new SharedArrayBuffer(4))
  const pool = new Piscina({
    filename: path.join(__dirname, 'render.js'),
    minThreads: THREADS,
    maxThreads: THREADS,
    workerData: { renders: renders.buffer },
  })
  const results = await Promise.all(Array.from({ length: TASKS }, (_, i) => pool.run({ id: i % REPORTS })))
  for (const [i, json] of results.entries()) assert.equal(JSON.parse(json).id, i % REPORTS)
  assert.equal(Atomics.load(renders, 0), REPORTS, 'each report rendered once in the whole process')
  assert.equal(reports.size, REPORTS)
  assert.equal(JSON.parse(reports.get('report:7')).title, 'Report 7')

  const [store] = leakless.stats().shared.filter((s) => s.name === 'reports')
  console.log(`${TASKS} tasks on ${THREADS} threads, ${REPORTS} reports: ${Atomics.load(renders, 0)} renders`)
  console.log(`store 'reports': ${store.entries} entries, ${store.bytes} bytes, ${store.holders} holders`)
  await pool.destroy()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
