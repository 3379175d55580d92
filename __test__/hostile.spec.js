'use strict'

// Hostile input, table-driven, over every public method and option of LRU
// (both storages), ListenerRegistry, monitor, collectMetrics, stats and
// memoryUsage: wrong types, NaN, ±Infinity, -0, negative and huge numbers,
// 2**53, symbols, Proxies and getters that throw, callbacks that throw or
// re-enter the structure, a sizeCalculation that returns garbage, a
// fetchMethod that never settles, a clock that throws.
//
// Each row expects the SPEC's error (TypeError/RangeError with its code) or
// the documented behaviour; then the structure is checked with real
// operations: nothing changed by a refused call, nothing half-built by a
// refused constructor, and every answer right afterwards.
//
// Serial: the "nothing half-built" checks read per-thread totals.

const test = require('ava')
const os = require('node:os')
const path = require('node:path')
const { EventEmitter } = require('node:events')
const { Registry } = require('prom-client')
const { LRU, ListenerRegistry, monitor, collectMetrics, stats, memoryUsage } = require('..')
const native = require('../lib/common/native')
const { latestMonitor } = require('../lib/monitor')
const { resetWarnings } = require('../lib/common/warnings')

// ------------------------------------------------------------ hostile values

const trap = () => {
  throw new Error('trap')
}
const { proxy: revoked, revoke } = Proxy.revocable({}, {})
revoke()
const trapAll = { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap }
/** An object every reflective operation on which throws `Error('trap')`. */
const trapProxy = new Proxy({}, trapAll)
/** A function whose `name` (and every other property) throws. */
const trapFunction = new Proxy(function named() {}, trapAll)

/** Values that are not numbers, by name. */
const NOT_NUMBERS = {
  'a string': '5',
  'a bigint': 5n,
  'a symbol': Symbol('five'),
  null: null,
  'an object': {},
  'an array': [5],
  'a function': () => 5,
  'a boolean': true,
  'a Number object': new Number(5),
  'a Proxy whose traps throw': trapProxy,
  'a revoked Proxy': revoked,
}
/** Numbers that are not positive safe integers. */
const BAD_COUNTS = {
  NaN: NaN,
  Infinity: Infinity,
  '-Infinity': -Infinity,
  '-0': -0,
  0: 0,
  '-1': -1,
  1.5: 1.5,
  '2**53': 2 ** 53,
  '-Number.MAX_VALUE': -Number.MAX_VALUE,
}
/** Numbers that are not non-negative durations (Infinity is allowed: "none"). */
const BAD_DURATIONS = { NaN: NaN, '-Infinity': -Infinity, '-1': -1, '-Number.MAX_VALUE': -Number.MAX_VALUE }
const NOT_FUNCTIONS = {
  'a string': 'fn',
  'a number': 1,
  null: null,
  'an object': {},
  'a symbol': Symbol('fn'),
  'a Proxy whose traps throw': trapProxy,
}
const NOT_BOOLEANS = { 'a string': 'true', 'a number': 1, null: null, 'an object': {}, 'a symbol': Symbol('b') }

const TYPE = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }
const RANGE = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }
const VALUE = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }
/** The hostile object's own error, passed through unchanged. */
const TRAP = { name: 'Error', message: 'trap' }
/** What the engine throws for any use of a revoked Proxy. */
const REVOKED = { name: 'TypeError', code: undefined, message: /revoked/ }

/** Asserts that `fn` throws `expected` ({ name, code?, message? }); returns the error. */
function throwsLike(t, fn, expected, label = '') {
  let error
  let threw = false
  try {
    fn()
  } catch (err) {
    threw = true
    error = err
  }
  t.true(threw, `${label} should throw`)
  if (!threw) return undefined
  checkError(t, error, expected, label)
  return error
}

function checkError(t, error, expected, label = '') {
  t.is(error?.name, expected.name, `${label}: ${error?.stack}`)
  if ('code' in expected) t.is(error.code, expected.code, label)
  if (expected.message instanceof RegExp) t.regex(error.message, expected.message, label)
  else if (expected.message !== undefined) t.is(error.message, expected.message, label)
  if (expected.mentions !== undefined) t.true(error.message.includes(expected.mentions), `${label}: ${error.message}`)
}

async function rejectsLike(t, promise, expected, label = '') {
  t.true(promise instanceof Promise, `${label} returns a promise`)
  let error
  let rejected = false
  try {
    await promise
  } catch (err) {
    rejected = true
    error = err
  }
  t.true(rejected, `${label} should reject`)
  if (rejected) checkError(t, error, expected, label)
}

const PENDING = Symbol('pending')
async function settled(promise) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(PENDING), 20))])
}

/** Native structures and tracked instances of this thread: refused constructors must not add any. */
function population() {
  const n = native.nativeStats()
  const s = stats()
  return {
    heap: n.heapLruInstances,
    offheap: n.offheapLruInstances,
    lrus: s.lru.instances,
    registries: s.registries.instances,
    monitor: latestMonitor(),
  }
}

function assertNothingBuilt(t, before, label) {
  const after = population()
  // Collections may lower the counts meanwhile; nothing may raise them.
  t.true(after.heap <= before.heap, `${label}: a native heap LRU was left behind`)
  t.true(after.offheap <= before.offheap, `${label}: a native off-heap LRU was left behind`)
  t.true(after.lrus <= before.lrus, `${label}: an LRU is still tracked`)
  t.true(after.registries <= before.registries, `${label}: a registry is still tracked`)
  t.is(after.monitor, before.monitor, `${label}: a monitor was started`)
}

// ------------------------------------------------------------ LRU helpers

const STORAGES = ['heap', 'offheap']

/** A cache of `max` 4 holding a, b, c (c most recent). */
function seeded(storage, options = {}) {
  const cache = new LRU({ max: 4, storage, ...options })
  cache.set('a', '1').set('b', '2').set('c', '3')
  return cache
}

function snapshot(cache) {
  return { entries: [...cache], size: cache.size, calculatedSize: cache.calculatedSize }
}

/**
 * Real operations on a cache of `max` 4 (after any hostile call): it holds
 * what it says, evicts the exact least recently used entry, deletes, pops
 * and clears, and its totals follow.
 */
function assertHealthy(t, cache, label = '') {
  const entries = [...cache]
  t.is(entries.length, cache.size, `${label}: iteration shows every entry`)
  for (const [k, v] of entries) {
    t.true(cache.has(k), `${label}: has(${String(k)})`)
    t.deepEqual(cache.peek(k), v, `${label}: peek(${String(k)})`)
  }
  t.is(cache.stats().size, cache.size, label)
  t.is(cache.max, 4, label)
  const keys = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5']
  for (const k of keys) cache.set(k, `v${k}`)
  t.deepEqual([...cache.keys()], ['h5', 'h4', 'h3', 'h2'], `${label}: the last 4 remain, most recent first`)
  t.is(cache.get('h2'), 'vh2', label)
  cache.set('h6', 'vh6')
  t.false(cache.has('h3'), `${label}: the least recently used entry was evicted`)
  t.deepEqual([...cache.keys()], ['h6', 'h2', 'h5', 'h4'], label)
  t.true(cache.delete('h6'), label)
  t.false(cache.has('h6'), label)
  t.deepEqual(cache.pop(), ['h4', 'vh4'], label)
  t.is(cache.size, 2, label)
  cache.clear()
  t.is(cache.size, 0, label)
  t.deepEqual([...cache], [], label)
  t.is(cache.calculatedSize, 0, label)
}

function fakeClock(start = 1000) {
  const clock = { t: start, failOn: new Set(), calls: 0 }
  clock.now = () => {
    clock.calls++
    if (clock.failOn.has(clock.calls)) throw new Error('clock')
    return clock.t
  }
  return clock
}

test.beforeEach(() => resetWarnings())

// ================================================================ LRU options

