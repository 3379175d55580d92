'use strict'

// Options of `new LRU(...)`, checked once for both storages.

const {
  invalidArgType,
  invalidArgValue,
  leaklessError,
  validateBoolean,
  validateInteger,
  validateNumber,
  validateOptionalFunction,
} = require('../common/errors')
const { settleAll } = require('../common/settle')
const { kBatch } = require('./live')

// Options a storage cannot honour, and why: refused by name rather than
// ignored. The heap storage honours every option.
const PER_THREAD =
  "is not supported with storage: 'shared' (one store for every thread: no per-thread callbacks or per-entry policies)"
const REFUSED = {
  offheap: {
    sizeCalculation: "does not apply to storage: 'offheap', where sizes are the real bytes held",
  },
  shared: {
    onEvict:
      "is not supported with storage: 'shared': an entry is evicted by whichever thread needs the room, " +
      'where another thread’s callback cannot run',
    sizeCalculation: "does not apply to storage: 'shared', where sizes are the real bytes held",
    perf: "does not apply to storage: 'shared', whose threads share the addon's one clock",
    dispose: PER_THREAD,
    disposeAfter: PER_THREAD,
    onInsert: PER_THREAD,
    noDisposeOnSet: PER_THREAD,
    ttlAutopurge: PER_THREAD,
    updateAgeOnHas: PER_THREAD,
    noDeleteOnStaleGet: PER_THREAD,
    noUpdateTTL: PER_THREAD,
    maxEntrySize: PER_THREAD,
    memoMethod: PER_THREAD,
    allowStaleOnFetchRejection: PER_THREAD,
    allowStaleOnFetchAbort: PER_THREAD,
    ignoreFetchAbort: PER_THREAD,
    noDeleteOnFetchRejection: PER_THREAD,
  },
}

// The options that are functions when given.
const CALLBACKS = ['onEvict', 'dispose', 'disposeAfter', 'onInsert', 'sizeCalculation', 'fetchMethod', 'memoMethod']

/**
 * Checks `options` (a number is `{ max }`) and returns them normalised:
 * absent bounds are `Infinity`, `ttl` is 0 for none, `perf` is a clock.
 * `max` or `maxSize` given as `Infinity` counts as absent, so that
 * `new LRU({ max: other.max, maxSize: other.maxSize })` copies a cache.
 * `dispose`, `disposeAfter` and `onEvict` are folded into one `onEvict`.
 */
