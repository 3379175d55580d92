'use strict'

// LRU with storage: 'offheap'. Keys (strings, numbers) and values (strings,
// Buffers, Uint8Arrays) live in Rust memory (core/src/offheap.rs) that the
// garbage collector never traces; only their byte count is reported to V8.
// Every operation is one crossing into Rust, through plain N-API entry
// points (src/raw.rs) because napi-rs's own wrappers cost four times more.

const native = require('../common/native')
const { checkKey, checkValue, statsOf, dumpRecords, iterateByEntries } = require('./records')
const { liveCaches, callOnEvict } = require('./live')
const { allowStaleOf, checkOptions, parseEntryTTL, loadEntries, readOptions } = require('./options')
const { Inflight, fetchHost, forceFetch, runFetch, runMemo } = require('./fetch')
const { invalidArgType, invalidArgValue, validateInteger } = require('../common/errors')

const { REMOVED_PENDING, STAT_CALCULATED_SIZE, STATS_LEN } = require('../common/protocol').offheap

/** Whether off-heap storage can hold `key`; one it cannot is never there. */
function holdable(key) {
  return typeof key === 'string' || typeof key === 'number'
}

/** A per-call option that off-heap storage takes only on the cache. */
function perCallRefused(name, value) {
  return invalidArgValue(
    `options.${name}`,
    "does not apply per call to storage: 'offheap'; give it to new LRU() instead",
    value,
  )
}

