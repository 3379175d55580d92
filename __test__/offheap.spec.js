'use strict'

const test = require('ava')
const fc = require('fast-check')
const { LRU } = require('..')
const { fakeClock, freezeDateNow } = require('./helpers/clock')

const offheap = (options) => new LRU({ storage: 'offheap', ...options })

// ------------------------------------------------------------ round trips

const strings = {
  empty: '',
  ascii: 'hello, world',
  latin1: 'café crème brûlée',
  cjk: '漢字かな交じり文',
  astral: 'emoji 😀🎉 and 𝄞',
  'lone high surrogate': 'a\ud800b',
  'lone low surrogate': '\udc00',
  'replacement char': 'x\ufffdy',
  nul: 'a\u0000b',
}

for (const [name, value] of Object.entries(strings)) {
  test(`round trip of a string value and key: ${name}`, (t) => {
    const cache = offheap({ max: 10 })
    cache.set(value, value)
    t.is(cache.get(value), value)
    t.is(cache.peek(value), value)
    t.true(cache.has(value))
    t.deepEqual([...cache], [[value, value]])
  })
}

test('strings that differ only in a lone surrogate are different keys', (t) => {
  const cache = offheap({ max: 10 })
  cache.set('\ud800', 'high-0').set('\ud801', 'high-1').set('\ufffd', 'replacement')
  t.is(cache.get('\ud800'), 'high-0')
  t.is(cache.get('\ud801'), 'high-1')
  t.is(cache.get('\ufffd'), 'replacement')
  t.is(cache.size, 3)
})

test('a 1 MB string round-trips', (t) => {
  const cache = offheap({ maxSize: 8 * 2 ** 20 })
  const big = 'αβγ'.repeat(200_000) + 'x'.repeat(400_000)
  cache.set('big', big)
  t.is(cache.get('big'), big)
})

test('Buffers and Uint8Arrays come back as Buffers with the same bytes', (t) => {
  const cache = offheap({ max: 10 })
  const buf = Buffer.from([1, 2, 3, 255])
  const u8 = new Uint8Array([9, 8, 7])
  const view = new Uint8Array(Buffer.from('xxhello-worldxx').buffer, 0, 0)
  const slice = Buffer.from('__payload__').subarray(2, 9)
  cache.set('buf', buf).set('u8', u8).set('empty', Buffer.alloc(0)).set('slice', slice).set('view', view)
  t.true(Buffer.isBuffer(cache.get('buf')))
  t.deepEqual(cache.get('buf'), buf)
  t.deepEqual(cache.get('u8'), Buffer.from([9, 8, 7]))
  t.deepEqual(cache.get('empty'), Buffer.alloc(0))
  t.is(cache.get('slice').toString(), 'payload')
  t.is(cache.get('view').length, 0)
})

test('a returned Buffer is a copy: changing it, or evicting the entry, does not touch the other', (t) => {
  const cache = offheap({ max: 1 })
  const original = Buffer.from('secret')
  cache.set('k', original)
  original.fill(0)
  const got = cache.get('k')
  t.is(got.toString(), 'secret')
  got.fill(0x41)
  t.is(cache.get('k').toString(), 'secret')
  const kept = cache.get('k')
  cache.set('other', Buffer.from('replacement'))
  t.false(cache.has('k'))
  t.is(kept.toString(), 'secret')
})

test('numbers and strings are distinct keys; -0 is 0; NaN is NaN', (t) => {
  const cache = offheap({ max: 10 })
  cache
    .set(1, 'number')
    .set('1', 'string')
    .set(-0, 'zero')
    .set(NaN, 'nan')
    .set(1.5, 'float')
    .set(2 ** 53, 'big')
  t.is(cache.get(1), 'number')
  t.is(cache.get('1'), 'string')
  t.is(cache.get(0), 'zero')
  t.is(cache.get(NaN), 'nan')
  t.is(cache.get(1.5), 'float')
  t.is(cache.get(2 ** 53), 'big')
  t.deepEqual([...cache.keys()].map(String).sort(), ['0', '1', '1', '1.5', '9007199254740992', 'NaN'])
})

// ------------------------------------------------------------- bad input