const constructorRows = [
  // [label, options, expected]
  // What `new Map()` becomes: the message says what is missing.
  ['no options', undefined, { name: 'RangeError', code: 'ERR_LEAKLESS_UNBOUNDED' }],
  ['null', null, TYPE],
  ['a string', '10', TYPE],
  ['an array', [10], TYPE],
  ['a boolean', true, TYPE],
  ['a bigint', 10n, TYPE],
  ['a symbol', Symbol('o'), TYPE],
  ['a function whose properties throw', trapFunction, TYPE],
  ...Object.entries(BAD_COUNTS)
    .filter(([k]) => k !== 'Infinity')
    .map(([k, v]) => [`the number ${k}`, v, RANGE]),
  // Infinity is no bound (what the max getter of a cache without one reports).
  ['the number Infinity', Infinity, { name: 'RangeError', code: 'ERR_LEAKLESS_UNBOUNDED' }],
  ['{} (unbounded)', {}, { name: 'RangeError', code: 'ERR_LEAKLESS_UNBOUNDED' }],
  ['a Proxy whose traps throw', trapProxy, TRAP],
  ['a revoked Proxy', revoked, REVOKED],
]
for (const [label, options, expected] of constructorRows) {
  test.serial(`new LRU(${label}) throws ${expected.code ?? expected.name} and builds nothing`, (t) => {
    const before = population()
    throwsLike(t, () => new LRU(options), expected, label)
    assertNothingBuilt(t, before, label)
  })
}

function optionRows(storage) {
  const rows = []
  /** Options of this storage with `extra` (whose getters are kept as getters). */
  const o = (extra) =>
    Object.defineProperties(storage === 'offheap' ? { storage } : {}, Object.getOwnPropertyDescriptors(extra))
  const row = (label, extra, expected, name) =>
    rows.push([label, o(extra), name === undefined ? expected : { ...expected, mentions: `options.${name}` }])
  for (const name of ['max', 'maxSize']) {
    const other = name === 'max' ? {} : { max: 4 }
    for (const [k, v] of Object.entries(NOT_NUMBERS)) row(`${name}: ${k}`, { ...other, [name]: v }, TYPE, name)
    for (const [k, v] of Object.entries(BAD_COUNTS)) {
      // Infinity is no bound, so that new LRU({ max: c.max, maxSize: c.maxSize }) copies c.
      if (k !== 'Infinity') row(`${name}: ${k}`, { ...other, [name]: v }, RANGE, name)
    }
  }
  for (const [k, v] of Object.entries(NOT_NUMBERS)) row(`ttl: ${k}`, { max: 4, ttl: v }, TYPE, 'ttl')
  for (const [k, v] of Object.entries(BAD_DURATIONS)) row(`ttl: ${k}`, { max: 4, ttl: v }, RANGE, 'ttl')
  for (const name of ['updateAgeOnGet', 'allowStale']) {
    for (const [k, v] of Object.entries(NOT_BOOLEANS)) row(`${name}: ${k}`, { max: 4, [name]: v }, TYPE, name)
  }
  const fns = storage === 'offheap' ? ['onEvict', 'fetchMethod'] : ['onEvict', 'sizeCalculation', 'fetchMethod']
  for (const name of fns) {
    for (const [k, v] of Object.entries(NOT_FUNCTIONS)) row(`${name}: ${k}`, { max: 4, [name]: v }, TYPE, name)
  }
  if (storage === 'offheap') {
    row('sizeCalculation (no meaning off-heap)', { max: 4, sizeCalculation: () => 1 }, VALUE, 'sizeCalculation')
  }
  for (const v of ['HEAP', 'off-heap', '', null, 5, Symbol('s')]) {
    row(`storage: ${typeof v === 'symbol' ? 'a symbol' : JSON.stringify(v)}`, { max: 4, storage: v }, VALUE, 'storage')
  }
  for (const [k, v] of Object.entries({ null: null, 'a number': 5, '{}': {}, '{ now: 5 }': { now: 5 } })) {
    row(`perf: ${k}`, { max: 4, perf: v }, TYPE, 'perf')
  }
  row('perf: a Proxy whose traps throw', { max: 4, perf: trapProxy }, TRAP)
  // Getters that throw, one option at a time: the getter's error, and nothing built.
  for (const name of ['max', 'maxSize', 'ttl', 'onEvict', 'fetchMethod', 'storage', 'perf', 'allowStale']) {
    row(
      `a getter of ${name} that throws`,
      Object.defineProperty({ max: 4 }, name, { get: trap, enumerable: true }),
      TRAP,
    )
  }
  const target = o({ max: 4 })
  rows.push([
    'a Proxy that throws for "ttl" only',
    new Proxy(target, { get: (t, k) => (k === 'ttl' ? trap() : t[k]) }),
    TRAP,
  ])
  return rows
}

for (const storage of STORAGES) {
  for (const [label, options, expected] of optionRows(storage)) {
    test.serial(`${storage} LRU, ${label}: ${expected.code ?? expected.name}, nothing built`, (t) => {
      const before = population()
      throwsLike(t, () => new LRU(options), expected, label)
      assertNothingBuilt(t, before, label)
      assertHealthy(t, seeded(storage), `a fresh ${storage} cache after: ${label}`)
    })
  }

  // Odd values that are valid, with the documented meaning.
  const sizes = storage === 'heap' ? { sizeCalculation: () => 1 } : {}
  const accepted = [
    ['ttl: Infinity (no TTL)', () => ({ ttl: Infinity }), (t, c) => t.is(c.getRemainingTTL('a'), Infinity)],
    ['ttl: -0 (no TTL)', () => ({ ttl: -0 }), (t, c) => t.is(c.getRemainingTTL('a'), Infinity)],
    ['ttl: 2**53', () => ({ ttl: 2 ** 53 }), (t, c) => t.true(c.getRemainingTTL('a') > 2 ** 52)],
    ['ttl: Number.MAX_VALUE', () => ({ ttl: Number.MAX_VALUE }), (t, c) => t.true(c.getRemainingTTL('a') > 1e300)],
    ['maxSize: 2**53 - 1', () => ({ maxSize: 2 ** 53 - 1, ...sizes }), (t, c) => t.is(c.maxSize, 2 ** 53 - 1)],
    ['a getter that works', () => Object.defineProperty({}, 'ttl', { get: () => 0, enumerable: true }), () => {}],
    ['an options object without a prototype', () => Object.create(null), () => {}],
  ]
  for (const [label, extra, check] of accepted) {
    test.serial(`${storage} LRU accepts ${label}`, (t) => {
      const options = Object.assign(extra(), { max: 4, storage })
      const cache = new LRU(options)
      cache.set('a', '1')
      check(t, cache)
      t.is(cache.get('a'), '1')
      cache.clear()
      assertHealthy(t, cache, label)
    })
  }
}

test.serial('new LRU(2**53 - 1) is accepted and allocates as it fills', (t) => {
  const cache = new LRU(2 ** 53 - 1)
  t.is(cache.max, 2 ** 53 - 1)
  cache.set('a', 1)
  t.true(cache.stats().externalBytes < 64 * 1024)
  cache.resize(4)
  assertHealthy(t, cache)
})

// ================================================================ LRU methods