function sameValue(a, b) {
  if (typeof a === 'string' || typeof b === 'string') return a === b
  return Buffer.compare(a, b) === 0
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
  #updateAgeOnGet
  #updateAgeOnHas
  #noDeleteOnStaleGet
  #noUpdateTTL
  #ttlAutopurge
  #onEvict
  #onInsert
  #fetchMethod
  #memoMethod
  #fetchDefaults
  #perf
  #timed
  #inflight = null
  // Whether the native store keeps removed entries for offTakeRemoved: for
  // onEvict, or while loads are pending (to abort those whose entry leaves).
  #collect
  #timers = null
  #host = null
  // set() without options goes straight to the native store.
  #plainSet
  #statsBuf = new Float64Array(STATS_LEN)

  /** Use `new LRU({ storage: 'offheap', ... })`. */
  constructor(o) {
    this.#max = o.max
    this.#maxSize = o.maxSize
    this.#ttl = o.ttl
    this.#allowStale = o.allowStale
    this.#updateAgeOnGet = o.updateAgeOnGet
    this.#updateAgeOnHas = o.updateAgeOnHas
    this.#noDeleteOnStaleGet = o.noDeleteOnStaleGet
    this.#noUpdateTTL = o.noUpdateTTL
    this.#ttlAutopurge = o.ttlAutopurge
    this.#onEvict = o.onEvict
    this.#onInsert = o.onInsert
    this.#fetchMethod = o.fetchMethod
    this.#memoMethod = o.memoMethod
    this.#fetchDefaults = o.fetchDefaults
    this.#perf = o.perf
    this.#plainSet = o.onInsert === undefined && !o.noUpdateTTL && !o.ttlAutopurge
    this.#timed = o.ttl > 0
    this.#collect = o.onEvict !== undefined
    const [id, owner] = native.offCreate(
      o.max,
      o.maxSize,
      o.updateAgeOnGet,
      o.allowStale,
      o.onEvict !== undefined,
      o.policy === 's3fifo',
    )
    this.#id = id
    this.#owner = owner
    if (o.maxEntrySize !== Infinity) native.offSetMaxEntrySize(id, o.maxEntrySize)
    liveCaches.add(this, {
      get entries() {
        return native.offSize(id)
      },
      bytes: () => native.offNativeBytes(id),
    })
  }

  /**
   * Before an operation that may evict: has the native store keep removed
   * entries while loads are pending (when no onEvict already does), so
   * that #dispose can abort those whose entry is evicted.
   */
  #watchLoads() {
    if (this.#onEvict !== undefined) return
    const on = this.#inflight.size > 0
    if (on !== this.#collect) {
      native.offCollectRemoved(this.#id, on)
      this.#collect = on
    }
  }

  /** The clock (made a number) when entries may expire, else 0. */
  #now() {
    return this.#timed ? +this.#perf.now() : 0
  }

  /**
   * Calls onEvict for what left the cache, after the operation completed;
   * with `skipSetOf`, not for the value of that key replaced by set().
   * After a set (`evicting`), a load in flight of a key that left is
   * aborted, as lru-cache aborts it when it evicts the entry.
   */
  #dispose(skipSetOf, evicting = false) {
    let queue = native.offTakeRemoved(this.#id)
    if (evicting && this.#inflight !== null && this.#inflight.size > 0) {
      for (let i = 0; i < queue.length; i += 3) this.#inflight.abort(queue[i + 1], 'evicted')
    }
    if (this.#onEvict === undefined) return
    if (skipSetOf !== undefined) {
      const kept = []
      for (let i = 0; i < queue.length; i += 3) {
        if (queue[i + 2] !== 'set' || queue[i + 1] !== skipSetOf) kept.push(queue[i], queue[i + 1], queue[i + 2])
      }
      queue = kept
    }
    callOnEvict(this.#onEvict, queue)
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

  get(key, options) {
    if (options !== undefined || this.#noDeleteOnStaleGet) return this.#getWith(key, options ?? {})
    if (!holdable(key)) return undefined
    const value = native.offGet(this.#id, key, this.#now())
    if (this.#timed && this.#collect) this.#dispose()
    return value
  }

  /** `get` with lru-cache's per-call options. */
  #getWith(key, options) {
    options = readOptions(options)
    const { allowStale = this.#allowStale, noDeleteOnStaleGet = this.#noDeleteOnStaleGet, status } = options
    // Per call, updateAgeOnGet can add what the cache does not do, not
    // take away what the native store does on every get.
    const { updateAgeOnGet = this.#updateAgeOnGet } = options
    if (!updateAgeOnGet && this.#updateAgeOnGet) throw perCallRefused('updateAgeOnGet', options.updateAgeOnGet)
    if (!holdable(key)) {
      if (status !== undefined) status.get = 'miss'
      return undefined
    }
    const now = this.#now()
    if (native.offHas(this.#id, key, now)) {
      const value = native.offGet(this.#id, key, now)
      if (updateAgeOnGet && !this.#updateAgeOnGet) native.offRefreshTtl(this.#id, key, now)
      if (status !== undefined) {
        status.get = 'hit'
        this.#statusTTL(status, key, now)
      }
      return value
    }
    const stale = native.offPeek(this.#id, key, now, true)
    if (stale === undefined) {
      // Counted as a miss, as get() does.
      native.offGet(this.#id, key, now)
      if (status !== undefined) status.get = 'miss'
      return undefined
    }
    if (status !== undefined) {
      status.get = 'stale'
      if (allowStale) status.returnedStale = true
    }
    if (!noDeleteOnStaleGet) {
      native.offGet(this.#id, key, now)
      if (this.#collect) this.#dispose()
    }
    return allowStale ? stale : undefined
  }

  /** Fills lru-cache's TTL fields of a `status` object. */
  #statusTTL(status, key, now) {
    const remaining = native.offRemainingTtl(this.#id, key, now)
    if (remaining === Infinity || remaining === 0) return
    status.now = now
    status.remainingTTL = remaining
  }

  has(key, options) {
    let updateAgeOnHas = this.#updateAgeOnHas
    if (options !== undefined) {
      options = readOptions(options)
      if (options.updateAgeOnHas !== undefined) updateAgeOnHas = options.updateAgeOnHas === true
    }
    if (!holdable(key)) {
      if (options?.status !== undefined) options.status.has = 'miss'
      return false
    }
    const now = this.#now()
    const live = updateAgeOnHas ? native.offRefreshTtl(this.#id, key, now) : native.offHas(this.#id, key, now)
    if (options?.status !== undefined) {
      const status = options.status
      status.has = live ? 'hit' : native.offPeek(this.#id, key, now, true) === undefined ? 'miss' : 'stale'
      if (live) this.#statusTTL(status, key, now)
    }
    return live
  }

  peek(key, options) {
    const allowStale = allowStaleOf(options, this.#allowStale)
    if (!holdable(key)) return undefined
    return native.offPeek(this.#id, key, this.#now(), allowStale)
  }

  set(key, value, options) {
    checkKey(key)
    checkValue(value)
    if (options === undefined && this.#plainSet) return this.#store(key, value, this.#ttl, undefined)
    // Out of line, so that set() stays small enough to be inlined.
    return this.#setWith(key, value, options)
  }

  #setWith(key, value, options) {
    let ttl = this.#ttl
    let expiresAt
    // A number is the entry's TTL in ms, as keyv passes it.
    if (typeof options === 'number') options = { ttl: options }
    if (options !== undefined) {
      checkOptions(options)
      if (options.ttl !== undefined) ttl = parseEntryTTL(options.ttl, 'options.ttl')
      for (const name of ['size', 'sizeCalculation']) {
        if (options[name] !== undefined) {
          throw invalidArgValue(
            `options.${name}`,
            "does not apply to storage: 'offheap', where sizes are real bytes",
            options[name],
          )
        }
      }
      if (options.start !== undefined && ttl > 0) {
        expiresAt = +options.start + ttl
        if (Number.isNaN(expiresAt)) throw invalidArgType('options.start', 'of type number', options.start)
      }
    }
    if (options === undefined && this.#plainSet) return this.#store(key, value, ttl, undefined)
    return this.#storeWith(key, value, ttl, expiresAt, options ?? {})
  }

  /** set() with lru-cache's per-call options, onInsert, noUpdateTTL or ttlAutopurge. */
  #storeWith(key, value, ttl, expiresAt, options) {
    const { status, noDisposeOnSet = false, noUpdateTTL = this.#noUpdateTTL } = options
    const now = this.#now()
    const old = native.offPeek(this.#id, key, now, true)
    if (old !== undefined && noUpdateTTL) {
      const left = native.offRemainingTtl(this.#id, key, now)
      expiresAt = now + left
    }
    if (ttl > 0 || expiresAt !== undefined) this.#timed = true
    if (this.#inflight !== null) {
      this.#inflight.abort(key, 'replaced')
      this.#watchLoads()
    }
    const bits = this.#put(key, value, ttl, this.#now(), expiresAt)
    const stored = native.offPeek(this.#id, key, now, true) !== undefined
    const reason = old === undefined ? 'add' : sameValue(old, value) ? 'update' : 'replace'
    if (status !== undefined) {
      if (stored) {
        status.set = reason
        if (reason === 'replace') status.oldValue = old
        this.#statusTTL(status, key, now)
      } else {
        status.set = 'miss'
        status.maxEntrySizeExceeded = true
      }
    }
    if (stored && this.#ttlAutopurge && ttl > 0 && !(old !== undefined && noUpdateTTL)) this.#schedulePurge(key, ttl)
    try {
      if (stored && this.#onInsert !== undefined) this.#onInsert(value, key, reason)
    } finally {
      if (bits & REMOVED_PENDING) this.#dispose(noDisposeOnSet ? key : undefined, true)
    }
    return this
  }

  /** ttlAutopurge: removes `key` once expired, from an unref'd timer. */
  #schedulePurge(key, delay) {
    if (this.#timers === null) this.#timers = new Map()
    const previous = this.#timers.get(key)
    if (previous !== undefined) clearTimeout(previous)
    const timer = setTimeout(() => {
      if (this.#timers.get(key) !== timer) return
      this.#timers.delete(key)
      const now = this.#now()
      if (native.offHas(this.#id, key, now)) {
        // Early: a timer is due by the event loop's clock, which can lag
        // the cache's. Wait for what is left, else it is never purged.
        const left = native.offRemainingTtl(this.#id, key, now)
        if (left > 0 && left !== Infinity) this.#schedulePurge(key, left)
        return
      }
      native.offDelete(this.#id, key, now)
      if (this.#collect) this.#dispose()
    }, delay + 1)
    timer.unref()
    this.#timers.set(key, timer)
  }

  // offSet without an expiresAt it would have to read as undefined.
  #put(key, value, ttl, now, expiresAt) {
    return expiresAt === undefined
      ? native.offSet(this.#id, key, value, ttl, now)
      : native.offSet(this.#id, key, value, ttl, now, expiresAt)
  }

  #store(key, value, ttl, expiresAt) {
    if (ttl > 0 || expiresAt !== undefined) this.#timed = true
    const now = this.#now()
    if (this.#inflight !== null) {
      this.#inflight.abort(key, 'replaced')
      this.#watchLoads()
    }
    const bits = this.#put(key, value, ttl, now, expiresAt)
    if (bits & REMOVED_PENDING) this.#dispose(undefined, true)
    return this
  }

  delete(key) {
    if (!holdable(key)) return false
    if (this.#inflight !== null) this.#inflight.abort(key, 'deleted')
    const removed = native.offDelete(this.#id, key, this.#now())
    if (this.#collect) this.#dispose()
    return removed
  }

  clear() {
    if (this.#inflight !== null) this.#inflight.abortAll('deleted')
    if (this.#timers !== null) {
      for (const timer of this.#timers.values()) clearTimeout(timer)
      this.#timers.clear()
    }
    native.offClear(this.#id)
    if (this.#collect) this.#dispose()
  }

  /** Keys, least recently used first. */
  *rkeys() {
    for (const [key] of this.rentries()) yield key
  }

  /** Values, least recently used first. */
  *rvalues() {
    for (const [, value] of this.rentries()) yield value
  }

  /** Entries, least recently used first. */
  *rentries() {
    const keys = native.offKeys(this.#id, this.#now()).reverse()
    for (const key of keys) {
      const value = native.offPeek(this.#id, key, this.#now(), false)
      if (value !== undefined) yield [key, value]
    }
  }

  rforEach(callback, thisArg) {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback)
    for (const [key, value] of this.rentries()) callback.call(thisArg, value, key, this)
  }

  find(fn, options) {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn)
    for (const [key, value] of this.entries()) {
      if (fn(value, key, this)) return this.get(key, options)
    }
    return undefined
  }

  /** `{ value, ttl?, start? }` of a live `key`, `ttl` being what is left; or `undefined`. */
  info(key) {
    if (!holdable(key)) return undefined
    const now = this.#now()
    if (!native.offHas(this.#id, key, now)) return undefined
    const entry = { value: native.offPeek(this.#id, key, now, false) }
    const left = native.offRemainingTtl(this.#id, key, now)
    if (left !== Infinity) {
      entry.ttl = left
      entry.start = Date.now()
    }
    return entry
  }

  memo(key, options = {}) {
    return runMemo(this, this.#memoMethod, key, options)
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
    // Evicted: a load of it in flight is for nobody, as in lru-cache.
    if (entry != null && this.#inflight !== null) this.#inflight.abort(entry[0], 'evicted')
    if (this.#collect) this.#dispose()
    return entry ?? undefined
  }

  resize(max) {
    validateInteger(max, 'max', 1, Number.MAX_SAFE_INTEGER)
    const now = this.#now()
    this.#max = max
    if (this.#inflight !== null) this.#watchLoads()
    native.offResize(this.#id, max, now)
    if (this.#collect) this.#dispose(undefined, true)
  }

  getRemainingTTL(key) {
    if (!holdable(key)) return 0
    return native.offRemainingTtl(this.#id, key, this.#now())
  }

  purgeStale() {
    if (!this.#timed) return 0
    const n = native.offPurgeStale(this.#id, this.#now())
    if (this.#collect) this.#dispose()
    return n
  }

  stats() {
    const b = this.#statsBuf
    native.offStats(this.#id, b)
    return statsOf(b)
  }

  fetch(key, options) {
    // A key it cannot hold would be refused when the result is stored.
    if (!holdable(key) && (typeof options === 'function' || this.#fetchMethod !== undefined)) {
      return Promise.reject(invalidArgType('key', 'of type string or number', key))
    }
    return runFetch(this, this.#fetchHost(), key, options)
  }

  forceFetch(key, options) {
    return forceFetch(this, key, options)
  }

  #fetchHost() {
    if (this.#host !== null) return this.#host
    this.#host = fetchHost(this.#fetchMethod, this.#allowStale, this.#fetchDefaults, {
      inflight: () => (this.#inflight ??= new Inflight()),
      lookup: (key) => {
        const now = this.#now()
        const value = native.offPeek(this.#id, key, now, true)
        return value === undefined ? undefined : { value, stale: !native.offHas(this.#id, key, now) }
      },
      remove: (key) => {
        native.offDelete(this.#id, key, this.#now())
        if (this.#collect) this.#dispose()
      },
      // A load of an absent key counts as the miss a get() would count.
      miss: (key, found) => {
        if (found === undefined) native.offGet(this.#id, key, this.#now())
      },
    })
    return this.#host
  }

  dump() {
    const flat = native.offDump(this.#id, this.#now())
    const epochOffset = Date.now() - this.#perf.now()
    return dumpRecords(flat, epochOffset)
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

iterateByEntries(OffHeapLRU)

// Its prototype is linked to LRU's in heap.js (which does the dispatch), so
// that `instanceof LRU` holds.

module.exports = { OffHeapLRU }
