'use strict'

// NearCache: a bounded local copy of what this process read from Redis,
// dropped the moment Redis says the key changed.
//
// Rules that keep it from ever serving a stale value:
// 1. A value is stored locally only from a reply on the data connection, and
//    only while that connection is tracked (Tracker.active).
// 2. Every read or write of a key marks the key pending while it is in
//    flight. An invalidation of the key, a local write of it, or a flush that
//    arrives meanwhile changes the key's generation (or the cache's epoch),
//    and then the reply is returned to its caller but not stored: it may
//    predate the change.
// 3. A lost connection, a Redis restart or a FLUSHALL/FLUSHDB (an
//    invalidation without keys) empties the local tier at once, and until
//    tracking is back every read goes to Redis through the caller's client.

const { LRU } = require('../../index.js')
const {
  invalidArgType,
  invalidArgValue,
  leaklessError,
  validateObject,
  validateOptionalObject,
  validateOptionalFunction,
  validateInteger,
  validateOneOf,
  validateFunction,
} = require('../common/errors')
const { adapterFor } = require('./clients')
const { Tracker } = require('./tracking')

// SET and a read of the key in one atomic step: the read makes Redis track
// the key for the data connection, so a later write by anyone invalidates the
// copy kept here. (A SET alone is not a read and would leave the key
// untracked; a separate GET could see someone else's newer write.)
// ARGV: the value, the TTL in ms or '', and 'NX' (only if absent) or ''.
// Returns 1 when the value was written, 0 when NX found a value there.
const SET_AND_TRACK = `
local args = {'SET', KEYS[1], ARGV[1]}
if ARGV[2] ~= '' then args[#args + 1] = 'PX'; args[#args + 1] = ARGV[2] end
if ARGV[3] == 'NX' then args[#args + 1] = 'NX' end
local written = redis.call(unpack(args))
redis.call('PTTL', KEYS[1])
if written then return 1 else return 0 end`

const STORAGES = ['offheap', 'heap']

function byteSize(value, key) {
  return Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : value.length)
}

function redisError(op, key, cause) {
  const message = cause && typeof cause.message === 'string' ? cause.message : String(cause)
  const err = leaklessError(Error, 'ERR_LEAKLESS_REDIS', `Redis ${op} of key ${JSON.stringify(key)} failed: ${message}`)
  err.cause = cause
  return err
}

function closedError() {
  return leaklessError(Error, 'ERR_LEAKLESS_NEAR_CACHE_CLOSED', 'The NearCache is closed')
}

function validateKey(key) {
  if (typeof key !== 'string') throw invalidArgType('key', 'of type string', key)
}

function validateTtl(ttl, name) {
  if (ttl !== undefined) validateInteger(ttl, name, 1)
}

/** Strings and Buffers as they are; other JSON values as JSON text. */
function defaultSerialize(value) {
  if (typeof value === 'string' || Buffer.isBuffer(value) || value instanceof Uint8Array) return value
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw invalidArgValue('value', 'is not storable in Redis (JSON has no non-finite numbers)', value)
    }
    try {
      return JSON.stringify(value)
    } catch (err) {
      // A cycle, a BigInt inside, a throwing toJSON.
      const e = invalidArgValue('value', `is not storable in Redis as JSON (${err.message})`, value)
      e.cause = err
      throw e
    }
  }
  throw invalidArgType('value', 'a string, a Buffer, or a JSON-serializable value', value)
}

