'use strict'

// Code written for lru-cache 11, pointed at leakless's LRU: the options and
// calls that failed or differed before, on both storages.

const test = require('ava')
const { LRU } = require('..')
const { fakeClock } = require('./helpers/clock')
const { recorder } = require('./helpers/recorder')

const STORAGES = ['heap', 'offheap']
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

for (const storage of STORAGES) {
  test(`${storage}: perf: Date is a clock`, (t) => {
    const cache = new LRU({ max: 5, ttl: 60_000, perf: Date, storage })
    cache.set('a', 'A')
    t.is(cache.get('a'), 'A')
    const left = cache.getRemainingTTL('a')
    t.true(left > 59_000 && left <= 60_000, `${left}`)
  })

  test(`${storage}: a number as set()'s third argument is the TTL in ms`, (t) => {
    const clock = fakeClock()
    const cache = new LRU({ max: 5, perf: clock, storage })
    cache.set('a', 'A', 100)
    t.is(cache.getRemainingTTL('a'), 100)
    clock.advance(101)
    t.false(cache.has('a'))
    t.throws(() => cache.set('b', 'B', -1), { code: 'ERR_OUT_OF_RANGE' })
    t.throws(() => cache.set('b', 'B', NaN), { code: 'ERR_OUT_OF_RANGE' })
    t.false(cache.has('b'))
  })

  test(`${storage}: set(k, v, { size }) on a cache without sizes throws, as lru-cache does`, (t) => {
    const cache = new LRU({ max: 5, storage })
    const err = t.throws(() => cache.set('a', 'A', { size: 1 }), { instanceOf: TypeError })
    t.is(err.code, 'ERR_INVALID_ARG_VALUE')
    t.true(err.message.includes('options.size'))
    t.false(cache.has('a'))
  })

  test(`${storage}: new LRU() says what is missing`, (t) => {
    t.throws(() => new LRU(), { instanceOf: RangeError, code: 'ERR_LEAKLESS_UNBOUNDED' })
  })

  test(`${storage}: a cache is copied from its max and maxSize, or from itself`, (t) => {
    for (const options of [{ max: 3 }, { maxSize: 1000 }, { max: 3, maxSize: 1000 }]) {
      const c = new LRU({ ...options, storage })
      const copy = new LRU({ max: c.max, maxSize: c.maxSize, storage })
      t.is(copy.max, c.max)
      t.is(copy.maxSize, c.maxSize)
      const again = new LRU(c)
      t.is(again.max, c.max)
      t.is(again.maxSize, c.maxSize)
    }
  })

  test(`${storage}: refetching an expired key replaces it (reason 'set')`, async (t) => {
    const clock = fakeClock()
    const { events, onEvict } = recorder()
    const fetchMethod = async (key) => `fresh ${key}`
    const cache = new LRU({ max: 5, ttl: 10, perf: clock, storage, onEvict, fetchMethod })
    cache.set('k', 'old')
    clock.advance(20)
    t.is(await cache.fetch('k'), 'fresh k')
    t.deepEqual(events, [['k', 'old', 'set']])
  })

  test(`${storage}: clear() reports entries least recently used first`, (t) => {
    const { events, onEvict } = recorder()
    const cache = new LRU({ max: 5, storage, onEvict })
    cache.set('a', 'A').set('b', 'B').set('c', 'C')
    cache.get('a')
    cache.clear()
    t.deepEqual(events, [
      ['b', 'B', 'clear'],
      ['c', 'C', 'clear'],
      ['a', 'A', 'clear'],
    ])
  })

  test.serial(`${storage}: ttlAutopurge removes expired entries from a timer`, async (t) => {
    const { events, onEvict: disposeAfter } = recorder()
    const cache = new LRU({ max: 5, ttl: 20, ttlAutopurge: true, storage, disposeAfter })
    const holding = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const before = holding()
    cache.set('a', 'A')
    cache.set('b', 'B', { ttl: 10_000 })
    t.is(holding(), before, 'its timers do not keep the process alive')
    // size reads the count and purges nothing.
    while (cache.size > 1) await sleep(5)
    t.is(cache.size, 1, 'the expired entry is gone without any call')
    t.deepEqual(events, [['a', 'A', 'expire']])
    cache.clear()
  })

  test.serial(`${storage}: ttlAutopurge waits again when its timer fires before the entry expired`, async (t) => {
    // The cache's clock lags the event loop's here, as the loop's can lag
    // the cache's: the first timer finds the entry still live.
    let now = 0
    const cache = new LRU({ max: 5, ttl: 20, ttlAutopurge: true, storage, perf: { now: () => now } })
    cache.set('a', 'A')
    await sleep(60)
    t.is(cache.size, 1, 'not expired by the cache clock')
    now = 1000
    while (cache.size > 0) await sleep(5)
    t.is(cache.peek('a', { allowStale: true }), undefined)
  })

  test(`${storage}: reads ignore a second argument that is not an object, as a Map does`, (t) => {
    const cache = new LRU({ max: 5, storage })
    cache.set('a', 'A')
    t.deepEqual(['a', 'b'].map(cache.get, cache), ['A', undefined])
    t.true(cache.has('a', 0))
    t.is(cache.peek('a', null), 'A')
  })

  test(`${storage}: a fetch load counts as a miss, a fetch hit as a hit`, async (t) => {
    const cache = new LRU({ max: 5, storage, fetchMethod: async (k) => `v${k}` })
    t.is(await cache.fetch('a'), 'va')
    t.is(await cache.fetch('a'), 'va')
    t.like(cache.stats(), { hits: 1, misses: 1, sets: 1 })
  })

  test(`${storage}: memo() without memoMethod throws`, (t) => {
    const cache = new LRU({ max: 5, storage })
    t.throws(() => cache.memo('a'), { code: 'ERR_INVALID_ARG_VALUE' })
  })
}

