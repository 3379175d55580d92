'use strict'

// Random operation sequences against a small reference model: every answer,
// the size, the total size and the iteration order must agree after every
// step. The model is a Map kept in recency order (last = most recent).

const test = require('ava')
const fc = require('fast-check')
const { LRU } = require('..')
const { kTickStart } = require('../lib/lru/hooks')

const RUNS = Number(process.env.LEAKLESS_PROPERTY_RUNS || 1000)

class Model {
  constructor({ max, maxSize, ttl }) {
    this.max = max ?? Infinity
    this.maxSize = maxSize ?? Infinity
    this.ttl = ttl ?? 0
    this.map = new Map() // key -> { value, size, expiresAt }
    this.now = 0
  }

  expired(entry) {
    return entry.expiresAt < this.now
  }

  touch(key, entry) {
    this.map.delete(key)
    this.map.set(key, entry)
  }

  get(key) {
    const entry = this.map.get(key)
    if (entry === undefined) return { value: undefined, evicted: [] }
    if (this.expired(entry)) {
      this.map.delete(key)
      return { value: undefined, evicted: [[key, entry.value, 'expire']] }
    }
    this.touch(key, entry)
    return { value: entry.value, evicted: [] }
  }

  has(key) {
    const entry = this.map.get(key)
    return entry !== undefined && !this.expired(entry)
  }

  peek(key) {
    const entry = this.map.get(key)
    return entry === undefined || this.expired(entry) ? undefined : entry.value
  }

  totalSize() {
    let total = 0
    for (const e of this.map.values()) total += e.size
    return total
  }

  /** Which entries may be evicted next: any expired one, else exactly the LRU. */
  candidates() {
    const expired = [...this.map].filter(([, e]) => this.expired(e)).map(([k]) => k)
    return expired.length > 0 ? expired : [this.map.keys().next().value]
  }

  /** Applies an eviction the cache reported, after checking it was allowed. */
  evict(key, reason, t) {
    const allowed = this.candidates()
    t.true(
      allowed.some((k) => Object.is(k, key)),
      `evicted ${key}, allowed ${allowed}`,
    )
    const entry = this.map.get(key)
    t.is(reason, this.expired(entry) ? 'expire' : 'evict')
    this.map.delete(key)
  }
}

const keyArb = fc.integer({ min: 0, max: 12 })
const opArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('set'),
      key: keyArb,
      size: fc.integer({ min: 1, max: 6 }),
      ttl: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 40 })),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('get'), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('has'), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('peek'), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete'), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance'), ms: fc.integer({ min: 1, max: 25 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('pop') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('purge') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('resize'), max: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('iterate') }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' }) },
)

const configArb = fc
  .record({
    max: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 8 })),
    maxSize: fc.oneof(fc.constant(undefined), fc.integer({ min: 6, max: 20 })),
    ttl: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 30 })),
  })
  .filter((c) => c.max !== undefined || c.maxSize !== undefined)

function run(t, config, ops, extra = {}) {
  const model = new Model(config)
  const clock = { now: () => model.now }
  const events = []
  const cache = new LRU({
    ...extra,
    ...config,
    perf: clock,
    sizeCalculation: config.maxSize === undefined ? undefined : () => 1,
    onEvict: (value, key, reason) => events.push([key, value, reason]),
  })
  const drain = () => events.splice(0, events.length)

  for (const step of ops) {
    switch (step.op) {
      case 'set': {
        const size = config.maxSize === undefined ? 1 : step.size
        const options = { ttl: step.ttl }
        if (config.maxSize !== undefined) options.size = size
        cache.set(step.key, step.ttl, options)
        const ttl = step.ttl ?? model.ttl
        const entry = { value: step.ttl, size, expiresAt: ttl > 0 ? model.now + ttl : Infinity }
        const got = drain()
        if (size > model.maxSize) {
          const old = model.map.get(step.key)
          const expected = []
          if (old !== undefined) {
            model.map.delete(step.key)
            expected.push([step.key, old.value, 'set'])
          }
          expected.push([step.key, step.ttl, 'set'])
          t.deepEqual(got, expected)
          break
        }
        const old = model.map.get(step.key)
        let rest = got
        if (old !== undefined) {
          model.touch(step.key, entry)
          if (old.value !== entry.value) {
            t.deepEqual(got[0], [step.key, old.value, 'set'])
            rest = got.slice(1)
          }
        } else {
          // A new key evicts before it is inserted when the count is full.
          if (model.map.size >= model.max) {
            t.true(rest.length > 0, 'expected an eviction')
            model.evict(rest[0][0], rest[0][2], t)
            rest = rest.slice(1)
          }
          model.map.set(step.key, entry)
        }
        for (const [key, , reason] of rest) {
          t.false(Object.is(key, step.key), 'the entry just set is never the victim')
          model.evict(key, reason, t)
        }
        t.true(model.totalSize() <= model.maxSize || model.maxSize === Infinity)
        break
      }
      case 'get': {
        const { value, evicted } = model.get(step.key)
        t.is(cache.get(step.key), value)
        t.deepEqual(drain(), evicted)
        break
      }
      case 'has':
        t.is(cache.has(step.key), model.has(step.key))
        break
      case 'peek':
        t.is(cache.peek(step.key), model.peek(step.key))
        break
      case 'delete': {
        const entry = model.map.get(step.key)
        const live = entry !== undefined && !model.expired(entry)
        t.is(cache.delete(step.key), live)
        model.map.delete(step.key)
        t.deepEqual(drain(), entry === undefined ? [] : [[step.key, entry.value, live ? 'delete' : 'expire']])
        break
      }
      case 'advance':
        model.now += step.ms
        break
      case 'pop': {
        // pop takes the least recently used entry, discarding expired ones on the way.
        let expected
        for (const [key, entry] of model.map) {
          if (!model.expired(entry)) {
            expected = [key, entry.value]
            break
          }
        }
        const got = cache.pop()
        t.deepEqual(got, expected)
        const removed = drain()
        for (const [key, , reason] of removed) {
          const entry = model.map.get(key)
          t.is(reason, model.expired(entry) ? 'expire' : 'evict')
          model.map.delete(key)
        }
        break
      }
      case 'purge': {
        const expired = [...model.map].filter(([, e]) => model.expired(e))
        t.is(cache.purgeStale(), expired.length)
        for (const [key] of expired) model.map.delete(key)
        t.is(drain().length, expired.length)
        break
      }
      case 'resize': {
        if (model.max === Infinity) break
        cache.resize(step.max)
        model.max = step.max
        for (const [key, , reason] of drain()) model.evict(key, reason, t)
        t.true(model.map.size <= model.max)
        break
      }
      case 'iterate':
        break
      case 'clear':
        cache.clear()
        t.is(drain().length, model.map.size)
        model.map.clear()
        break
    }
    t.is(cache.size, model.map.size)
    if (config.maxSize !== undefined) t.is(cache.calculatedSize, model.totalSize())
    const live = [...model.map].filter(([, e]) => !model.expired(e)).map(([k, e]) => [k, e.value])
    t.deepEqual([...cache], live.reverse())
  }
}

