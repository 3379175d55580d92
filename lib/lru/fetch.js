'use strict'

// LRU#fetch as lru-cache 11 does it, for both storages: concurrent callers
// for one key share one load; `fetchMethod(key, staleValue, { signal,
// options, context })`; stale-while-revalidate with `allowStale`;
// `forceRefresh`; a rejection is not kept (unless told to keep the stale
// value); setting, deleting, evicting or clearing the key meanwhile aborts
// the load, and an aborted load's result is not stored. Unlike lru-cache, a
// load in flight takes no room in the cache: it is kept here, beside it.
// forceFetch and memo, lru-cache's two siblings of fetch, are here too.

const { invalidArgType, invalidArgValue } = require('../common/errors')
const { checkOptions } = require('./options')

// Per-call options that fetch() passes on to set() when it stores a result.
const SET_OPTIONS = ['ttl', 'size', 'sizeCalculation', 'noDisposeOnSet', 'noUpdateTTL', 'status']
// Per-call options that fetch() passes on to get() on a hit.
const GET_OPTIONS = ['allowStale', 'updateAgeOnGet', 'noDeleteOnStaleGet', 'status']
// On a hit, status says 'fetch: hit' only, as in lru-cache.
const HIT_OPTIONS = GET_OPTIONS.slice(0, -1)

function pick(options, names) {
  const out = {}
  for (const name of names) if (options[name] !== undefined) out[name] = options[name]
  return out
}

class Inflight {
  #records = new Map()

  get(key) {
    return this.#records.get(key)
  }

  set(key, record) {
    this.#records.set(key, record)
  }

  /** Forgets `record` if it is still the load of `key`; says whether it was. */
  release(key, record) {
    if (this.#records.get(key) !== record) return false
    this.#records.delete(key)
    return true
  }

  /** Aborts the load of `key`, if any, with an Error saying `why`. */
  abort(key, why) {
    const record = this.#records.get(key)
    if (record !== undefined) {
      this.#records.delete(key)
      record.controller.abort(new Error(why))
    }
  }

  abortAll(why) {
    const records = [...this.#records.values()]
    this.#records.clear()
    for (const record of records) record.controller.abort(new Error(why))
  }

  get size() {
    return this.#records.size
  }
}

/**
 * `cache.fetch(key, arg)`. `arg` is lru-cache's options object, or (as
 * leakless has always taken) a fetcher function used instead of
 * `fetchMethod`. `host` gives what the storage knows:
 * - `fetchMethod`, `allowStale`, `defaults` (the fetch options of the cache);
 * - `inflight()`: the storage's Inflight (created on first use);
 * - `lookup(key)`: `undefined`, or `{ value, stale }` without side effects;
 * - `remove(key)`: removes the entry of `key` after a failed load;
 * - `miss(key, found)`: counts a load in the cache's stats.
 */
function runFetch(cache, host, key, arg) {
  let fetcher = host.fetchMethod
  let options = {}
  if (typeof arg === 'function') fetcher = arg
  else if (arg !== undefined) {
    if (arg === null || typeof arg !== 'object') {
      return Promise.reject(invalidArgType('fetcher', 'a function or an options object', arg))
    }
    options = arg
  }
  const status = options.status
  if (fetcher === undefined) {
    // As lru-cache: without a fetchMethod, fetch() is an async get().
    if (status !== undefined) status.fetch = 'get'
    try {
      return Promise.resolve(cache.get(key, pick(options, GET_OPTIONS)))
    } catch (err) {
      return Promise.reject(err)
    }
  }
  const { forceRefresh = false, allowStale = host.allowStale } = options
  const inflight = host.inflight()
  const running = inflight.get(key)
  if (running !== undefined) {
    if (status !== undefined) status.fetch = 'inflight'
    if (allowStale && running.stale !== undefined) {
      if (status !== undefined) status.returnedStale = true
      return Promise.resolve(running.stale)
    }
    running.returned = true
    return running.promise
  }
  let found
  try {
    found = host.lookup(key)
    if (found !== undefined && !found.stale && !forceRefresh) {
      if (status !== undefined) status.fetch = 'hit'
      return Promise.resolve(cache.get(key, pick(options, HIT_OPTIONS)))
    }
  } catch (err) {
    return Promise.reject(err)
  }
  if (status !== undefined) status.fetch = found === undefined ? 'miss' : found.stale ? 'stale' : 'refresh'
  host.miss(key, found)
  const record = load(cache, host, inflight, key, fetcher, found?.value, options)
  if (allowStale && record.stale !== undefined) {
    if (status !== undefined) status.returnedStale = true
    return Promise.resolve(record.stale)
  }
  record.returned = true
  return record.promise
}

function load(cache, host, inflight, key, fetcher, stale, callOptions) {
  const o = { ...host.defaults, ...callOptions }
  const { status, signal, context } = o
  const controller = new AbortController()
  if (signal !== undefined && signal !== null) {
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true })
  }
  // What fetchMethod sees as `options` (it may change `ttl` and the like).
  const passed = { ...callOptions }
  delete passed.context
  delete passed.signal
  delete passed.forceRefresh
  const record = { controller, promise: undefined, stale, returned: false }
  // Registered before the fetcher runs, so that a write of the key made by
  // the fetcher itself (before its first await) aborts the load too.
  inflight.set(key, record)

