'use strict'

// LRU with storage: 'offheap'. Keys (strings, numbers) and values (strings,
// Buffers, Uint8Arrays) live in Rust memory (core/src/offheap.rs) that the
// garbage collector never traces; only their byte count is reported to V8.
// Every operation is one crossing into Rust, through plain N-API entry
// points (src/raw.rs) because napi-rs's own wrappers cost four times more.

const { types } = require('node:util')
const native = require('../common/native')
const { liveCaches, callOnEvict } = require('./live')
const { parseEntryTTL, loadEntries } = require('./options')
const { Inflight, pickFetcher } = require('./fetch')
const { invalidArgType, invalidArgValue, validateInteger } = require('../common/errors')

const {
  REMOVED_PENDING,
  DUMP_RECORD,
  STAT_HITS,
  STAT_MISSES,
  STAT_SETS,
  STAT_EVICTIONS,
  STAT_EXPIRATIONS,
  STAT_SIZE,
  STAT_CALCULATED_SIZE,
  STAT_NATIVE_BYTES,
  STATS_LEN,
} = require('../common/protocol').offheap

function checkKey(key) {
  if (typeof key !== 'string' && typeof key !== 'number') {
    throw invalidArgType('key', 'of type string or number', key)
  }
}

function checkValue(value) {
  if (typeof value !== 'string' && !types.isUint8Array(value)) {
    throw invalidArgType('value', 'a string, Buffer or Uint8Array', value)
  }
}

class OffHeapLRU {
  #id
  // Never read: holding it keeps the native structure alive as long as this
  // cache (its finalizer frees the structure).
  // eslint-disable-next-line no-unused-private-class-members
  #owner
  #max
  #maxSize
  #ttl
  #allowStale
  #onEvict
  #fetchMethod
  #perf
  #timed
  #inflight = null
  #statsBuf = new Float64Array(STATS_LEN)

  /** Use `new LRU({ storage: 'offheap', ... })`. */
  constructor(o) {
    this.#max = o.max
    this.#maxSize = o.maxSize
    this.#ttl = o.ttl
    this.#allowStale = o.allowStale
    this.#onEvict = o.onEvict
    this.#fetchMethod = o.fetchMethod
    this.#perf = o.perf
    this.#timed = o.ttl > 0
    const [id, owner] = native.offCreate(o.max, o.maxSize, o.updateAgeOnGet, o.allowStale, o.onEvict !== undefined)
    this.#id = id
    this.#owner = owner
    liveCaches.add(this, {
      get entries() {
        return native.offSize(id)
      },
      bytes: () => native.offNativeBytes(id),
    })
  }

