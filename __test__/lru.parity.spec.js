'use strict'

// One scenario, three caches: lru-cache 11 (the reference), leakless's LRU
// with heap storage and with off-heap storage. Each scenario logs what a
// user would observe (return values, callback calls, status fields) and the
// logs must be equal. Values are strings so that off-heap storage can run
// the same code; scenarios that need what off-heap storage refuses run on
// the heap only (the refusals are tested at the end).

const test = require('ava')
const { LRU } = require('..')
const { fakeClock } = require('./helpers/clock')

let LRUCache
test.before(async () => {
  ;({ LRUCache } = await import('lru-cache'))
})

// The status fields leakless reports, compared; lru-cache adds others
// (op, key, value, cache) that only serve its diagnostics channel.
const STATUS_FIELDS = [
  'get',
  'has',
  'set',
  'fetch',
  'memo',
  'oldValue',
  'returnedStale',
  'maxEntrySizeExceeded',
  'remainingTTL',
  'fetchAborted',
  'fetchResolved',
  'fetchRejected',
  'fetchUpdated',
]
function statusView(status) {
  const out = {}
  for (const name of STATUS_FIELDS) if (status[name] !== undefined) out[name] = status[name]
  // Off-heap storage does not report how long ago a stale entry expired.
  if (out.remainingTTL < 0) delete out.remainingTTL
  if (status.fetchError !== undefined) out.fetchError = status.fetchError.message
  return out
}

const IMPLS = {
  'lru-cache': (options) => new LRUCache({ ttlResolution: 0, ...options }),
  heap: (options) => new LRU(options),
  offheap: (options) => new LRU({ ...options, storage: 'offheap' }),
}

/**
 * `scenario(make, clock, log)`: `make(options)` builds the cache under
 * test with the fake clock as `perf`; `log(...items)` records what is seen.
 */
function parity(title, scenario, { heapOnly = false } = {}) {
  test(title, async (t) => {
    const logs = {}
    for (const [name, build] of Object.entries(IMPLS)) {
      if (heapOnly && name === 'offheap') continue
      const clock = fakeClock()
      const log = []
      await scenario(
        (options) => build({ perf: clock, ...options }),
        clock,
        (...items) => log.push(items),
      )
      logs[name] = log
    }
    t.true(logs['lru-cache'].length > 0, 'the scenario observed something')
    t.deepEqual(logs.heap, logs['lru-cache'], 'heap storage answers as lru-cache does')
    if (!heapOnly) t.deepEqual(logs.offheap, logs['lru-cache'], 'off-heap storage answers as lru-cache does')
  })
}

const recorder = (log, name) => (value, key, reason) => log(name, key, value, reason)

// ------------------------------------------------------- order and iteration

parity('recency order: get, set, peek, eviction, and every iterator', (make, clock, log) => {
  const c = make({ max: 3 })
  c.set('a', 'A').set('b', 'B').set('c', 'C')
  log(c.get('a'), c.peek('b'))
  c.set('d', 'D')
  log(c.has('b'), c.size)
  log([...c.keys()], [...c.rkeys()], [...c.values()], [...c.rvalues()])
  log([...c.entries()], [...c.rentries()], [...c])
  const seen = []
  c.forEach((v, k) => seen.push(k))
  c.rforEach((v, k) => seen.push(k))
  log(seen)
  log(
    c.find((v) => v === 'C'),
    c.find(() => false),
  )
  log(c.max, c.delete('a'), c.delete('a'), c.size)
})

parity('clear() reports entries least recently used first, as reason delete', (make, clock, log) => {
  const c = make({ max: 5, dispose: recorder(log, 'dispose'), disposeAfter: recorder(log, 'after') })
  c.set('a', 'A').set('b', 'B').set('c', 'C')
  c.get('a')
  c.clear()
  log(c.size)
})

parity('pop() takes the least recently used', (make, clock, log) => {
  const c = make({ max: 3 })
  c.set('a', 'A').set('b', 'B')
  c.get('a')
  // pop() returns [key, value] here, the value in lru-cache (see README).
  const popped = c.pop()
  log(Array.isArray(popped) ? popped[1] : popped, c.size, c.get('a'))
})

