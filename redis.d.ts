/**
 * `leakless/redis`: a bounded local copy of what this process read from Redis
 * or Valkey, dropped as soon as Redis reports that the key changed.
 *
 * @example
 * const Redis = require('ioredis')
 * const { NearCache } = require('leakless/redis')
 * const users = new NearCache({ client: new Redis(), maxSize: 64 * 2 ** 20 })
 * await users.get('user:42')
 */

/**
 * A connected ioredis (5 or 6) or node-redis 5 client. Neither package is a
 * dependency of leakless, so the type only names what the near cache uses:
 * the client's `duplicate()`, with which it opens its own two connections.
 */
export interface NearCacheClient {
  duplicate(...args: any[]): unknown
}

/** Options of {@link NearCache}. At least one of `maxSize` and `max` is required. */
export interface NearCacheOptions<V = string> {
  /** A connected (ready) ioredis or node-redis 5 client. The near cache never closes it. */
  client: NearCacheClient
  /** Most bytes kept locally (keys plus values, as stored). */
  maxSize?: number
  /** Most entries kept locally. */
  max?: number
  /**
   * Where local copies live: `'offheap'` (default, native memory the garbage
   * collector never traces) or `'heap'`.
   */
  storage?: 'offheap' | 'heap'
  /**
   * Milliseconds: the default TTL of `set` and `fetch` in Redis (`PX`), and the
   * longest a local copy is kept. A key's own Redis TTL is kept when shorter.
   */
  ttl?: number
  /** What Redis values are read as: `'string'` (default, UTF-8) or `'buffer'`. */
  valueType?: 'string' | 'buffer'
  /**
   * Turns a value given to `set` or returned by a loader into what Redis stores.
   * Default: strings, Buffers and Uint8Arrays as they are; other JSON values as JSON text.
   */
  serialize?: (value: unknown) => string | Buffer | Uint8Array
  /**
   * Turns what Redis stores (a string, or a Buffer with `valueType: 'buffer'`)
   * into what `get` and `fetch` return. Default: none (the stored form is returned).
   */
  deserialize?: (stored: any) => V
  /**
   * Milliseconds between PINGs on the tracking connection (default 1000, at
   * least 10). A PING unanswered by the next one counts as a lost connection
   * (the local tier is flushed): a connection that died without closing is
   * noticed within two heartbeats.
   */
  heartbeatMs?: number
  /**
   * Called after a local copy was dropped because Redis reported a change to
   * its key (a write by any client, an expiry, an eviction in Redis), with the
   * key as the near cache's user sees it (without the client's `keyPrefix`);
   * called with `null` after the whole local tier was emptied (`FLUSHALL`,
   * `FLUSHDB`, or a lost tracking connection). It runs inside the tracking
   * connection's message handler: keep it short. An exception it throws is
   * rethrown on a later tick, as an uncaught exception.
   */
  onInvalidate?: (key: string | null) => void
}

/** Per-call options of {@link NearCache.set} and {@link NearCache.fetch}. */
export interface NearCacheSetOptions {
  /** Milliseconds before Redis expires the key (`PX`); overrides `options.ttl`. */
  ttl?: number
}

/** Counters and sizes of a {@link NearCache}. */
export interface NearCacheStats {
  /** Reads answered from the local copy. */
  localHits: number
  /** Reads answered by Redis with a value. */
  remoteHits: number
  /** Reads Redis had no value for. */
  misses: number
  /** Calls of a `fetch` loader. */
  loads: number
  /** `set` calls (and loader results written to Redis). */
  sets: number
  /** `delete` calls. */
  deletes: number
  /**
   * Keys Redis reported changed by another connection (each drops its local
   * copy, if any, and keeps replies in flight for it out of the local tier).
   */
  invalidations: number
  /**
   * Times the whole local tier was emptied because invalidations may have been
   * lost (tracking connection dropped, Redis restarted) or the database was flushed.
   */
  flushes: number
  /** Entries held locally. */
  size: number
  /** Bytes held locally (keys plus values). */
  localBytes: number
  /** Native bytes held by the local tier (`storage: 'offheap'`). */
  externalBytes: number
  /** Whether tracking is on: local copies are kept only while it is. */
  tracking: boolean
}

/**
 * A near cache over Redis or Valkey: local hits without a round trip, kept
 * fresh by Redis's client-side caching (`CLIENT TRACKING`).
 *
 * A write through this near cache is visible to its own process at once; a
 * write by anyone else (another process, `redis-cli`) drops the local copy
 * when Redis's invalidation arrives. If the tracking connection drops, the
 * local tier is emptied and reads go to Redis until tracking is back.
 */
export declare class NearCache<V = string> {
  constructor(options: NearCacheOptions<V>)
  /**
   * Resolves once tracking is on (`true`), or once the first attempt failed
   * (`false`: reads go to Redis and tracking is retried in the background).
   */
  ready(): Promise<boolean>
  /** The local copy, else the value in Redis (kept locally), else `undefined`. */
  get(key: string): Promise<V | undefined>
  /** Writes to Redis (`SET`, with `PX` when a TTL applies) and keeps the value locally. */
  set(key: string, value: V | string | Buffer | Uint8Array, options?: NearCacheSetOptions): Promise<this>
  /** Deletes the key in Redis and locally; `true` when Redis had it. */
  delete(key: string): Promise<boolean>
  /**
   * The local copy, else the value in Redis, else `load(key)` (called once
   * per process however many callers wait), written to Redis unless someone
   * wrote the key while it ran (`SET ... NX`), and kept locally.
   * @example await users.fetch('user:42', (key) => db.user(key.slice(5)))
   */
  fetch(
    key: string,
    load: (key: string) => V | string | Buffer | Uint8Array | Promise<V | string | Buffer | Uint8Array>,
    options?: NearCacheSetOptions,
  ): Promise<V>
  /** Counters and sizes. */
  stats(): NearCacheStats
  /** Closes the near cache's own connections (never the caller's client) and empties the local tier. */
  close(): Promise<void>
  readonly [Symbol.toStringTag]: string
}
