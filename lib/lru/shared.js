'use strict'

// LRU with storage: 'shared'. One named store (core/src/shared.rs) that
// every thread of the process opens: the main thread and every worker that
// calls `new LRU({ storage: 'shared', name })` with the same name reach the
// same entries. Keys and values are the off-heap ones, copied in as bytes and
// copied out fresh on every read. Every operation is one crossing into Rust
// through plain N-API entry points (src/shared.rs).
//
// Time is the addon's process-wide clock (`performance.now()` starts afresh
// in each worker), so a TTL set in one thread runs out at the same moment in
// all of them.

const native = require('../common/native')
const { checkKey, checkValue, statsOf, dumpRecords, iterateByEntries } = require('./records')
const { parseEntryTTL, loadEntries } = require('./options')
const { invalidArgType, invalidArgValue, leaklessError } = require('../common/errors')

const { STAT_CALCULATED_SIZE, STATS_LEN } = require('../common/protocol').offheap

/** Longest store name, in UTF-16 code units (`name.length`). */
const MAX_NAME_LENGTH = 256

/** The clock of every shared store, as `load()` wants it. */
const sharedClock = { now: native.sharedNow }

/**
 * Checks the options only a shared store has. Those it cannot honour are
 * refused by parseOptions (REFUSED in options.js).
 */
function checkSharedOptions(raw) {
  const { name } = raw
  if (typeof name !== 'string') {
    throw invalidArgType('options.name', "of type string (the store's name, required with storage: 'shared')", name)
  }
  if (name.length === 0) throw invalidArgValue('options.name', 'must not be empty', name)
  if (name.length > MAX_NAME_LENGTH) {
    throw invalidArgValue('options.name', `must be at most ${MAX_NAME_LENGTH} characters long`, name)
  }
  if (raw.policy !== undefined && raw.policy !== 'lru') {
    throw invalidArgValue(
      'options.policy',
      "must be 'lru' with storage: 'shared', whose store evicts the least recently used entry first",
      raw.policy,
    )
  }
  return name
}

// ------------------------------------------------------------ waits

// Loads led by another thread are waited for with a promise per wait, which
// the addon settles through this thread's waker (a threadsafe function,
// referenced only while some wait is pending).
const waits = new Map()
let waker = -1
let nextToken = 1

function wake(token) {
  const resolve = waits.get(token)
  if (resolve !== undefined) {
    waits.delete(token)
    resolve()
  }
}

function wakerIndex() {
  if (waker < 0) waker = native.sharedInit(wake)
  return waker
}

class SharedLRU {
  #id
  // Never read: holding it keeps this thread's hold on the store as long as
  // this cache (its finalizer lets go of the store).
  // eslint-disable-next-line no-unused-private-class-members
  #owner
  #name
  #max
  #maxSize
  #ttl
  #fetchMethod
  #allowStale
  // Loads this cache leads or waits for, by key: concurrent fetches of one
  // key in this thread share one promise; `controller` aborts on a local
  // write of the key.
  #loads = new Map()
  #statsBuf = new Float64Array(STATS_LEN)

  /** Use `new LRU({ storage: 'shared', name, ... })`. */
  constructor(o, raw) {
    const name = checkSharedOptions(raw)
    const opened = native.sharedOpen(name, o.max, o.maxSize, o.ttl, o.updateAgeOnGet, o.allowStale)
    if (typeof opened[0] === 'string') {
      const [option, existing, given] = opened
      const err = leaklessError(
        TypeError,
        'ERR_LEAKLESS_SHARED_MISMATCH',
        `The shared store ${JSON.stringify(name)} was created with ${option} ${existing}; this cache gives ` +
          `${option} ${given}. Every cache opening a shared store must give the same options`,
      )
      Object.assign(err, { option, existing: toNumberOrBool(existing), given: toNumberOrBool(given) })
      throw err
    }
    this.#id = opened[0]
    this.#owner = opened[1]
    this.#name = name
    this.#max = o.max
    this.#maxSize = o.maxSize
    this.#ttl = o.ttl
    this.#allowStale = o.allowStale
    this.#fetchMethod = o.fetchMethod
  }

  /** The store's name. */
  get name() {
    return this.#name
  }