// ----------------------------------------------------------------------- TTL

parity('an entry expires at age > ttl, not at age == ttl', (make, clock, log) => {
  const c = make({ max: 5, ttl: 100 })
  c.set('a', 'A')
  clock.advance(100)
  log(c.has('a'), c.get('a'), c.getRemainingTTL('a'))
  clock.advance(1)
  log(c.has('a'), c.get('a'), c.peek('a'))
})

parity('per-entry ttl, start, and getRemainingTTL', (make, clock, log) => {
  const c = make({ max: 5 })
  c.set('short', 'S', { ttl: 50 })
  c.set('started', 'T', { ttl: 50, start: clock.now() - 30 })
  c.set('forever', 'F')
  log(c.getRemainingTTL('short'), c.getRemainingTTL('started'), c.getRemainingTTL('forever'), c.getRemainingTTL('x'))
  clock.advance(25)
  log(c.get('short'), c.get('started'))
})

parity('allowStale: a stale value is returned once and removed', (make, clock, log) => {
  const c = make({ max: 5, ttl: 10, allowStale: true, disposeAfter: recorder(log, 'after') })
  c.set('a', 'A')
  clock.advance(20)
  log(c.has('a'), c.peek('a'), c.get('a'), c.get('a'), c.size)
})

parity('noDeleteOnStaleGet keeps a stale entry', (make, clock, log) => {
  const c = make({ max: 5, ttl: 10, allowStale: true, noDeleteOnStaleGet: true })
  c.set('a', 'A')
  clock.advance(20)
  log(c.get('a'), c.get('a'), c.peek('a'))
})

parity('per-call get options and status', (make, clock, log) => {
  const c = make({ max: 5, ttl: 10 })
  c.set('a', 'A')
  c.set('b', 'B')
  let s = {}
  log(c.get('a', { status: s }), statusView(s))
  clock.advance(20)
  s = {}
  log(c.get('a', { allowStale: true, noDeleteOnStaleGet: true, status: s }), statusView(s))
  s = {}
  log(c.get('a', { allowStale: true, status: s }), statusView(s))
  s = {}
  log(c.get('a', { status: s }), statusView(s))
  log(c.peek('b'), c.peek('b', { allowStale: true }))
})

parity('has() with status', (make, clock, log) => {
  const c = make({ max: 5, ttl: 10 })
  c.set('a', 'A')
  let s = {}
  log(c.has('a', { status: s }), statusView(s))
  s = {}
  log(c.has('x', { status: s }), statusView(s))
  clock.advance(20)
  s = {}
  log(c.has('a', { status: s }), statusView(s))
})

parity('updateAgeOnGet and updateAgeOnHas restart the TTL', (make, clock, log) => {
  const c = make({ max: 5, ttl: 100, updateAgeOnGet: true, updateAgeOnHas: true })
  c.set('a', 'A')
  c.set('b', 'B')
  clock.advance(80)
  log(c.get('a'), c.has('b'))
  clock.advance(80)
  log(c.get('a'), c.has('b'))
})

parity('noUpdateTTL keeps the TTL of a replaced entry', (make, clock, log) => {
  const c = make({ max: 5, ttl: 100, noUpdateTTL: true })
  c.set('a', 'A')
  clock.advance(60)
  c.set('a', 'A2')
  log(c.getRemainingTTL('a'))
  c.set('b', 'B')
  c.set('b', 'B2', { noUpdateTTL: false })
  log(c.getRemainingTTL('b'))
  clock.advance(50)
  log(c.get('a'), c.get('b'))
})

parity('purgeStale() removes what expired, as reason expire', (make, clock, log) => {
  const c = make({ max: 5, ttl: 10, disposeAfter: recorder(log, 'after') })
  c.set('a', 'A')
  c.set('b', 'B', { ttl: 100 })
  clock.advance(20)
  // purgeStale() returns a count here, a boolean in lru-cache (see README).
  log(Boolean(c.purgeStale()), c.size, Boolean(c.purgeStale()))
})

// ---------------------------------------------------- set, dispose, onInsert