class NearCache {
  /**
   * @param {object} options `{ client, maxSize?, max?, storage?, ttl?, valueType?, serialize?, deserialize?, heartbeatMs?, onInvalidate? }`
   */
  constructor(options) {
    validateObject(options, 'options')
    const {
      client,
      maxSize,
      max,
      storage = 'offheap',
      ttl,
      valueType = 'string',
      serialize,
      deserialize,
      heartbeatMs = 1000,
      onInvalidate,
    } = options
    if (client === undefined || client === null) {
      throw invalidArgType('options.client', 'a connected ioredis or node-redis 5 client', client)
    }
    const adapter = adapterFor(client)
    if (!adapter.isReady(client)) {
      throw leaklessError(
        Error,
        'ERR_LEAKLESS_REDIS_NOT_CONNECTED',
        `The ${adapter.kind} client in "options.client" is not connected: connect it (and wait for "ready") first`,
      )
    }
    if (storage === 'shared') {
      // Each thread's near cache tracks what it read on its own connection;
      // a thread that exits would leave its entries in the shared store with
      // nobody tracking them, and they would be served stale.
      throw invalidArgValue(
        'options.storage',
        "must be 'offheap' or 'heap': 'shared' would keep entries that a departed thread's connection tracked",
        storage,
      )
    }
    validateOneOf(storage, 'options.storage', STORAGES)
    validateOneOf(valueType, 'options.valueType', ['string', 'buffer'])
    validateTtl(ttl, 'options.ttl')
    validateOptionalFunction(serialize, 'options.serialize')
    validateOptionalFunction(deserialize, 'options.deserialize')
    validateInteger(heartbeatMs, 'options.heartbeatMs', 10, 2 ** 31 - 1)
    validateOptionalFunction(onInvalidate, 'options.onInvalidate')
    if (maxSize === undefined && max === undefined) {
      throw leaklessError(
        RangeError,
        'ERR_LEAKLESS_UNBOUNDED',
        'A NearCache needs "options.maxSize" (bytes) or "options.max": an unbounded cache is a memory leak. Received neither',
      )
    }
    // The LRU checks maxSize and max itself, with the same error style. On
    // the heap, sizes are the bytes of key and value, as off-heap counts them.
    this._local = new LRU(
      storage === 'heap' ? { maxSize, max, storage, sizeCalculation: byteSize } : { maxSize, max, storage },
    )
    this._adapter = adapter
    this._client = client
    this._prefix = adapter.keyPrefix(client)
    this._ttl = ttl
    this._buffers = valueType === 'buffer'
    this._serialize = serialize || defaultSerialize
    this._deserialize = deserialize || null
    this._onInvalidateHook = onInvalidate || null
    this._closed = false
    this._epoch = 0
    this._pending = new Map() // key -> { refs, gen }
    this._reads = new Map() // key -> in-flight remote read
    this._fetches = new Map() // key -> in-flight fetch
    this._stats = {
      localHits: 0,
      remoteHits: 0,
      misses: 0,
      loads: 0,
      sets: 0,
      deletes: 0,
      invalidations: 0,
      flushes: 0,
    }
    this._tracker = new Tracker(
      adapter,
      client,
      {
        onInvalidate: (keys) => this._onInvalidate(keys),
        onLost: () => this._flush(),
        onActive: () => this._flush(false),
      },
      heartbeatMs,
    )
    this._starting = this._tracker.start()
  }

  /**
   * Resolves once tracking is on (`true`), or once the first attempt failed
   * (`false`: reads then go to Redis, and tracking is retried in the background).
   */
  async ready() {
    await this._starting
    return this._tracker.active
  }

  async get(key) {
    validateKey(key)
    if (this._closed) throw closedError()
    if (this._starting !== null) await this._whenStarted()
    const local = this._localHit(key)
    if (local !== undefined) return this._decode(local)
    const remote = await this._read(key)
    return remote === null ? undefined : this._decode(remote)
  }

  async set(key, value, options) {
    validateKey(key)
    const ttl = this._ttlOption(options)
    const stored = this._encode(value)
    if (this._closed) throw closedError()
    if (this._starting !== null) await this._whenStarted()
    await this._write(key, stored, ttl)
    return this
  }

  async delete(key) {
    validateKey(key)
    if (this._closed) throw closedError()
    if (this._starting !== null) await this._whenStarted()
    this._changed(key)
    this._local.delete(key)
    this._stats.deletes++
    const conn = this._tracker.active ? this._tracker.data : this._client
    let removed
    try {
      removed = await this._adapter.call(conn, ['DEL', key])
    } catch (err) {
      throw redisError('DEL', key, err)
    }
    return Number(removed) > 0
  }

  /** The stored form of `key` held locally (counted as a local hit), or undefined. */
  _localHit(key) {
    const local = this._local.get(key)
    if (local !== undefined) this._stats.localHits++
    return local
  }

  /** `options.ttl` of set() and fetch(), checked; the cache's ttl when absent. */
  _ttlOption(options) {
    validateOptionalObject(options, 'options')
    const ttl = options === undefined || options.ttl === undefined ? this._ttl : options.ttl
    validateTtl(ttl, 'options.ttl')
    return ttl
  }

