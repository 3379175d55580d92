'use strict'

// storage: 'shared': one named store that the main thread and every worker
// open. Workers write their own keys and read the others'; fetch loads a key
// once in the whole process, and a waiter takes over when the leading
// thread's loader fails or its thread goes away; a worker terminated
// mid-write leaves the store usable; the store is freed when its last holder
// is gone; bad options give clear errors.

const test = require('ava')
const path = require('node:path')
const { setImmediate: tick, setTimeout: sleep } = require('node:timers/promises')
const { Worker } = require('node:worker_threads')

const leakless = require('..')
const { LRU } = leakless

const ROOT = path.join(__dirname, '..', 'index.js')
const SCRIPT = path.join(__dirname, 'fixtures', 'shared-worker.js')
const MiB = 2 ** 20

let names = 0
/** A store name no other test uses. */
function fresh(label) {
  return `spec:${label}:${process.pid}:${names++}`
}

/** Starts a worker; `messages(type)` resolves with its next message of that type. */
function start(part, data) {
  const worker = new Worker(SCRIPT, { workerData: { root: ROOT, part, ...data } })
  const inbox = []
  const wanted = []
  worker.on('message', (message) => {
    if (message.type === 'error') {
      worker.emit('error', new Error(message.message))
      return
    }
    const i = wanted.findIndex((w) => w.type === message.type)
    if (i >= 0) wanted.splice(i, 1)[0].resolve(message)
    else inbox.push(message)
  })
  const exited = new Promise((resolve, reject) => {
    worker.on('error', reject)
    worker.on('exit', resolve)
  })
  // Keep a rejection from going unhandled when the test does not await it.
  exited.catch(() => {})
  const next = (type) => {
    const i = inbox.findIndex((m) => m.type === type)
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0])
    return new Promise((resolve) => wanted.push({ type, resolve }))
  }
  return { worker, next, exited }
}

function counters() {
  return new Int32Array(new SharedArrayBuffer(8))
}

function release(shared) {
  Atomics.store(shared, 1, 1)
  Atomics.notify(shared, 1)
}

async function collect() {
  for (let i = 0; i < 4; i++) {
    global.gc()
    await tick()
  }
}

function storeNamed(name) {
  return leakless.stats().shared.find((s) => s.name === name)
}

test('workers write their own keys and read each other’s; every value matches its key', async (t) => {
  const name = fresh('own')
  const options = { maxSize: 8 * MiB }
  const main = new LRU({ storage: 'shared', name, ...options })
  const WORKERS = 4
  const KEYS = 2000
  const shared = counters()
  const ws = Array.from({ length: WORKERS }, (_, index) =>
    start('own', { name, options, index, workers: WORKERS, keys: KEYS, counters: shared.buffer }),
  )
  await Promise.all(ws.map((w) => w.next('written')))
  t.is(storeNamed(name).holders, WORKERS + 1)
  // Everything fits: every key of every worker is visible here too.
  for (let w = 0; w < WORKERS; w++) {
    for (const i of [0, 1, 3, KEYS - 1]) {
      const key = `w${w}:${i}`
      t.true(String(main.get(key)).startsWith(`${key}=`), key)
    }
  }
  t.is(main.size, WORKERS * KEYS)
  for (const w of ws) w.worker.postMessage({ type: 'read' })
  const reports = await Promise.all(ws.map((w) => w.next('done')))
  for (const r of reports) {
    t.is(r.mismatched, 0)
    t.is(r.found, WORKERS * KEYS)
  }
  await Promise.all(ws.map((w) => w.exited))
  t.is(storeNamed(name).holders, 1)
  // A Buffer written in a worker comes back as a Buffer, a string as a string.
  t.true(Buffer.isBuffer(main.get('w0:0')))
  t.is(main.get('w0:1'), `w0:1=${'é'}`)
})

test('workers that fill a small store keep it within its bounds', async (t) => {
  const name = fresh('bound')
  const options = { max: 500, maxSize: 64 * 1024 }
  const main = new LRU({ storage: 'shared', name, ...options })
  const shared = counters()
  const ws = Array.from({ length: 3 }, (_, index) =>
    start('fill', { name, options, index, workers: 3, keys: 3000, valueBytes: 100, counters: shared.buffer }),
  )
  await Promise.all(ws.map((w) => w.next('done')))
  t.true(main.size <= 500)
  t.true(main.calculatedSize <= 64 * 1024)
  t.true(main.stats().evictions > 0)
  for (const [key, value] of main) t.is(value, 'v'.repeat(100), key)
  await Promise.all(ws.map((w) => w.exited))
})

