'use strict'

// One variant of the Zipf run, in its own process:
// `node --expose-gc zipf.js <variant> <workers> <capacity per worker>`.
// Starts the workers, measures RSS once they are ready (caches empty) and
// again when they are done (caches full, still alive), and prints one JSON
// line: hit ratio, total operations per second, RSS growth, the workers' JS
// heap growth after GC, and leakless's native bytes.

const path = require('node:path')
const { Worker } = require('node:worker_threads')
const leakless = require('../..')

const [variant, workersArg, capacityArg] = process.argv.slice(2)
const WORKERS = Number(workersArg)
const KEY_SPACE = 1_000_000
const WARM_OPS = Number(process.env.ZIPF_WARM ?? 400_000)
const OPS = Number(process.env.ZIPF_OPS ?? 1_000_000)
const flag = new SharedArrayBuffer(4)

function message(worker, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m.type === type) {
        worker.off('message', onMessage)
        resolve(m)
      }
    }
    worker.on('message', onMessage)
    worker.once('error', reject)
  })
}

async function main() {
  const workers = Array.from(
    { length: WORKERS },
    (_, i) =>
      new Worker(path.join(__dirname, 'zipf-worker.js'), {
        workerData: {
          variant,
          capacity: Number(capacityArg),
          keySpace: KEY_SPACE,
          warmOps: WARM_OPS,
          ops: OPS,
          seed: 0x9e3779b9 ^ (i * 0x85ebca6b),
          flag,
        },
      }),
  )
  await Promise.all(workers.map((w) => message(w, 'ready')))
  global.gc()
  const rss0 = process.memoryUsage().rss
  const done = Promise.all(workers.map((w) => message(w, 'done')))
  Atomics.store(new Int32Array(flag), 0, 1)
  Atomics.notify(new Int32Array(flag), 0)
  const reports = await done
  global.gc()
  const rss1 = process.memoryUsage().rss
  const shared = leakless.stats().shared.find((s) => s.name === 'bench:zipf')
  let hits = 0
  let ops = 0
  let opsPerSec = 0
  let native = 0
  let heapGrowth = 0
  for (const r of reports) {
    hits += r.hits
    ops += r.ops
    opsPerSec += r.ops / (r.ns / 1e9)
    heapGrowth += r.heapGrowth
    if (variant === 'offheap') native += r.externalBytes
  }
  if (shared !== undefined) native = shared.bytes
  for (const w of workers) w.postMessage('exit')
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))))
  console.log(
    JSON.stringify({
      hitRatio: hits / ops,
      opsPerSec,
      rssGrowth: rss1 - rss0,
      heapGrowth,
      nativeBytes: native,
      entries: shared !== undefined ? shared.entries : reports.reduce((n, r) => n + r.size, 0),
    }),
  )
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