  /**
   * The value: local, else Redis, else `load(key)` (once per key however many
   * callers wait), then kept in Redis (with `options.ttl`) and locally.
   */
  async fetch(key, load, options) {
    validateKey(key)
    validateFunction(load, 'load')
    const ttl = this._ttlOption(options)
    if (this._closed) throw closedError()
    if (this._starting !== null) await this._whenStarted()
    const local = this._localHit(key)
    if (local !== undefined) return this._decode(local)
    let pending = this._fetches.get(key)
    if (pending === undefined) {
      pending = this._fetchOnce(key, load, ttl)
      this._fetches.set(key, pending)
      const forget = () => {
        if (this._fetches.get(key) === pending) this._fetches.delete(key)
      }
      pending.then(forget, forget)
    }
    return pending
  }

  async _fetchOnce(key, load, ttl) {
    const remote = await this._read(key)
    if (remote !== null) return this._decode(remote)
    this._stats.loads++
    const stored = this._encode(await load(key))
    if (this._closed) throw closedError()
    // Kept only if nobody wrote the key meanwhile; the caller gets what it loaded either way.
    await this._write(key, stored, ttl, true)
    return this._decode(this._localForm(stored))
  }

  stats() {
    const local = this._local.stats()
    return {
      ...this._stats,
      size: this._local.size,
      localBytes: this._local.calculatedSize,
      externalBytes: local.externalBytes,
      tracking: this._tracker.active,
    }
  }

  /** Closes the near cache's own two connections (never the caller's client) and empties the local tier. */
  async close() {
    if (this._closed) return
    this._closed = true
    this._tracker.close()
    this._epoch++
    this._local.clear()
    this._reads.clear()
    this._fetches.clear()
  }

  async _whenStarted() {
    await this._starting
    this._starting = null
  }

  // ---------------------------------------------------------------- remote

  /** The stored form of `key` from Redis, or null. Concurrent reads of a key share one GET. */
  _read(key) {
    let read = this._reads.get(key)
    if (read !== undefined) return read
    read = this._tracker.active ? this._trackedRead(key) : this._plainRead(key)
    this._reads.set(key, read)
    const forget = () => {
      if (this._reads.get(key) === read) this._reads.delete(key)
    }
    read.then(forget, forget)
    return read
  }

  async _trackedRead(key) {
    const conn = this._tracker.data
    const { gen, epoch } = this._begin(key)
    let value
    let pttl
    try {
      const get = this._buffers ? this._adapter.callBuffer(conn, ['GET', key]) : this._adapter.call(conn, ['GET', key])
      ;[value, pttl] = await Promise.all([get, this._adapter.call(conn, ['PTTL', key])])
    } catch (err) {
      this._end(key)
      // The near cache's own connection dropped under the read (the flush
      // and the reconnection are under way): the caller's client may be
      // fine, so the read is not lost with it. A read is safe to repeat.
      if (conn !== this._tracker.data || !this._adapter.isReady(conn)) return this._plainRead(key)
      throw redisError('GET', key, err)
    }
    if (value !== null && this._mayStore(key, gen, epoch)) this._store(key, value, this._localTtl(Number(pttl)))
    this._end(key)
    this._count(value)
    return value
  }

  async _plainRead(key) {
    let value
    try {
      value = this._buffers
        ? await this._adapter.callBuffer(this._client, ['GET', key])
        : await this._adapter.call(this._client, ['GET', key])
    } catch (err) {
      throw redisError('GET', key, err)
    }
    this._count(value)
    return value
  }

  _count(value) {
    if (value === null) this._stats.misses++
    else this._stats.remoteHits++
  }