for (const storage of STORAGES) {
  const offheap = storage === 'offheap'

  // ---------------------------------------------------------------- set
  const setRows = [
    // A number is a TTL in ms (what keyv passes), so it is checked as one.
    ...Object.entries({ null: null, 'a string': 'x', 'a boolean': true, 'a symbol': Symbol('o') }).map(([k, v]) => [
      `options ${k}`,
      ['k', 'v', v],
      TYPE,
    ]),
    ['options a negative number', ['k', 'v', -5], RANGE],
    ...Object.entries(NOT_NUMBERS).map(([k, v]) => [`options.ttl ${k}`, ['k', 'v', { ttl: v }], TYPE]),
    ...Object.entries(BAD_DURATIONS).map(([k, v]) => [`options.ttl ${k}`, ['k', 'v', { ttl: v }], RANGE]),
    ['options with a getter that throws', ['k', 'v', Object.defineProperty({}, 'ttl', { get: trap })], TRAP],
    ['options a Proxy whose traps throw', ['k', 'v', trapProxy], TRAP],
  ]
  if (offheap) {
    const badKeys = {
      undefined,
      null: null,
      'a boolean': true,
      'an object': {},
      'an array': [],
      'a symbol': Symbol('k'),
      'a bigint': 1n,
      'a String object': new String('k'),
      'a Proxy whose traps throw': trapProxy,
      'a revoked Proxy': revoked,
      'a function': () => 'k',
    }
    for (const [k, v] of Object.entries(badKeys)) setRows.push([`key ${k}`, [v, 'v'], { ...TYPE, mentions: '"key"' }])
    const badValues = {
      undefined,
      null: null,
      'a number': 5,
      'a boolean': true,
      'an object': {},
      'an array': [1],
      'a symbol': Symbol('v'),
      'a bigint': 1n,
      'a String object': new String('v'),
      'an Int8Array': new Int8Array(4),
      'a Uint16Array': new Uint16Array(4),
      'a Float64Array': new Float64Array(4),
      'a Uint8ClampedArray': new Uint8ClampedArray(4),
      'a DataView': new DataView(new ArrayBuffer(4)),
      'an ArrayBuffer': new ArrayBuffer(4),
      'a Proxy of a Buffer': new Proxy(Buffer.from('v'), {}),
      'a Proxy whose traps throw': trapProxy,
      'a revoked Proxy': revoked,
    }
    for (const [k, v] of Object.entries(badValues))
      setRows.push([`value ${k}`, ['k', v], { ...TYPE, mentions: '"value"' }])
    for (const size of [1, 0, NaN, 'x']) setRows.push([`options.size ${String(size)}`, ['k', 'v', { size }], VALUE])
  }

  for (const [label, args, expected] of setRows) {
    test.serial(`${storage} set() with ${label}: ${expected.code ?? expected.name}, nothing changed`, (t) => {
      const cache = seeded(storage)
      const before = snapshot(cache)
      throwsLike(t, () => cache.set(...args), expected, label)
      t.deepEqual(snapshot(cache), before, `${label}: a refused set changes nothing`)
      assertHealthy(t, cache, label)
    })
  }

  if (!offheap) {
    // options.size on a cache with maxSize.
    const sizeRows = [
      ...Object.entries(NOT_NUMBERS).map(([k, v]) => [`options.size ${k}`, v, TYPE]),
      ...Object.entries(BAD_COUNTS).map(([k, v]) => [`options.size ${k}`, v, RANGE]),
    ]
    for (const [label, size, expected] of sizeRows) {
      test.serial(`heap set() with ${label} on a maxSize cache: ${expected.code}, nothing changed`, (t) => {
        const cache = seeded('heap', { maxSize: 100, sizeCalculation: () => 1 })
        const before = snapshot(cache)
        throwsLike(t, () => cache.set('k', 'v', { size }), { ...expected, mentions: 'options.size' }, label)
        t.deepEqual(snapshot(cache), before, label)
        assertHealthy(t, cache, label)
      })
    }

    test.serial('heap keys are any value, compared like Map keys (symbols, NaN, -0, Proxies, revoked ones)', (t) => {
      const cache = new LRU({ max: 16 })
      const sym = Symbol('k')
      const keys = [sym, NaN, 0, trapProxy, revoked, trapFunction, 2n ** 64n, undefined, null, '']
      keys.forEach((k, i) => cache.set(k, i))
      keys.forEach((k, i) => t.is(cache.get(k), i))
      t.is(cache.get(-0), cache.get(0), '-0 and 0 are one key')
      t.is(cache.get(Number.NaN), 1)
      t.is(cache.size, keys.length)
      t.true(cache.delete(revoked))
      t.false(cache.has(revoked))
      t.is(cache.get(Symbol('k')), undefined, 'another symbol is another key')
      cache.clear()
      cache.resize(4)
      assertHealthy(t, cache)
    })
  } else {
    const keyRows = {
      NaN: [NaN, Number.NaN],
      '-0 (one key with 0)': [-0, 0],
      Infinity: [Infinity, Infinity],
      '2**53': [2 ** 53, 2 ** 53],
      '-Number.MAX_VALUE': [-Number.MAX_VALUE, -Number.MAX_VALUE],
      'the empty string': ['', ''],
      'a lone surrogate': ['\ud800', '\ud800'],
      'a 1 MB string': ['k'.repeat(2 ** 20), 'k'.repeat(2 ** 20)],
    }
    for (const [label, [key, same]] of Object.entries(keyRows)) {
      test.serial(`offheap key ${label} is stored and found`, (t) => {
        const cache = seeded('offheap')
        cache.set(key, 'v')
        t.is(cache.get(same), 'v')
        t.true(cache.has(same))
        t.true(cache.delete(same))
        assertHealthy(t, cache, label)
      })
    }
    const valueRows = {
      'the empty string': ['', ''],
      'an empty Buffer': [Buffer.alloc(0), Buffer.alloc(0)],
      'a Uint8Array view at an offset': [new Uint8Array(new ArrayBuffer(16), 3, 4).fill(7), Buffer.alloc(4, 7)],
      'a Uint8Array subclass': [new (class Bytes extends Uint8Array {})([1, 2]), Buffer.from([1, 2])],
      'a Uint8Array over a SharedArrayBuffer': [new Uint8Array(new SharedArrayBuffer(3)).fill(1), Buffer.alloc(3, 1)],
      'a detached Uint8Array (stored as empty)': [detached(), Buffer.alloc(0)],
    }
    for (const [label, [value, expected]] of Object.entries(valueRows)) {
      test.serial(`offheap value ${label} is stored as a copy`, (t) => {
        const cache = seeded('offheap')
        cache.set('k', value)
        const got = cache.get('k')
        if (typeof value === 'string') t.is(got, expected)
        else {
          t.true(Buffer.isBuffer(got))
          t.deepEqual(got, expected)
        }
        assertHealthy(t, cache, label)
      })
    }
  }

  // ------------------------------------------------------ key-only methods
  for (const method of ['get', 'has', 'peek', 'delete', 'getRemainingTTL']) {
    if (offheap) {
      for (const [label, key] of Object.entries({
        undefined,
        null: null,
        'an object': {},
        'a symbol': Symbol('k'),
        'a bigint': 1n,
        'a Proxy whose traps throw': trapProxy,
        'a revoked Proxy': revoked,
      })) {
        test.serial(`offheap ${method}(${label}): answers "absent" as a Map would, nothing changed`, (t) => {
          const cache = seeded('offheap')
          const before = snapshot(cache)
          const absent = { get: undefined, has: false, peek: undefined, delete: false, getRemainingTTL: 0 }[method]
          t.is(cache[method](key), absent, label)
          t.deepEqual(snapshot(cache), before)
          assertHealthy(t, cache, label)
        })
      }
    } else {
      test.serial(`heap ${method}() of absent hostile keys answers "absent"`, (t) => {
        const cache = seeded('heap')
        const before = snapshot(cache)
        const absent = { get: undefined, has: false, peek: undefined, delete: false, getRemainingTTL: 0 }[method]
        for (const key of [NaN, -0, Symbol('x'), trapProxy, revoked, 2 ** 53, undefined, {}]) {
          t.is(cache[method](key), absent)
        }
        t.deepEqual(snapshot(cache), before)
        assertHealthy(t, cache)
      })
    }
  }

  // ---------------------------------------------------------------- resize
  const resizeRows = [
    ...Object.entries(NOT_NUMBERS).map(([k, v]) => [k, v, TYPE]),
    ...Object.entries(BAD_COUNTS).map(([k, v]) => [k, v, RANGE]),
    ['nothing', undefined, TYPE],
  ]
  for (const [label, max, expected] of resizeRows) {
    test.serial(`${storage} resize(${label}): ${expected.code}, max unchanged`, (t) => {
      const cache = seeded(storage)
      const before = snapshot(cache)
      throwsLike(t, () => cache.resize(max), { ...expected, mentions: '"max"' }, label)
      t.deepEqual(snapshot(cache), before)
      assertHealthy(t, cache, label)
    })
  }

  test.serial(`${storage} resize(2**53 - 1) then resize(1) then resize(4)`, (t) => {
    const cache = seeded(storage)
    cache.resize(2 ** 53 - 1)
    t.is(cache.max, 2 ** 53 - 1)
    cache.resize(1)
    t.deepEqual([...cache.keys()], ['c'])
    cache.resize(4)
    assertHealthy(t, cache)
  })

  // ---------------------------------------------------------------- forEach
  for (const [label, cb] of Object.entries({ ...NOT_FUNCTIONS, nothing: undefined })) {
    test.serial(`${storage} forEach(${label}): ERR_INVALID_ARG_TYPE`, (t) => {
      const cache = seeded(storage)
      throwsLike(t, () => cache.forEach(cb), { ...TYPE, mentions: '"callback"' }, label)
      assertHealthy(t, cache, label)
    })
  }

  test.serial(`${storage} forEach with a callback that throws: the error, nothing changed`, (t) => {
    const cache = seeded(storage)
    const before = snapshot(cache)
    let calls = 0
    throwsLike(t, () => cache.forEach(() => (calls++ === 1 ? trap() : undefined)), TRAP)
    t.is(calls, 2)
    t.deepEqual(snapshot(cache), before)
    assertHealthy(t, cache)
  })

  const reentrant = {
    'deletes every key': (cache) => (v, k) => {
      for (const key of [...cache.keys()]) cache.delete(key)
    },
    'sets new keys (evicting)': (cache) => (v, k) => cache.set(`${k}+`, v).set(`${k}++`, v),
    'clears the cache': (cache) => () => cache.clear(),
    'reads and pops': (cache) => (v, k) => {
      cache.get(k)
      cache.pop()
    },
  }
  for (const [label, makeCb] of Object.entries(reentrant)) {
    test.serial(`${storage} forEach with a callback that ${label} ends, and the cache stays right`, (t) => {
      const cache = seeded(storage)
      let calls = 0
      const cb = makeCb(cache)
      cache.forEach((v, k, c) => {
        t.is(c, cache)
        calls++
        cb(v, k)
      })
      t.true(calls <= 3, `${calls} calls for 3 entries`)
      for (const [k] of cache) t.true(cache.has(k))
      assertHealthy(t, cache, label)
    })
    test.serial(`${storage} for...of while the loop ${label} ends`, (t) => {
      const cache = seeded(storage)
      const cb = makeCb(cache)
      let steps = 0
      for (const [k, v] of cache) {
        steps++
        cb(v, k)
      }
      t.true(steps <= 3)
      assertHealthy(t, cache, label)
    })
  }

  // ---------------------------------------------------------------- load
  const loadRows = [
    ['nothing', undefined, TYPE],
    ['null', null, TYPE],
    ['a number', 5, TYPE],
    ['a string', 'ab', TYPE],
    ['a plain object', {}, TYPE],
    ['a symbol', Symbol('e'), TYPE],
    ['a Proxy whose traps throw', trapProxy, TRAP],
    ['[5]', [5], { ...TYPE, mentions: 'entries[0]' }],
    ['[[key]] (no entry)', [['k']], { ...TYPE, mentions: 'entries[0]' }],
    ['[[key, null]]', [['k', null]], { ...TYPE, mentions: 'entries[0]' }],
    ['a bad ttl', [['k', { value: 'v', ttl: NaN }]], { ...RANGE, mentions: 'entries[0].ttl' }],
    ['a bad start', [['k', { value: 'v', ttl: 5, start: 'then' }]], { ...TYPE, mentions: 'entries[0].start' }],
    ['a NaN start', [['k', { value: 'v', ttl: 5, start: NaN }]], { ...RANGE, mentions: 'entries[0].start' }],
    [
      'a good entry, then a bad one',
      [
        ['x', { value: 'v' }],
        ['y', { value: 'v', ttl: -1 }],
      ],
      RANGE,
    ],
    [
      'an entry whose getter throws',
      [['k', Object.defineProperty({}, 'value', { get: trap, enumerable: true })]],
      TRAP,
    ],
    [
      'an iterator that throws after two entries',
      {
        *[Symbol.iterator]() {
          yield ['x', { value: 'v' }]
          yield ['y', { value: 'v' }]
          trap()
        },
      },
      TRAP,
    ],
  ]
  if (offheap) {
    loadRows.push(['a key of the wrong type', [[{}, { value: 'v' }]], { ...TYPE, mentions: '"key"' }])
    loadRows.push(['a value of the wrong type', [['k', { value: 5 }]], { ...TYPE, mentions: '"value"' }])
  }
  for (const [label, entries, expected] of loadRows) {
    test.serial(`${storage} load(${label}): ${expected.code ?? expected.name}, nothing loaded`, (t) => {
      const cache = seeded(storage)
      const before = snapshot(cache)
      throwsLike(t, () => cache.load(entries), expected, label)
      t.deepEqual(snapshot(cache), before, `${label}: a refused load changes nothing`)
      assertHealthy(t, cache, label)
    })
  }

  // ---------------------------------------------------------------- fetch
  // An object is lru-cache's fetch options.
  for (const [label, fetcher] of Object.entries({ 'a string': 'f', 'a number': 1, null: null })) {
    test.serial(`${storage} fetch(key, ${label}): rejects with ERR_INVALID_ARG_TYPE`, async (t) => {
      const cache = seeded(storage)
      await rejectsLike(t, cache.fetch('k', fetcher), { ...TYPE, mentions: '"fetcher"' }, label)
      assertHealthy(t, cache, label)
    })
  }
  test.serial(`${storage} fetch(key) without fetchMethod: an async get(), as in lru-cache`, async (t) => {
    const cache = seeded(storage)
    t.is(await cache.fetch('k'), undefined)
    t.is(await cache.fetch('a'), '1')
    assertHealthy(t, cache)
  })
  if (offheap) {
    test.serial('offheap fetch(bad key): rejects with ERR_INVALID_ARG_TYPE, the fetcher is not called', async (t) => {
      const cache = seeded('offheap')
      let calls = 0
      await rejectsLike(
        t,
        cache.fetch({}, () => calls++),
        TYPE,
      )
      t.is(calls, 0)
      assertHealthy(t, cache)
    })
    test.serial(
      'offheap fetch of a value it cannot hold: rejects with ERR_INVALID_ARG_TYPE, nothing stored',
      async (t) => {
        const cache = seeded('offheap')
        await rejectsLike(
          t,
          cache.fetch('k', async () => ({ not: 'storable' })),
          TYPE,
        )
        t.false(cache.has('k'))
        assertHealthy(t, cache)
      },
    )
  }

  test.serial(`${storage} fetch with a fetcher that throws: rejects with its error, not cached`, async (t) => {
    const cache = seeded(storage)
    await rejectsLike(t, cache.fetch('k', trap), TRAP)
    t.is(await cache.fetch('k', () => 'loaded'), 'loaded', 'a later fetch loads again')
    t.is(cache.get('k'), 'loaded')
    cache.delete('k')
    assertHealthy(t, cache)
  })

  test.serial(
    `${storage} a fetchMethod that never settles: shared, abortable, and the cache keeps answering`,
    async (t) => {
      const signals = []
      const cache = seeded(storage, {
        fetchMethod: (key, stale, { signal }) => {
          signals.push(signal)
          return new Promise(() => {})
        },
      })
      const p = cache.fetch('k')
      t.is(cache.fetch('k'), p, 'concurrent callers share one load')
      t.is(signals.length, 1)
      t.is(await settled(p), PENDING, 'never settles')
      t.false(cache.has('k'))
      t.is(cache.get('a'), '1', 'other keys answer')
      cache.set('k', 'v')
      t.true(signals[0].aborted, 'set() aborts the load')
      // As in lru-cache, whoever waits is told why.
      await t.throwsAsync(p, { message: 'replaced' })
      t.is(cache.get('k'), 'v')
      const q = cache.fetch('other')
      cache.delete('other')
      t.true(signals[1].aborted, 'delete() aborts the load')
      await t.throwsAsync(q, { message: 'deleted' })
      const third = cache.fetch('third')
      cache.clear()
      t.true(signals[2].aborted, 'clear() aborts the load')
      await t.throwsAsync(third, { message: 'deleted' })
      const r = cache.fetch('other')
      t.not(r, q)
      t.is(signals.length, 4, 'after an abort, a fetch loads again')
      cache.delete('other')
      await t.throwsAsync(r)
      assertHealthy(t, cache)
    },
  )

  test.serial(`${storage} a fetcher that writes its own key: the write wins, the load is aborted`, async (t) => {
    const cache = seeded(storage)
    let signal
    const loading = cache.fetch('k', async (key, stale, options) => {
      signal = options.signal
      cache.set(key, 'written')
      return 'loaded'
    })
    await t.throwsAsync(loading, { message: 'replaced' })
    t.true(signal.aborted)
    t.is(cache.get('k'), 'written')
    cache.delete('k')
    assertHealthy(t, cache)
  })

  // ------------------------------------------- other methods, odd arguments
  test.serial(`${storage} methods without parameters ignore hostile arguments`, (t) => {
    const cache = seeded(storage)
    const args = [trapProxy, revoked, Symbol('x'), NaN]
    t.is(cache.purgeStale(...args), 0)
    t.is(cache.stats(...args).size, 3)
    t.deepEqual(
      cache.dump(...args).map(([k]) => k),
      ['a', 'b', 'c'],
    )
    t.deepEqual([...cache.keys(...args)], ['c', 'b', 'a'])
    t.deepEqual([...cache.values(...args)], ['3', '2', '1'])
    t.deepEqual(cache.pop(...args), ['a', '1'])
    cache.clear(...args)
    t.is(cache.size, 0)
    assertHealthy(t, cache)
  })

  // ================================================================ callbacks

  const evictingOps = {
    'set (evicting)': (c) => c.set('d', '4').set('e', '5'),
    delete: (c) => c.delete('a'),
    clear: (c) => c.clear(),
    'resize(1)': (c) => c.resize(1),
    pop: (c) => c.pop(),
    'set (replacing)': (c) => c.set('a', 'new'),
    'load (evicting)': (c) =>
      c.load([
        ['d', { value: '4' }],
        ['e', { value: '5' }],
        ['f', { value: '6' }],
      ]),
  }
  const expectedAfter = {
    'set (evicting)': ['e', 'd', 'c', 'b'],
    delete: ['c', 'b'],
    clear: [],
    'resize(1)': ['c'],
    pop: ['c', 'b'],
    'set (replacing)': ['a', 'c', 'b'],
    'load (evicting)': ['f', 'e', 'd', 'c'],
  }
  for (const [label, op] of Object.entries(evictingOps)) {
    test.serial(`${storage} onEvict that throws during ${label}: the operation completes, then the error`, (t) => {
      let armed = true
      const seen = []
      const cache = seeded(storage, {
        onEvict: (v, k, reason) => {
          seen.push(reason)
          if (armed) trap()
        },
      })
      throwsLike(t, () => op(cache), TRAP, label)
      t.deepEqual([...cache.keys()], expectedAfter[label], `${label} completed`)
      t.true(seen.length >= 1)
      armed = false
      cache.resize(4)
      assertHealthy(t, cache, label)
    })

    test.serial(`${storage} onEvict that re-enters the cache during ${label}`, (t) => {
      let depth = 0
      const cache = seeded(storage, {
        onEvict: (v, k, reason) => {
          if (depth++ > 20) return
          cache.get('c')
          cache.has(k)
          if (reason !== 'set') t.is(cache.peek(k), undefined, 'the evicted key is gone when onEvict runs')
          if (reason !== 'clear') cache.set(`after-${k}`, 'x')
          t.true(cache.size <= 4)
          t.deepEqual([...cache].length, cache.size)
        },
      })
      op(cache)
      t.true(cache.size <= 4)
      for (const [k] of cache) t.true(cache.has(k))
      depth = Infinity
      cache.resize(4)
      assertHealthy(t, cache, label)
    })
  }

  test.serial(`${storage} onEvict that puts every victim back: the stack overflows, the cache stays right`, (t) => {
    const cache = seeded(storage, { onEvict: (v, k) => cache.set(k, v) })
    cache.set('d', '4')
    const err = throwsLike(t, () => cache.set('e', '5'), { name: 'RangeError' })
    t.regex(err.message, /call stack/)
    t.is(cache.size, 4)
    t.deepEqual([...cache].length, 4)
    for (const [k, v] of cache) t.is(cache.peek(k), v)
  })

  test.serial(`${storage} stats() and memoryUsage() from inside onEvict`, (t) => {
    const observed = []
    const cache = seeded(storage, {
      onEvict: () => {
        const s = stats()
        observed.push([s.lru.entries, memoryUsage().leakless === stats().externalBytes])
      },
    })
    cache.set('d', '4').set('e', '5')
    t.is(observed.length, 1)
    t.true(observed[0][0] >= 4)
    t.true(observed[0][1])
    assertHealthy(t, cache)
  })

  // ------------------------------------------------------------- the clock
  const clockOps = {
    'set of a new key (free slot)': (c) => c.set('d', '4'),
    'set of a new key (evicting)': (c) => c.set('d', '4').set('e', '5'),
    'set with a per-entry ttl': (c) => c.set('d', '4', { ttl: 5 }),
    'set of an existing key': (c) => c.set('a', 'new'),
    get: (c) => c.get('a'),
    has: (c) => c.has('a'),
    peek: (c) => c.peek('a'),
    delete: (c) => c.delete('a'),
    'resize(2)': (c) => c.resize(2),
    purgeStale: (c) => c.purgeStale(),
    iteration: (c) => [...c],
    load: (c) => c.load([['d', { value: '4', ttl: 50 }]]),
  }
  for (const [label, op] of Object.entries(clockOps)) {
    test.serial(`${storage} a clock that throws during ${label} leaves the cache consistent`, (t) => {
      for (let failAt = 1; failAt <= 4; failAt++) {
        const clock = fakeClock()
        const cache = seeded(storage, { ttl: 1000, perf: clock })
        clock.calls = 0
        clock.failOn = new Set([failAt])
        try {
          op(cache)
        } catch (err) {
          t.is(err.message, 'clock')
        }
        clock.failOn = new Set()
        const entries = [...cache]
        t.is(entries.length, cache.size, `${label}, clock failing at call ${failAt}: every entry is visible`)
        for (const [k, v] of entries) t.is(cache.peek(k), v)
        // A resize that went through changed max, as it should.
        if (cache.max !== 4) cache.resize(4)
        assertHealthy(t, cache, `${label}, clock failing at call ${failAt}`)
      }
    })
  }

  test.serial(`${storage} a clock that returns a numeric string counts as that number`, (t) => {
    const clock = { t: 1000, now: () => String(clock.t) }
    const cache = seeded(storage, { ttl: 50, perf: clock })
    t.is(cache.getRemainingTTL('a'), 50)
    clock.t += 60
    t.is(cache.get('a'), undefined)
    t.false(cache.has('b'))
    cache.purgeStale()
    t.is(cache.size, 0)
  })
}

