'use strict'

// LRU with heap storage: a Map-compatible bounded cache.
//
// Layout: keys map to slot numbers in a JS `Map`; keys and values sit in JS
// arrays indexed by slot. Recency is a stamp per slot (`#stamps`, a
// Uint32Array): every access writes the next value of a counter. The order
// those stamps define, and the choice of victims, are worked out in Rust
// (core/src/recency.rs), which reads the stamps only when a victim or the
// order is needed. So a `get` never crosses into Rust and costs one store.
// Inserts and deletes are appended to `#log`, which Rust replays in batches;
// every replay is told `#used`, and an insert into a slot handed out since
// the last one (`#freshFrom` on) is not logged: Rust files those slots itself.
// Victims come from Rust in batches with the stamps they had; the first one
// whose stamp is unchanged is the exact least recently used entry, so most
// evictions cost no crossing either.
//
// With `policy: 's3fifo'` the order is S3-FIFO's (core/src/s3fifo.rs): a
// hit bumps the slot's counter in `#freq` (a Uint8Array, capped at 3) and
// crosses into Rust no more than a stamp does; stamps only number inserts,
// so that a victim handed out in a batch can be recognised as still the
// same entry. Inserts are logged with the key's hash (for the ghost queue),
// deletes and size or expiry changes are logged too. A victim from a batch
// is evicted only while its counter is below the limit Rust gave with it
// (a hit since would have saved it). Rust learns from the log which victims
// were evicted (their slot reused by an insert, or a delete marked
// S3_EVICTED) and which deleted since (a plain delete: no ghost).

const native = require('../common/native')
const { Inflight, fetchHost, forceFetch, runFetch, runMemo } = require('./fetch')
const { liveCaches, callOnEvict } = require('./live')
const { OffHeapLRU } = require('./offheap')
const { SharedLRU } = require('./shared')
const { invalidArgType, invalidArgValue, leaklessError, outOfRange, validateInteger } = require('../common/errors')
const { allowStaleOf, checkOptions, parseOptions, parseEntryTTL, loadEntries, readOptions } = require('./options')

// Log words come in pairs: (operation | slot, stamp). See core/src/recency.rs.
// Stamps are u32; before the counter reaches STAMP_LIMIT, Rust renumbers them.
// A JS Map holds at most 2**24 entries; slot numbers stay far below the
// MAX_SLOTS the log can carry.
const {
  OP_INSERT,
  OP_EXPIRY,
  OP_DELETE,
  STAMP_LIMIT,
  MAX_SLOT: MAX_SLOTS,
  S3_FREQ_MAX,
  S3_EVICTED,
} = require('../common/protocol').recency
const { keyHash } = require('./keyhash')
const LOG_SIZE = 1024
const BATCH_SIZE = 512
// Tests start the counter near the limit to exercise renumbering.
const { kTickStart, kS3Batch } = require('./hooks')

/**
 * A bounded cache with the interface of a `Map`. See index.d.ts for the API.
 */
class LRU {
  #map = new Map()
  // `#used` slots have been handed out; keys and vals hold one element per
  // slot, the typed arrays grow by doubling up to `max`.
  #keys = []
  #vals = []
  #used = 0
  // 'lru': `#used` at the last replay; Rust files slots from here on without
  // a log entry (see file_fresh in core/src/recency.rs).
  #freshFrom = 0
  // Head of the list of free slots (-1: none); a free slot's element of
  // #vals holds the next one, so freeing a slot allocates nothing.
  #freeSlot = -1
  #stamps = new Uint32Array(0)
  #tick = 0
  #sizes = null
  #expires = null
  #ttls = null
  // S3-FIFO only: a counter per slot, the read limits of the batch's
  // victims, hits counted, and whether the queues are sized by #sizes.
  #freq = null
  #victimLimits = null
  #hits = 0
  #s3Weighted = false
  // The small queue's capacity (Rust's), and with #s3Weighted, per pair of
  // #log, the size its entry had when it was logged.
  #s3SmallCapacity = 0
  #logSizes = null
  // Most victims per crossing under 's3fifo' (`[kS3Batch]` in the tests).
  #s3Batch = BATCH_SIZE
  // A Bloom filter of the ghost's key hashes (bit i is bit i % 8 of byte
  // i / 8), written by Rust: an insert of a key it flags may go to main, which
  // victims picked ahead did not foresee. #ghostMask is its bit count - 1.
  #ghostFilter = null
  #ghostMask = 0

  #log = new Uint32Array(LOG_SIZE)
  #logLen = 0
  #victims = new Uint32Array(BATCH_SIZE)
  #victimStamps = new Uint32Array(BATCH_SIZE)
  #vi = 0
  #vn = 0
  // 'lru': the value #tick has while every stamp written since the batch was
  // picked is an evicting set's own (-1 once anything else wrote one).
  #cleanTick = -1
  #expiredInBatch = 0
  #nextExpiry = Infinity
  #meta = new Float64Array(2)
  #id
  // Never read: holding it keeps the native structure alive as long as this
  // cache (its finalizer frees the structure).
  // eslint-disable-next-line no-unused-private-class-members
  #owner
  #cell

  #max
  #maxSize
  #calculatedSize = 0
  #ttl
  #maxEntrySize
  #updateAgeOnGet
  #updateAgeOnHas
  #allowStale
  #noDeleteOnStaleGet
  #noUpdateTTL
  #ttlAutopurge
  // Told of removals: `dispose` before the entry is gone, `#onEvict`
  // (disposeAfter, onEvict) after the operation; `#notify` if either is set.
  #disposeBefore
  #onEvict
  #notify
  // Depth of `dispose` calls running: the cache is read-only meanwhile.
  #disposing = 0
  #onInsert
  #sizeCalculation
  #fetchMethod
  #memoMethod
  #fetchDefaults
  #perf
  #inflight = null
  #timers = null

  // Every hit, replacement and insert takes one stamp, so hits are counted
  // for free: ticks taken so far minus sets (see stats()).
  #tickOffset = 0
  #plain = true
  #misses = 0
  #sets = 0
  #evictions = 0
  #expirations = 0