const badKeys = [{}, [], null, undefined, true, Symbol('k'), 10n, () => {}]
for (const key of badKeys) {
  test(`keys must be strings or numbers: ${typeof key} ${String(key)}`, (t) => {
    const cache = offheap({ max: 10 })
    cache.set('ok', 'v')
    // Only set() refuses a key it cannot hold; the others answer as a Map
    // that has never seen it would.
    const err = t.throws(() => cache.set(key, 'v'), { instanceOf: TypeError })
    t.is(err.code, 'ERR_INVALID_ARG_TYPE')
    t.regex(err.message, /"key"/)
    t.is(cache.get(key), undefined)
    t.false(cache.has(key))
    t.is(cache.peek(key), undefined)
    t.false(cache.delete(key))
    t.is(cache.getRemainingTTL(key), 0)
    t.is(cache.info(key), undefined)
    t.deepEqual([...cache], [['ok', 'v']])
  })
}

const badValues = [
  5,
  {},
  [1],
  null,
  undefined,
  true,
  new Uint16Array(2),
  new DataView(new ArrayBuffer(4)),
  new ArrayBuffer(4),
  Symbol('v'),
]
for (const value of badValues) {
  test(`values must be strings, Buffers or Uint8Arrays: ${Object.prototype.toString.call(value)}`, (t) => {
    const cache = offheap({ max: 10 })
    cache.set('ok', 'v')
    const err = t.throws(() => cache.set('k', value), { instanceOf: TypeError })
    t.is(err.code, 'ERR_INVALID_ARG_TYPE')
    t.regex(err.message, /"value"/)
    t.false(cache.has('k'))
    t.is(cache.size, 1)
  })
}