function detached() {
  const view = new Uint8Array(8)
  structuredClone(view.buffer, { transfer: [view.buffer] })
  return view
}

// ------------------------------------------------------ sizeCalculation

const garbageSizes = {
  NaN: [NaN, RANGE],
  0: [0, RANGE],
  '-0': [-0, RANGE],
  '-1': [-1, RANGE],
  1.5: [1.5, RANGE],
  Infinity: [Infinity, RANGE],
  '2**53': [2 ** 53, RANGE],
  'a numeric string': ['5', TYPE],
  null: [null, TYPE],
  undefined: [undefined, TYPE],
  'an object with valueOf': [{ valueOf: () => 5 }, TYPE],
  'a symbol': [Symbol('5'), TYPE],
  'a bigint': [5n, TYPE],
}
for (const [label, [size, expected]] of Object.entries(garbageSizes)) {
  for (const via of ['set', 'load']) {
    test.serial(`sizeCalculation returning ${label} (${via}): ${expected.code}, nothing changed`, (t) => {
      let armed = false
      const cache = seeded('heap', { maxSize: 100, sizeCalculation: () => (armed ? size : 1) })
      armed = true
      const before = snapshot(cache)
      const act = via === 'set' ? () => cache.set('k', 'v') : () => cache.load([['k', { value: 'v' }]])
      throwsLike(t, act, { ...expected, mentions: 'sizeCalculation' }, label)
      t.deepEqual(snapshot(cache), before)
      armed = false
      assertHealthy(t, cache, label)
    })
  }
}

