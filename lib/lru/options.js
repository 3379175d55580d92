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

/**
 * Checks `options` (a number is `{ max }`) and returns them normalised:
 * absent bounds are `Infinity`, `ttl` is 0 for none, `perf` is a clock.
 */
function parseOptions(options) {
  if (typeof options === 'number') options = { max: options }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'a number (max) or an object', options)
  }
  const {
    max,
    maxSize,
    ttl = 0,
    updateAgeOnGet = false,
    allowStale = false,
    onEvict,
    sizeCalculation,
    fetchMethod,
    storage = 'heap',
    perf,
  } = options
  if (storage !== 'heap' && storage !== 'offheap' && storage !== 'shared') {
    throw invalidArgValue('options.storage', "must be 'heap', 'offheap' or 'shared'", storage)
  }
  if (max !== undefined) validateInteger(max, 'options.max', 1, Number.MAX_SAFE_INTEGER)
  if (maxSize !== undefined) validateInteger(maxSize, 'options.maxSize', 1, Number.MAX_SAFE_INTEGER)
  if (max === undefined && maxSize === undefined) {
    throw leaklessError(
      RangeError,
      'ERR_LEAKLESS_UNBOUNDED',
      'An LRU needs "max" or "maxSize": an unbounded cache is a memory leak. Received neither',
    )
  }
  validateNumber(ttl, 'options.ttl', 0, Number.MAX_VALUE, true)
  validateBoolean(updateAgeOnGet, 'options.updateAgeOnGet')
  validateBoolean(allowStale, 'options.allowStale')
  validateOptionalFunction(onEvict, 'options.onEvict')
  validateOptionalFunction(sizeCalculation, 'options.sizeCalculation')
  validateOptionalFunction(fetchMethod, 'options.fetchMethod')
  if (perf !== undefined && (perf === null || typeof perf !== 'object' || typeof perf.now !== 'function')) {
    throw invalidArgType('options.perf', 'an object with a now() method', perf)
  }
  if (storage === 'offheap' && sizeCalculation !== undefined) {
    throw invalidArgValue(
      'options.sizeCalculation',
      "does not apply to storage: 'offheap', where sizes are the real bytes held",
      sizeCalculation,
    )
  }
  return {
    max: max === undefined ? Infinity : max,
    maxSize: maxSize === undefined ? Infinity : maxSize,
    ttl: ttl === Infinity ? 0 : ttl,
    updateAgeOnGet,
    allowStale,
    onEvict,
    sizeCalculation,
    fetchMethod,
    storage,
    perf: perf === undefined ? globalThis.performance : perf,
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
    if (item.expiresAt === undefined || item.expiresAt > now) store(item)
  })
}

module.exports = { parseOptions, parseEntryTTL, loadEntries }
