'use strict'

// worker_threads: every thread loads the addon for itself, and a thread that
// ends (cleanly, holding everything, by process.exit, or terminated) frees
// what it held without disturbing the others.

const test = require('ava')
const path = require('node:path')
const { setImmediate: tick } = require('node:timers/promises')
const { Worker } = require('node:worker_threads')

const leakless = require('..')
const { LRU, BufferPool, ListenerRegistry } = leakless

const ROOT = path.join(__dirname, '..', 'index.js')
const SCRIPT = path.join(__dirname, 'fixtures', 'worker-primitives.js')
const WORKERS = 20
const HOWS = ['clean', 'return', 'exit', 'terminate']
const MiB = 2 ** 20

function runWorker(index) {
  const how = HOWS[index % HOWS.length]
  return new Promise((resolve, reject) => {
    const worker = new Worker(SCRIPT, { workerData: { root: ROOT, how, index } })
    let report
    worker.on('message', (message) => {
      report = message
      if (how === 'terminate') worker.terminate()
    })
    worker.on('error', reject)
    worker.on('exit', (code) => resolve({ how, code, report }))
  })
}

async function collect() {
  for (let i = 0; i < 3; i++) {
    global.gc()
    await tick()
  }
}

test.serial(`${WORKERS} workers use every primitive and end; this thread stays healthy`, async (t) => {
  // This thread holds structures of its own through it all.
  const mine = new LRU({ maxSize: MiB, storage: 'offheap' })
  mine.set('mine', 'still here')
  const myPool = new BufferPool({ bufferSize: 4096 })
  const myBuf = myPool.acquire().fill(0x5a)
  const before = leakless.stats()

  // Three rounds: the first also grows the allocator's arenas and V8's
  // per-isolate caches for good, so memory is compared between the last two.
  const rounds = []
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(Array.from({ length: WORKERS }, (_, i) => runWorker(i)))
    for (const { how, code, report } of results) {
      t.truthy(report, `a '${how}' worker reported`)
      t.is(code, how === 'terminate' ? 1 : 0, `exit code of a '${how}' worker`)
      // Each thread's accounting is its own: it starts at zero whatever others hold.
      t.is(report.start.externalBytes, 0)
      t.true(report.during.externalBytes > MiB, `a '${how}' worker accounted its native memory`)
      t.is(report.during.lru.instances, 2)
      t.true(report.during.lru.entries > 500)
      t.is(report.during.pools.instances, 1)
      t.true(report.during.registries.listeners >= 11)
      if (how === 'clean') {
        t.is(report.after.externalBytes, 0, 'cleared and closed, a worker holds nothing')
        t.is(report.inUse, 0)
      }
    }
    await collect()
    rounds.push(process.memoryUsage().rss)
  }

  // Nothing of the workers shows on this thread, and its own structures are intact.
  t.is(leakless.stats().externalBytes, before.externalBytes)
  t.is(mine.get('mine'), 'still here')
  t.is(myBuf.length, 4096)
  t.true(myBuf.every((b) => b === 0x5a))
  myPool.release(myBuf)
  mine.clear()
  myPool.close()

  // And it can still do everything.
  const reg = new ListenerRegistry()
  const off = reg.on(process, 'leakless-test-event', () => {})
  t.true(off())
  const cache = new LRU({ max: 10 })
  cache.set('a', 1)
  t.is(cache.get('a'), 1)

  // Each worker held over 4 MiB of native memory when it ended. If that were
  // never freed, every round would add about WORKERS x 4 MiB to RSS.
  const growth = rounds[2] - rounds[1]
  t.log(`RSS after each round: ${rounds.map((r) => `${(r / MiB).toFixed(0)} MiB`).join(', ')}`)
  t.true(growth < (WORKERS * 4 * MiB) / 2, `RSS grew by ${(growth / MiB).toFixed(1)} MiB in the third round`)
})
