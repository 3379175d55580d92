'use strict'

const test = require('ava')
const { LRU } = require('..')
const { kTickStart } = require('../lib/lru/hooks')
const { fakeClock, freezeDateNow } = require('./helpers/clock')
const { recorder } = require('./helpers/recorder')

// ------------------------------------------------------------ construction

test('new LRU(n) is new LRU({ max: n })', (t) => {
  const cache = new LRU(3)
  t.is(cache.max, 3)
  t.is(cache.maxSize, Infinity)
  t.is(cache.size, 0)
  t.is(Object.prototype.toString.call(cache), '[object LRU]')
  t.true(cache instanceof LRU)
})

test('a cache with neither max nor maxSize is refused', (t) => {
  const err = t.throws(() => new LRU({}), { instanceOf: RangeError })
  t.is(err.code, 'ERR_LEAKLESS_UNBOUNDED')
  t.throws(() => new LRU({ ttl: 1000 }), { code: 'ERR_LEAKLESS_UNBOUNDED' })
})

const badOptions = [
  [undefined, RangeError, 'ERR_LEAKLESS_UNBOUNDED'],
  [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['10', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [[10], TypeError, 'ERR_INVALID_ARG_TYPE'],
  [0, RangeError, 'ERR_OUT_OF_RANGE'],
  [-1, RangeError, 'ERR_OUT_OF_RANGE'],
  [1.5, RangeError, 'ERR_OUT_OF_RANGE'],
  [NaN, RangeError, 'ERR_OUT_OF_RANGE'],
  [Infinity, RangeError, 'ERR_LEAKLESS_UNBOUNDED'],
  [{ max: '5' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 2 ** 53 }, RangeError, 'ERR_OUT_OF_RANGE'],
  [{ maxSize: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
  [{ maxSize: -5 }, RangeError, 'ERR_OUT_OF_RANGE'],
  [{ max: 5, ttl: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
  [{ max: 5, ttl: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
  [{ max: 5, ttl: '1s' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 5, onEvict: 'log' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 5, sizeCalculation: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 5, fetchMethod: {} }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 5, updateAgeOnGet: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 5, allowStale: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ max: 5, storage: 'disk' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  [{ max: 5, perf: {} }, TypeError, 'ERR_INVALID_ARG_TYPE'],
]

for (const [options, type, code] of badOptions) {
  test(`constructor refuses ${require('node:util').inspect(options)}`, (t) => {
    const err = t.throws(() => new LRU(options), { instanceOf: type })
    t.is(err.code, code)
    t.regex(err.message, /Received/)
  })
}

test('errors name the argument and what was received', (t) => {
  const err = t.throws(() => new LRU({ max: -3 }))
  t.regex(err.message, /"options\.max"/)
  t.regex(err.message, /-3/)
})

test('memory is allocated as the cache fills, not for max', (t) => {
  const cache = new LRU({ max: 1_000_000 })
  t.is(cache.stats().externalBytes, 0)
  cache.set('a', 1)
  t.true(cache.stats().externalBytes < 1024)
})

// ---------------------------------------------------------------- Map API

test('get, set, has, delete, clear and size behave like a Map', (t) => {
  const cache = new LRU(10)
  t.is(cache.set('a', 1), cache)
  cache.set('b', 2).set('c', 3)
  t.is(cache.size, 3)
  t.is(cache.get('a'), 1)
  t.true(cache.has('b'))
  t.false(cache.has('z'))
  t.is(cache.get('z'), undefined)
  t.true(cache.delete('b'))
  t.false(cache.delete('b'))
  t.is(cache.size, 2)
  cache.clear()
  t.is(cache.size, 0)
  t.is(cache.get('a'), undefined)
  cache.set('a', 'again')
  t.is(cache.get('a'), 'again')
})

test('keys compare with SameValueZero', (t) => {
  const cache = new LRU(10)
  const obj = {}
  cache.set(NaN, 'nan').set(0, 'zero').set(obj, 'object').set('1', 'string one').set(1, 'number one')
  t.is(cache.get(NaN), 'nan')
  t.is(cache.get(-0), 'zero')
  t.is(cache.get(obj), 'object')
  t.is(cache.get({}), undefined)
  t.is(cache.get('1'), 'string one')
  t.is(cache.get(1), 'number one')
  const sym = Symbol('s')
  cache.set(sym, 'symbol').set(null, 'null').set(undefined, 'undefined')
  t.is(cache.get(sym), 'symbol')
  t.is(cache.get(null), 'null')
  t.is(cache.get(undefined), 'undefined')
})

test('undefined is a storable value', (t) => {
  const cache = new LRU(2)
  cache.set('u', undefined)
  t.true(cache.has('u'))
  t.is(cache.size, 1)
  t.deepEqual([...cache], [['u', undefined]])
})

test('iteration is most recently used first', (t) => {
  const cache = new LRU(10)
  cache.set('a', 1).set('b', 2).set('c', 3)
  cache.get('a')
  t.deepEqual(
    [...cache],
    [
      ['a', 1],
      ['c', 3],
      ['b', 2],
    ],
  )
  t.deepEqual([...cache.keys()], ['a', 'c', 'b'])
  t.deepEqual([...cache.values()], [1, 3, 2])
  t.deepEqual([...cache.entries()], [...cache])
  const seen = []
  const self = {}
  cache.forEach(function (value, key, map) {
    seen.push([key, value, map === cache, this === self])
  }, self)
  t.deepEqual(seen, [
    ['a', 1, true, true],
    ['c', 3, true, true],
    ['b', 2, true, true],
  ])
})

test('iterating does not change recency', (t) => {
  const cache = new LRU(3)
  cache.set('a', 1).set('b', 2).set('c', 3)
  t.is([...cache].length, 3)
  cache.set('d', 4)
  t.false(cache.has('a'))
})

test('mutating during iteration neither throws nor loops forever', (t) => {
  const cache = new LRU(100)
  for (let i = 0; i < 50; i++) cache.set(i, i)
  let visited = 0
  for (const [key] of cache) {
    visited++
    cache.delete(key - 1)
    cache.set(`new-${key}`, key)
    cache.get(key + 5)
    t.true(visited <= 50)
  }
  t.true(visited > 0)
  const all = []
  cache.forEach((v, k) => {
    all.push(k)
    cache.clear()
  })
  t.is(all.length, 1)
  t.is(cache.size, 0)
})

test('forEach refuses a non-function', (t) => {
  const cache = new LRU(2)
  t.throws(() => cache.forEach(null), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('util.inspect shows the cache', (t) => {
  const cache = new LRU(5)
  cache.set('a', 1)
  t.regex(require('node:util').inspect(cache), /LRU\(1\/5\) \{ 'a' => 1 \}/)
})

// ---------------------------------------------------------------- eviction

test('evicts the least recently used entry', (t) => {
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 3, onEvict })
  cache.set('a', 1).set('b', 2).set('c', 3)
  cache.get('a')
  cache.set('d', 4)
  t.deepEqual([...cache.keys()], ['d', 'a', 'c'])
  t.deepEqual(events, [['b', 2, 'evict']])
  cache.set('c', 33)
  cache.set('e', 5)
  t.deepEqual([...cache.keys()], ['e', 'c', 'd'])
  t.deepEqual(events.at(-1), ['a', 1, 'evict'])
})

test('has and peek do not touch recency', (t) => {
  const cache = new LRU(2)
  cache.set('a', 1).set('b', 2)
  t.true(cache.has('a'))
  t.is(cache.peek('a'), 1)
  cache.set('c', 3)
  t.false(cache.has('a'))
  t.is(cache.peek('zzz'), undefined)
})

test('eviction order stays exact over many operations', (t) => {
  const max = 200
  const cache = new LRU(max)
  const model = new Map()
  let seed = 7
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  for (let i = 0; i < 20000; i++) {
    const key = rand(400)
    if (rand(3) === 0) {
      if (model.has(key)) {
        const v = model.get(key)
        model.delete(key)
        model.set(key, v)
      }
      cache.get(key)
    } else {
      model.delete(key)
      model.set(key, i)
      if (model.size > max) model.delete(model.keys().next().value)
      cache.set(key, i)
    }
  }
  t.deepEqual([...cache], [...model].reverse())
})

test('pop removes and returns the least recently used entry', (t) => {
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 5, onEvict })
  t.is(cache.pop(), undefined)
  cache.set('a', 1).set('b', 2).set('c', 3)
  cache.get('a')
  t.deepEqual(cache.pop(), ['b', 2])
  t.deepEqual(cache.pop(), ['c', 3])
  t.deepEqual(cache.pop(), ['a', 1])
  t.is(cache.pop(), undefined)
  t.is(cache.size, 0)
  t.deepEqual(
    events.map((e) => e[2]),
    ['evict', 'evict', 'evict'],
  )
})

test('resize evicts down at once', (t) => {
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 5, onEvict })
  for (let i = 0; i < 5; i++) cache.set(i, i)
  cache.resize(2)
  t.is(cache.max, 2)
  t.deepEqual([...cache.keys()], [4, 3])
  t.deepEqual(
    events.map((e) => e[0]),
    [0, 1, 2],
  )
  cache.resize(4)
  cache.set(5, 5).set(6, 6)
  t.deepEqual([...cache.keys()], [6, 5, 4, 3])
  t.throws(() => cache.resize(0), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => cache.resize('3'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.is(cache.max, 4)
})

test('a slot freed by delete is reused', (t) => {
  const cache = new LRU(3)
  cache.set('a', 1).set('b', 2).set('c', 3)
  cache.delete('b')
  cache.set('d', 4)
  t.deepEqual([...cache.keys()], ['d', 'c', 'a'])
  cache.set('e', 5)
  t.deepEqual([...cache.keys()], ['e', 'd', 'c'])
})

// ------------------------------------------------------------------ onEvict

test('onEvict reasons: evict, expire, delete, set, clear', (t) => {
  const clock = fakeClock()
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 2, ttl: 100, perf: clock, onEvict })
  cache.set('a', 1)
  cache.set('a', 2)
  cache.set('a', 2) // same value: not a replacement
  cache.delete('a')
  cache.set('b', 1).set('c', 2).set('d', 3)
  clock.advance(200)
  t.is(cache.get('c'), undefined)
  cache.set('e', 4)
  cache.clear()
  t.deepEqual(events, [
    ['a', 1, 'set'],
    ['a', 2, 'delete'],
    ['b', 1, 'evict'],
    ['c', 2, 'expire'],
    ['d', 3, 'clear'],
    ['e', 4, 'clear'],
  ])
})

test('onEvict may call back into the cache', (t) => {
  const seen = []
  const cache = new LRU({
    max: 2,
    onEvict(value, key, reason) {
      // The cache is consistent while onEvict runs.
      seen.push([key, reason, cache.size, cache.has(key), [...cache.keys()]])
      if (reason === 'evict' && !String(key).endsWith('-archived')) cache.set(`${key}-archived`, value)
      if (reason === 'delete') cache.delete('other')
    },
  })
  cache.set('a', 1).set('b', 2).set('c', 3)
  // c evicts a; a-archived evicts b; b-archived evicts c; c-archived evicts a-archived.
  t.deepEqual([...cache.keys()], ['c-archived', 'b-archived'])
  t.deepEqual(seen[0], ['a', 'evict', 2, false, ['c', 'b']])
  cache.set('other', 9)
  cache.delete('other')
  t.is(cache.size, 1)
  cache.set('x', 1).set('y', 2)
  t.deepEqual([...cache.keys()], ['y', 'x'])
  t.is(cache.get('x'), 1)
})

test('a throwing onEvict does not corrupt the cache', (t) => {
  let fail = true
  const cache = new LRU({
    max: 2,
    onEvict() {
      if (fail) throw new Error('boom')
    },
  })
  cache.set('a', 1).set('b', 2)
  t.throws(() => cache.set('c', 3), { message: 'boom' })
  t.deepEqual([...cache.keys()], ['c', 'b'])
  t.is(cache.get('c'), 3)
  t.throws(() => cache.delete('b'), { message: 'boom' })
  t.false(cache.has('b'))
  t.throws(() => cache.clear(), { message: 'boom' })
  t.is(cache.size, 0)
  fail = false
  cache.set('d', 4).set('e', 5).set('f', 6)
  t.deepEqual([...cache.keys()], ['f', 'e'])
})

// ---------------------------------------------------------------- maxSize

test('maxSize with sizeCalculation evicts by size', (t) => {
  const { events, onEvict } = recorder()
  const cache = new LRU({ maxSize: 10, sizeCalculation: (v) => v.length, onEvict })
  cache.set('a', 'xxxx').set('b', 'yyyy')
  t.is(cache.calculatedSize, 8)
  cache.set('c', 'zzz')
  t.is(cache.calculatedSize, 7)
  t.deepEqual([...cache.keys()], ['c', 'b'])
  t.deepEqual(events, [['a', 'xxxx', 'evict']])
  cache.set('b', 'y')
  t.is(cache.calculatedSize, 4)
})

test('a per-entry size overrides sizeCalculation', (t) => {
  const cache = new LRU({ maxSize: 100, sizeCalculation: () => 1 })
  cache.set('a', 'x', { size: 60 }).set('b', 'y', { size: 50 })
  t.deepEqual([...cache.keys()], ['b'])
  t.is(cache.calculatedSize, 50)
})

test('an entry larger than maxSize is not stored, and onEvict sees it', (t) => {
  const { events, onEvict } = recorder()
  const cache = new LRU({ maxSize: 10, sizeCalculation: (v) => v.length, onEvict })
  cache.set('a', 'small')
  cache.set('a', 'much too large')
  t.false(cache.has('a'))
  t.is(cache.calculatedSize, 0)
  cache.set('b', 'also far too large')
  t.deepEqual(events, [
    ['a', 'small', 'set'],
    ['a', 'much too large', 'set'],
    ['b', 'also far too large', 'set'],
  ])
})

test('maxSize and max together', (t) => {
  const cache = new LRU({ max: 2, maxSize: 100, sizeCalculation: () => 10 })
  cache.set('a', 1).set('b', 2).set('c', 3)
  t.deepEqual([...cache.keys()], ['c', 'b'])
  t.is(cache.calculatedSize, 20)
})

test('sizes that are not positive integers are refused and change nothing', (t) => {
  let size = 5
  const cache = new LRU({ maxSize: 100, sizeCalculation: () => size })
  cache.set('a', 1)
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    size = bad
    t.throws(() => cache.set('b', 2), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
    t.throws(() => cache.set('a', 2, { size: bad }), { code: 'ERR_OUT_OF_RANGE' })
  }
  for (const bad of ['5', null, {}, undefined]) {
    size = bad
    t.throws(() => cache.set('b', 2), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  }
  t.throws(() => cache.set('a', 2, { size: '5' }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.deepEqual([...cache], [['a', 1]])
  t.is(cache.calculatedSize, 5)
})

test('maxSize without sizeCalculation needs a size per set', (t) => {
  const cache = new LRU({ maxSize: 10 })
  t.throws(() => cache.set('a', 1), { code: 'ERR_INVALID_ARG_VALUE' })
  t.is(cache.size, 0)
  cache.set('a', 1, { size: 4 })
  t.is(cache.calculatedSize, 4)
})

test('a throwing sizeCalculation leaves the cache untouched', (t) => {
  const cache = new LRU({
    maxSize: 10,
    sizeCalculation: (v) => {
      if (v === 'bad') throw new Error('no size')
      return 1
    },
  })
  cache.set('a', 'ok')
  t.throws(() => cache.set('a', 'bad'), { message: 'no size' })
  t.is(cache.get('a'), 'ok')
  t.is(cache.calculatedSize, 1)
})

test('set refuses bad per-entry options', (t) => {
  const cache = new LRU(5)
  t.throws(() => cache.set('a', 1, null), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.set('a', 1, 'soon'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.set('a', 1, -5), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => cache.set('a', 1, { ttl: -5 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => cache.set('a', 1, { ttl: 'soon' }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.is(cache.size, 0)
})

// ---------------------------------------------------------------------- TTL

test('expired entries are never returned', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 10, ttl: 100, perf: clock })
  cache.set('a', 1)
  clock.advance(99)
  t.is(cache.get('a'), 1)
  t.true(cache.has('a'))
  clock.advance(1)
  t.true(cache.has('a'), 'an entry whose age equals its ttl is live, as in lru-cache')
  clock.advance(1)
  t.false(cache.has('a'))
  t.is(cache.peek('a'), undefined)
  t.is(cache.get('a'), undefined)
  t.is(cache.size, 0)
  t.deepEqual([...cache], [])
})

test('expired entries are skipped by iteration and dump', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 10, ttl: 100, perf: clock })
  cache.set('a', 1)
  cache.set('b', 2, { ttl: 1000 })
  clock.advance(500)
  t.deepEqual([...cache], [['b', 2]])
  t.deepEqual(
    cache.dump().map((e) => e[0]),
    ['b'],
  )
})

test('expired entries are evicted before live ones', (t) => {
  const clock = fakeClock()
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 3, perf: clock, onEvict })
  cache.set('old', 1)
  cache.set('short', 2, { ttl: 10 })
  cache.set('new', 3)
  clock.advance(20)
  cache.set('x', 4)
  t.deepEqual(events, [['short', 2, 'expire']])
  t.deepEqual([...cache.keys()], ['x', 'new', 'old'])
  // An entry that expires after a victim batch was taken is still found.
  cache.delete('x')
  cache.set('brief', 5, { ttl: 5 })
  clock.advance(10)
  cache.set('y', 6)
  t.deepEqual(events.at(-1), ['brief', 5, 'expire'])
  t.true(cache.has('old'))
})

// An LRU with a 100 ms TTL (and `options`) on a fake clock, holding 'a' = 1.
function ttlCacheWithA(options) {
  const clock = fakeClock()
  const cache = new LRU({ max: 10, ttl: 100, perf: clock, ...options })
  cache.set('a', 1)
  return { clock, cache }
}

test('updateAgeOnGet restarts the TTL', (t) => {
  const { clock, cache } = ttlCacheWithA({ updateAgeOnGet: true })
  clock.advance(80)
  t.is(cache.get('a'), 1)
  clock.advance(80)
  t.is(cache.get('a'), 1)
  t.is(cache.getRemainingTTL('a'), 100)
  clock.advance(101)
  t.is(cache.get('a'), undefined)
})

test('allowStale returns an expired entry once, then it is gone', (t) => {
  const { clock, cache } = ttlCacheWithA({ allowStale: true })
  clock.advance(150)
  t.is(cache.peek('a'), 1)
  t.is(cache.get('a'), 1)
  t.is(cache.get('a'), undefined)
  t.false(cache.has('a'))
})

test('getRemainingTTL', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 10, perf: clock })
  t.is(cache.getRemainingTTL('missing'), 0)
  cache.set('forever', 1)
  t.is(cache.getRemainingTTL('forever'), Infinity)
  cache.set('brief', 1, { ttl: 50 })
  clock.advance(20)
  t.is(cache.getRemainingTTL('brief'), 30)
  clock.advance(100)
  t.is(cache.getRemainingTTL('brief'), 0)
  t.is(cache.getRemainingTTL('forever'), Infinity)
})

test('a per-entry ttl of 0 means no expiry in a cache with a ttl', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 10, ttl: 10, perf: clock })
  cache.set('a', 1, { ttl: 0 })
  clock.advance(1e9)
  t.is(cache.get('a'), 1)
})