function parseOptions(options) {
  if (options === undefined) throw unbounded()
  if (typeof options === 'number') options = { max: options }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'a number (max) or an object', options)
  }
  const {
    ttl = 0,
    ttlResolution = 1,
    ttlAutopurge = false,
    updateAgeOnGet = false,
    updateAgeOnHas = false,
    allowStale = false,
    noDeleteOnStaleGet = false,
    noDisposeOnSet = false,
    noUpdateTTL = false,
    onEvict,
    dispose,
    disposeAfter,
    onInsert,
    sizeCalculation,
    fetchMethod,
    memoMethod,
    allowStaleOnFetchRejection = false,
    allowStaleOnFetchAbort = false,
    ignoreFetchAbort = false,
    noDeleteOnFetchRejection = false,
    storage = 'heap',
    policy = 'lru',
    perf,
  } = options
  let { max, maxSize, maxEntrySize } = options
  if (max === Infinity) max = undefined
  if (maxSize === Infinity) maxSize = undefined
  if (maxEntrySize === Infinity) maxEntrySize = undefined
  if (storage !== 'heap' && storage !== 'offheap' && storage !== 'shared') {
    throw invalidArgValue('options.storage', "must be 'heap', 'offheap' or 'shared'", storage)
  }
  if (policy !== 'lru' && policy !== 's3fifo') {
    throw invalidArgValue('options.policy', "must be 'lru' or 's3fifo'", policy)
  }
  if (max !== undefined) validateInteger(max, 'options.max', 1, Number.MAX_SAFE_INTEGER)
  if (maxSize !== undefined) validateInteger(maxSize, 'options.maxSize', 1, Number.MAX_SAFE_INTEGER)
  if (maxEntrySize !== undefined) validateInteger(maxEntrySize, 'options.maxEntrySize', 1, Number.MAX_SAFE_INTEGER)
  if (max === undefined && maxSize === undefined) throw unbounded()
  validateNumber(ttl, 'options.ttl', 0, Number.MAX_VALUE, true)
  validateNumber(ttlResolution, 'options.ttlResolution', 0)
  for (const [name, value] of Object.entries({
    ttlAutopurge,
    updateAgeOnGet,
    updateAgeOnHas,
    allowStale,
    noDeleteOnStaleGet,
    noDisposeOnSet,
    noUpdateTTL,
    allowStaleOnFetchRejection,
    allowStaleOnFetchAbort,
    ignoreFetchAbort,
    noDeleteOnFetchRejection,
  })) {
    validateBoolean(value, `options.${name}`)
  }
  for (const name of CALLBACKS) validateOptionalFunction(options[name], `options.${name}`)
  // A clock is anything with a now() method: `performance`, `Date`, a fake.
  if (
    perf !== undefined &&
    (perf === null || (typeof perf !== 'object' && typeof perf !== 'function') || typeof perf.now !== 'function')
  ) {
    throw invalidArgType('options.perf', 'an object with a now() method', perf)
  }
  const refused = REFUSED[storage]
  if (refused !== undefined) {
    for (const [name, why] of Object.entries(refused)) {
      const value = options[name]
      if (value !== undefined && value !== false) throw invalidArgValue(`options.${name}`, why, value)
    }
  }
  return {
    max: max === undefined ? Infinity : max,
    maxSize: maxSize === undefined ? Infinity : maxSize,
    maxEntrySize: maxEntrySize === undefined ? Infinity : maxEntrySize,
    ttl: ttl === Infinity ? 0 : ttl,
    ttlAutopurge,
    updateAgeOnGet,
    updateAgeOnHas,
    allowStale,
    noDeleteOnStaleGet,
    noUpdateTTL,
    // Off-heap storage: every callback after the operation (see README).
    onEvict: disposer(onEvict, dispose, disposeAfter, noDisposeOnSet),
    // Heap storage: `dispose` while the entry is still in the cache, the
    // others after the operation, as lru-cache calls dispose and disposeAfter.
    disposeBefore: before(dispose, noDisposeOnSet),
    disposeAfter: disposer(onEvict, undefined, disposeAfter, noDisposeOnSet),
    onInsert,
    sizeCalculation,
    fetchMethod,
    memoMethod,
    fetchDefaults: { allowStaleOnFetchRejection, allowStaleOnFetchAbort, ignoreFetchAbort, noDeleteOnFetchRejection },
    storage,
    policy,
    perf: perf === undefined ? globalThis.performance : perf,
  }
}

function unbounded() {
  return leaklessError(
    RangeError,
    'ERR_LEAKLESS_UNBOUNDED',
    'An LRU needs "max" or "maxSize": an unbounded cache is a memory leak. Received neither',
  )
}

/**
 * One `(value, key, reason)` callback for what leaves the cache: `dispose`
 * then `disposeAfter` (lru-cache's names, which see `clear()` as reason
 * `'delete'` as lru-cache reports it), then `onEvict` (which sees
 * `'clear'`). With `noDisposeOnSet`, replaced values are not reported.
 * Undefined when none is given, so that a cache without one pays nothing.
 */