test('fetch of one key from several workers at once runs the loader once', async (t) => {
  const name = fresh('fetch')
  const options = { maxSize: MiB }
  const shared = counters()
  const WORKERS = 4
  const ws = Array.from({ length: WORKERS }, (_, index) =>
    start('fetch', { name, options, index, workers: WORKERS, counters: shared.buffer }),
  )
  // Every worker holds the store before any starts: one that finished and
  // exited early must not take the store with it before a slow one opens it
  // (which would then load into a new store). The flag starts them together.
  await Promise.all(ws.map((w) => w.next('opened')))
  release(shared)
  const reports = await Promise.all(ws.map((w) => w.next('done')))
  t.is(Atomics.load(shared, 0), 1, 'one load in the whole process')
  const values = new Set(reports.map((r) => r.value))
  t.is(values.size, 1)
  for (const r of reports) t.is(r.got, r.value)
  await Promise.all(ws.map((w) => w.exited))
})

test('fetch in the main thread waits for a worker’s load, and one fetch per key in this thread', async (t) => {
  const name = fresh('fetch-main')
  const options = { maxSize: MiB }
  const main = new LRU({ storage: 'shared', name, ...options })
  const shared = counters()
  const leader = start('lead', { name, options, index: 0, workers: 2, counters: shared.buffer })
  await leader.next('leading')
  let mine = 0
  const loader = async () => {
    mine++
    return 'from main'
  }
  const a = main.fetch('the-key', loader)
  const b = main.fetch('the-key', loader)
  t.is(a, b, 'one promise per key in this thread')
  leader.worker.postMessage({ type: 'fail' })
  t.is(await a, 'from main')
  t.is(mine, 1)
  t.deepEqual(await leader.next('done'), { type: 'done', error: 'loader failed' })
  t.is(main.get('the-key'), 'from main')
  await leader.exited
})

const ENDINGS = {
  rejects: 'the leading worker’s loader rejects',
  terminated: 'the leading worker is terminated mid-load',
  exits: 'the leading worker exits mid-load',
}

for (const how of Object.keys(ENDINGS)) {
  test(`when ${ENDINGS[how]}, one waiter takes over`, async (t) => {
    const name = fresh(`takeover-${how}`)
    const options = { maxSize: MiB }
    const shared = counters()
    const leader = start('lead', { name, options, index: 0, workers: 4, counters: shared.buffer })
    await leader.next('leading')
    const waiters = [1, 2, 3].map((index) =>
      start('wait', { name, options, index, workers: 4, counters: shared.buffer }),
    )
    await Promise.all(waiters.map((w) => w.next('waiting')))
    t.is(Atomics.load(shared, 0), 0, 'nobody loads while the leader does')
    if (how === 'rejects') leader.worker.postMessage({ type: 'fail' })
    else if (how === 'terminated') await leader.worker.terminate()
    else leader.worker.postMessage({ type: 'exit' })
    const reports = await Promise.all(waiters.map((w) => w.next('done')))
    t.is(Atomics.load(shared, 0), 1, 'exactly one waiter loaded')
    t.is(new Set(reports.map((r) => r.value)).size, 1)
    t.regex(reports[0].value, /^taken over by [123]$/)
    if (how === 'rejects') t.deepEqual(await leader.next('done'), { type: 'done', error: 'loader failed' })
    await Promise.all(waiters.map((w) => w.exited))
    await leader.exited
  })
}

test('a worker terminated in the middle of writing leaves the store consistent and usable', async (t) => {
  const name = fresh('terminate')
  const options = { max: 3000, maxSize: 256 * 1024 }
  const main = new LRU({ storage: 'shared', name, ...options })
  const shared = counters()
  for (let round = 0; round < 3; round++) {
    const ws = [0, 1].map((index) => start('hammer', { name, options, index, workers: 2, counters: shared.buffer }))
    await Promise.all(ws.map((w) => w.next('started')))
    await sleep(50 + round * 30)
    await Promise.all(ws.map((w) => w.worker.terminate()))
    t.true(main.size <= 3000)
    t.true(main.calculatedSize <= 256 * 1024)
    for (const [key, value] of main) t.true(value.startsWith(`${key}=`), key)
    main.set('after', 'still works')
    t.is(main.get('after'), 'still works')
    t.true(main.delete('after'))
  }
  t.is(storeNamed(name).holders, 1)
  main.clear()
  t.is(main.size, 0)
  t.is(main.calculatedSize, 0)
})