test.serial('sizeCalculation that throws: its error, nothing changed', (t) => {
  let armed = false
  const cache = seeded('heap', { maxSize: 100, sizeCalculation: () => (armed ? trap() : 1) })
  armed = true
  const before = snapshot(cache)
  throwsLike(t, () => cache.set('k', 'v'), TRAP)
  t.deepEqual(snapshot(cache), before)
  armed = false
  assertHealthy(t, cache)
})

test.serial('sizeCalculation larger than maxSize: not stored, onEvict sees it with reason "set"', (t) => {
  const seen = []
  const cache = seeded('heap', {
    maxSize: 100,
    sizeCalculation: (v) => (v === 'huge' ? 101 : 1),
    onEvict: (v, k, reason) => seen.push([k, reason]),
  })
  cache.set('a', 'huge')
  t.false(cache.has('a'), 'the older value of the key is dropped too')
  t.deepEqual(seen, [
    ['a', 'set'],
    ['a', 'set'],
  ])
  t.is(cache.calculatedSize, 2)
  assertHealthy(t, cache)
})

const reentrantSizes = {
  'sets another key': (cache) => cache.set('other', 'o'),
  'clears the cache': (cache) => cache.clear(),
  'deletes the key being set': (cache) => cache.delete('k'),
  'sets the key being set': (cache) => cache.set('k', 'inner'),
}
for (const [label, reenter] of Object.entries(reentrantSizes)) {
  test.serial(`sizeCalculation that ${label}: the outer set still lands, totals stay exact`, (t) => {
    let depth = 1
    const cache = seeded('heap', {
      maxSize: 100,
      sizeCalculation: () => {
        if (depth++ === 0) reenter(cache)
        return 2
      },
    })
    depth = 0
    cache.set('k', 'v')
    t.is(cache.get('k'), 'v')
    let total = 0
    for (const [k] of cache) total += cache.dump().find(([key]) => key === k)[1].size
    t.is(cache.calculatedSize, total)
    depth = 1
    assertHealthy(t, cache, label)
  })
}