parity('dispose and disposeAfter see every reason', (make, clock, log) => {
  const c = make({ max: 2, ttl: 100, dispose: recorder(log, 'dispose'), disposeAfter: recorder(log, 'after') })
  c.set('a', 'A')
  c.set('a', 'A')
  c.set('a', 'A2')
  c.set('b', 'B')
  c.set('c', 'C')
  c.delete('b')
  c.set('d', 'D')
  clock.advance(200)
  log(c.get('c'))
})

// dispose runs before the entry is gone on heap storage, as in lru-cache;
// off-heap storage calls it after the operation (see README), tested below.
const observer = (log, cache) => (value, key, reason) =>
  log('dispose', key, value, reason, cache().has(key), cache().peek(key, { allowStale: true }), cache().size, [
    ...cache().keys(),
  ])

parity(
  'dispose sees the entry still in the cache: replace, evict, delete, clear',
  (make, clock, log) => {
    let c
    c = make({ max: 2, dispose: observer(log, () => c), disposeAfter: recorder(log, 'after') })
    c.set('a', 'A').set('b', 'B')
    c.set('a', 'A2')
    log('evict')
    c.set('c', 'C')
    log('delete')
    c.delete('a')
    c.set('d', 'D')
    log('clear')
    c.clear()
    log(c.size)
  },
  { heapOnly: true },
)

parity(
  'dispose sees the entry still in the cache: expire, pop, eviction by size',
  (make, clock, log) => {
    let c
    c = make({ max: 3, ttl: 10, dispose: observer(log, () => c) })
    c.set('a', 'A').set('b', 'B', { ttl: 100 })
    clock.advance(20)
    log(c.get('a'), c.size)
    // pop() returns [key, value] here, the value in lru-cache (see README).
    const popped = c.pop()
    log(Array.isArray(popped) ? popped[1] : popped, c.size)
    let d
    d = make({ maxSize: 10, sizeCalculation: (v) => v.length, dispose: observer(log, () => d) })
    d.set('x', 'xxxx').set('y', 'yyyy')
    d.set('z', 'zzzz')
    log([...d.keys()], d.calculatedSize)
  },
  { heapOnly: true },
)

parity('noDisposeOnSet, on the cache and per call', (make, clock, log) => {
  const c = make({ max: 5, noDisposeOnSet: true, disposeAfter: recorder(log, 'after') })
  c.set('a', 'A')
  c.set('a', 'A2')
  c.delete('a')
  const d = make({ max: 5, disposeAfter: recorder(log, 'after2') })
  d.set('a', 'A')
  d.set('a', 'A2', { noDisposeOnSet: true })
  d.set('a', 'A3')
})

parity('onInsert: add, replace, update', (make, clock, log) => {
  const c = make({ max: 5, onInsert: (v, k, reason) => log('insert', k, v, reason) })
  c.set('a', 'A')
  c.set('a', 'A2')
  c.set('a', 'A2')
})

parity('set() status: add, replace, update, oldValue', (make, clock, log) => {
  const c = make({ max: 5 })
  for (const v of ['A', 'A2', 'A2']) {
    const s = {}
    c.set('a', v, { status: s })
    log(statusView(s))
  }
})

parity(
  'maxEntrySize and maxSize: too big is not stored, and what was there is dropped',
  (make, clock, log) => {
    // A value too big to store is also passed to dispose here (see README).
    const c = make({ maxSize: 100, maxEntrySize: 10, sizeCalculation: (v) => v.length })
    c.set('a', 'small')
    const s = {}
    c.set('a', 'x'.repeat(20), { status: s })
    log(statusView(s), c.has('a'), c.calculatedSize)
    c.set('b', 'y'.repeat(8), { size: 3 })
    log(c.calculatedSize, c.info('b'))
  },
  { heapOnly: true },
)

parity('per-call updateAgeOnGet and updateAgeOnHas', (make, clock, log) => {
  const c = make({ max: 5, ttl: 100 })
  c.set('a', 'A')
  c.set('b', 'B')
  clock.advance(80)
  log(c.get('a', { updateAgeOnGet: true }), c.has('b', { updateAgeOnHas: true }))
  log(c.getRemainingTTL('a'), c.getRemainingTTL('b'))
})