test('Map API, peek, pop, TTL, stats, dump and load on a shared store', async (t) => {
  const name = fresh('api')
  const cache = new LRU({ storage: 'shared', name, max: 100, ttl: 0 })
  t.true(cache instanceof LRU)
  t.is(Object.prototype.toString.call(cache), '[object LRU]')
  t.is(cache.name, name)
  t.is(cache.max, 100)
  t.is(cache.maxSize, Infinity)
  t.is(cache.set('a', 'A'), cache)
  cache.set(1, Buffer.from([1, 2, 3]))
  t.is(cache.get('a'), 'A')
  t.deepEqual(cache.get(1), Buffer.from([1, 2, 3]))
  t.is(cache.get('1'), undefined, 'numbers and strings are different keys')
  t.true(cache.has('a'))
  t.is(cache.peek('a'), 'A')
  t.is(cache.getRemainingTTL('a'), Infinity)
  t.is(cache.getRemainingTTL('nope'), 0)
  // The shared store has one real clock (no fake one can be given): TTLs are
  // long enough that a loaded machine cannot expire them before they are read.
  cache.set('t', 'T', { ttl: 1000 })
  cache.set('n', 'N', 1000)
  const left = cache.getRemainingTTL('t')
  t.true(left > 0 && left <= 1000, `remaining ${left}`)
  const dumped = cache.dump()
  t.is(dumped.length, 4)
  const t0 = dumped.find(([k]) => k === 't')[1]
  t.is(t0.ttl, 1000)
  t.is(typeof t0.start, 'number')
  await sleep(1100)
  t.is(cache.get('t'), undefined)
  t.false(cache.has('n'))
  t.is(cache.purgeStale(), 1)
  t.deepEqual(new Set(cache.keys()), new Set(['a', 1]))
  const s = cache.stats()
  t.is(s.hits, 2)
  t.is(s.misses, 2)
  t.is(s.sets, 4)
  t.is(s.expirations, 2)
  t.is(s.size, 2)
  t.true(s.calculatedSize > 0)
  const popped = []
  for (let p = cache.pop(); p !== undefined; p = cache.pop()) popped.push(p)
  t.deepEqual(new Set(popped.map(([k]) => k)), new Set(['a', 1]))
  t.is(cache.size, 0)
  // load() takes dump()'s entries back, expired ones left out.
  cache.load([
    ['x', { value: 'X' }],
    ['y', { value: 'Y', ttl: 60_000, start: Date.now() }],
    ['z', { value: 'Z', ttl: 10, start: Date.now() - 1000 }],
  ])
  t.is(cache.get('x'), 'X')
  t.is(cache.get('y'), 'Y')
  t.is(cache.get('z'), undefined)
  const remaining = cache.getRemainingTTL('y')
  t.true(remaining > 30_000 && remaining <= 60_000, `remaining ${remaining}`)
  const seen = []
  cache.forEach(function (value, key, c) {
    seen.push([key, value, c, this])
  }, 'ctx')
  t.is(seen.length, 2)
  t.is(seen[0][2], cache)
  t.is(seen[0][3], 'ctx')
  t.true(cache.delete('x'))
  t.false(cache.delete('x'))
  cache.clear()
  t.is(cache.size, 0)
  t.throws(() => cache.resize(5), { code: 'ERR_LEAKLESS_SHARED_FIXED' })
  t.throws(() => cache.set({}, 'v'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.set('k', 5), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.set('k', 'v', { size: 3 }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => cache.get(null), { code: 'ERR_INVALID_ARG_TYPE' })
  // After every throw the store still answers.
  cache.set('k', 'v')
  t.is(cache.get('k'), 'v')
})

test('fetch in one thread: a rejection is not kept, undefined is not stored, a bad value is refused', async (t) => {
  const cache = new LRU({ storage: 'shared', name: fresh('fetch-local'), maxSize: MiB })
  await t.throwsAsync(
    cache.fetch('k', async () => {
      throw new Error('boom')
    }),
    { message: 'boom' },
  )
  t.is(await cache.fetch('k', async () => undefined), undefined)
  t.false(cache.has('k'))
  await t.throwsAsync(
    cache.fetch('k', async () => 42),
    { code: 'ERR_INVALID_ARG_TYPE' },
  )
  t.is(await cache.fetch('k', async () => 'v'), 'v')
  t.is(await cache.fetch('k', async () => 'other'), 'v', 'a hit does not load')
  t.is(await cache.fetch('k'), 'v', 'with no loader, fetch() is an async get()')
  t.is(await cache.fetch('absent'), undefined)
  await t.throwsAsync(cache.fetch('k', 42), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(
    cache.fetch({}, async () => 'v'),
    { code: 'ERR_INVALID_ARG_TYPE' },
  )
  // A local write during the load wins; the load's result is returned but not stored.
  const pending = cache.fetch('w', async () => {
    await sleep(10)
    return 'loaded'
  })
  cache.set('w', 'written')
  t.is(await pending, 'loaded')
  t.is(cache.get('w'), 'written')
})

test('a value larger than maxSize is not stored and removes the older one', (t) => {
  const cache = new LRU({ storage: 'shared', name: fresh('large'), maxSize: 1024 })
  cache.set('k', 'small')
  cache.set('k', 'x'.repeat(2000))
  t.false(cache.has('k'))
  t.is(cache.calculatedSize, 0)
})

test('bad names and mismatched options give clear ERR_* errors', (t) => {
  const base = { storage: 'shared', maxSize: MiB }
  t.throws(() => new LRU(base), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"options\.name".*Received undefined/,
  })
  t.throws(() => new LRU({ ...base, name: '' }), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.name.*empty/ })
  t.throws(() => new LRU({ ...base, name: 42 }), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /Received type number \(42\)/,
  })
  t.throws(() => new LRU({ ...base, name: 'n'.repeat(257) }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /at most 256 characters/,
  })
  t.notThrows(() => new LRU({ ...base, name: `${fresh('long')}`.padEnd(256, 'n') }))
  t.throws(() => new LRU({ ...base, name: 'x', onEvict: () => {} }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => new LRU({ ...base, name: 'x', sizeCalculation: () => 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => new LRU({ ...base, name: 'x', perf: { now: () => 0 } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => new LRU({ storage: 'shared', name: 'x' }), { code: 'ERR_LEAKLESS_UNBOUNDED' })
  t.throws(() => new LRU({ ...base, storage: 'elsewhere', name: 'x' }), { code: 'ERR_INVALID_ARG_VALUE' })

  const name = fresh('mismatch')
  const first = new LRU({ storage: 'shared', name, max: 10, maxSize: MiB, ttl: 1000 })
  const cases = [
    [{ max: 11, maxSize: MiB, ttl: 1000 }, 'max', 10, 11],
    [{ max: 10, ttl: 1000 }, 'maxSize', MiB, Infinity],
    [{ max: 10, maxSize: MiB, ttl: 500 }, 'ttl', 1000, 500],
    [{ max: 10, maxSize: MiB, ttl: 1000, updateAgeOnGet: true }, 'updateAgeOnGet', false, true],
    [{ max: 10, maxSize: MiB, ttl: 1000, allowStale: true }, 'allowStale', false, true],
  ]
  for (const [options, option, existing, given] of cases) {
    const err = t.throws(() => new LRU({ storage: 'shared', name, ...options }), {
      code: 'ERR_LEAKLESS_SHARED_MISMATCH',
    })
    t.is(err.option, option)
    t.is(err.existing, existing)
    t.is(err.given, given)
    t.true(err.message.includes(`${option} ${existing}`) && err.message.includes(`${option} ${given}`), err.message)
  }
  const again = new LRU({ storage: 'shared', name, max: 10, maxSize: MiB, ttl: 1000 })
  first.set('a', 'b')
  t.is(again.get('a'), 'b')
})

test.serial('a store is freed (stats and memory) once its last holder is gone', async (t) => {
  const name = fresh('freed')
  const options = { maxSize: 64 * MiB }
  const shared = counters()
  await collect()
  const rssBefore = process.memoryUsage().rss
  const externalBefore = leakless.stats().externalBytes
  for (let round = 0; round < 6; round++) {
    // Created here, filled with 24 MiB by a worker, dropped by both.
    ;(() => {
      const cache = new LRU({ storage: 'shared', name, ...options })
      cache.set('main', 'here')
    })()
    const w = start('fill', {
      name,
      options,
      index: 0,
      workers: 1,
      keys: 24 * 1024,
      valueBytes: 1000,
      counters: shared.buffer,
    })
    const done = await w.next('done')
    t.is(done.size, 24 * 1024 + 1)
    await w.exited
    const during = storeNamed(name)
    t.truthy(during, 'listed while this thread still holds it (until collected)')
    await collect()
    t.is(storeNamed(name), undefined, 'freed with its last holder')
  }
  await collect()
  t.is(leakless.stats().externalBytes, externalBefore)
  const grown = process.memoryUsage().rss - rssBefore
  // Six stores of 24 MiB each went through; what stays is at most about one.
  t.true(grown < 48 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`)
})

test('leakless.stats().shared lists each store once, with entries, bytes and holders', (t) => {
  const name = fresh('stats')
  const a = new LRU({ storage: 'shared', name, maxSize: MiB })
  const b = new LRU({ storage: 'shared', name, maxSize: MiB })
  a.set('k', 'v'.repeat(100))
  const listed = leakless.stats().shared.filter((s) => s.name === name)
  t.is(listed.length, 1)
  t.is(listed[0].entries, 1)
  t.is(listed[0].holders, 2)
  t.is(listed[0].bytes, a.calculatedSize)
  t.true(listed[0].bytes > 100)
  // Each holder reports its share: together they count the bytes once.
  const shares = a.stats().externalBytes + b.stats().externalBytes
  t.true(Math.abs(shares - listed[0].bytes) <= 1, `${shares} vs ${listed[0].bytes}`)
})

test.serial('a holder’s report follows what other threads stored, by leakless.stats()', async (t) => {
  const name = fresh('share')
  const options = { maxSize: 16 * MiB }
  const before = leakless.stats().externalBytes
  const mine = new LRU({ storage: 'shared', name, ...options })
  const shared = counters()
  const w = start('fill', {
    name,
    options,
    index: 0,
    workers: 1,
    keys: 2000,
    valueBytes: 1000,
    counters: shared.buffer,
  })
  await w.next('done')
  await w.exited
  // This thread never wrote; it is the only holder left, so it reports all.
  const bytes = storeNamed(name).bytes
  t.true(bytes > 2000 * 1000)
  t.is(leakless.stats().externalBytes - before, bytes)
  t.is(mine.stats().externalBytes, bytes)
  mine.clear()
  t.is(leakless.stats().externalBytes, before)
})

test("lru-cache's per-thread options are refused by name, not ignored", (t) => {
  for (const [option, value] of [
    ['dispose', () => {}],
    ['disposeAfter', () => {}],
    ['onInsert', () => {}],
    ['ttlAutopurge', true],
    ['maxEntrySize', 10],
    ['noUpdateTTL', true],
  ]) {
    const err = t.throws(() => new LRU({ storage: 'shared', name: `refused-${option}`, max: 10, [option]: value }), {
      code: 'ERR_INVALID_ARG_VALUE',
    })
    t.true(err.message.includes(`options.${option}`), err.message)
  }
  t.notThrows(() => new LRU({ storage: 'shared', name: 'refused-false', max: 10, ttlAutopurge: false }))
})

test("policy: only 'lru' on a shared store; 's3fifo' is refused by name, an unknown policy as elsewhere", (t) => {
  const err = t.throws(() => new LRU({ storage: 'shared', name: fresh('s3fifo'), max: 10, policy: 's3fifo' }), {
    code: 'ERR_INVALID_ARG_VALUE',
  })
  t.true(err.message.includes('options.policy'), err.message)
  t.true(err.message.includes("storage: 'shared'"), err.message)
  t.throws(() => new LRU({ storage: 'shared', name: fresh('fifo'), max: 10, policy: 'fifo' }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /options\.policy/,
  })
  const cache = new LRU({ storage: 'shared', name: fresh('lru'), max: 10, policy: 'lru' })
  cache.set('k', 'v')
  t.is(cache.get('k'), 'v')
})