test('offheap: maxEntrySize counts real bytes, and a larger entry is not stored', (t) => {
  const events = []
  const cache = new LRU({
    max: 10,
    maxEntrySize: 200,
    storage: 'offheap',
    onEvict: (v, k, reason) => events.push([k, reason]),
  })
  cache.set('a', 'small')
  const status = {}
  cache.set('a', 'x'.repeat(500), { status })
  t.false(cache.has('a'))
  t.like(status, { set: 'miss', maxEntrySizeExceeded: true })
  t.deepEqual(events, [
    ['a', 'set'],
    ['a', 'set'],
  ])
  cache.set('b', 'y'.repeat(50))
  t.true(cache.has('b'))
})

test('ttlResolution is checked', (t) => {
  t.notThrows(() => new LRU({ max: 5, ttlResolution: 0 }))
  t.throws(() => new LRU({ max: 5, ttlResolution: -1 }), { code: 'ERR_OUT_OF_RANGE' })
})

for (const storage of STORAGES) {
  for (const onEvict of [undefined, () => {}]) {
    test(`${storage}: a refresh in flight is aborted when its stale entry is evicted${onEvict ? ', with onEvict' : ''}`, async (t) => {
      const clock = fakeClock()
      const signals = new Map()
      const cache = new LRU({
        max: 2,
        ttl: 10,
        perf: clock,
        storage,
        onEvict,
        fetchMethod: (key, stale, options) => {
          signals.set(key, options.signal)
          return new Promise(() => {})
        },
      })
      cache.set('a', 'A')
      clock.advance(20)
      t.is(await cache.fetch('a', { allowStale: true }), 'A', 'stale while revalidating')
      // A load of an absent key has no entry to lose: evictions leave it alone.
      cache.fetch('absent').catch(() => {})
      cache.set('b', 'B', { ttl: 0 })
      t.false(signals.get('a').aborted, 'nothing was evicted yet')
      cache.set('c', 'C', { ttl: 0 })
      t.true(signals.get('a').aborted)
      t.is(signals.get('a').reason.message, 'evicted')
      t.false(cache.has('a'))

      // By pop() and resize() too; a stale entry removed by get() is not an eviction.
      cache.set('p', 'P').set('q', 'Q')
      cache.fetch('p', { forceRefresh: true }).catch(() => {})
      t.deepEqual(cache.pop(), ['p', 'P'])
      t.is(signals.get('p').reason.message, 'evicted')
      cache.resize(5)
      cache.set('r', 'R').set('s', 'S', { ttl: 0 })
      clock.advance(20)
      cache.fetch('r', { allowStale: true })
      cache.fetch('q', { allowStale: true })
      t.is(cache.get('q'), undefined)
      cache.resize(1)
      t.is(signals.get('r').reason.message, 'evicted')
      t.false(signals.get('q').aborted)
      t.false(signals.get('absent').aborted)
      t.deepEqual([...cache.keys()], ['s'])
    })
  }
}