test('purgeStale removes expired entries and counts them', (t) => {
  const clock = fakeClock()
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 10, ttl: 100, perf: clock, onEvict })
  cache.set('a', 1).set('b', 2)
  cache.set('c', 3, { ttl: 1000 })
  t.is(cache.purgeStale(), 0)
  clock.advance(200)
  t.is(cache.purgeStale(), 2)
  t.is(cache.size, 1)
  t.deepEqual(
    events.map((e) => e[2]),
    ['expire', 'expire'],
  )
  t.is(cache.stats().expirations, 2)
  t.is(new LRU(3).purgeStale(), 0)
})

test('delete of an expired entry reports expire and returns false', (t) => {
  const clock = fakeClock()
  const { events, onEvict } = recorder()
  const cache = new LRU({ max: 10, ttl: 10, perf: clock, onEvict })
  cache.set('a', 1)
  clock.advance(20)
  t.false(cache.delete('a'))
  t.deepEqual(events, [['a', 1, 'expire']])
  t.is(cache.size, 0)
})

test('the default clock is performance.now', async (t) => {
  const cache = new LRU({ max: 10, ttl: 30 })
  cache.set('a', 1)
  t.is(cache.get('a'), 1)
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.is(cache.get('a'), undefined)
})

// -------------------------------------------------------------------- stats