test('options that do not apply off-heap are refused', (t) => {
  t.throws(() => offheap({ maxSize: 100, sizeCalculation: () => 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  const cache = offheap({ max: 10 })
  t.throws(() => cache.set('k', 'v', { size: 3 }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => cache.set('k', 'v', { ttl: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => offheap({}), { code: 'ERR_LEAKLESS_UNBOUNDED' })
  t.false(cache.has('k'))
})

// ---------------------------------------------------------- the LRU surface

test('an off-heap cache is an LRU with the Map interface', (t) => {
  const cache = offheap({ max: 3 })
  t.true(cache instanceof LRU)
  t.is(Object.prototype.toString.call(cache), '[object LRU]')
  t.is(cache.set('a', '1'), cache)
  cache.set('b', '2').set('c', '3')
  cache.get('a')
  cache.set('d', '4')
  t.deepEqual([...cache.keys()], ['d', 'a', 'c'])
  t.deepEqual([...cache.values()], ['4', '1', '3'])
  t.deepEqual([...cache.entries()], [...cache])
  const seen = []
  cache.forEach((v, k, c) => seen.push([k, v, c === cache]))
  t.deepEqual(seen, [
    ['d', '4', true],
    ['a', '1', true],
    ['c', '3', true],
  ])
  t.true(cache.delete('a'))
  t.false(cache.delete('a'))
  t.deepEqual(cache.pop(), ['c', '3'])
  cache.resize(1)
  t.is(cache.max, 1)
  t.deepEqual([...cache.keys()], ['d'])
  cache.clear()
  t.is(cache.size, 0)
  t.regex(require('node:util').inspect(cache), /offheap/)
})

test('maxSize counts real bytes: key + value + per-entry bookkeeping', (t) => {
  const cache = offheap({ maxSize: 1_000_000 })
  cache.set('k', 'v')
  const overhead = cache.calculatedSize - 2
  t.true(overhead > 16 && overhead < 256, `overhead ${overhead}`)
  cache.set('key2', 'x'.repeat(1000))
  t.is(cache.calculatedSize, 2 + overhead + 4 + 1000 + overhead)
  cache.set('€', Buffer.alloc(10))
  t.is(cache.calculatedSize, 2 + overhead + 4 + 1000 + overhead + 3 + 10 + overhead)
  cache.set(42, '')
  t.is(cache.calculatedSize, 2 + overhead + 4 + 1000 + overhead + 3 + 10 + overhead + 8 + overhead)
})

test('maxSize evicts least recently used entries by bytes, and refuses entries larger than it', (t) => {
  const events = []
  const cache = offheap({ maxSize: 4000, onEvict: (v, k, r) => events.push([k, r]) })
  for (let i = 0; i < 10; i++) cache.set(`k${i}`, 'x'.repeat(900))
  const each = cache.calculatedSize / cache.size
  t.true(cache.calculatedSize <= 4000)
  t.is(cache.size, Math.floor(4000 / each))
  t.deepEqual([...cache.keys()].slice(0, 3), ['k9', 'k8', 'k7'])
  t.true(events.every(([, r]) => r === 'evict'))
  cache.set('huge', 'y'.repeat(5000))
  t.false(cache.has('huge'))
  t.deepEqual(events.at(-1), ['huge', 'set'])
})

test('onEvict sees values as they were stored, with every reason', (t) => {
  const clock = fakeClock()
  const events = []
  const cache = offheap({ max: 2, ttl: 100, perf: clock, onEvict: (v, k, r) => events.push([k, v, r]) })
  cache.set('s', 'string')
  cache.set('s', 'replaced')
  cache.set('b', Buffer.from('bytes'))
  cache.set('n', 'new')
  clock.advance(150)
  t.is(cache.get('n'), undefined)
  cache.set('d', 'del')
  cache.delete('d')
  cache.set('c', 'clear')
  cache.clear()
  t.deepEqual(events, [
    ['s', 'string', 'set'],
    ['s', 'replaced', 'evict'],
    ['n', 'new', 'expire'],
    ['d', 'del', 'delete'],
    // clear() reports least recently used first, as lru-cache disposes.
    ['b', Buffer.from('bytes'), 'clear'],
    ['c', 'clear', 'clear'],
  ])
})

test('onEvict may call back into the cache, and a throwing onEvict does not corrupt it', (t) => {
  let fail = false
  const cache = offheap({
    max: 2,
    onEvict: (value, key, reason) => {
      if (fail) throw new Error('boom')
      if (reason === 'evict' && !String(key).endsWith('!')) cache.set(`${key}!`, value)
    },
  })
  cache.set('a', '1').set('b', '2').set('c', '3')
  t.is(cache.size, 2)
  fail = true
  t.throws(() => cache.set('z', '9'), { message: 'boom' })
  t.is(cache.get('z'), '9')
  fail = false
  cache.set('y', '8')
  t.is(cache.size, 2)
})

test('ttl, updateAgeOnGet, allowStale, getRemainingTTL and purgeStale', (t) => {
  const clock = fakeClock()
  const cache = offheap({ max: 10, ttl: 100, perf: clock })
  cache.set('a', '1').set('b', '2', { ttl: 1000 }).set('c', '3', { ttl: 0 })
  t.is(cache.getRemainingTTL('a'), 100)
  t.is(cache.getRemainingTTL('c'), Infinity)
  t.is(cache.getRemainingTTL('zz'), 0)
  clock.advance(150)
  t.false(cache.has('a'))
  t.is(cache.peek('a'), undefined)
  t.deepEqual([...cache.keys()].sort(), ['b', 'c'])
  t.is(cache.purgeStale(), 1)
  t.is(cache.stats().expirations, 1)

  const aging = offheap({ max: 10, ttl: 100, updateAgeOnGet: true, perf: clock })
  aging.set('a', '1')
  clock.advance(80)
  t.is(aging.get('a'), '1')
  clock.advance(80)
  t.is(aging.get('a'), '1')

  const stale = offheap({ max: 10, ttl: 100, allowStale: true, perf: clock })
  stale.set('a', '1')
  clock.advance(200)
  t.is(stale.peek('a'), '1')
  t.is(stale.get('a'), '1')
  t.is(stale.get('a'), undefined)
})

test('expired entries are evicted before live ones', (t) => {
  const clock = fakeClock()
  const events = []
  const cache = offheap({ max: 3, perf: clock, onEvict: (v, k, r) => events.push([k, r]) })
  cache.set('old', '1').set('brief', '2', { ttl: 10 }).set('new', '3')
  clock.advance(20)
  cache.set('x', '4')
  t.deepEqual(events, [['brief', 'expire']])
  t.deepEqual([...cache.keys()], ['x', 'new', 'old'])
})

test('stats counts off-heap operations', (t) => {
  const cache = offheap({ max: 2 })
  cache.set('a', '1').set('b', '2').set('c', '3')
  cache.get('c')
  cache.get('a')
  const s = cache.stats()
  t.like(s, { hits: 1, misses: 1, sets: 3, evictions: 1, size: 2 })
  t.is(s.calculatedSize, cache.calculatedSize)
  t.true(s.externalBytes >= s.calculatedSize)
})

test('fetch loads once, shares the promise, does not cache rejections', async (t) => {
  let calls = 0
  const cache = offheap({
    max: 10,
    fetchMethod: async (key) => {
      calls++
      await new Promise((resolve) => setImmediate(resolve))
      if (key === 'bad') throw new Error('no')
      return `value:${key}`
    },
  })
  t.deepEqual(await Promise.all([cache.fetch('k'), cache.fetch('k')]), ['value:k', 'value:k'])
  t.is(calls, 1)
  t.is(cache.get('k'), 'value:k')
  await t.throwsAsync(cache.fetch('bad'), { message: 'no' })
  t.false(cache.has('bad'))
  await t.throwsAsync(cache.fetch({}), { code: 'ERR_INVALID_ARG_TYPE' })
  // Without a fetchMethod, fetch() is an async get(), as in lru-cache.
  t.is(await offheap({ max: 1 }).fetch('x'), undefined)
})

test('dump and load round-trip entries, order and TTL', (t) => {
  const clock = fakeClock()
  const cache = offheap({ max: 10, perf: clock })
  cache.set('a', 'A').set('b', Buffer.from('B'), { ttl: 500 }).set(3, 'three')
  cache.get('a')
  // dump() and load() go through Date.now(): held still (see helpers/clock.js).
  const thaw = freezeDateNow(t)
  const dumped = cache.dump()
  t.deepEqual(
    dumped.map(([k]) => k),
    ['b', 3, 'a'],
  )
  const copy = offheap({ max: 10, perf: clock })
  copy.load(dumped)
  t.deepEqual([...copy], [...cache])
  t.true(Math.abs(copy.getRemainingTTL('b') - 500) <= 2)
  thaw()
  const heap = new LRU({ max: 10 })
  heap.load(dumped)
  t.deepEqual([...heap], [...cache])
  t.throws(() => copy.load([['k', { value: 5 }]]), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('mutating during iteration neither throws nor loops', (t) => {
  const cache = offheap({ max: 100 })
  for (let i = 0; i < 50; i++) cache.set(i, String(i))
  let visited = 0
  for (const [k] of cache) {
    visited++
    cache.delete(k + 1)
    cache.set(`n${k}`, 'x')
  }
  t.true(visited > 0 && visited <= 50)
})

// --------------------------------------------------------------- properties

test('maxSize holds by bytes and answers agree with a model under random workloads', (t) => {
  const keyArb = fc.oneof(
    fc.integer({ min: 0, max: 20 }),
    fc.constantFrom('a', 'b', 'ü', '\ud800', 'long-key-'.repeat(5)),
  )
  const valueArb = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  )
  const opArb = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constant('set'), keyArb, valueArb) },
    { weight: 4, arbitrary: fc.tuple(fc.constant('get'), keyArb) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('delete'), keyArb) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('pop')) },
  )
  let runs = 0
  fc.assert(
    fc.property(fc.integer({ min: 200, max: 3000 }), fc.array(opArb, { maxLength: 80 }), (maxSize, ops) => {
      runs++
      const cache = offheap({ maxSize })
      const model = new Map() // in recency order, last = most recent
      cache.set('probe', '')
      const overhead = cache.calculatedSize - 'probe'.length
      cache.clear()
      // Strings are stored as UTF-8, or as UTF-16 when they have no exact
      // UTF-8 form (a lone surrogate) or contain U+FFFD.
      const stringBytes = (s) =>
        /[\ud800-\udfff\ufffd]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))
          ? s.length * 2
          : Buffer.byteLength(s, 'utf8')
      const bytes = (k, v) =>
        (typeof k === 'number' ? 8 : stringBytes(k)) + (typeof v === 'string' ? stringBytes(v) : v.length) + overhead
      for (const [op, key, value] of ops) {
        if (op === 'set') {
          cache.set(key, value)
          model.delete(key)
          const size = cache.has(key) ? null : 'refused'
          if (size !== 'refused') model.set(key, value)
          while ([...model].reduce((n, [k, v]) => n + bytes(k, v), 0) > maxSize) model.delete(model.keys().next().value)
        } else if (op === 'get') {
          const got = cache.get(key)
          const want = model.get(key)
          if (!require('node:util').isDeepStrictEqual(got, want)) throw new Error(`get ${String(key)}`)
          if (model.has(key)) {
            model.delete(key)
            model.set(key, want)
          }
        } else if (op === 'delete') {
          if (cache.delete(key) !== model.delete(key)) throw new Error(`delete ${String(key)}`)
        } else {
          const got = cache.pop()
          const first = model.keys().next()
          const want = first.done ? undefined : [first.value, model.get(first.value)]
          if (!first.done) model.delete(first.value)
          if (!require('node:util').isDeepStrictEqual(got, want)) throw new Error('pop')
        }
        if (cache.calculatedSize > maxSize) throw new Error(`calculatedSize ${cache.calculatedSize} > ${maxSize}`)
        if (cache.size !== model.size) throw new Error(`size ${cache.size} != ${model.size}`)
        const keys = [...cache.keys()]
        const want = [...model.keys()].reverse()
        if (!require('node:util').isDeepStrictEqual(keys, want)) throw new Error(`order ${keys} != ${want}`)
      }
    }),
    { numRuns: 300 },
  )
  t.is(runs, 300)
})