  get size() {
    return native.sharedSize(this.#id)
  }

  get [Symbol.toStringTag]() {
    return 'LRU'
  }

  /** The bounds the store was created with (the same in every thread). */
  get max() {
    return this.#max
  }

  get maxSize() {
    return this.#maxSize
  }

  get(key) {
    checkKey(key)
    return native.sharedGet(this.#id, key)
  }

  has(key) {
    checkKey(key)
    return native.sharedHas(this.#id, key)
  }

  peek(key) {
    checkKey(key)
    return native.sharedPeek(this.#id, key, this.#allowStale)
  }

  /** `set(key, value, { ttl })`, or `set(key, value, ttl)`. */
  set(key, value, options) {
    checkKey(key)
    checkValue(value)
    let ttl = this.#ttl
    if (typeof options === 'number') {
      ttl = parseEntryTTL(options, 'ttl')
    } else if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
      if (options.ttl !== undefined) ttl = parseEntryTTL(options.ttl, 'options.ttl')
      if (options.size !== undefined) {
        throw invalidArgValue(
          'options.size',
          "does not apply to storage: 'shared', where sizes are real bytes",
          options.size,
        )
      }
    }
    this.#abortLoad(key)
    native.sharedSet(this.#id, key, value, ttl, undefined)
    return this
  }

  delete(key) {
    checkKey(key)
    this.#abortLoad(key)
    return native.sharedDelete(this.#id, key)
  }

  /** Removes every entry of the store, for every thread. */
  clear() {
    for (const key of [...this.#loads.keys()]) this.#abortLoad(key)
    native.sharedClear(this.#id)
  }

  /**
   * Live entries: each shard's most recently used first, shard after shard.
   * Taken at the start (other threads may write meanwhile).
   */
  *entries() {
    const flat = native.sharedEntries(this.#id)
    for (let i = 0; i < flat.length; i += 2) yield [flat[i], flat[i + 1]]
  }

  /** Removes and returns a least recently used `[key, value]` (of one shard, shards in turn). */
  pop() {
    return native.sharedPop(this.#id) ?? undefined
  }

  /** Refused: the bounds of a shared store are fixed when it is created. */
  resize(max) {
    throw leaklessError(
      TypeError,
      'ERR_LEAKLESS_SHARED_FIXED',
      `The bounds of the shared store ${JSON.stringify(this.#name)} are fixed when it is created ` +
        `(every thread relies on them). Received resize(${typeof max === 'number' ? max : typeof max})`,
    )
  }

  getRemainingTTL(key) {
    checkKey(key)
    return native.sharedRemainingTtl(this.#id, key)
  }

  purgeStale() {
    return native.sharedPurgeStale(this.#id)
  }

  get calculatedSize() {
    native.sharedStats(this.#id, this.#statsBuf)
    return this.#statsBuf[STAT_CALCULATED_SIZE]
  }

  /**
   * The store's counters (over every thread), its size, and
   * `externalBytes`: this cache's share of the store's bytes as reported
   * to V8 (bytes ÷ holders).
   */
  stats() {
    const b = this.#statsBuf
    native.sharedStats(this.#id, b)
    return statsOf(b)
  }

  /**
   * The value of `key`; on a miss, loads it with `fetcher` (or the
   * `fetchMethod` option) once in the whole process: callers in other
   * threads wait for that load (without blocking their event loop) and get
   * its value. If the loader rejects, resolves `undefined`, or its thread
   * exits, one waiter takes the load over.
   */
  fetch(key, arg) {
    // As on the other storages: `arg` is a loader used instead of
    // `fetchMethod`, or lru-cache's options object (only `context` applies
    // here); with no loader at all, fetch() is an async get().
    let fetcher = this.#fetchMethod
    let context
    if (typeof arg === 'function') fetcher = arg
    else if (arg !== undefined) {
      if (arg === null || typeof arg !== 'object') {
        return Promise.reject(invalidArgType('fetcher', 'a function or an options object', arg))
      }
      context = arg.context
    }
    if (fetcher === undefined) {
      try {
        return Promise.resolve(this.get(key))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    try {
      checkKey(key)
    } catch (err) {
      return Promise.reject(err)
    }
    const pending = this.#loads.get(key)
    if (pending !== undefined) return pending.promise
    const record = { controller: null, promise: undefined, context }
    this.#loads.set(key, record)
    record.promise = this.#load(key, fetcher, record).finally(() => {
      if (this.#loads.get(key) === record) this.#loads.delete(key)
    })
    return record.promise
  }

  async #load(key, fetcher, record) {
    for (;;) {
      const token = nextToken++
      const waited = new Promise((resolve) => waits.set(token, resolve))
      let claim
      try {
        claim = native.sharedClaim(this.#id, key, wakerIndex(), token)
      } catch (err) {
        waits.delete(token)
        throw err
      }
      if (claim === undefined) {
        // Another caller loads the key: wait for it to end, then look again.
        await waited
        continue
      }
      waits.delete(token)
      if (typeof claim !== 'number') return claim
      return this.#lead(key, fetcher, record, claim)
    }
  }

  async #lead(key, fetcher, record, load) {
    const controller = new AbortController()
    record.controller = controller
    let value
    try {
      value = await fetcher(key, undefined, { signal: controller.signal, options: {}, context: record.context })
      if (value !== undefined) checkValue(value, 'the value the fetcher gave')
    } catch (err) {
      native.sharedAbandon(this.#id, key, load)
      throw err
    }
    if (value === undefined || controller.signal.aborted) {
      native.sharedAbandon(this.#id, key, load)
    } else {
      native.sharedComplete(this.#id, key, load, value, this.#ttl)
    }
    return value
  }

  /** A local write of `key` aborts this cache's load of it (its result is not stored). */
  #abortLoad(key) {
    if (this.#loads.size === 0) return
    const record = this.#loads.get(key)
    if (record === undefined) return
    this.#loads.delete(key)
    if (record.controller !== null) record.controller.abort()
  }

  /** Live entries, least recently used first within each shard, for `load()`. */
  dump() {
    const flat = native.sharedDump(this.#id)
    const epochOffset = Date.now() - native.sharedNow()
    return dumpRecords(flat, epochOffset)
  }

  load(entries) {
    loadEntries(
      entries,
      sharedClock,
      (key, entry) => {
        checkKey(key)
        checkValue(entry.value)
      },
      ({ key, value, ttl, expiresAt }) => {
        this.#abortLoad(key)
        native.sharedSet(this.#id, key, value, ttl, expiresAt)
      },
    )
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    const bound = this.#max === Infinity ? `${this.#maxSize} bytes` : this.#max
    return `LRU(${this.size}/${bound}, shared ${JSON.stringify(this.#name)}) { ${this.calculatedSize} bytes }`
  }
}

iterateByEntries(SharedLRU)

/** "true"/"false"/"Infinity"/digits as the value they print. */
function toNumberOrBool(text) {
  if (text === 'true') return true
  if (text === 'false') return false
  return Number(text)
}

/** Every shared store of the process, for `leakless.stats().shared`. */
function sharedStores() {
  return native.sharedList()
}

// Its prototype is linked to LRU's in heap.js (which does the dispatch), so
// that `instanceof LRU` holds.

module.exports = { SharedLRU, sharedStores, MAX_NAME_LENGTH }