test('stats counts hits, misses, sets, evictions and expirations', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 2, perf: clock })
  cache.set('a', 1).set('b', 2).set('c', 3)
  cache.get('b')
  cache.get('a')
  cache.set('d', 4, { ttl: 1 })
  clock.advance(5)
  cache.get('d')
  const s = cache.stats()
  t.like(s, { hits: 1, misses: 2, sets: 4, evictions: 2, expirations: 1, size: 1, calculatedSize: 0 })
  t.true(s.externalBytes > 0)
})

// -------------------------------------------------------------------- fetch

test('fetch loads a miss once and shares the promise', async (t) => {
  let calls = 0
  const cache = new LRU({
    max: 10,
    fetchMethod: async (key, stale, { signal }) => {
      calls++
      t.true(signal instanceof AbortSignal)
      await new Promise((resolve) => setImmediate(resolve))
      return `value of ${key}`
    },
  })
  const [a, b, c] = await Promise.all([cache.fetch('k'), cache.fetch('k'), cache.fetch('k')])
  t.is(calls, 1)
  t.deepEqual([a, b, c], ['value of k', 'value of k', 'value of k'])
  t.is(cache.get('k'), 'value of k')
  t.is(await cache.fetch('k'), 'value of k')
  t.is(calls, 1)
})