// =========================================================== an already expired load

test.serial(
  'offheap: load() with an entry that expires while it is stored never leaves the cache above maxSize',
  (t) => {
    // The clock moves between load()'s own check and the store (a real clock
    // can do this): the entry arrives already expired, and must not stay.
    const probe = new LRU({ storage: 'offheap', maxSize: 10_000 })
    probe.set('x', 'y')
    const maxSize = 2 * probe.calculatedSize
    // load() reads the clock for the epoch offset, for its expiry check, then
    // in the store: the third read jumps a second ahead.
    const clock = { calls: 0, armed: false }
    clock.now = () => (clock.armed && ++clock.calls === 3 ? 2000 : 1000)
    const cache = new LRU({ storage: 'offheap', maxSize, perf: clock })
    cache.set('a', '1').set('b', '2')
    clock.armed = true
    // Expires at about 1000 + 500 on this clock: alive at the check, dead at the store.
    cache.load([['c', { value: '3', ttl: 500, start: Date.now() }]])
    clock.armed = false
    t.is(clock.calls, 3)
    t.true(cache.calculatedSize <= maxSize, `calculatedSize ${cache.calculatedSize} > maxSize ${maxSize}`)
    t.false(cache.has('c'))
    t.deepEqual([...cache.keys()], ['b', 'a'])
  },
)

// ============================================================ ListenerRegistry

function assertRegistryHealthy(t, reg, label = '') {
  const emitter = new EventEmitter()
  let calls = 0
  const off = reg.on(emitter, 'ping', () => calls++)
  reg.once(emitter, 'ping', () => calls++)
  emitter.emit('ping')
  emitter.emit('ping')
  t.is(calls, 3, label)
  t.is(reg.count(emitter), 1, label)
  t.is(reg.count(emitter, 'ping'), 1, label)
  const scope = reg.scope()
  scope.on(emitter, 'pong', () => {})
  t.is(reg.count(emitter), 2, label)
  t.is(reg.report().total >= 2, true, label)
  t.is(scope.dispose(), 1, label)
  t.true(off(), label)
  t.false(off(), label)
  t.is(emitter.listenerCount('ping') + emitter.listenerCount('pong'), 0, label)
  t.is(reg.count(emitter), 0, label)
}

const registryOptionRows = [
  ['a number', 5, TYPE],
  ['a string', 'x', TYPE],
  ['null', null, TYPE],
  ['an array', [], TYPE],
  ['a symbol', Symbol('o'), TYPE],
  ['a function whose properties throw', trapFunction, TYPE],
  ['a Proxy whose traps throw', trapProxy, TRAP],
  ...Object.entries(NOT_NUMBERS).map(([k, v]) => [`maxListeners: ${k}`, { maxListeners: v }, TYPE]),
  ...Object.entries(BAD_COUNTS)
    .filter(([k]) => k !== 'Infinity')
    .map(([k, v]) => [`maxListeners: ${k}`, { maxListeners: v }, RANGE]),
  ...Object.entries(NOT_NUMBERS).map(([k, v]) => [`refuseAt: ${k}`, { refuseAt: v }, TYPE]),
  ...Object.entries(BAD_COUNTS)
    .filter(([k]) => k !== 'Infinity')
    .map(([k, v]) => [`refuseAt: ${k}`, { refuseAt: v }, RANGE]),
  ['refuseAt below maxListeners', { maxListeners: 10, refuseAt: 5 }, RANGE],
  ...Object.entries(NOT_FUNCTIONS).map(([k, v]) => [`onLeak: ${k}`, { onLeak: v }, TYPE]),
  ['a getter of maxListeners that throws', Object.defineProperty({}, 'maxListeners', { get: trap }), TRAP],
  ['a getter of onLeak that throws', Object.defineProperty({}, 'onLeak', { get: trap }), TRAP],
]
for (const [label, options, expected] of registryOptionRows) {
  test.serial(`new ListenerRegistry(${label}): ${expected.code ?? expected.name}, nothing built`, (t) => {
    const before = population()
    throwsLike(t, () => new ListenerRegistry(options), expected, label)
    assertNothingBuilt(t, before, label)
    assertRegistryHealthy(t, new ListenerRegistry(), label)
  })
  test.serial(`ListenerRegistry.express(${label}): ${expected.code ?? expected.name}`, (t) => {
    throwsLike(t, () => ListenerRegistry.express(options), expected, label)
  })
}

test.serial('ListenerRegistry accepts maxListeners and refuseAt of Infinity, and 2**53 - 1', (t) => {
  assertRegistryHealthy(t, new ListenerRegistry({ maxListeners: Infinity }))
  assertRegistryHealthy(t, new ListenerRegistry({ maxListeners: 3, refuseAt: Infinity }))
  // The default refuseAt (maxListeners ** 2) of a large maxListeners is not a
  // safe integer: it must not make a valid maxListeners a RangeError.
  assertRegistryHealthy(t, new ListenerRegistry({ maxListeners: 2 ** 53 - 1 }))
  assertRegistryHealthy(t, new ListenerRegistry({ maxListeners: 2 ** 30 }))
  assertRegistryHealthy(t, new ListenerRegistry({ maxListeners: 2 ** 53 - 1, refuseAt: 2 ** 53 - 1 }))
})

const BAD_TARGETS = {
  undefined,
  null: null,
  'a number': 5,
  'a string': 'x',
  'a symbol': Symbol('t'),
  'a plain object': {},
  'an object with on but no off': { on() {} },
  'an object whose on is not a function': { on: 5, off() {} },
  'a function': () => {},
}
const fn = () => {}