parity('size on a cache that tracks no sizes is refused', (make, clock, log) => {
  const c = make({ max: 5 })
  let threw = false
  try {
    c.set('a', 'A', { size: 1 })
  } catch (err) {
    threw = err instanceof TypeError
  }
  log(threw, c.has('a'))
})

parity('info() of a live entry', (make, clock, log) => {
  const c = make({ max: 5 })
  c.set('a', 'A')
  log(c.info('a'), c.info('x'))
})

parity('a copy from max and maxSize', (make, clock, log) => {
  const c = make({ max: 7 })
  const copy = make({ max: c.max, maxSize: c.maxSize })
  copy.set('a', 'A')
  log(copy.get('a'))
})

// --------------------------------------------------------------------- memo

parity('memo() computes a miss once, with context and forceRefresh', (make, clock, log) => {
  let calls = 0
  const c = make({
    max: 5,
    memoMethod: (k, stale, { context }) => {
      calls++
      return `${k}:${context ?? '-'}:${stale ?? '-'}:${calls}`
    },
  })
  log(c.memo('a', { context: 'ctx' }), c.memo('a'), calls)
  log(c.memo('a', { forceRefresh: true }), calls)
})

// -------------------------------------------------------------------- fetch

const tick = () => new Promise((resolve) => setImmediate(resolve))

parity('fetch() without fetchMethod is an async get()', async (make, clock, log) => {
  const c = make({ max: 5 })
  c.set('a', 'A')
  const s = {}
  log(await c.fetch('a', { status: s }), await c.fetch('x'), statusView(s))
})

parity('fetch(): miss, hit, arguments of fetchMethod, one load per key', async (make, clock, log) => {
  let calls = 0
  const c = make({
    max: 5,
    fetchMethod: async (key, stale, { signal, options, context }) => {
      calls++
      log('fetchMethod', key, stale, signal instanceof AbortSignal, typeof options, context)
      await tick()
      return `${key}:${calls}`
    },
  })
  const s1 = {}
  const [a, b] = await Promise.all([c.fetch('k', { context: 'ctx', status: s1 }), c.fetch('k')])
  log(a, b, calls, statusView(s1))
  const s2 = {}
  log(await c.fetch('k', { status: s2 }), statusView(s2), calls)
  log(await c.forceFetch('k'))
})

parity('fetch() of a stale entry: allowStale returns it while the refresh runs', async (make, clock, log) => {
  let calls = 0
  const c = make({
    max: 5,
    ttl: 10,
    fetchMethod: async (key, stale) => {
      calls++
      await tick()
      return `${key}:${calls}:${stale}`
    },
  })
  c.set('k', 'old')
  clock.advance(20)
  const s = {}
  const p = c.fetch('k', { allowStale: true, status: s })
  log(await p, statusView(s))
  await tick()
  await tick()
  log(c.get('k'), calls)
  clock.advance(20)
  log(await c.fetch('k'), calls)
})

parity('fetch() with forceRefresh reloads a live entry', async (make, clock, log) => {
  let calls = 0
  const c = make({
    max: 5,
    fetchMethod: async (key, stale) => {
      calls++
      return `${key}:${calls}:${stale}`
    },
  })
  c.set('k', 'old')
  const s = {}
  log(await c.fetch('k', { forceRefresh: true, status: s }), statusView(s), c.get('k'))
})

parity('a rejected fetch: deleted, or the stale value kept as asked', async (make, clock, log) => {
  const fetchMethod = async () => {
    await tick()
    throw new Error('down')
  }
  const c = make({ max: 5, ttl: 10, fetchMethod })
  c.set('k', 'old')
  clock.advance(20)
  const s = {}
  await c.fetch('k', { status: s }).catch((err) => log('rejected', err.message))
  log(statusView(s), c.peek('k', { allowStale: true }))

  const d = make({ max: 5, ttl: 10, fetchMethod, allowStaleOnFetchRejection: true })
  d.set('k', 'old')
  clock.advance(20)
  log(await d.fetch('k'), d.peek('k', { allowStale: true }))

  const e = make({ max: 5, ttl: 10, fetchMethod, noDeleteOnFetchRejection: true })
  e.set('k', 'old')
  clock.advance(20)
  await e.fetch('k').catch((err) => log('rejected', err.message))
  log(e.peek('k', { allowStale: true }))
})