test('fetch with an explicit fetcher', async (t) => {
  const cache = new LRU(10)
  t.is(await cache.fetch(1, (k) => k * 2), 2)
  t.is(cache.get(1), 2)
  // Without a fetchMethod, fetch() is an async get(), as in lru-cache.
  t.is(await cache.fetch(1), 2)
  t.is(await cache.fetch(2), undefined)
  await t.throwsAsync(cache.fetch(2, 'nope'), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('a rejected fetch is not cached', async (t) => {
  let calls = 0
  const cache = new LRU({
    max: 10,
    fetchMethod: async () => {
      calls++
      if (calls === 1) throw new Error('database down')
      return 'ok'
    },
  })
  const [first, second] = await Promise.allSettled([cache.fetch('k'), cache.fetch('k')])
  t.is(first.status, 'rejected')
  t.is(second.status, 'rejected')
  t.is(first.reason.message, 'database down')
  t.false(cache.has('k'))
  t.is(await cache.fetch('k'), 'ok')
  t.is(calls, 2)
})

test('a fetcher that throws synchronously rejects', async (t) => {
  const cache = new LRU(10)
  await t.throwsAsync(
    cache.fetch('k', () => {
      throw new Error('sync')
    }),
    { message: 'sync' },
  )
  t.false(cache.has('k'))
})

test('fetch resolving to undefined stores nothing', async (t) => {
  const cache = new LRU(10)
  t.is(await cache.fetch('k', async () => undefined), undefined)
  t.false(cache.has('k'))
})

test('set during a fetch aborts it and the result is not stored', async (t) => {
  const cache = new LRU(10)
  let release
  let aborted = false
  const p = cache.fetch('k', (key, stale, { signal }) => {
    signal.addEventListener('abort', () => {
      aborted = true
    })
    return new Promise((resolve) => {
      release = resolve
    })
  })
  cache.set('k', 'fresh')
  t.true(aborted)
  release('stale')
  // As in lru-cache, the caller learns that its load was replaced.
  await t.throwsAsync(p, { message: 'replaced' })
  t.is(cache.get('k'), 'fresh')
})

test('a fetch that never settles does not block later fetches after delete', async (t) => {
  const cache = new LRU(10)
  const first = cache.fetch('k', () => new Promise(() => {}))
  cache.delete('k')
  await t.throwsAsync(first, { message: 'deleted' })
  t.is(await cache.fetch('k', async () => 'second'), 'second')
})

// ------------------------------------------------------------ dump and load

test('dump and load round-trip entries, order, ttl and size', (t) => {
  const clock = fakeClock()
  const cache = new LRU({ max: 10, maxSize: 100, sizeCalculation: () => 3, perf: clock })
  cache.set('a', 1).set('b', 2, { ttl: 100 }).set('c', 3, { size: 7 })
  cache.get('a')
  // dump() and load() go through Date.now(): held still (see helpers/clock.js).
  const thaw = freezeDateNow(t)
  const dumped = cache.dump()
  t.deepEqual(
    dumped.map((e) => e[0]),
    ['b', 'c', 'a'],
  )
  t.is(dumped[0][1].ttl, 100)
  t.is(typeof dumped[0][1].start, 'number')
  t.is(dumped[1][1].size, 7)
  const copy = new LRU({ max: 10, maxSize: 100, sizeCalculation: () => 3, perf: clock })
  copy.load(JSON.parse(JSON.stringify(dumped)))
  t.deepEqual([...copy], [...cache])
  t.is(copy.calculatedSize, cache.calculatedSize)
  // start goes through Date.now(), which has millisecond resolution.
  t.true(Math.abs(copy.getRemainingTTL('b') - 100) <= 2)
  thaw()
  clock.advance(150)
  t.false(copy.has('b'))
})

test('load skips entries that already expired', (t) => {
  const cache = new LRU(10)
  cache.load([
    ['old', { value: 1, ttl: 10, start: Date.now() - 1000 }],
    ['new', { value: 2, ttl: 10_000, start: Date.now() }],
  ])
  t.deepEqual([...cache.keys()], ['new'])
})

test('load refuses bad input and changes nothing', (t) => {
  const cache = new LRU(10)
  cache.set('keep', 1)
  t.throws(() => cache.load(null), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.load(5), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.load([['a', { value: 1 }], 'junk']), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cache.load([['a', { value: 1, size: -1 }]]), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => cache.load([['a', { value: 1, ttl: -1 }]]), { code: 'ERR_OUT_OF_RANGE' })
  t.deepEqual([...cache], [['keep', 1]])
})

// --------------------------------------------------------------- robustness

test('every method answers correctly after a refused call', (t) => {
  const cache = new LRU({ max: 3, maxSize: 10, sizeCalculation: () => 2 })
  cache.set('a', 1).set('b', 2)
  const attempts = [
    () => cache.set('c', 3, { size: -1 }),
    () => cache.set('c', 3, { ttl: NaN }),
    () => cache.resize(-1),
    () => cache.forEach(5),
    () => cache.load('x'),
  ]
  for (const attempt of attempts) t.throws(attempt)
  t.deepEqual(
    [...cache],
    [
      ['b', 2],
      ['a', 1],
    ],
  )
  t.is(cache.calculatedSize, 4)
  cache.set('c', 3).set('d', 4)
  t.deepEqual([...cache.keys()], ['d', 'c', 'b'])
})

test('clear resets recency and memory', (t) => {
  const cache = new LRU(1000)
  for (let i = 0; i < 1000; i++) cache.set(i, i)
  t.true(cache.stats().externalBytes > 0)
  cache.clear()
  t.is(cache.stats().externalBytes, 0)
  for (let i = 0; i < 5; i++) cache.set(i, i)
  t.deepEqual([...cache.keys()], [4, 3, 2, 1, 0])
})

test('recency and hit counts survive the stamp counter wrapping around', (t) => {
  const cache = new LRU({ max: 3, [kTickStart]: 2 ** 32 - 2 - 5 })
  cache.set('a', 1).set('b', 2).set('c', 3)
  for (let i = 0; i < 10; i++) cache.get(['a', 'b', 'c'][i % 3])
  cache.get('b')
  t.deepEqual([...cache.keys()], ['b', 'a', 'c'])
  cache.set('d', 4)
  t.deepEqual([...cache.keys()], ['d', 'b', 'a'])
  t.like(cache.stats(), { hits: 11, sets: 4, evictions: 1 })
})