  /**
   * SET in Redis, and the local copy. `ifAbsent` (a loaded value): only when
   * the key has no value, so that a value someone wrote while `load` ran is
   * not overwritten by an older one. Resolves to whether Redis took it.
   */
  async _write(key, stored, ttl, ifAbsent = false) {
    this._changed(key)
    this._local.delete(key)
    this._stats.sets++
    const ttlArg = ttl === undefined ? '' : String(ttl)
    if (!this._tracker.active) {
      let reply
      try {
        reply = await this._adapter.call(this._client, [
          'SET',
          key,
          stored,
          ...(ttl === undefined ? [] : ['PX', ttlArg]),
          ...(ifAbsent ? ['NX'] : []),
        ])
      } catch (err) {
        throw redisError('SET', key, err)
      }
      return reply !== null
    }
    const conn = this._tracker.data
    const { gen, epoch } = this._begin(key)
    let written
    try {
      const reply = await this._adapter.call(conn, [
        'EVAL',
        SET_AND_TRACK,
        '1',
        key,
        stored,
        ttlArg,
        ifAbsent ? 'NX' : '',
      ])
      written = Number(reply) === 1
    } catch (err) {
      this._end(key)
      throw redisError('SET', key, err)
    }
    if (written && this._mayStore(key, gen, epoch)) {
      this._store(key, this._localForm(stored), this._localTtl(ttl ?? -1))
    }
    this._end(key)
    return written
  }

  // ----------------------------------------------------- pending and flush

  _begin(key) {
    let p = this._pending.get(key)
    if (p === undefined) {
      p = { refs: 0, gen: 0 }
      this._pending.set(key, p)
    }
    p.refs++
    return { gen: p.gen, epoch: this._epoch }
  }

  _end(key) {
    const p = this._pending.get(key)
    if (--p.refs === 0) this._pending.delete(key)
  }

  _mayStore(key, gen, epoch) {
    return !this._closed && this._tracker.active && epoch === this._epoch && this._pending.get(key).gen === gen
  }

  /** `key` changed: replies in flight must not be stored, and new reads must not join older ones. */
  _changed(key) {
    const p = this._pending.get(key)
    if (p !== undefined) p.gen++
    this._reads.delete(key)
  }

  _onInvalidate(keys) {
    if (keys === null || keys === undefined) {
      // FLUSHALL / FLUSHDB, or Redis forgetting tracked keys: drop everything.
      this._flush()
      return
    }
    const list = Array.isArray(keys) ? keys : [keys]
    for (const raw of list) {
      let key = Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw)
      if (this._prefix !== '') {
        if (!key.startsWith(this._prefix)) continue
        key = key.slice(this._prefix.length)
      }
      this._changed(key)
      this._local.delete(key)
      this._stats.invalidations++
      this._notify(key)
    }
  }

  /**
   * Calls `options.onInvalidate`. It runs inside the tracking connection's
   * message handler, so an exception it throws is rethrown on a later tick
   * (as an 'error' listener's would be) instead of breaking the client.
   */
  _notify(key) {
    const hook = this._onInvalidateHook
    if (hook === null) return
    try {
      hook(key)
    } catch (err) {
      process.nextTick(() => {
        throw err
      })
    }
  }

  /** Empties the local tier; `counted` flushes are the ones a user should know about. */
  _flush(counted = true) {
    this._epoch++
    this._local.clear()
    this._reads.clear()
    if (counted) {
      this._stats.flushes++
      this._notify(null)
    }
  }

  // ------------------------------------------------------------ values

  _store(key, value, ttl) {
    if (ttl === 0) return
    this._local.set(key, value, ttl === undefined ? undefined : { ttl })
  }

  /** Local TTL: Redis's remaining TTL when it has one, capped by `options.ttl`. */
  _localTtl(pttl) {
    if (pttl === 0) return 0
    if (pttl > 0) return this._ttl === undefined ? pttl : Math.min(pttl, this._ttl)
    if (pttl === -2) return 0
    return this._ttl
  }

  /** What Redis would return for `stored` on a read: a string, or a Buffer with `valueType: 'buffer'`. */
  _localForm(stored) {
    if (this._buffers) return typeof stored === 'string' ? Buffer.from(stored, 'utf8') : stored
    return typeof stored === 'string' ? stored : stored.toString('utf8')
  }

  _encode(value) {
    const stored = this._serialize(value)
    if (typeof stored === 'string' || Buffer.isBuffer(stored)) return stored
    if (stored instanceof Uint8Array) return Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength)
    throw invalidArgType('serialize(value)', 'a string or a Buffer', stored)
  }

  _decode(stored) {
    return this._deserialize === null ? stored : this._deserialize(stored)
  }

  get [Symbol.toStringTag]() {
    return 'NearCache'
  }
}

module.exports = { NearCache }
