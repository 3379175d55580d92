'use strict'

// LRU with heap storage: a Map-compatible bounded cache.
//
// Layout: keys map to slot numbers in a JS `Map`; keys and values sit in JS
// arrays indexed by slot. Recency is a stamp per slot (`#stamps`, a
// Uint32Array): every access writes the next value of a counter. The order
// those stamps define, and the choice of victims, are worked out in Rust
// (core/src/recency.rs), which reads the stamps only when a victim or the
// order is needed. So a `get` never crosses into Rust and costs one store.
// Inserts and deletes are appended to `#log`, which Rust replays in batches.
// Victims come from Rust in batches with the stamps they had; the first one
// whose stamp is unchanged is the exact least recently used entry, so most
// evictions cost no crossing either.

const native = require('../common/native')
const { Inflight, pickFetcher } = require('./fetch')
const { liveCaches, callOnEvict } = require('./live')
const { OffHeapLRU } = require('./offheap')
const { SharedLRU } = require('./shared')
const { invalidArgType, invalidArgValue, leaklessError, outOfRange, validateInteger } = require('../common/errors')
const { parseOptions, parseEntryTTL, loadEntries } = require('./options')

// Log words come in pairs: (operation | slot, stamp). See core/src/recency.rs.
// Stamps are u32; before the counter reaches STAMP_LIMIT, Rust renumbers them.
// A JS Map holds at most 2**24 entries; slot numbers stay far below the
// MAX_SLOTS the log can carry.
const { OP_INSERT, OP_EXPIRY, OP_DELETE, STAMP_LIMIT, MAX_SLOT: MAX_SLOTS } = require('../common/protocol').recency
const LOG_SIZE = 1024
const BATCH_SIZE = 128
// Tests start the counter near the limit to exercise renumbering.
const { kTickStart } = require('./hooks')

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
  #free = []
  #stamps = new Uint32Array(0)
  #tick = 0
  #sizes = null
  #expires = null
  #ttls = null

  #log = new Uint32Array(LOG_SIZE)
  #logLen = 0
  #victims = new Uint32Array(BATCH_SIZE)
  #victimStamps = new Uint32Array(BATCH_SIZE)
  #vi = 0
  #vn = 0
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
  #updateAgeOnGet
  #allowStale
  #onEvict
  #sizeCalculation
  #fetchMethod
  #perf
  #inflight = null

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
    this.#ttl = o.ttl
    this.#updateAgeOnGet = o.updateAgeOnGet
    this.#allowStale = o.allowStale
    this.#onEvict = o.onEvict
    this.#sizeCalculation = o.sizeCalculation
    this.#fetchMethod = o.fetchMethod
    this.#perf = o.perf
    if (o.maxSize !== Infinity || o.sizeCalculation !== undefined) this.#sizes = new Float64Array(0)
    if (this.#ttl > 0) this.#initTTL()
    if (typeof options[kTickStart] === 'number') {
      this.#tick = options[kTickStart]
      this.#tickOffset = -this.#tick
    }
    this.#updatePlain()

    const [id, owner] = native.lruCreate()
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

  get(key) {
    const slot = this.#map.get(key)
    if (slot === undefined) {
      this.#misses++
      return undefined
    }
    if (this.#expires !== null) return this.#getTimed(slot)
    const tick = ++this.#tick
    this.#stamps[slot] = tick
    if (tick === STAMP_LIMIT) this.#renumber()
    return this.#vals[slot]
  }

  #getTimed(slot) {
    const now = this.#now()
    if (this.#expires[slot] <= now) {
      this.#misses++
      const value = this.#vals[slot]
      const queue = this.#onEvict === undefined ? null : []
      this.#removeSlot(slot, 'expire', queue)
      if (queue !== null) this.#dispose(queue)
      return this.#allowStale ? value : undefined
    }
    this.#touch(slot)
    if (this.#updateAgeOnGet) {
      this.#setExpiry(slot, this.#ttls[slot], now)
      this.#log2(OP_EXPIRY + slot, 0)
    }
    return this.#vals[slot]
  }

  has(key) {
    const slot = this.#map.get(key)
    return slot !== undefined && !this.#isExpired(slot)
  }

  /** Value of `key` without making it more recently used. */
  peek(key) {
    const slot = this.#map.get(key)
    if (slot === undefined) return undefined
    if (this.#isExpired(slot) && !this.#allowStale) return undefined
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
        slot = this.#nextVictim(0)
        this.#map.delete(this.#keys[slot])
        this.#evictions++
        this.#keys[slot] = key
        this.#vals[slot] = value
        this.#map.set(key, slot)
        this.#touch(slot)
        return this
      }
      slot = this.#free.length > 0 ? this.#free.pop() : this.#newSlot()
      this.#cell.entries++
      this.#keys[slot] = key
      this.#vals[slot] = value
      this.#map.set(key, slot)
      this.#insertStamp(slot)
      return this
    }
    let ttl = this.#ttl
    let size = 0
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') {
        throw invalidArgType('options', 'of type object', options)
      }
      if (options.ttl !== undefined) ttl = parseEntryTTL(options.ttl, 'options.ttl')
      if (options.size !== undefined) size = this.#checkSize(options.size, 'options.size')
    }
    if (this.#sizes !== null && size === 0) size = this.#calculateSize(value, key)
    this.#store(key, value, size, ttl, undefined)
    return this
  }

  delete(key) {
    this.#abortFetch(key)
    const slot = this.#map.get(key)
    if (slot === undefined) return false
    const expired = this.#isExpired(slot)
    const queue = this.#onEvict === undefined ? null : []
    this.#removeSlot(slot, expired ? 'expire' : 'delete', queue)
    if (queue !== null) this.#dispose(queue)
    return !expired
  }

  clear() {
    const queue = this.#onEvict === undefined ? null : []
    if (queue !== null) {
      for (const [key, slot] of this.#map) queue.push(this.#vals[slot], key, 'clear')
    }
    if (this.#inflight !== null) this.#inflight.abortAll()
    this.#map.clear()
    this.#cell.entries = 0
    this.#keys = []
    this.#vals = []
    this.#used = 0
    this.#free = []
    this.#stamps = new Uint32Array(0)
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
    while (this.#map.size > 0) {
      const slot = native.lruOldest(this.#id, this.#log, this.#logLen, this.#stamps, this.#expires ?? undefined)
      this.#logLen = 0
      if (slot < 0) break
      const entry = [this.#keys[slot], this.#vals[slot]]
      const expired = this.#isExpired(slot)
      const queue = this.#onEvict === undefined ? null : []
      this.#removeSlot(slot, expired ? 'expire' : 'evict', queue)
      if (queue !== null) this.#dispose(queue)
      if (!expired) return entry
    }
    return undefined
  }

  /** Changes `max` and evicts down to it at once. */
  resize(max) {
    validateInteger(max, 'max', 1, Number.MAX_SAFE_INTEGER)
    const now = this.#now()
    this.#max = max
    const queue = this.#onEvict === undefined ? null : []
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
    const now = this.#now()
    const queue = this.#onEvict === undefined ? null : []
    let removed = 0
    for (const slot of this.#map.values()) {
      if (this.#expires[slot] <= now) {
        this.#removeSlot(slot, 'expire', queue)
        removed++
      }
    }
    if (queue !== null) this.#dispose(queue)
    return removed
  }

  stats() {
    if (this.#logLen > 0) this.#sync()
    return {
      hits: this.#tick + this.#tickOffset - this.#sets,
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
  fetch(key, fetcher) {
    const chosen = pickFetcher(fetcher, this.#fetchMethod, invalidArgType)
    if (typeof chosen !== 'function') return chosen
    const slot = this.#map.get(key)
    if (slot !== undefined && !this.#isExpired(slot)) return Promise.resolve(this.get(key))
    if (this.#inflight === null) this.#inflight = new Inflight()
    const pending = this.#inflight.pending(key)
    if (pending !== undefined) return pending
    this.#misses++
    return this.#inflight.load(key, chosen, (value) => this.set(key, value))
  }

  /** Entries as `[key, { value, ttl?, start?, size? }]`, least recently used first. */
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

  /** Whether `set` can take its fast path: no sizes, TTLs or onEvict. */
  #updatePlain() {
    this.#plain = this.#sizes === null && this.#expires === null && this.#onEvict === undefined
  }

  #isExpired(slot) {
    return this.#expires !== null && this.#expires[slot] <= this.#perf.now()
  }

  /**
   * The clock when the cache tracks expiry, else 0. Read (and made a number)
   * before an operation changes anything, so that a clock that throws
   * leaves the cache as it was.
   */
  #now() {
    return this.#expires === null ? 0 : +this.#perf.now()
  }

  /** Makes `slot` the most recently used. */
  #touch(slot) {
    const tick = ++this.#tick
    this.#stamps[slot] = tick
    if (tick === STAMP_LIMIT) this.#renumber()
  }

  /** Stamps a new entry and logs its insertion. */
  #insertStamp(slot) {
    const tick = ++this.#tick
    this.#stamps[slot] = tick
    this.#log2(OP_INSERT + slot, tick)
    if (tick === STAMP_LIMIT) this.#renumber()
  }

  /** Appends one (word, word) pair to the log. */
  #log2(op, stamp) {
    const log = this.#log
    log[this.#logLen] = op
    log[this.#logLen + 1] = stamp
    this.#logLen += 2
    if (this.#logLen === LOG_SIZE) this.#sync()
  }

  #sync() {
    native.lruApply(this.#id, this.#log, this.#logLen, this.#stamps, this.#expires ?? undefined)
    this.#logLen = 0
  }

  #renumber() {
    const before = this.#tick
    this.#tick = native.lruRenumber(this.#id, this.#log, this.#logLen, this.#stamps, this.#expires ?? undefined)
    this.#logLen = 0
    this.#tickOffset += before - this.#tick
    // Victims were handed out with the old stamps.
    this.#vi = this.#vn = this.#expiredInBatch = 0
  }

  #checkSize(size, name) {
    if (typeof size !== 'number') throw invalidArgType(name, 'of type number', size)
    if (!Number.isSafeInteger(size) || size < 1) throw outOfRange(name, 'a positive integer', size)
    return size
  }

  #calculateSize(value, key) {
    if (this.#sizeCalculation === undefined) {
      throw invalidArgValue(
        'options.size',
        'is required by set() when the cache has maxSize but no sizeCalculation',
        undefined,
      )
    }
    const size = this.#sizeCalculation(value, key)
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

  /** Stores a checked entry; `expiresAt` overrides `ttl` (used by `load`). */
  #store(key, value, size, ttl, expiresAt) {
    const queue = this.#onEvict === undefined ? null : []
    if (size > this.#maxSize) {
      // Too big to keep: drop any older value of the key, keep nothing.
      const old = this.#map.get(key)
      if (old !== undefined) this.#removeSlot(old, 'set', queue)
      if (queue !== null) {
        queue.push(value, key, 'set')
        this.#dispose(queue)
      }
      return
    }
    if ((ttl > 0 || expiresAt !== undefined) && this.#expires === null) this.#initTTL()
    const now = this.#now()
    if (this.#inflight !== null) this.#abortFetch(key)
    this.#sets++
    let slot = this.#map.get(key)
    let inserted = false
    if (slot !== undefined) {
      const old = this.#vals[slot]
      this.#vals[slot] = value
      if (queue !== null && old !== value) queue.push(old, key, 'set')
    } else {
      inserted = true
      if (this.#map.size >= this.#max) {
        // Reuse the victim's slot: recording it as set moves it to the front,
        // which is all Rust needs to know.
        slot = this.#evictOne(queue, true, now)
      } else {
        slot = this.#free.length > 0 ? this.#free.pop() : this.#newSlot()
        this.#cell.entries++
      }
      this.#keys[slot] = key
      this.#vals[slot] = value
      this.#map.set(key, slot)
    }
    if (this.#sizes !== null) {
      this.#calculatedSize += size - this.#sizes[slot]
      this.#sizes[slot] = size
    }
    if (this.#expires !== null) {
      if (expiresAt !== undefined) {
        this.#ttls[slot] = ttl
        this.#expires[slot] = expiresAt
        if (expiresAt < this.#nextExpiry) this.#nextExpiry = expiresAt
      } else {
        this.#setExpiry(slot, ttl, now)
      }
    }
    if (inserted) {
      this.#insertStamp(slot)
    } else {
      this.#touch(slot)
      if (this.#expires !== null) this.#log2(OP_EXPIRY + slot, 0)
    }
    while (this.#calculatedSize > this.#maxSize) this.#evictOne(queue, false, now)
    if (queue !== null) this.#dispose(queue)
  }

  #newSlot() {
    const slot = this.#used++
    if (slot > MAX_SLOTS) throw leaklessError(RangeError, 'ERR_LEAKLESS_TOO_MANY_ENTRIES', 'LRU slot space exhausted')
    this.#keys.push(undefined)
    this.#vals.push(undefined)
    if (this.#used === this.#max) {
      // Full for the first time: push left up to half again as much room
      // as needed, which a bounded cache never uses; copy it away.
      this.#keys = this.#keys.slice()
      this.#vals = this.#vals.slice()
    }
    if (slot >= this.#stamps.length) {
      const capacity = Math.min(Math.max(16, this.#stamps.length * 2), this.#max, MAX_SLOTS + 1)
      this.#stamps = grow(this.#stamps, capacity, 0)
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
    const expired = this.#expires !== null && this.#expires[slot] <= now
    if (!reuse) {
      this.#removeSlot(slot, expired ? 'expire' : 'evict', queue)
      return slot
    }
    const key = this.#keys[slot]
    if (queue !== null) queue.push(this.#vals[slot], key, expired ? 'expire' : 'evict')
    if (expired) this.#expirations++
    else this.#evictions++
    this.#map.delete(key)
    if (this.#sizes !== null) {
      this.#calculatedSize -= this.#sizes[slot]
      this.#sizes[slot] = 0
    }
    return slot
  }

  /** The slot of the exact next victim, taken from the current batch, at clock `now`. */
  #nextVictim(now) {
    for (;;) {
      if (
        this.#vi >= this.#vn ||
        (this.#expires !== null && this.#vi >= this.#expiredInBatch && this.#nextExpiry <= now)
      ) {
        this.#refill(now)
        if (this.#vn === 0) throw new Error('leakless: LRU has entries but no victim (internal error)')
      }
      const slot = this.#victims[this.#vi]
      if (this.#stamps[slot] === this.#victimStamps[this.#vi++]) return slot
    }
  }

  #refill(now) {
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
    )
    this.#logLen = 0
    this.#vi = 0
    this.#expiredInBatch = this.#meta[0]
    this.#nextExpiry = this.#meta[1]
  }

  /** Removes the entry in `slot` entirely; queues `onEvict` when `queue`. */
  #removeSlot(slot, reason, queue) {
    const key = this.#keys[slot]
    if (queue !== null) queue.push(this.#vals[slot], key, reason)
    if (reason === 'evict') this.#evictions++
    else if (reason === 'expire') this.#expirations++
    this.#map.delete(key)
    this.#cell.entries--
    this.#keys[slot] = undefined
    this.#vals[slot] = undefined
    if (this.#sizes !== null) {
      this.#calculatedSize -= this.#sizes[slot]
      this.#sizes[slot] = 0
    }
    this.#stamps[slot] = 0
    // Rust notices a zeroed stamp by itself; only the expiry index needs telling.
    if (this.#expires !== null) {
      this.#expires[slot] = Infinity
      this.#log2(OP_DELETE + slot, 0)
    }
    this.#free.push(slot)
  }

  /** Runs queued `onEvict` calls after the cache is consistent again. */
  #dispose(queue) {
    callOnEvict(this.#onEvict, queue)
  }

  #abortFetch(key) {
    if (this.#inflight !== null) this.#inflight.abort(key)
  }

  /**
   * Slots of live entries, most recently used first. The order is taken at
   * the start; entries deleted meanwhile are skipped, so mutating the cache
   * while iterating neither throws nor loops.
   */
  *#liveSlots() {
    const n = this.#map.size
    if (n === 0) return
    const order = new Uint32Array(n)
    const count = native.lruOrder(this.#id, this.#log, this.#logLen, this.#stamps, this.#expires ?? undefined, order)
    this.#logLen = 0
    const keys = new Array(count)
    for (let i = 0; i < count; i++) keys[i] = this.#keys[order[i]]
    for (let i = 0; i < count; i++) {
      const slot = this.#map.get(keys[i])
      if (slot === undefined || this.#isExpired(slot)) continue
      yield slot
    }
  }
}

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