test('heap: a throwing dispose lets the operation finish, then its error is thrown', (t) => {
  const after = []
  const cache = new LRU({
    max: 2,
    dispose: (v, k) => {
      if (k !== 'keep') throw new Error(`dispose ${k}`)
    },
    disposeAfter: (v, k, reason) => after.push([k, reason]),
  })
  cache.set('a', 'A').set('b', 'B')
  t.throws(() => cache.set('a', 'A2'), { message: 'dispose a' })
  t.is(cache.get('a'), 'A2', 'the value was replaced')
  t.throws(() => cache.set('c', 'C'), { message: 'dispose b' })
  t.deepEqual([...cache.keys()], ['c', 'a'], 'b was evicted, c stored')
  t.throws(() => cache.delete('a'), { message: 'dispose a' })
  t.false(cache.has('a'))
  t.is(cache.size, 1)
  cache.set('keep', 'K')
  t.throws(() => cache.clear(), { message: 'dispose c' })
  t.is(cache.size, 0)
  t.deepEqual(after, [
    ['a', 'set'],
    ['b', 'evict'],
    ['a', 'delete'],
    ['c', 'delete'],
    ['keep', 'delete'],
  ])
  cache.set('x', 'X').set('y', 'Y')
  t.deepEqual(
    [...cache.entries()],
    [
      ['y', 'Y'],
      ['x', 'X'],
    ],
  )
})

test('heap: inside dispose the cache can be read, not changed', (t) => {
  const clock = fakeClock()
  const seen = []
  let change
  const cache = new LRU({
    max: 5,
    ttl: 10,
    perf: clock,
    dispose: (v, k) => {
      seen.push([k, cache.get(k), cache.has(k), cache.peek(k, { allowStale: true })])
      change?.()
    },
  })
  cache.set('a', 'A').set('b', 'B')
  clock.advance(20)
  // A get of the stale entry inside dispose does not remove it a second time.
  t.is(cache.get('a'), undefined)
  t.deepEqual(seen, [['a', undefined, false, 'A']])
  for (const [name, call] of [
    ['set', () => cache.set('z', 'Z')],
    ['delete', () => cache.delete('b')],
    ['clear', () => cache.clear()],
    ['pop', () => cache.pop()],
    ['purgeStale', () => cache.purgeStale()],
    ['resize', () => cache.resize(1)],
  ]) {
    cache.set('k', 'K')
    change = call
    const err = t.throws(() => cache.delete('k'), { code: 'ERR_LEAKLESS_REENTRANT' })
    t.true(err.message.includes(`LRU.${name}()`), err.message)
    change = undefined
    t.false(cache.has('k'), 'the delete was done')
  }
  t.is(cache.max, 5)
  t.false(cache.has('z'))
})

test('offheap: dispose runs after the operation, before disposeAfter', (t) => {
  const seen = []
  const cache = new LRU({
    max: 2,
    storage: 'offheap',
    dispose: (v, k, reason) => seen.push(['dispose', k, reason, cache.has(k), cache.size]),
    disposeAfter: (v, k, reason) => seen.push(['after', k, reason, cache.has(k), cache.size]),
  })
  cache.set('a', 'A').set('b', 'B').set('c', 'C')
  cache.delete('b')
  t.deepEqual(seen, [
    ['dispose', 'a', 'evict', false, 2],
    ['after', 'a', 'evict', false, 2],
    ['dispose', 'b', 'delete', false, 1],
    ['after', 'b', 'delete', false, 1],
  ])
})

test('heap: updateAgeOnHas per call', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 5, ttl: 100, perf: clock })
  cache.set('a', 1)
  clock.advance(80)
  t.true(cache.has('a', { updateAgeOnHas: true }))
  t.is(cache.getRemainingTTL('a'), 100)
})