function registryMethodRows() {
  const rows = []
  for (const [k, v] of Object.entries(BAD_TARGETS)) {
    rows.push([`on(${k}, ...)`, (reg) => reg.on(v, 'x', fn), { ...TYPE, mentions: '"target"' }])
    rows.push([`once(${k}, ...)`, (reg) => reg.once(v, 'x', fn), { ...TYPE, mentions: '"target"' }])
    rows.push([`off(${k}, ...)`, (reg) => reg.off(v, 'x', fn), { ...TYPE, mentions: '"target"' }])
    if (v !== undefined) {
      rows.push([`removeAll(${k})`, (reg) => reg.removeAll(v), { ...TYPE, mentions: '"target"' }])
      rows.push([`count(${k})`, (reg) => reg.count(v), { ...TYPE, mentions: '"target"' }])
    }
  }
  rows.push(['on(a Proxy whose traps throw, ...)', (reg) => reg.on(trapProxy, 'x', fn), TRAP])
  rows.push(['on(a revoked Proxy, ...)', (reg) => reg.on(revoked, 'x', fn), REVOKED])
  const emitter = new EventEmitter()
  for (const [k, v] of Object.entries({ undefined, 'a number': 5, null: null, 'an object': {}, 'a boolean': true })) {
    rows.push([`on(emitter, event ${k})`, (reg) => reg.on(emitter, v, fn), { ...TYPE, mentions: '"event"' }])
    rows.push([`off(emitter, event ${k})`, (reg) => reg.off(emitter, v, fn), { ...TYPE, mentions: '"event"' }])
    if (v !== undefined) {
      rows.push([
        `removeAll(emitter, event ${k})`,
        (reg) => reg.removeAll(emitter, v),
        { ...TYPE, mentions: '"event"' },
      ])
      rows.push([`count(emitter, event ${k})`, (reg) => reg.count(emitter, v), { ...TYPE, mentions: '"event"' }])
    }
  }
  rows.push([
    'on(EventTarget, a symbol event)',
    (reg) => reg.on(new EventTarget(), Symbol('e'), fn),
    { ...TYPE, mentions: '"event"' },
  ])
  for (const [k, v] of Object.entries({ undefined, ...NOT_FUNCTIONS })) {
    rows.push([
      `on(emitter, 'x', listener ${k})`,
      (reg) => reg.on(emitter, 'x', v),
      { ...TYPE, mentions: '"listener"' },
    ])
    rows.push([
      `off(emitter, 'x', listener ${k})`,
      (reg) => reg.off(emitter, 'x', v),
      { ...TYPE, mentions: '"listener"' },
    ])
  }
  for (const [k, v] of Object.entries({ null: null, 'a number': 5, 'a string': 'x', 'a symbol': Symbol('o') })) {
    rows.push([`on(..., options ${k})`, (reg) => reg.on(emitter, 'x', fn, v), { ...TYPE, mentions: '"options"' }])
    rows.push([`once(..., options ${k})`, (reg) => reg.once(emitter, 'x', fn, v), { ...TYPE, mentions: '"options"' }])
  }
  for (const [k, v] of Object.entries(NOT_BOOLEANS)) {
    rows.push([`on(..., { once: ${k} })`, (reg) => reg.on(emitter, 'x', fn, { once: v }), TYPE])
  }
  const fakeSignals = {
    null: null,
    'a number': 5,
    'a plain object': {},
    'an object with a string aborted': { aborted: 'no', addEventListener() {} },
  }
  for (const [k, v] of Object.entries(fakeSignals)) {
    rows.push([`on(..., { signal: ${k} })`, (reg) => reg.on(emitter, 'x', fn, { signal: v }), TYPE])
    rows.push([`once(..., { signal: ${k} })`, (reg) => reg.once(emitter, 'x', fn, { signal: v }), TYPE])
  }
  const throwingAborted = Object.defineProperty({ addEventListener() {} }, 'aborted', { get: trap })
  rows.push([
    'a signal whose aborted getter throws',
    (reg) => reg.on(emitter, 'x', fn, { signal: throwingAborted }),
    TRAP,
  ])
  const hostileSignal = { aborted: false, addEventListener: trap, removeEventListener() {} }
  rows.push([
    'a signal whose addEventListener throws',
    (reg) => reg.on(emitter, 'x', fn, { signal: hostileSignal }),
    TRAP,
  ])
  rows.push([
    'options whose getter throws',
    (reg) => reg.on(emitter, 'x', fn, Object.defineProperty({}, 'once', { get: trap })),
    TRAP,
  ])
  rows.push(['a target whose on() throws', (reg) => reg.on({ on: trap, off() {} }, 'x', fn), TRAP])
  rows.push([
    'a target whose addEventListener throws',
    (reg) => reg.on({ addEventListener: trap, removeEventListener() {} }, 'x', fn),
    TRAP,
  ])
  return rows
}

for (const [label, act, expected] of registryMethodRows()) {
  test.serial(`ListenerRegistry ${label}: ${expected.code ?? expected.name}, nothing registered`, (t) => {
    const reg = new ListenerRegistry({ maxListeners: 5 })
    const emitter = new EventEmitter()
    reg.on(emitter, 'keep', fn)
    const totalBefore = stats().registries.listeners
    throwsLike(t, () => act(reg), expected, label)
    t.is(reg.count(), 1, `${label}: the registry holds what it held`)
    t.is(stats().registries.listeners, totalBefore, label)
    t.is(emitter.listenerCount('keep'), 1)
    assertRegistryHealthy(t, reg, label)
    t.is(reg.dispose(), 1)
  })
}

test.serial('ListenerRegistry: past refuseAt, ERR_LEAKLESS_TOO_MANY_LISTENERS and nothing added', (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  const reg = new ListenerRegistry({ maxListeners: 2, refuseAt: 4 })
  const emitter = new EventEmitter()
  emitter.setMaxListeners(100)
  for (let i = 0; i < 4; i++) reg.on(emitter, 'x', () => {})
  throwsLike(t, () => reg.on(emitter, 'x', () => {}), { name: 'RangeError', code: 'ERR_LEAKLESS_TOO_MANY_LISTENERS' })
  t.is(reg.count(emitter, 'x'), 4)
  t.is(emitter.listenerCount('x'), 4)
  process.off('warning', onWarning)
  t.is(reg.dispose(), 4)
  assertRegistryHealthy(t, new ListenerRegistry())
})

test.serial('ListenerRegistry: an onLeak that throws refuses that registration, and on() rethrows', (t) => {
  const reg = new ListenerRegistry({ maxListeners: 2, onLeak: trap })
  const emitter = new EventEmitter()
  reg.on(emitter, 'x', fn)
  reg.on(emitter, 'x', fn)
  throwsLike(t, () => reg.on(emitter, 'x', fn), TRAP)
  t.is(reg.count(emitter, 'x'), 2)
  t.is(emitter.listenerCount('x'), 2)
  reg.removeAll()
  assertRegistryHealthy(t, reg)
})

test.serial('ListenerRegistry: an onLeak that re-enters the registry keeps counts exact', (t) => {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(100)
  let reports = 0
  const reg = new ListenerRegistry({
    maxListeners: 2,
    refuseAt: 100,
    onLeak: () => {
      reports++
      reg.on(emitter, 'x', fn)
      reg.count()
      reg.report()
    },
  })
  for (let i = 0; i < 6; i++) reg.on(emitter, 'x', fn)
  t.true(reports >= 1)
  t.is(reg.count(emitter, 'x'), emitter.listenerCount('x'))
  reg.removeAll()
  t.is(emitter.listenerCount('x'), 0)
  assertRegistryHealthy(t, reg)
})

test.serial('ListenerRegistry: a target whose off() throws keeps the listener counted until it can be removed', (t) => {
  let failing = true
  const emitter = new EventEmitter()
  const target = {
    on: (e, f) => emitter.on(e, f),
    off: (e, f) => (failing ? trap() : emitter.off(e, f)),
  }
  const reg = new ListenerRegistry()
  const off = reg.on(target, 'x', fn)
  reg.on(emitter, 'y', fn)
  throwsLike(t, () => off(), TRAP)
  t.is(reg.count(target), 1)
  throwsLike(t, () => reg.removeAll(), TRAP, 'removeAll removes the rest, then rethrows')
  t.is(emitter.listenerCount('y'), 0)
  t.is(reg.count(), 1)
  failing = false
  t.true(off())
  t.is(reg.count(), 0)
  t.is(emitter.listenerCount('x'), 0)
  assertRegistryHealthy(t, reg)
})

test.serial(
  'ListenerRegistry: dispose() with a throwing removeListener handler removes the rest, then rethrows',
  (t) => {
    const emitter = new EventEmitter()
    const other = new EventEmitter()
    const reg = new ListenerRegistry()
    reg.on(emitter, 'x', fn)
    reg.on(other, 'y', fn)
    reg.on(other, 'z', fn)
    emitter.on('removeListener', (event) => {
      if (event === 'x') trap()
    })
    throwsLike(t, () => reg.dispose(), TRAP)
    t.true(reg.disposed)
    t.is(other.listenerCount('y') + other.listenerCount('z'), 0)
    throwsLike(t, () => reg.on(other, 'y', fn), { name: 'Error', code: 'ERR_LEAKLESS_DISPOSED' })
    throwsLike(t, () => reg.scope(), { name: 'Error', code: 'ERR_LEAKLESS_DISPOSED' })
    t.is(reg.dispose(), 0)
    assertRegistryHealthy(t, new ListenerRegistry())
  },
)

test.serial('ListenerRegistry: listeners that re-enter the registry while the event is emitted', (t) => {
  const emitter = new EventEmitter()
  const reg = new ListenerRegistry()
  const scope = reg.scope()
  let calls = 0
  scope.once(emitter, 'x', () => {
    calls++
    scope.dispose()
  })
  scope.on(emitter, 'x', () => calls++)
  reg.on(emitter, 'x', () => {
    calls++
    reg.on(emitter, 'later', fn)
  })
  emitter.emit('x')
  t.true(scope.disposed)
  t.is(emitter.listenerCount('x'), 1, "the root's listener stays")
  t.is(reg.count(emitter, 'later'), 1)
  emitter.emit('x')
  t.true(calls >= 3)
  t.is(reg.count(emitter, 'later'), 2)
  reg.removeAll()
  assertRegistryHealthy(t, reg)
})