  /**
   * @param {number | object} options `max`, or an options object.
   */
  constructor(options) {
    const o = parseOptions(options)
    if (o.storage === 'offheap') {
      // The off-heap variant is its own class; its prototype inherits from
      // LRU's so that `instanceof LRU` holds.
      return new OffHeapLRU(o)
    }
    if (o.storage === 'shared') return new SharedLRU(o, options)
    this.#max = o.max
    this.#maxSize = o.maxSize
    this.#maxEntrySize = Math.min(o.maxEntrySize, o.maxSize)
    this.#ttl = o.ttl
    this.#updateAgeOnGet = o.updateAgeOnGet
    this.#updateAgeOnHas = o.updateAgeOnHas
    this.#allowStale = o.allowStale
    this.#noDeleteOnStaleGet = o.noDeleteOnStaleGet
    this.#noUpdateTTL = o.noUpdateTTL
    this.#ttlAutopurge = o.ttlAutopurge
    this.#disposeBefore = o.disposeBefore
    this.#onEvict = o.disposeAfter
    this.#notify = o.disposeBefore !== undefined || o.disposeAfter !== undefined
    this.#onInsert = o.onInsert
    this.#sizeCalculation = o.sizeCalculation
    this.#fetchMethod = o.fetchMethod
    this.#memoMethod = o.memoMethod
    this.#fetchDefaults = o.fetchDefaults
    this.#perf = o.perf
    if (o.maxSize !== Infinity || o.maxEntrySize !== Infinity || o.sizeCalculation !== undefined) {
      this.#sizes = new Float64Array(0)
    }
    if (this.#ttl > 0) this.#initTTL()
    if (typeof options[kTickStart] === 'number') {
      this.#tick = options[kTickStart]
      this.#tickOffset = -this.#tick
    }
    let created
    if (o.policy === 's3fifo') {
      this.#freq = new Uint8Array(0)
      this.#victimLimits = new Uint8Array(BATCH_SIZE)
      this.#s3Weighted = o.maxSize !== Infinity
      if (this.#s3Weighted) this.#logSizes = new Float64Array(LOG_SIZE / 2)
      if (typeof options[kS3Batch] === 'number') this.#s3Batch = options[kS3Batch]
      // Grows with the slots (#newSlot), 32 bits per slot.
      this.#ghostFilter = new Uint8Array(64)
      this.#ghostMask = 64 * 8 - 1
      created = native.lruCreateS3Fifo(this.#s3Weighted ? o.maxSize : o.max, this.#s3Weighted)
      this.#s3SmallCapacity = created[2]
    } else {
      created = native.lruCreate()
    }
    this.#updatePlain()

    const [id, owner] = created
    this.#id = id
    this.#owner = owner
    this.#cell = liveCaches.add(this, { entries: 0, bytes: () => native.lruNativeBytes(id) })
  }

  // ---------------------------------------------------------------- Map API

  /** Number of entries (expired entries count until they are removed). */
  get size() {
    return this.#map.size
  }

  get [Symbol.toStringTag]() {
    return 'LRU'
  }

  /** A shared store's name; this storage has none. */
  get name() {
    return undefined
  }

  get(key, options) {
    if (options !== undefined) return this.#getWith(key, options)
    const slot = this.#map.get(key)
    if (slot === undefined) {
      this.#misses++
      return undefined
    }
    if (this.#expires !== null) return this.#getTimed(slot)
    const freq = this.#freq
    if (freq !== null) {
      this.#hits++
      if (freq[slot] < S3_FREQ_MAX) freq[slot]++
      return this.#vals[slot]
    }
    const tick = ++this.#tick
    this.#stamps[slot] = tick
    if (tick === STAMP_LIMIT) this.#renumber()
    return this.#vals[slot]
  }

  #getTimed(slot) {
    return this.#getTimedWith(slot, this.#allowStale, this.#updateAgeOnGet, this.#noDeleteOnStaleGet, undefined)
  }

  #getTimedWith(slot, allowStale, updateAgeOnGet, noDeleteOnStaleGet, status) {
    const now = this.#now()
    if (this.#expires[slot] < now) {
      this.#misses++
      const value = this.#vals[slot]
      if (status !== undefined) {
        status.get = 'stale'
        if (allowStale) status.returnedStale = true
        this.#statusTTL(status, slot, now)
      }
      if (!noDeleteOnStaleGet && this.#disposing === 0) {
        const queue = this.#notify ? [] : null
        this.#removeSlot(slot, 'expire', queue)
        if (queue !== null) this.#dispose(queue)
      }
      return allowStale ? value : undefined
    }
    this.#touch(slot)
    if (this.#freq !== null) this.#hits++
    if (updateAgeOnGet) this.#restartTTL(slot, now)
    if (status !== undefined) {
      status.get = 'hit'
      this.#statusTTL(status, slot, now)
    }
    return this.#vals[slot]
  }

  /** `get` with lru-cache's per-call options. */
  #getWith(key, options) {
    options = readOptions(options)
    const { allowStale = this.#allowStale, updateAgeOnGet = this.#updateAgeOnGet } = options
    const { noDeleteOnStaleGet = this.#noDeleteOnStaleGet, status } = options
    const slot = this.#map.get(key)
    if (slot === undefined) {
      this.#misses++
      if (status !== undefined) status.get = 'miss'
      return undefined
    }
    if (this.#expires !== null) return this.#getTimedWith(slot, allowStale, updateAgeOnGet, noDeleteOnStaleGet, status)
    this.#touch(slot)
    if (this.#freq !== null) this.#hits++
    if (status !== undefined) status.get = 'hit'
    return this.#vals[slot]
  }

  /** Restarts the TTL of `slot` at `now` (`updateAgeOnGet`, `updateAgeOnHas`). */
  #restartTTL(slot, now) {
    if (!(this.#ttls[slot] > 0)) return
    this.#setExpiry(slot, this.#ttls[slot], now)
    this.#log2(OP_EXPIRY + slot, 0)
  }

  /** Fills lru-cache's TTL fields of a `status` object. */
  #statusTTL(status, slot, now) {
    if (this.#expires === null || this.#ttls[slot] === 0) return
    status.ttl = this.#ttls[slot]
    status.start = this.#expires[slot] - this.#ttls[slot]
    status.now = now
    status.remainingTTL = this.#expires[slot] - now
  }

  has(key, options) {
    if (options !== undefined || this.#updateAgeOnHas) return this.#hasWith(key, options ?? {})
    const slot = this.#map.get(key)
    return slot !== undefined && !this.#isExpired(slot)
  }

  #hasWith(key, options) {
    options = readOptions(options)
    const { updateAgeOnHas = this.#updateAgeOnHas, status } = options
    const slot = this.#map.get(key)
    if (slot === undefined) {
      if (status !== undefined) status.has = 'miss'
      return false
    }
    if (this.#expires === null) {
      if (status !== undefined) status.has = 'hit'
      return true
    }
    const now = this.#now()
    if (this.#expires[slot] < now) {
      if (status !== undefined) {
        status.has = 'stale'
        this.#statusTTL(status, slot, now)
      }
      return false
    }
    if (updateAgeOnHas) this.#restartTTL(slot, now)
    if (status !== undefined) {
      status.has = 'hit'
      this.#statusTTL(status, slot, now)
    }
    return true
  }

  /** Value of `key` without making it more recently used. */
  peek(key, options) {
    const allowStale = allowStaleOf(options, this.#allowStale)
    const slot = this.#map.get(key)
    if (slot === undefined) return undefined
    if (this.#isExpired(slot) && !allowStale) return undefined
    return this.#vals[slot]
  }

  set(key, value, options) {
    if (options === undefined && this.#plain && (this.#inflight === null || this.#inflight.size === 0)) {
      // Fast path of a cache with only `max`: what #store does, minus the
      // sizes, expiry times and onEvict it does not have.
      this.#sets++
      let slot = this.#map.get(key)
      if (slot !== undefined) {
        this.#vals[slot] = value
        this.#touch(slot)
        return this
      }
      if (this.#map.size >= this.#max) {
        // Reuse the victim's slot. Stamping it is all Rust needs to know:
        // a victim's slot with a new stamp holds a live entry of that stamp.
        slot = this.#freq === null ? this.#lruVictim() : this.#nextVictim(0)
        this.#map.delete(this.#keys[slot])
        this.#evictions++
        this.#keys[slot] = key
        this.#vals[slot] = value
        this.#map.set(key, slot)
        // S3-FIFO logs the insert (with the key's hash for the ghost).
        if (this.#freq === null) this.#stamp(slot)
        else this.#insertStamp(slot)
        return this
      }
      slot = this.#takeSlot()
      this.#cell.entries++
      this.#keys[slot] = key
      this.#vals[slot] = value
      this.#map.set(key, slot)
      this.#insertStamp(slot)
      return this
    }
    // Out of line, so that set() stays small enough to be inlined.
    this.#setWith(key, value, options)
    return this
  }

  /** set() with options, sizes, TTLs or callbacks. */
  #setWith(key, value, options) {
    let ttl = this.#ttl
    let size = 0
    let expiresAt
    let sizeCalculation = this.#sizeCalculation
    // A number is the entry's TTL in ms, as keyv passes it.
    if (typeof options === 'number') options = { ttl: options }
    if (options !== undefined) {
      checkOptions(options)
      if (options.ttl !== undefined) ttl = parseEntryTTL(options.ttl, 'options.ttl')
      if (options.size !== undefined) {
        if (this.#sizes === null) throw noSizes('options.size', options.size)
        size = this.#checkSize(options.size, 'options.size')
      }
      if (options.sizeCalculation !== undefined) {
        if (this.#sizes === null) throw noSizes('options.sizeCalculation', options.sizeCalculation)
        if (typeof options.sizeCalculation !== 'function') {
          throw invalidArgType('options.sizeCalculation', 'of type function', options.sizeCalculation)
        }
        sizeCalculation = options.sizeCalculation
      }
      if (options.start !== undefined && ttl > 0) {
        expiresAt = +options.start + ttl
        if (Number.isNaN(expiresAt)) throw invalidArgType('options.start', 'of type number', options.start)
      }
    }
    if (this.#sizes !== null && size === 0) size = this.#calculateSize(value, key, sizeCalculation)
    this.#store(key, value, size, ttl, expiresAt, options)
  }

  delete(key) {
    if (this.#plain && this.#inflight === null && this.#freq === null) {
      // Fast path of a cache with only `max`: what #removeSlot does, minus
      // the sizes, expiry, callbacks and log it does not have.
      const slot = this.#map.get(key)
      if (slot === undefined) return false
      this.#unlink(slot, key)
      return true
    }
    return this.#deleteWith(key)
  }

  #deleteWith(key) {
    if (this.#disposing !== 0) throw reentrant('delete')
    this.#abortFetch(key, 'deleted')
    const slot = this.#map.get(key)
    if (slot === undefined) return false
    const expired = this.#isExpired(slot)
    const queue = this.#notify ? [] : null
    this.#removeSlot(slot, expired ? 'expire' : 'delete', queue)
    if (queue !== null) this.#dispose(queue)
    return !expired
  }

  clear() {
    if (this.#disposing !== 0) throw reentrant('clear')
    const queue = this.#notify ? [] : null
    if (queue !== null) {
      // Least recently used first, as lru-cache disposes them.
      const slots = [...this.#orderedSlots()].reverse()
      for (const slot of slots) this.#drop(queue, this.#vals[slot], this.#keys[slot], 'clear')
    }
    if (this.#inflight !== null) this.#inflight.abortAll('deleted')
    this.#clearTimers()
    this.#map.clear()
    this.#cell.entries = 0
    this.#keys = []
    this.#vals = []
    this.#used = 0
    this.#freshFrom = 0
    this.#freeSlot = -1
    this.#stamps = new Uint32Array(0)
    if (this.#freq !== null) this.#freq = new Uint8Array(0)
    this.#tickOffset += this.#tick
    this.#tick = 0
    if (this.#sizes !== null) this.#sizes = new Float64Array(0)
    if (this.#expires !== null) this.#initTTL()
    this.#calculatedSize = 0
    this.#logLen = 0
    this.#vi = this.#vn = this.#expiredInBatch = 0
    this.#nextExpiry = Infinity
    native.lruReset(this.#id)
    if (queue !== null) this.#dispose(queue)
  }

  *keys() {
    for (const slot of this.#liveSlots()) yield this.#keys[slot]
  }

  *values() {
    for (const slot of this.#liveSlots()) yield this.#vals[slot]
  }

  *entries() {
    for (const slot of this.#liveSlots()) yield [this.#keys[slot], this.#vals[slot]]
  }

  [Symbol.iterator]() {
    return this.entries()
  }

  forEach(callback, thisArg) {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback)
    for (const slot of this.#liveSlots()) callback.call(thisArg, this.#vals[slot], this.#keys[slot], this)
  }

  // ------------------------------------------------------------ LRU extras

  get max() {
    return this.#max
  }

  get maxSize() {
    return this.#maxSize
  }

  get calculatedSize() {
    return this.#calculatedSize
  }

  /** Removes and returns the least recently used `[key, value]`. */
  pop() {
    if (this.#disposing !== 0) throw reentrant('pop')
    while (this.#map.size > 0) {
      let slot
      if (this.#freq !== null) {
        // The entry eviction would take next.
        slot = this.#nextVictim(this.#now())
      } else {
        slot = native.lruOldest(this.#id, this.#log, this.#logLen, this.#stamps, this.#expires ?? undefined, this.#used)
        this.#replayed()
      }
      if (slot < 0) break
      const entry = [this.#keys[slot], this.#vals[slot]]
      // Evicted: a load of it in flight is for nobody, as in lru-cache.
      this.#abortFetch(entry[0], 'evicted')
      const expired = this.#isExpired(slot)
      const queue = this.#notify ? [] : null
      this.#removeSlot(slot, expired ? 'expire' : 'evict', queue, true)
      if (queue !== null) this.#dispose(queue)
      if (!expired) return entry
    }
    return undefined
  }

  /** Changes `max` and evicts down to it at once. */
  resize(max) {
    validateInteger(max, 'max', 1, Number.MAX_SAFE_INTEGER)
    if (this.#disposing !== 0) throw reentrant('resize')
    const now = this.#now()
    this.#max = max
    if (this.#freq !== null && !this.#s3Weighted) native.lruS3SetCapacity(this.#id, max)
    const queue = this.#notify ? [] : null
    while (this.#map.size > this.#max) this.#evictOne(queue, false, now)
    if (queue !== null) this.#dispose(queue)
  }

  /** Milliseconds `key` has left to live: `Infinity` without TTL, 0 if absent. */
  getRemainingTTL(key) {
    const slot = this.#map.get(key)
    if (slot === undefined) return 0
    if (this.#expires === null || this.#expires[slot] === Infinity) return Infinity
    return Math.max(0, this.#expires[slot] - this.#perf.now())
  }

  /** Removes every expired entry; returns how many. */
  purgeStale() {
    if (this.#expires === null) return 0
    if (this.#disposing !== 0) throw reentrant('purgeStale')
    const now = this.#now()
    const queue = this.#notify ? [] : null
    let removed = 0
    for (const slot of this.#map.values()) {
      if (this.#expires[slot] < now) {
        this.#removeSlot(slot, 'expire', queue)
        removed++
      }
    }
    if (queue !== null) this.#dispose(queue)
    return removed
  }

  stats() {
    // Replayed first, so that the native bytes count every entry.
    if (this.#logLen > 0 || (this.#freq === null && this.#used !== this.#freshFrom)) this.#sync()
    return {
      hits: this.#freq !== null ? this.#hits : this.#tick + this.#tickOffset - this.#sets,
      misses: this.#misses,
      sets: this.#sets,
      evictions: this.#evictions,
      expirations: this.#expirations,
      size: this.#map.size,
      calculatedSize: this.#calculatedSize,
      externalBytes: native.lruNativeBytes(this.#id),
    }
  }

  /**
   * Value of `key`; on a miss, loads it with `fetcher` (or the `fetchMethod`
   * option) once, however many callers ask at the same time.
   */
  fetch(key, options) {
    return runFetch(this, this.#fetchHost(), key, options)
  }

  /** `fetch`, rejecting when the result is `undefined` (lru-cache's forceFetch). */
  forceFetch(key, options) {
    return forceFetch(this, key, options)
  }

  #host = null

  #fetchHost() {
    if (this.#host !== null) return this.#host
    this.#host = fetchHost(this.#fetchMethod, this.#allowStale, this.#fetchDefaults, {
      inflight: () => (this.#inflight ??= new Inflight()),
      lookup: (key) => {
        const slot = this.#map.get(key)
        return slot === undefined ? undefined : { value: this.#vals[slot], stale: this.#isExpired(slot) }
      },
      remove: (key) => {
        const slot = this.#map.get(key)
        if (slot === undefined) return
        const queue = this.#notify ? [] : null
        this.#removeSlot(slot, 'fetch', queue)
        if (queue !== null) this.#dispose(queue)
      },
      miss: () => {
        this.#misses++
      },
    })
    return this.#host
  }

  /**
   * The value of `key`; on a miss, `memoMethod(key, staleValue, { options,
   * context })` computes it, synchronously, and it is stored.
   */
  memo(key, options = {}) {
    return runMemo(this, this.#memoMethod, key, options)
  }

  /** Keys, least recently used first. */
  *rkeys() {
    for (const slot of this.#liveSlots(true)) yield this.#keys[slot]
  }

  /** Values, least recently used first. */
  *rvalues() {
    for (const slot of this.#liveSlots(true)) yield this.#vals[slot]
  }

  /** Entries, least recently used first. */
  *rentries() {
    for (const slot of this.#liveSlots(true)) yield [this.#keys[slot], this.#vals[slot]]
  }

  /** `forEach`, least recently used first. */
  rforEach(callback, thisArg) {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback)
    for (const slot of this.#liveSlots(true)) callback.call(thisArg, this.#vals[slot], this.#keys[slot], this)
  }

  /**
   * The value of the first entry (most recently used first) for which
   * `fn(value, key, cache)` is truthy, read with `get(key, options)`.
   */
  find(fn, options) {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn)
    for (const slot of this.#liveSlots()) {
      const key = this.#keys[slot]
      if (fn(this.#vals[slot], key, this)) return this.get(key, options)
    }
    return undefined
  }

  /**
   * `{ value, ttl?, start?, size? }` of a live `key` (as one `dump()`
   * entry, `ttl` being what is left), or `undefined`.
   */
  info(key) {
    const slot = this.#map.get(key)
    if (slot === undefined || this.#isExpired(slot)) return undefined
    const entry = { value: this.#vals[slot] }
    if (this.#expires !== null && this.#expires[slot] !== Infinity) {
      entry.ttl = this.#expires[slot] - this.#perf.now()
      entry.start = Date.now()
    }
    if (this.#sizes !== null) entry.size = this.#sizes[slot]
    return entry
  }

  /**
   * Entries as `[key, { value, ttl?, start?, size? }]`, least recently used
   * first (under S3-FIFO: the reverse of `keys()`).
   */
  dump() {
    const out = []
    const epochOffset = Date.now() - this.#perf.now()
    for (const slot of this.#liveSlots()) {
      const entry = { value: this.#vals[slot] }
      if (this.#expires !== null && this.#expires[slot] !== Infinity) {
        entry.ttl = this.#ttls[slot]
        entry.start = this.#expires[slot] - this.#ttls[slot] + epochOffset
      }
      if (this.#sizes !== null) entry.size = this.#sizes[slot]
      out.push([this.#keys[slot], entry])
    }
    return out.reverse()
  }

  /** Sets entries from `dump()` output, in order; expired ones are skipped. */
  load(entries) {
    // A size is checked (or calculated) before anything is stored.
    loadEntries(
      entries,
      this.#perf,
      (key, entry, i) => {
        let size = entry.size === undefined ? 0 : this.#checkSize(entry.size, `entries[${i}].size`)
        if (this.#sizes !== null && size === 0) size = this.#calculateSize(entry.value, key)
        return size
      },
      ({ key, value, ttl, expiresAt, extra: size }) => this.#store(key, value, size, ttl, expiresAt),
    )
  }

  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    const name = `LRU(${this.#map.size}/${this.#max === Infinity ? `${this.#maxSize} bytes` : this.#max})`
    if (depth < 0) return `[${name}]`
    const shown = []
    let n = 0
    for (const [k, v] of this) {
      if (n++ === 20) {
        shown.push(`... ${this.#map.size - 20} more`)
        break
      }
      shown.push(`${inspect(k, { ...options, depth: depth - 1 })} => ${inspect(v, { ...options, depth: depth - 1 })}`)
    }
    return `${name} { ${shown.join(', ')} }`
  }

  // -------------------------------------------------------------- internals

  #initTTL() {
    this.#expires = new Float64Array(this.#stamps.length).fill(Infinity)
    this.#ttls = new Float64Array(this.#stamps.length)
    this.#updatePlain()
  }

  /** Whether `set` can take its fast path: no sizes, TTLs or callbacks. */
  #updatePlain() {
    this.#plain = this.#sizes === null && this.#expires === null && !this.#notify && this.#onInsert === undefined
  }

  #isExpired(slot) {
    return this.#expires !== null && this.#expires[slot] < this.#perf.now()
  }

  /**
   * The clock when the cache tracks expiry, else 0. Read (and made a number)
   * before an operation changes anything, so that a clock that throws
   * leaves the cache as it was.
   */
  #now() {
    return this.#expires === null ? 0 : +this.#perf.now()
  }

  /** Makes `slot` the most recently used (S3-FIFO: bumps its counter). */
  #touch(slot) {
    const freq = this.#freq
    if (freq !== null) {
      if (freq[slot] < S3_FREQ_MAX) freq[slot]++
      return
    }
    this.#stamp(slot)
  }

  /** Makes `slot` the most recently used ('lru' only). */
  #stamp(slot) {
    const tick = ++this.#tick
    this.#stamps[slot] = tick
    if (tick === STAMP_LIMIT) this.#renumber()
  }

  /** Stamps a new entry and logs its insertion. */
  #insertStamp(slot) {
    if (this.#freq !== null) {
      // Stamps only tell entries in one slot apart: they may wrap.
      let tick = ++this.#tick
      if (tick === STAMP_LIMIT) tick = this.#tick = 1
      this.#stamps[slot] = tick
      this.#freq[slot] = 0
      const hash = keyHash(this.#keys[slot])
      // A key that may be in the ghost ends the batch of victims (both of
      // its bits set: see filter_positions in core/src/s3fifo.rs; the
      // filter is never shorter than a block of 512 bits).
      const filter = this.#ghostFilter
      const a = hash & this.#ghostMask
      const b = (a & ~511) | (Math.imul(hash, 0x9e3779b1) >>> 23)
      if ((filter[a >>> 3] & (1 << (a & 7))) !== 0 && (filter[b >>> 3] & (1 << (b & 7))) !== 0) {
        this.#vn = this.#vi
      }
      // So does an entry too heavy for the small queue, which goes to main.
      if (this.#s3Weighted && this.#sizes[slot] > this.#s3SmallCapacity) this.#vn = this.#vi
      this.#log2(OP_INSERT + slot, hash)
      return
    }
    const tick = ++this.#tick
    this.#stamps[slot] = tick
    // A slot handed out since the last replay is filed by Rust from `#used`.
    if (slot < this.#freshFrom) this.#log2(OP_INSERT + slot, tick)
    if (tick === STAMP_LIMIT) this.#renumber()
  }

  /** Appends one (word, word) pair to the log. */
  #log2(op, stamp) {
    const log = this.#log
    if (this.#logSizes !== null) this.#logSizes[this.#logLen >> 1] = this.#sizes[op & MAX_SLOTS]
    log[this.#logLen] = op
    log[this.#logLen + 1] = stamp
    this.#logLen += 2
    if (this.#logLen === LOG_SIZE) this.#sync()
  }

  #sync() {
    if (this.#freq !== null) {
      this.#s3Order(EMPTY_ORDER)
      return
    }
    native.lruApply(this.#id, this.#log, this.#logLen, this.#stamps, this.#expires ?? undefined, this.#used)
    this.#replayed()
  }

  /**
   * Rust has replayed the log and, told `#used`, filed the slots handed out
   * since the last replay ('lru'; S3-FIFO logs every insert).
   */
  #replayed() {
    this.#logLen = 0
    this.#freshFrom = this.#used
  }

  #renumber() {
    const before = this.#tick
    this.#tick = native.lruRenumber(
      this.#id,
      this.#log,
      this.#logLen,
      this.#stamps,
      this.#expires ?? undefined,
      this.#used,
    )
    this.#replayed()
    this.#tickOffset += before - this.#tick
    // Victims were handed out with the old stamps.
    this.#vi = this.#vn = this.#expiredInBatch = 0
  }

  #checkSize(size, name) {
    if (typeof size !== 'number') throw invalidArgType(name, 'of type number', size)
    if (!Number.isSafeInteger(size) || size < 1) throw outOfRange(name, 'a positive integer', size)
    return size
  }

  #calculateSize(value, key, sizeCalculation = this.#sizeCalculation) {
    if (sizeCalculation === undefined) {
      throw invalidArgValue(
        'options.size',
        'is required by set() when the cache has maxSize but no sizeCalculation',
        undefined,
      )
    }
    const size = sizeCalculation(value, key)
    if (typeof size !== 'number') throw invalidArgType('sizeCalculation(value, key) result', 'of type number', size)
    if (!Number.isSafeInteger(size) || size < 1) {
      throw outOfRange('sizeCalculation(value, key) result', 'a positive integer', size)
    }
    return size
  }

  #setExpiry(slot, ttl, now) {
    this.#ttls[slot] = ttl
    const at = ttl > 0 ? now + ttl : Infinity
    this.#expires[slot] = at
    if (at < this.#nextExpiry) this.#nextExpiry = at
  }

  /**
   * Stores a checked entry; `expiresAt` overrides `ttl` (used by `load` and
   * `start`). `call` holds set()'s per-call options, if any.
   */
  #store(key, value, size, ttl, expiresAt, call) {
    if (this.#disposing !== 0) throw reentrant('set')
    const status = call?.status
    const noDisposeOnSet = call?.noDisposeOnSet === true
    const queue = this.#notify ? [] : null
    if (size > this.#maxEntrySize) {
      // Too big to keep: drop any older value of the key, keep nothing.
      const old = this.#map.get(key)
      if (old !== undefined) this.#removeSlot(old, 'set', queue)
      if (status !== undefined) {
        status.set = 'miss'
        status.maxEntrySizeExceeded = true
      }
      if (queue !== null) {
        this.#drop(queue, value, key, 'set')
        this.#dispose(queue)
      }
      return
    }
    if ((ttl > 0 || expiresAt !== undefined) && this.#expires === null) this.#initTTL()
    const now = this.#now()
    if (this.#inflight !== null) this.#abortFetch(key, 'replaced')
    this.#sets++
    let slot = this.#map.get(key)
    let inserted = false
    let insertReason = 'add'
    const noUpdateTTL = slot !== undefined && (call?.noUpdateTTL ?? this.#noUpdateTTL)
    if (slot !== undefined) {
      const old = this.#vals[slot]
      // Most recently used, then dispose sees the old value in the cache, as in lru-cache.
      this.#touch(slot)
      if (queue !== null && old !== value && !noDisposeOnSet) this.#drop(queue, old, key, 'set')
      this.#vals[slot] = value
      insertReason = old === value ? 'update' : 'replace'
      if (status !== undefined) {
        status.set = insertReason
        if (old !== value) status.oldValue = old
      }
    } else {
      if (status !== undefined) status.set = 'add'
      inserted = true
      if (this.#map.size >= this.#max) {
        // Reuse the victim's slot: recording it as set moves it to the front,
        // which is all Rust needs to know.
        slot = this.#evictOne(queue, true, now)
      } else {
        slot = this.#takeSlot()
        this.#cell.entries++
      }
      this.#keys[slot] = key
      this.#vals[slot] = value
      this.#map.set(key, slot)
    }
    if (this.#sizes !== null) {
      // S3-FIFO: a queue's weight changes, which may change where the next
      // victims come from: the batch ends.
      if (this.#s3Weighted && !inserted && this.#sizes[slot] !== size) this.#vn = this.#vi
      this.#calculatedSize += size - this.#sizes[slot]
      this.#sizes[slot] = size
    }
    if (this.#expires !== null && !noUpdateTTL) {
      if (expiresAt !== undefined) {
        this.#ttls[slot] = ttl
        this.#expires[slot] = expiresAt
        if (expiresAt < this.#nextExpiry) this.#nextExpiry = expiresAt
      } else {
        this.#setExpiry(slot, ttl, now)
      }
    }
    if (inserted) this.#insertStamp(slot)
    // S3-FIFO rereads the entry's size and expiry.
    else if ((this.#expires !== null && !noUpdateTTL) || this.#freq !== null) this.#log2(OP_EXPIRY + slot, 0)
    if (status !== undefined) {
      this.#statusTTL(status, slot, now)
      if (this.#sizes !== null) {
        status.entrySize = size
        status.totalCalculatedSize = this.#calculatedSize
      }
    }
    if (this.#ttlAutopurge && this.#expires !== null && this.#ttls[slot] > 0 && !noUpdateTTL) {
      this.#schedulePurge(key, this.#expires[slot] - now)
    }
    while (this.#calculatedSize > this.#maxSize) this.#evictOne(queue, false, now)
    try {
      if (this.#onInsert !== undefined) this.#onInsert(value, key, insertReason)
    } finally {
      if (queue !== null) this.#dispose(queue)
    }
  }

  /**
   * ttlAutopurge: removes `key` once it has expired, from a timer that does
   * not keep the process alive. One timer per key, replaced on each set.
   */
  #schedulePurge(key, delay) {
    if (this.#timers === null) this.#timers = new Map()
    const previous = this.#timers.get(key)
    if (previous !== undefined) clearTimeout(previous)
    const timer = setTimeout(
      () => {
        if (this.#timers.get(key) !== timer) return
        this.#timers.delete(key)
        const slot = this.#map.get(key)
        if (slot === undefined) return
        if (!this.#isExpired(slot)) {
          // Early: a timer is due by the event loop's clock, which can lag
          // the cache's. Wait for what is left, else it is never purged.
          const left = this.#expires[slot] - this.#now()
          if (left !== Infinity) this.#schedulePurge(key, left)
          return
        }
        const queue = this.#notify ? [] : null
        this.#removeSlot(slot, 'expire', queue)
        if (queue !== null) this.#dispose(queue)
      },
      Math.max(0, delay) + 1,
    )
    timer.unref()
    this.#timers.set(key, timer)
  }

  #clearTimers() {
    if (this.#timers === null) return
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }

  /** A free slot, or a new one. */
  #takeSlot() {
    const slot = this.#freeSlot
    if (slot < 0) return this.#newSlot()
    this.#freeSlot = this.#vals[slot]
    return slot
  }

  #newSlot() {
    const slot = this.#used++
    if (slot > MAX_SLOTS) throw leaklessError(RangeError, 'ERR_LEAKLESS_TOO_MANY_ENTRIES', 'LRU slot space exhausted')
    if (slot >= this.#stamps.length) {
      const capacity = Math.min(Math.max(16, this.#stamps.length * 2), this.#max, MAX_SLOTS + 1)
      // Keys and values grow with the stamps, by doubling up to `max`, which
      // is where a bounded cache stops: no room is left over once full.
      // Setting the length grows the backing store once, where a push per
      // slot regrew it by half each time and copied it once more when full.
      this.#keys.length = capacity
      this.#vals.length = capacity
      this.#stamps = grow(this.#stamps, capacity, 0)
      if (this.#freq !== null) {
        this.#freq = grow(this.#freq, capacity, 0)
        if (capacity * 4 > this.#ghostFilter.length) {
          // Rust writes the ghost's filter whole into an array of a new
          // length; until then this one flags nothing, so end the batch.
          const log2 = Math.ceil(Math.log2(capacity * 32))
          this.#ghostFilter = new Uint8Array(2 ** (log2 - 3))
          this.#ghostMask = 2 ** log2 - 1
          this.#vn = this.#vi
        }
      }
      if (this.#sizes !== null) this.#sizes = grow(this.#sizes, capacity, 0)
      if (this.#expires !== null) {
        this.#expires = grow(this.#expires, capacity, Infinity)
        this.#ttls = grow(this.#ttls, capacity, 0)
      }
    }
    return slot
  }

  /**
   * Evicts the exact least recently used entry (or an expired one first).
   * With `reuse`, the slot is returned still linked, for the caller to fill.
   * `now` is the operation's clock (`#now()`).
   */
  #evictOne(queue, reuse, now) {
    const slot = this.#nextVictim(now)
    const expired = this.#expires !== null && this.#expires[slot] < now
    // Removed to make room: a refresh of it in flight is for nobody.
    if (this.#inflight !== null) this.#inflight.abort(this.#keys[slot], 'evicted')
    if (!reuse) {
      this.#removeSlot(slot, expired ? 'expire' : 'evict', queue, true)
      return slot
    }
    const key = this.#keys[slot]
    if (queue !== null) this.#drop(queue, this.#vals[slot], key, expired ? 'expire' : 'evict')
    if (expired) this.#expirations++
    else this.#evictions++
    this.#map.delete(key)
    if (this.#sizes !== null) {
      this.#calculatedSize -= this.#sizes[slot]
      this.#sizes[slot] = 0
    }
    return slot
  }

  /**
   * #nextVictim for set()'s fast path under 'lru', whose caller stamps the
   * slot next. While no entry was read, replaced, inserted or removed since
   * the batch was picked, every victim left in it still has the stamp it had
   * then: the next one is exact without reading its stamp, which is the one
   * memory access of an eviction that nothing else needs.
   */
  #lruVictim() {
    const i = this.#vi
    let slot
    if (i < this.#vn && this.#tick === this.#cleanTick) {
      this.#vi = i + 1
      slot = this.#victims[i]
    } else {
      slot = this.#nextVictim(0)
      if (this.#tick !== this.#cleanTick) return slot
    }
    this.#cleanTick++
    return slot
  }

  /** The slot of the exact next victim, taken from the current batch, at clock `now`. */
  #nextVictim(now) {
    for (;;) {
      if (
        this.#vi >= this.#vn ||
        (this.#expires !== null && this.#vi >= this.#expiredInBatch && this.#nextExpiry < now)
      ) {
        this.#refill(now)
        if (this.#vn === 0) throw new Error('leakless: LRU has entries but no victim (internal error)')
      }
      const i = this.#vi++
      const slot = this.#victims[i]
      if (this.#stamps[slot] !== this.#victimStamps[i]) continue
      if (this.#freq === null) return slot
      const limit = this.#victimLimits[i]
      if (this.#freq[slot] >= limit) {
        // A read since the batch was picked saved this victim: the policy
        // now moves it to main, which may change where the next victims
        // come from. End the batch; Rust puts the rest back in order.
        this.#vn = this.#vi
        continue
      }
      // An entry evicted from small goes to the ghost when Rust replays the
      // log; Rust flagged its key in the filter already, so that inserting
      // it again before then ends the batch as a ghost hit would.
      return slot
    }
  }

  /** Calls an S3-FIFO entry point with the arguments they share, then `rest`. */
  #s3Call(entry, ...rest) {
    const sizes = this.#logSizes ?? undefined
    return entry(
      this.#id,
      this.#log,
      this.#logLen,
      this.#stamps,
      this.#expires ?? undefined,
      this.#freq,
      sizes,
      ...rest,
    )
  }

  #refill(now) {
    if (this.#freq !== null) {
      // As many victims as the last batch used, twice over: a batch ended
      // early by a possible ghost hit is not worth picking far ahead.
      const want = Math.min(this.#s3Batch, Math.max(2, 2 * this.#vi))
      this.#vn = this.#s3Call(
        native.lruS3Refill,
        this.#victims,
        this.#victimStamps,
        this.#victimLimits,
        now,
        this.#meta,
        want,
        this.#ghostFilter,
      )
    } else {
      this.#vn = native.lruRefill(
        this.#id,
        this.#log,
        this.#logLen,
        this.#stamps,
        this.#expires ?? undefined,
        this.#victims,
        this.#victimStamps,
        now,
        this.#meta,
        this.#used,
      )
      this.#cleanTick = this.#tick
    }
    this.#replayed()
    this.#vi = 0
    this.#expiredInBatch = this.#meta[0]
    this.#nextExpiry = this.#meta[1]
  }

  /**
   * Removes the entry in `slot` entirely; reports it when `queue`. `victim`:
   * it is the victim #nextVictim just gave.
   */
  #removeSlot(slot, reason, queue, victim = false) {
    const key = this.#keys[slot]
    if (queue !== null) this.#drop(queue, this.#vals[slot], key, reason)
    if (reason === 'evict') this.#evictions++
    else if (reason === 'expire') this.#expirations++
    this.#unlink(slot, key)
    if (this.#sizes !== null) {
      this.#calculatedSize -= this.#sizes[slot]
      this.#sizes[slot] = 0
    }
    // Rust notices a zeroed stamp by itself; only the expiry index (and
    // the S3-FIFO queues) need telling.
    if (this.#expires !== null || this.#freq !== null) {
      if (this.#expires !== null) this.#expires[slot] = Infinity
      // S3-FIFO: a victim's key goes to the ghost, a deleted entry's not.
      this.#log2(OP_DELETE + slot, victim && reason === 'evict' && this.#freq !== null ? S3_EVICTED : 0)
      // S3-FIFO: the queues shrink, which may change where the next victims
      // come from: the batch ends. ('lru' skips a deleted victim by its
      // zeroed stamp.)
      if (!victim && this.#freq !== null) this.#vn = this.#vi
    }
  }

  /**
   * Takes `key` (in `slot`) out of the map and puts the slot on the free
   * list: a zeroed stamp is all the recency core needs to know.
   */
  #unlink(slot, key) {
    this.#map.delete(key)
    this.#cell.entries--
    this.#keys[slot] = undefined
    this.#vals[slot] = this.#freeSlot
    this.#freeSlot = slot
    this.#stamps[slot] = 0
    this.#cleanTick = -1
  }

  /**
   * Slots of every entry, expired ones included, most recently used first
   * (under S3-FIFO: main newest first, then small newest first).
   */
  #orderedSlots() {
    const n = this.#map.size
    if (n === 0) return new Uint32Array(0)
    const order = new Uint32Array(n)
    let count
    if (this.#freq !== null) {
      count = this.#s3Order(order)
    } else {
      count = native.lruOrder(
        this.#id,
        this.#log,
        this.#logLen,
        this.#stamps,
        this.#expires ?? undefined,
        order,
        this.#used,
      )
      this.#replayed()
    }
    return order.subarray(0, count)
  }

  /**
   * S3-FIFO: replays the log and writes the order into `out` (nothing when
   * empty). Victims of the current batch go back to their queues.
   */
  #s3Order(out) {
    const count = this.#s3Call(native.lruS3Order, out, this.#ghostFilter)
    this.#replayed()
    this.#vi = this.#vn = this.#expiredInBatch = 0
    return count
  }

  /**
   * Reports an entry about to leave the cache: calls `dispose` now, while
   * the entry is still there (as lru-cache does), and queues it for the
   * callbacks that run after the operation. An error thrown by `dispose`
   * is kept on the queue: the operation completes, then `#dispose` throws it.
   */
  #drop(queue, value, key, reason) {
    if (this.#disposeBefore !== undefined) {
      this.#disposing++
      try {
        this.#disposeBefore(value, key, reason)
      } catch (err) {
        if (queue.failed === undefined) queue.failed = { err }
      } finally {
        this.#disposing--
      }
    }
    queue.push(value, key, reason)
  }

  /**
   * Once the cache is consistent again: runs the queued disposeAfter and
   * onEvict calls, then throws the first error of a `dispose` call, if any.
   */
  #dispose(queue) {
    try {
      if (this.#onEvict !== undefined) callOnEvict(this.#onEvict, queue)
    } finally {
      // eslint-disable-next-line no-unsafe-finally
      if (queue.failed !== undefined) throw queue.failed.err
    }
  }

  #abortFetch(key, why) {
    if (this.#inflight !== null) this.#inflight.abort(key, why)
  }

  /**
   * Slots of live entries, most recently used first. The order is taken at
   * the start; entries deleted meanwhile are skipped, so mutating the cache
   * while iterating neither throws nor loops.
   */
  *#liveSlots(leastRecentFirst = false) {
    const order = this.#orderedSlots()
    const count = order.length
    if (leastRecentFirst) order.reverse()
    const keys = new Array(count)
    for (let i = 0; i < count; i++) keys[i] = this.#keys[order[i]]
    for (let i = 0; i < count; i++) {
      const slot = this.#map.get(keys[i])
      if (slot === undefined || this.#isExpired(slot)) continue
      yield slot
    }
  }
}

/** A change of the cache made from inside its own `dispose` callback. */
function reentrant(method) {
  return leaklessError(
    Error,
    'ERR_LEAKLESS_REENTRANT',
    `LRU.${method}() was called from inside dispose(), while an entry is being removed; use disposeAfter to change the cache`,
  )
}

/** set()'s `size` or `sizeCalculation` on a cache that does not track sizes. */
function noSizes(name, value) {
  return invalidArgValue(name, 'needs a cache created with maxSize, maxEntrySize or sizeCalculation', value)
}

const EMPTY_ORDER = new Uint32Array(0)

function grow(array, capacity, fillValue) {
  const next = new array.constructor(capacity)
  next.set(array)
  if (fillValue !== 0) next.fill(fillValue, array.length)
  return next
}

// `cache instanceof LRU` holds for off-heap caches too; every method is
// defined on OffHeapLRU, so none of LRU's heap methods is ever reached.
Object.setPrototypeOf(OffHeapLRU.prototype, LRU.prototype)
Object.setPrototypeOf(SharedLRU.prototype, LRU.prototype)

module.exports = { LRU }
