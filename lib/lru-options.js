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
} = require('./errors')

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
  if (storage !== 'heap' && storage !== 'offheap') {
    throw invalidArgValue('options.storage', "must be 'heap' or 'offheap'", storage)
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

module.exports = { parseOptions, parseEntryTTL }