// ===================================================================== monitor

const tmp = path.join(os.tmpdir(), `leakless-hostile-${process.pid}`)
const monitorRows = [
  ['a number', 5, TYPE],
  ['a string', 'x', TYPE],
  ['null', null, TYPE],
  ['an array', [], TYPE],
  ['a Proxy whose traps throw', trapProxy, TRAP],
  ...Object.entries(NOT_FUNCTIONS).map(([k, v]) => [`onGrowth: ${k}`, { onGrowth: v }, TYPE]),
  ...Object.entries(NOT_NUMBERS).map(([k, v]) => [`intervalMs: ${k}`, { intervalMs: v }, TYPE]),
  ...[NaN, -1, 0, 0.5, Infinity, 2 ** 31, 2 ** 53].map((v) => [`intervalMs: ${v}`, { intervalMs: v }, RANGE]),
  ...[NaN, -1, 0, Infinity, -Infinity].map((v) => [`windowMs: ${v}`, { windowMs: v }, RANGE]),
  ...[NaN, -1, Infinity].map((v) => [`minGrowthBytesPerMin: ${v}`, { minGrowthBytesPerMin: v }, RANGE]),
  ...[NaN, -0.1, 1.1, Infinity].map((v) => [`minR2: ${v}`, { minR2: v }, RANGE]),
  ...[NaN, 2, 3.5, -1, Infinity, 2 ** 53].map((v) => [`minSamples: ${v}`, { minSamples: v }, RANGE]),
  ['alertOn: a string', { alertOn: 'heap' }, TYPE],
  ['alertOn: null', { alertOn: null }, TYPE],
  ['alertOn: an unknown metric', { alertOn: ['heap', 'cpu'] }, VALUE],
  ['alertOn: a symbol', { alertOn: [Symbol('heap')] }, VALUE],
  ['snapshots: a number', { snapshots: 5 }, TYPE],
  ['snapshots: no dir', { snapshots: {} }, TYPE],
  ['snapshots: an empty dir', { snapshots: { dir: '' } }, VALUE],
  ['snapshots: a dir with a NUL', { snapshots: { dir: 'a\0b' } }, VALUE],
  ['snapshots: max 0', { snapshots: { dir: tmp, max: 0 } }, RANGE],
  ['snapshots: max NaN', { snapshots: { dir: tmp, max: NaN } }, RANGE],
  ['snapshots: a dir that cannot be written', { snapshots: { dir: '/proc/leakless' } }, VALUE],
  ['perf: null', { perf: null }, TYPE],
  ['perf: { now: 5 }', { perf: { now: 5 } }, TYPE],
  ['a getter of intervalMs that throws', Object.defineProperty({}, 'intervalMs', { get: trap }), TRAP],
  ['a getter of snapshots that throws', Object.defineProperty({}, 'snapshots', { get: trap }), TRAP],
]
for (const [label, options, expected] of monitorRows) {
  test.serial(`monitor(${label}): ${expected.code ?? expected.name}, nothing started`, (t) => {
    const before = population()
    throwsLike(t, () => monitor(options), expected, label)
    assertNothingBuilt(t, before, label)
    const m = monitor({ intervalMs: 1000 })
    t.true(m.running)
    t.is(latestMonitor(), m)
    m.stop()
    t.false(m.running)
    t.is(latestMonitor(), before.monitor)
  })
}

test.serial('monitor: a clock that throws is reported as a warning and sampling goes on', async (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  const m = monitor({ intervalMs: 5, perf: { now: trap } })
  await new Promise((resolve) => setTimeout(resolve, 60))
  process.off('warning', onWarning)
  t.true(m.running)
  m.stop()
  const ours = warnings.filter((w) => w.name === 'LeaklessWarning' && w.code === 'LEAKLESS_MONITOR_ERROR')
  t.true(ours.length >= 1, 'a LEAKLESS_MONITOR_ERROR warning')
  t.regex(ours[0].message, /trap/)
})

test.serial('monitor: stop() twice, and [Symbol.dispose] after stop()', (t) => {
  const m = monitor({ intervalMs: 1000 })
  m.stop()
  m.stop()
  m[Symbol.dispose ?? Symbol.for('nodejs.dispose')]()
  t.false(m.running)
  t.deepEqual(m.samples(), [])
})

// ============================================================== collectMetrics

const metricsRows = [
  ['a number', 5, TYPE],
  ['a string', 'x', TYPE],
  ['null', null, TYPE],
  ['an array', [], TYPE],
  ['register: {}', { register: {} }, { ...TYPE, mentions: 'options.register' }],
  ['register: a number', { register: 5 }, { ...TYPE, mentions: 'options.register' }],
  ['monitor: a string', { monitor: 'x' }, { ...TYPE, mentions: 'options.monitor' }],
  ['monitor: true', { monitor: true }, { ...TYPE, mentions: 'options.monitor' }],
  ['monitor: null', { monitor: null }, { ...TYPE, mentions: 'options.monitor' }],
  ['a getter of register that throws', Object.defineProperty({}, 'register', { get: trap }), TRAP],
  ['a register whose getSingleMetric throws', { register: { getSingleMetric: trap, registerMetric() {} } }, TRAP],
]
for (const [label, options, expected] of metricsRows) {
  test.serial(`collectMetrics(${label}): ${expected.code ?? expected.name}, nothing registered or started`, (t) => {
    const before = population()
    throwsLike(t, () => collectMetrics(options), expected, label)
    assertNothingBuilt(t, before, label)
  })
}

test.serial(
  'collectMetrics with a registry that refuses the third gauge: none left behind, and a retry works',
  async (t) => {
    const register = new Registry()
    const registerMetric = register.registerMetric.bind(register)
    let calls = 0
    register.registerMetric = (metric) => (++calls === 3 ? trap() : registerMetric(metric))
    throwsLike(t, () => collectMetrics({ register, monitor: false }), TRAP)
    t.deepEqual(register.getMetricsAsArray(), [], 'the gauges made before the refusal are gone')
    register.registerMetric = registerMetric
    const gauges = collectMetrics({ register, monitor: false })
    t.is(Object.keys(gauges).length, 6)
    t.regex(await register.metrics(), /leakless_lru_entries/)
  },
)

test.serial('collectMetrics twice on one registry returns the same gauges; a stopped monitor gives NaN', async (t) => {
  const register = new Registry()
  const m = monitor({ intervalMs: 1000 })
  m.stop()
  const first = collectMetrics({ register, monitor: m })
  const second = collectMetrics({ register, monitor: m })
  t.is(first.leakless_lru_entries, second.leakless_lru_entries)
  const growth = await first.leakless_heap_growth_bytes_per_minute.get()
  t.true(Number.isNaN(growth.values[0].value))
})

// ============================================================ stats, memoryUsage

test.serial('stats() and memoryUsage() ignore hostile arguments and add up', (t) => {
  const heap = seeded('heap')
  const off = seeded('offheap')
  const reg = new ListenerRegistry()
  reg.on(new EventEmitter(), 'x', fn)
  for (const args of [[trapProxy], [revoked], [Symbol('x'), NaN], [null, undefined, 5n]]) {
    const s = stats(...args)
    t.true(Number.isFinite(s.externalBytes) && s.externalBytes > 0)
    t.true(s.lru.instances >= 2)
    t.true(s.lru.entries >= 6)
    t.true(s.registries.listeners >= 1)
    const m = memoryUsage(...args)
    t.is(m.leakless, stats().externalBytes)
    t.true(m.rss > 0)
  }
  reg.dispose()
  assertHealthy(t, heap)
  assertHealthy(t, off)
})

test.serial('stats() from inside forEach, sizeCalculation and a fetcher', async (t) => {
  const cache = seeded('heap', {
    maxSize: 100,
    sizeCalculation: () => {
      t.true(Number.isFinite(stats().lru.entries))
      return 1
    },
  })
  cache.forEach(() => t.true(stats().lru.entries >= 3))
  cache.set('d', '4')
  t.is(await cache.fetch('e', () => stats().lru.entries.toString()), cache.get('e'))
  assertHealthy(t, cache)
})