function check(t, extra, runs) {
  let count = 0
  fc.assert(
    fc.property(configArb, fc.array(opArb, { minLength: 1, maxLength: 60 }), (config, ops) => {
      count++
      // Report only the final outcome to AVA; fast-check shrinks on failure.
      let failed = null
      const probe = {
        is: (a, b, m) => {
          if (!Object.is(a, b)) failed = failed ?? `${m ?? ''} expected ${String(b)}, got ${String(a)}`
        },
        true: (v, m) => {
          if (!v) failed = failed ?? `${m ?? 'expected true'}`
        },
        false: (v, m) => {
          if (v) failed = failed ?? `${m ?? 'expected false'}`
        },
        deepEqual: (a, b, m) => {
          if (!require('node:util').isDeepStrictEqual(a, b)) {
            failed = failed ?? `${m ?? ''} expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`
          }
        },
      }
      run(probe, config, ops, extra)
      if (failed !== null) throw new Error(failed)
    }),
    { numRuns: runs },
  )
  t.true(count >= runs)
}

test(`random operation sequences agree with the model (${RUNS} runs)`, (t) => {
  check(t, {}, RUNS)
})

test('the model still agrees when recency stamps wrap around and are renumbered', (t) => {
  // Start the stamp counter 40 short of its limit, so most sequences cross it.
  check(t, { [kTickStart]: 2 ** 32 - 2 - 40 }, 300)
})

// A cache with only `max` takes set's fast path (no onEvict, sizes or TTLs),
// where evicted slots are reused without telling Rust: check it on its own.
test('a cache with only max agrees with the model (fast path)', (t) => {
  const plainOp = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('set'), key: keyArb, value: fc.integer() }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('get'), key: keyArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete'), key: keyArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('pop') }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('resize'), max: fc.integer({ min: 1, max: 8 }) }) },
  )
  const util = require('node:util')
  let runs = 0
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(plainOp, { maxLength: 120 }), (max, ops) => {
      runs++
      const cache = new LRU({ max })
      const model = new Map()
      for (const step of ops) {
        if (step.op === 'set') {
          cache.set(step.key, step.value)
          model.delete(step.key)
          model.set(step.key, step.value)
          if (model.size > max) model.delete(model.keys().next().value)
        } else if (step.op === 'get') {
          const want = model.get(step.key)
          if (model.has(step.key)) {
            model.delete(step.key)
            model.set(step.key, want)
          }
          if (cache.get(step.key) !== want) throw new Error(`get ${step.key}`)
        } else if (step.op === 'delete') {
          if (cache.delete(step.key) !== model.delete(step.key)) throw new Error(`delete ${step.key}`)
        } else if (step.op === 'pop') {
          const first = model.keys().next()
          const want = first.done ? undefined : [first.value, model.get(first.value)]
          if (!first.done) model.delete(first.value)
          if (!util.isDeepStrictEqual(cache.pop(), want)) throw new Error('pop')
        } else {
          max = step.max
          cache.resize(max)
          while (model.size > max) model.delete(model.keys().next().value)
        }
        const got = [...cache]
        const want = [...model].reverse()
        if (!util.isDeepStrictEqual(got, want))
          throw new Error(`order ${JSON.stringify(got)} != ${JSON.stringify(want)}`)
      }
    }),
    { numRuns: RUNS },
  )
  t.is(runs, RUNS)
})
