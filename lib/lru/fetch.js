'use strict'

// Loads in flight for LRU#fetch: concurrent callers for one key share one
// promise; a rejection is not kept; writing or deleting the key meanwhile
// aborts the load (its `signal` fires) and its result is not stored.

class Inflight {
  #records = new Map()

  /** The shared promise for `key`, if a load is in flight. */
  pending(key) {
    // `promise` is undefined while the fetcher's synchronous part runs.
    return this.#records.get(key)?.promise
  }

  /**
   * Starts loading `key` with `fetcher(key, { signal })`; `store(value)`
   * keeps a result that is not `undefined`, unless aborted meanwhile.
   */
  load(key, fetcher, store) {
    const controller = new AbortController()
    const record = { controller, promise: undefined }
    // Registered before the fetcher runs, so that a write of the key made
    // by the fetcher itself (before its first await) aborts the load too.
    this.#records.set(key, record)
    record.promise = (async () => {
      let value
      try {
        value = await fetcher(key, { signal: controller.signal })
      } finally {
        // Settled: later callers load afresh (a rejection is not cached).
        if (this.#records.get(key) === record) this.#records.delete(key)
      }
      if (!controller.signal.aborted && value !== undefined) store(value)
      return value
    })()
    return record.promise
  }

  /** Aborts the load of `key`, if any. */
  abort(key) {
    const record = this.#records.get(key)
    if (record !== undefined) {
      this.#records.delete(key)
      record.controller.abort()
    }
  }

  abortAll() {
    const records = [...this.#records.values()]
    this.#records.clear()
    for (const record of records) record.controller.abort()
  }

  get size() {
    return this.#records.size
  }
}

/** The fetcher to use, or a rejected promise explaining why there is none. */
function pickFetcher(fetcher, fallback, invalidArgType) {
  const chosen = fetcher === undefined ? fallback : fetcher
  if (typeof chosen === 'function') return chosen
  return Promise.reject(
    chosen === undefined
      ? invalidArgType('fetcher', 'a function when the cache has no fetchMethod', chosen)
      : invalidArgType('fetcher', 'of type function', chosen),
  )
}

module.exports = { Inflight, pickFetcher }