  /** The clock (made a number) when entries may expire, else 0. */
  #now() {
    return this.#timed ? +this.#perf.now() : 0
  }

  /** Calls onEvict for what left the cache, after the operation completed. */
  #dispose() {
    callOnEvict(this.#onEvict, native.offTakeRemoved(this.#id))
  }

  get size() {
    return native.offSize(this.#id)
  }

  get [Symbol.toStringTag]() {
    return 'LRU'
  }

  /** A shared store's name; this storage has none. */
  get name() {
    return undefined
  }

  get(key) {
    checkKey(key)
    const value = native.offGet(this.#id, key, this.#now())
    if (this.#timed && this.#onEvict !== undefined) this.#dispose()
    return value
  }

  has(key) {
    checkKey(key)
    return native.offHas(this.#id, key, this.#now())
  }

  peek(key) {
    checkKey(key)
    return native.offPeek(this.#id, key, this.#now(), this.#allowStale)
  }

  set(key, value, options) {
    checkKey(key)
    checkValue(value)
    let ttl = this.#ttl
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
      if (options.ttl !== undefined) ttl = parseEntryTTL(options.ttl, 'options.ttl')
      if (options.size !== undefined) {
        throw invalidArgValue(
          'options.size',
          "does not apply to storage: 'offheap', where sizes are real bytes",
          options.size,
        )
      }
    }
    return this.#store(key, value, ttl, undefined)
  }

  #store(key, value, ttl, expiresAt) {
    if (ttl > 0 || expiresAt !== undefined) this.#timed = true
    const now = this.#now()
    if (this.#inflight !== null) this.#inflight.abort(key)
    const bits = native.offSet(this.#id, key, value, ttl, now, expiresAt)
    if (bits & REMOVED_PENDING && this.#onEvict !== undefined) this.#dispose()
    return this
  }

  delete(key) {
    checkKey(key)
    if (this.#inflight !== null) this.#inflight.abort(key)
    const removed = native.offDelete(this.#id, key, this.#now())
    if (this.#onEvict !== undefined) this.#dispose()
    return removed
  }

  clear() {
    if (this.#inflight !== null) this.#inflight.abortAll()
    native.offClear(this.#id)
    if (this.#onEvict !== undefined) this.#dispose()
  }

  *keys() {
    for (const [key] of this.entries()) yield key
  }

  *values() {
    for (const [, value] of this.entries()) yield value
  }

  /**
   * Entries, most recently used first. The order is taken at the start;
   * entries deleted meanwhile are skipped.
   */
  *entries() {
    const keys = native.offKeys(this.#id, this.#now())
    for (const key of keys) {
      const value = native.offPeek(this.#id, key, this.#now(), false)
      if (value !== undefined) yield [key, value]
    }
  }

  [Symbol.iterator]() {
    return this.entries()
  }

  forEach(callback, thisArg) {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback)
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this)
  }

  get max() {
    return this.#max
  }

  get maxSize() {
    return this.#maxSize
  }

  get calculatedSize() {
    native.offStats(this.#id, this.#statsBuf)
    return this.#statsBuf[STAT_CALCULATED_SIZE]
  }

  pop() {
    const entry = native.offPop(this.#id, this.#now())
    if (this.#onEvict !== undefined) this.#dispose()
    return entry ?? undefined
  }

  resize(max) {
    validateInteger(max, 'max', 1, Number.MAX_SAFE_INTEGER)
    const now = this.#now()
    this.#max = max
    native.offResize(this.#id, max, now)
    if (this.#onEvict !== undefined) this.#dispose()
  }

  getRemainingTTL(key) {
    checkKey(key)
    return native.offRemainingTtl(this.#id, key, this.#now())
  }

  purgeStale() {
    if (!this.#timed) return 0
    const n = native.offPurgeStale(this.#id, this.#now())
    if (this.#onEvict !== undefined) this.#dispose()
    return n
  }

  stats() {
    const b = this.#statsBuf
    native.offStats(this.#id, b)
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

  fetch(key, fetcher) {
    const chosen = pickFetcher(fetcher, this.#fetchMethod, invalidArgType)
    if (typeof chosen !== 'function') return chosen
    try {
      checkKey(key)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#inflight !== null) {
      const pending = this.#inflight.pending(key)
      if (pending !== undefined) return pending
    }
    const hit = this.get(key)
    if (hit !== undefined) return Promise.resolve(hit)
    if (this.#inflight === null) this.#inflight = new Inflight()
    return this.#inflight.load(key, chosen, (value) => this.set(key, value))
  }

  dump() {
    const flat = native.offDump(this.#id, this.#now())
    const epochOffset = Date.now() - this.#perf.now()
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

  load(entries) {
    loadEntries(
      entries,
      this.#perf,
      (key, entry) => {
        checkKey(key)
        checkValue(entry.value)
      },
      ({ key, value, ttl, expiresAt }) => this.#store(key, value, ttl, expiresAt),
    )
  }

  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    const bound = this.#max === Infinity ? `${this.#maxSize} bytes` : this.#max
    return `LRU(${this.size}/${bound}, offheap) { ${this.calculatedSize} bytes }`
  }
}

// Its prototype is linked to LRU's in heap.js (which does the dispatch), so
// that `instanceof LRU` holds.

module.exports = { OffHeapLRU }