function disposer(onEvict, dispose, disposeAfter, noDisposeOnSet) {
  if (onEvict === undefined && dispose === undefined && disposeAfter === undefined) return undefined
  if (dispose === undefined && disposeAfter === undefined && !noDisposeOnSet) return onEvict
  const callbacks = [dispose, disposeAfter, onEvict]
  // For each queued (value, key, reason): callback `c` of `callbacks`.
  const call = (queue, c, i) => {
    const reason = queue[3 * i + 2]
    if (callbacks[c] === undefined || (noDisposeOnSet && reason === 'set')) return
    const named = c < 2 && reason === 'clear' ? 'delete' : reason
    callbacks[c](queue[3 * i], queue[3 * i + 1], named)
  }
  const single = (value, key, reason) => settleAll(3, (c) => call([value, key, reason], c, 0))
  // A batch calls every dispose, then every disposeAfter, then every onEvict.
  single[kBatch] = (queue) => {
    const n = queue.length / 3
    settleAll(3 * n, (j) => call(queue, Math.floor(j / n), j % n))
  }
  return single
}

/**
 * lru-cache's `dispose` as heap storage calls it, before the entry is gone:
 * `clear()` reported as `'delete'`, replaced values left out with
 * `noDisposeOnSet`. Undefined without `dispose`.
 */
function before(dispose, noDisposeOnSet) {
  if (dispose === undefined) return undefined
  return (value, key, reason) => {
    if (noDisposeOnSet && reason === 'set') return
    dispose(value, key, reason === 'clear' ? 'delete' : reason)
  }
}

/** Checks the per-entry `ttl` of `set(key, value, { ttl })`; returns ms (0: none). */
function parseEntryTTL(ttl, name) {
  validateNumber(ttl, name, 0, Number.MAX_VALUE, true)
  return ttl === Infinity ? 0 : ttl
}

/**
 * `cache.load(entries)` for both storages. Checks every `[key, { value,
 * ttl?, start?, ... }]` pair first, so that bad input stores nothing:
 * `check(key, entry, i)` adds what the storage needs (and may throw); then
 * stores the entries that have not expired with `store(item)`, each of them
 * even when a store throws (an onEvict callback), rethrowing the first error.
 * `start` is a Date.now() time, as `dump()` writes it.
 */
function loadEntries(entries, perf, check, store) {
  if (entries === null || typeof entries !== 'object' || typeof entries[Symbol.iterator] !== 'function') {
    throw invalidArgType('entries', 'an iterable of [key, entry] pairs', entries)
  }
  const epochOffset = Date.now() - perf.now()
  const checked = Array.from(entries, (pair, i) => {
    if (!Array.isArray(pair) || pair.length < 2 || pair[1] === null || typeof pair[1] !== 'object') {
      throw invalidArgType(`entries[${i}]`, 'a [key, { value }] pair', pair)
    }
    const [key, entry] = pair
    const extra = check(key, entry, i)
    let ttl = 0
    let expiresAt
    if (entry.ttl !== undefined && entry.ttl !== 0) {
      ttl = parseEntryTTL(entry.ttl, `entries[${i}].ttl`)
      if (ttl > 0 && entry.start !== undefined) {
        validateNumber(entry.start, `entries[${i}].start`, 0)
        expiresAt = entry.start - epochOffset + ttl
      }
    }
    return { key, value: entry.value, ttl, expiresAt, extra }
  })
  const now = perf.now()
  settleAll(checked.length, (i) => {
    const item = checked[i]
    if (item.expiresAt === undefined || item.expiresAt >= now) store(item)
  })
}

/** Checks the options object of a call that takes one (set, memo). */
function checkOptions(options) {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
}

/**
 * Per-call options of a read (get, has, peek): what is not an object is
 * ignored, as a Map ignores extra arguments (\`keys.map(cache.get, cache)\`).
 */
function readOptions(options) {
  return options !== null && typeof options === 'object' ? options : {}
}

/** peek()'s `allowStale`: the per-call one, else the cache's (`fallback`). */
function allowStaleOf(options, fallback) {
  if (options === undefined) return fallback
  const { allowStale } = readOptions(options)
  return allowStale === undefined ? fallback : allowStale
}

module.exports = { allowStaleOf, checkOptions, parseOptions, parseEntryTTL, loadEntries, readOptions }
