'use strict'

// What the two byte stores (storage 'offheap' and 'shared') read and write
// the same way: the keys and values they take, the stats array and the
// dump records their addon functions fill, and the iteration methods built
// on `entries()`.

const { types } = require('node:util')
const { invalidArgType } = require('../common/errors')
const {
  DUMP_RECORD,
  STAT_HITS,
  STAT_MISSES,
  STAT_SETS,
  STAT_EVICTIONS,
  STAT_EXPIRATIONS,
  STAT_SIZE,
  STAT_CALCULATED_SIZE,
  STAT_NATIVE_BYTES,
} = require('../common/protocol').offheap

function checkKey(key) {
  if (typeof key !== 'string' && typeof key !== 'number') {
    throw invalidArgType('key', 'of type string or number', key)
  }
}

function checkValue(value, name = 'value') {
  if (typeof value !== 'string' && !types.isUint8Array(value)) {
    throw invalidArgType(name, 'a string, Buffer or Uint8Array', value)
  }
}

/** `stats()` of a store, from the array its addon function filled. */
function statsOf(b) {
  return {
    hits: b[STAT_HITS],
    misses: b[STAT_MISSES],
    sets: b[STAT_SETS],
    evictions: b[STAT_EVICTIONS],
    expirations: b[STAT_EXPIRATIONS],
    size: b[STAT_SIZE],
    calculatedSize: b[STAT_CALCULATED_SIZE],
    externalBytes: b[STAT_NATIVE_BYTES],
  }
}

/**
 * `dump()` pairs `[key, { value, ttl?, start? }]` from a flat dump array
 * (`DUMP_RECORD` numbers an entry); `epochOffset` turns the store's clock
 * into `Date.now()` time.
 */
function dumpRecords(flat, epochOffset) {
  const out = []
  for (let i = 0; i < flat.length; i += DUMP_RECORD) {
    const entry = { value: flat[i + 1] }
    const ttl = flat[i + 2]
    const expires = flat[i + 3]
    if (expires !== Infinity) {
      entry.ttl = ttl
      entry.start = expires - ttl + epochOffset
    }
    out.push([flat[i], entry])
  }
  return out
}

// keys(), values(), [Symbol.iterator]() and forEach() of a cache whose
// entries() yields `[key, value]` pairs.
const byEntries = {
  *keys() {
    for (const [key] of this.entries()) yield key
  },

  *values() {
    for (const [, value] of this.entries()) yield value
  },

  [Symbol.iterator]() {
    return this.entries()
  },

  forEach(callback, thisArg) {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback)
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this)
  },
}

/** Gives `Class` the iteration methods of `byEntries`, as class methods are (not enumerable). */
function iterateByEntries(Class) {
  for (const name of Reflect.ownKeys(byEntries)) {
    Object.defineProperty(Class.prototype, name, {
      value: byEntries[name],
      writable: true,
      enumerable: false,
      configurable: true,
    })
  }
}

module.exports = { checkKey, checkValue, statsOf, dumpRecords, iterateByEntries }