parity(
  'a fetch aborted by its caller: rejected, or the stale value with allowStaleOnFetchAbort',
  async (make, clock, log) => {
    // Each load resolves to 'late' when the scenario releases it.
    const pending = []
    const release = async () => {
      pending.shift()('late')
      for (let i = 0; i < 5; i++) await tick()
    }
    const fetchMethod = (key, stale, { signal }) =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => log('aborted', String(signal.reason?.message ?? signal.reason)))
        pending.push(resolve)
      })
    const c = make({ max: 5, ttl: 10, fetchMethod })
    c.set('k', 'old')
    clock.advance(20)
    const ac = new AbortController()
    const p = c.fetch('k', { signal: ac.signal })
    ac.abort(new Error('stop'))
    await p.catch((err) => log('rejected', err.message))
    await release()
    log('after a late result', c.peek('k', { allowStale: true }))

    const d = make({ max: 5, ttl: 10, fetchMethod, allowStaleOnFetchAbort: true })
    d.set('k', 'old')
    clock.advance(20)
    const ac2 = new AbortController()
    const q = d.fetch('k', { signal: ac2.signal })
    ac2.abort(new Error('stop'))
    log(await q)
    await release()
    log('late result stored', d.get('k'))

    const e = make({ max: 5, fetchMethod, ignoreFetchAbort: true })
    const ac3 = new AbortController()
    const r = e.fetch('k', { signal: ac3.signal })
    ac3.abort(new Error('stop'))
    await release()
    log(await r, e.get('k'))
  },
)

parity('a pending fetch is aborted when its key is deleted or replaced', async (make, clock, log) => {
  const pending = []
  const c = make({
    max: 5,
    fetchMethod: (key, stale, { signal }) =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => log('aborted', key, signal.reason.message))
        pending.push(resolve)
      }),
  })
  const deleted = c.fetch('d')
  c.delete('d')
  await deleted.catch((err) => log('rejected', err.message))
  const replaced = c.fetch('r')
  c.set('r', 'mine')
  await replaced.catch((err) => log('rejected', err.message))
  for (const resolve of pending) resolve('late')
  for (let i = 0; i < 5; i++) await tick()
  log(c.get('d'), c.get('r'))
})

parity('a pending refresh is aborted when its stale entry is evicted', async (make, clock, log) => {
  const pending = []
  const c = make({
    max: 2,
    ttl: 10,
    allowStale: true,
    fetchMethod: (key, stale, { signal }) =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => log('aborted', key, signal.reason.message))
        pending.push(resolve)
      }),
  })
  c.set('k', 'old')
  clock.advance(20)
  log(await c.fetch('k'))
  c.set('a', 'A', { ttl: 0 })
  c.set('b', 'B', { ttl: 0 })
  for (const resolve of pending) resolve('late')
  for (let i = 0; i < 5; i++) await tick()
  log(c.has('k'), c.peek('k', { allowStale: true }), [...c.keys()])
})

// ---------------------------------------------- what off-heap storage refuses

test('off-heap storage refuses, by name, the options it cannot honour', (t) => {
  const err = t.throws(() => new LRU({ max: 5, storage: 'offheap', sizeCalculation: () => 1 }))
  t.is(err.code, 'ERR_INVALID_ARG_VALUE')
  t.true(err.message.includes('options.sizeCalculation'), err.message)
  const c = new LRU({ max: 5, storage: 'offheap' })
  const aging = new LRU({ max: 5, storage: 'offheap', updateAgeOnGet: true })
  for (const [name, call] of [
    ['size', () => c.set('a', 'A', { size: 1 })],
    ['sizeCalculation', () => c.set('a', 'A', { sizeCalculation: () => 1 })],
    ['updateAgeOnGet', () => aging.get('a', { updateAgeOnGet: false })],
  ]) {
    const err = t.throws(call)
    t.is(err.code, 'ERR_INVALID_ARG_VALUE')
    t.true(err.message.includes(`options.${name}`), err.message)
  }
})