  const fail = (err) => {
    const aborted = controller.signal.aborted
    const staleOnAbort = aborted && o.allowStaleOnFetchAbort
    const allowStale = staleOnAbort || o.allowStaleOnFetchRejection
    const noDelete = allowStale || o.noDeleteOnFetchRejection
    // On an abort with allowStaleOnFetchAbort, the load stays registered:
    // its late result is still stored, as lru-cache does.
    if (!staleOnAbort && inflight.release(key, record) && (!noDelete || stale === undefined)) host.remove(key)
    if (allowStale) {
      if (status !== undefined && stale !== undefined) status.returnedStale = true
      return stale
    }
    if (record.returned) throw err
    return undefined
  }
  const done = (value, late = false) => {
    const aborted = controller.signal.aborted
    const ignoreAbort = o.ignoreFetchAbort && value !== undefined
    if (status !== undefined) {
      if (aborted && !late) {
        status.fetchAborted = true
        status.fetchError = controller.signal.reason
        if (ignoreAbort) status.fetchAbortIgnored = true
      } else {
        status.fetchResolved = true
      }
    }
    if (aborted && !ignoreAbort && !late) return fail(controller.signal.reason)
    if (inflight.release(key, record) && value !== undefined) {
      if (status !== undefined) status.fetchUpdated = true
      cache.set(key, value, pick(passed, SET_OPTIONS))
    }
    return value
  }
  record.promise = new Promise((resolve, reject) => {
    let settle = resolve
    controller.signal.addEventListener('abort', () => {
      if (!o.ignoreFetchAbort || o.allowStaleOnFetchAbort) {
        resolve(undefined)
        if (o.allowStaleOnFetchAbort) settle = (value) => done(value, true)
      }
    })
    const result = fetcher(key, stale, { signal: controller.signal, options: passed, context })
    Promise.resolve(result).then((value) => settle(value), reject)
  }).then(done, (err) => {
    if (status !== undefined) {
      status.fetchRejected = true
      status.fetchError = err
    }
    return fail(err)
  })
  return record
}

/**
 * The `host` of runFetch for a cache whose fetch options are `fetchMethod`,
 * `allowStale` and `defaults`; `storage` gives `inflight`, `lookup`,
 * `remove` and `miss`.
 */
function fetchHost(fetchMethod, allowStale, defaults, storage) {
  return { fetchMethod, allowStale, defaults, ...storage }
}

/** `cache.fetch(key, options)`, rejecting when the result is `undefined` (lru-cache's forceFetch). */
async function forceFetch(cache, key, options) {
  const value = await cache.fetch(key, options)
  if (value === undefined) throw new Error('fetch() returned undefined')
  return value
}

/**
 * `cache.memo(key, options)`: the value of `key`; on a miss (or with
 * `forceRefresh`), `memoMethod(key, staleValue, { options, context })`
 * computes it, synchronously, and it is stored.
 */
function runMemo(cache, memoMethod, key, options) {
  if (memoMethod === undefined) throw invalidArgValue('options.memoMethod', 'is required by memo()', undefined)
  checkOptions(options)
  const { context, status, forceRefresh, ...rest } = options
  const value = cache.get(key, status === undefined ? rest : { ...rest, status })
  const refresh = forceRefresh === true || value === undefined
  if (status !== undefined) status.memo = refresh ? 'miss' : 'hit'
  if (!refresh) return value
  // Called on the cache, as `this.#memoMethod(...)` would be.
  const computed = memoMethod.call(cache, key, value, { options: rest, context })
  cache.set(key, computed, status === undefined ? rest : { ...rest, status })
  return computed
}

module.exports = { Inflight, fetchHost, forceFetch, runFetch, runMemo }
