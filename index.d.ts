/**
 * leakless: bounded, accounted, self-cleaning building blocks for Node.js services.
 *
 * @example
 * const { LRU } = require('leakless')
 * const users = new LRU({ max: 10_000, ttl: 60_000 })
 */

// ------------------------------------------------------------------------ LRU

/** Why an entry left an {@link LRU}. */
export type EvictionReason =
  /** Pushed out to respect `max` or `maxSize`. */
  | 'evict'
  /** Its TTL ran out. */
  | 'expire'
  /** Removed by `delete()`. */
  | 'delete'
  /** Replaced by `set()` with another value, or refused for being larger than `maxSize`. */
  | 'set'
  /** Removed by `clear()`. */
  | 'clear'

/** Options of {@link LRU}. At least one of `max` and `maxSize` is required. */
export interface LRUOptions<K, V> {
  /** Most entries kept. A positive integer. */
  max?: number
  /**
   * Most total size kept. Sizes come from `sizeCalculation(value, key)` or the
   * `size` given to `set()`; with `storage: 'offheap'`, from the real bytes held.
   */
  maxSize?: number
  /** Milliseconds an entry lives (0: forever). Expired entries are never returned and are evicted first. */
  ttl?: number
  /** A `get` restarts the entry's TTL. */
  updateAgeOnGet?: boolean
  /** A `get` of an expired entry returns it once, then it is gone. */
  allowStale?: boolean
  /**
   * Called after an entry left the cache. The cache is consistent when it runs,
   * so it may call back into the cache. If it throws, the operation that caused
   * the eviction completes and then rethrows.
   */
  onEvict?: (value: V, key: K, reason: EvictionReason) => void
  /** Size of an entry, a positive integer; called once per `set`. */
  sizeCalculation?: (value: V, key: K) => number
  /** Default loader for {@link LRU.fetch}. `signal` aborts when the key is set, deleted or cleared meanwhile. */
  fetchMethod?: (key: K, options: { signal: AbortSignal }) => V | undefined | Promise<V | undefined>
  /**
   * `'heap'` (default): any JS value. `'offheap'`: keys (strings, numbers) and
   * values (strings, Buffers, Uint8Arrays) live in native memory that the
   * garbage collector never traces.
   */
  storage?: 'heap' | 'offheap'
  /** Clock for TTLs (default `performance`). Tests can pass a fake one. */
  perf?: { now(): number }
}

/** Per-entry options of {@link LRU.set}. */
export interface LRUSetOptions {
  /** TTL of this entry in milliseconds, overriding the cache's `ttl` (0: forever). */
  ttl?: number
  /** Size of this entry, overriding `sizeCalculation`. A positive integer. */
  size?: number
}

/** Counters of one {@link LRU}, from {@link LRU.stats}. */
export interface LRUStats {
  /** `get`s that found a live entry. */
  hits: number
  /** `get`s that found nothing (or an expired entry), and `fetch` loads. */
  misses: number
  /** Entries written by `set`, `load` and `fetch`. */
  sets: number
  /** Entries pushed out by `max` or `maxSize`. */
  evictions: number
  /** Entries removed because their TTL ran out. */
  expirations: number
  /** Current number of entries. */
  size: number
  /** Current total size (0 unless `maxSize` or `sizeCalculation` is set). */
  calculatedSize: number
  /** Native bytes held by this cache, reported to V8. */
  externalBytes: number
}

/** One entry of {@link LRU.dump}. `start` is a `Date.now()` time, so a dump can be loaded in another process. */
export interface LRUDumpEntry<V> {
  value: V
  ttl?: number
  start?: number
  size?: number
}

/**
 * A bounded cache with the interface of a `Map`: `get`, `set` (chainable),
 * `has`, `delete`, `clear`, `size`, iteration (most recently used first).
 * Keys compare like `Map` keys (SameValueZero).
 *
 * @example
 * const cache = new LRU<string, User>({ max: 10_000 })
 * cache.set('ada', user)
 * cache.get('ada') // user, now the most recently used
 */
export declare class LRU<K = any, V = any> implements Iterable<[K, V]> {
  /** `new LRU(1000)` is `new LRU({ max: 1000 })`. Throws `RangeError` without `max` or `maxSize`. */
  constructor(options: number | LRUOptions<K, V>)
  /** Number of entries (expired entries count until they are removed). */
  readonly size: number
  /** `'LRU'`. */
  readonly [Symbol.toStringTag]: string
  /** The value of `key`, which becomes the most recently used; `undefined` if absent or expired. */
  get(key: K): V | undefined
  /** Stores `value` under `key` as the most recently used entry, evicting if needed. Returns the cache. */
  set(key: K, value: V, options?: LRUSetOptions): this
  /** Whether `key` has a live entry. Does not change recency. */
  has(key: K): boolean
  /** Removes `key`; `true` if a live entry was removed. */
  delete(key: K): boolean
  /** Removes every entry (`onEvict` sees reason `'clear'`). */
  clear(): void
  /** Keys, most recently used first. */
  keys(): IterableIterator<K>
  /** Values, most recently used first. */
  values(): IterableIterator<V>
  /** `[key, value]` pairs, most recently used first. */
  entries(): IterableIterator<[K, V]>
  [Symbol.iterator](): IterableIterator<[K, V]>
  /** Calls `callback(value, key, cache)` for each entry, most recently used first. */
  forEach(callback: (value: V, key: K, cache: this) => void, thisArg?: any): void

  /** The value of `key` without changing recency. */
  peek(key: K): V | undefined
  /** Removes and returns the least recently used entry. */
  pop(): [K, V] | undefined
  /** Changes `max`, evicting down to it at once. */
  resize(max: number): void
  /** The `max` option (`Infinity` if not set). */
  readonly max: number
  /** The `maxSize` option (`Infinity` if not set). */
  readonly maxSize: number
  /** Total size of the entries. */
  readonly calculatedSize: number
  /** Milliseconds `key` has left: `Infinity` without TTL, 0 if absent or expired. */
  getRemainingTTL(key: K): number
  /** Removes every expired entry; returns how many. */
  purgeStale(): number
  /** Counters since creation. */
  stats(): LRUStats
  /**
   * The value of `key`; on a miss, calls `fetcher` (or the `fetchMethod`
   * option) and stores what it resolves to (unless `undefined`). Concurrent
   * calls for one key share one load; a rejection is not cached.
   *
   * @example
   * const user = await cache.fetch(id, (id) => db.users.find(id))
   */
  fetch(key: K, fetcher?: (key: K, options: { signal: AbortSignal }) => V | undefined | Promise<V | undefined>): Promise<V | undefined>
  /** Entries with their TTL and size, least recently used first, for {@link LRU.load}. */
  dump(): Array<[K, LRUDumpEntry<V>]>
  /** Sets entries from {@link LRU.dump}, in order; expired ones are skipped. */
  load(entries: Iterable<[K, LRUDumpEntry<V>]>): void
}

// ----------------------------------------------------------------- BufferPool

/**
 * How much a {@link BufferPool} records about Buffers that are never released:
 * `'off'` records nothing (leaks are still counted in `stats().leaked`, but
 * neither `onLeak` nor a warning fires), `'sample'` records the stack of
 * about 1 acquisition in 128, `'full'` records every one.
 */
export type LeakDetection = 'off' | 'sample' | 'full'

/** A pooled Buffer that was garbage-collected without {@link BufferPool.release}, as `onLeak` sees it. */
export interface BufferLeakReport {
  /** Bytes of the Buffer. */
  size: number
  /** Milliseconds from `acquire` to collection (a coarse clock: a few milliseconds of resolution). */
  age: number
  /** The stack frames of the `acquire` that lent it, when that acquisition was recorded. */
  stack: string | undefined
}

/** Options of {@link BufferPool}. */
export interface BufferPoolOptions {
  /**
   * The default size of `acquire()` and the largest size it accepts, in bytes
   * (default 16384). Smaller requests take a slot of the next power of two
   * (at least 64 bytes), so one pool serves every size up to this one.
   */
  bufferSize?: number
  /**
   * Most bytes the pool keeps, lent and idle together (default
   * `max(64 MiB, bufferSize)`). Memory is allocated as leases need it, not up
   * front; idle slots of other sizes are freed to make room.
   */
  maxBytes?: number
  /**
   * Leases start zero-filled (default `true`), like `Buffer.alloc`. With
   * `false` they may hold bytes of an earlier lease, like `Buffer.allocUnsafe`;
   * a released Buffer is emptied either way.
   */
  zeroFill?: boolean
  /**
   * What `acquire` does when `maxBytes` is in use: `'allocate'` (default)
   * returns an ordinary Buffer (counted in `stats().overflow`; `release`
   * accepts it and empties it too), `'throw'` throws a `RangeError` with code
   * `ERR_LEAKLESS_POOL_EXHAUSTED`.
   */
  whenExhausted?: 'allocate' | 'throw'
  /** How much to record about leaked Buffers (default `'sample'`). */
  leakDetection?: LeakDetection
  /**
   * Called for each Buffer collected without release, on a later turn of the
   * event loop (never inside `acquire` or the garbage collector). If it
   * throws, the error is rethrown on the next tick as an uncaught exception.
   */
  onLeak?: (report: BufferLeakReport) => void
}

/** Counters of one {@link BufferPool}, from {@link BufferPool.stats}. */
export interface BufferPoolStats {
  /** Pooled Buffers lent out now. */
  inUse: number
  /** Idle slots ready to lend. */
  idle: number
  /** Bytes of the slots lent out (a slot may be larger than its Buffer). */
  inUseBytes: number
  /** Bytes of the idle slots: what `trim()` would free. */
  idleBytes: number
  /** `inUseBytes + idleBytes`: native memory the pool holds, at most `maxBytes`. */
  reservedBytes: number
  /** The largest `reservedBytes` so far. */
  highWaterBytes: number
  /** Pooled Buffers handed out (ordinary overflow Buffers are counted in `overflow`). */
  acquired: number
  /** Pooled Buffers given back with `release`. */
  released: number
  /** Pooled Buffers garbage-collected without `release`: each is a leak in the caller. */
  leaked: number
  /** Ordinary Buffers handed out because `maxBytes` was in use (`whenExhausted: 'allocate'`). */
  overflow: number
  /**
   * `'external'`: Buffers over pool memory. `'copy'`: the runtime refuses
   * external buffers (a V8 sandbox, as in Electron), so every Buffer is an
   * ordinary allocation and nothing is pooled; release still empties it.
   */
  mode: 'external' | 'copy'
}

/**
 * Reusable Buffers in native memory that cannot leak data or memory.
 *
 * `release(buf)` detaches the Buffer's ArrayBuffer: the Buffer and every view
 * of it (`subarray`, `new Uint8Array(buf.buffer)`, ...) read as empty from then
 * on, so a reference kept by mistake can never see the next user's bytes. A
 * Buffer that is never released comes back when it is garbage-collected, and
 * is reported as a leak (`stats().leaked`, `onLeak`, a rate-limited
 * `LeaklessWarning` with code `LEAKLESS_BUFFER_LEAK`).
 *
 * @example
 * const pool = new BufferPool({ bufferSize: 16384, maxBytes: 64 * 2 ** 20 })
 * const buf = pool.acquire(1500) // Buffer, buf.length === 1500, zero-filled
 * pool.release(buf)              // buf.length === 0 from now on
 * await pool.using(4096, async (b) => socket.read(b)) // released when the promise settles
 */
export declare class BufferPool {
  /**
   * Creates an empty pool. Throws `TypeError`/`RangeError` with a Node-style
   * `code` for a bad option (`maxBytes` smaller than `bufferSize` included).
   */
  constructor(options?: BufferPoolOptions)
  /** The `bufferSize` option. */
  readonly bufferSize: number
  /** The `maxBytes` option (or its default). */
  readonly maxBytes: number
  /** Whether {@link BufferPool.close} was called. */
  readonly closed: boolean
  /** `'external'`, or `'copy'` where the runtime refuses external buffers (see {@link BufferPoolStats.mode}). */
  readonly mode: 'external' | 'copy'
  /** `'BufferPool'`. */
  readonly [Symbol.toStringTag]: string
  /**
   * A Buffer of exactly `size` bytes (default `bufferSize`, at most
   * `bufferSize`) over pool memory; `buf.buffer` holds exactly those bytes.
   * Zero-filled unless `zeroFill: false`. When `maxBytes` is in use, see
   * `whenExhausted`. Throws `ERR_LEAKLESS_POOL_CLOSED` after `close()`.
   */
  acquire(size?: number): Buffer
  /**
   * Gives `buffer` back and detaches it: it and every view of it read as
   * empty from now on. Throws a `TypeError` and changes nothing for a Buffer
   * released already (`ERR_LEAKLESS_DOUBLE_RELEASE`), a slice or any other
   * object than the one `acquire` returned, or a Buffer this pool did not lend
   * (`ERR_LEAKLESS_NOT_POOLED`); an `Error` with `ERR_LEAKLESS_POOL_CLOSED`
   * after `close()` (the Buffer then stays valid until it is collected).
   */
  release(buffer: Buffer): void
  /**
   * Calls `fn` with a Buffer of `size` bytes and releases it when `fn`
   * returns or throws, or, when `fn` returns a promise, when it settles.
   * Returns what `fn` returns. Releasing the Buffer inside `fn` is allowed;
   * if the pool was closed meanwhile, the Buffer is left to the collector.
   *
   * @example
   * const digest = await pool.using(65536, async (buf) => hash(await readInto(buf)))
   */
  using<T>(size: number | undefined, fn: (buffer: Buffer) => T): T
  /** `using(bufferSize, fn)`. */
  using<T>(fn: (buffer: Buffer) => T): T
  /** Counters and sizes. */
  stats(): BufferPoolStats
  /** Frees every idle slot; returns the bytes freed. */
  trim(): number
  /**
   * Frees every idle slot and refuses further `acquire` and `release`; returns
   * the bytes freed (0 when already closed). Buffers still out stay valid
   * until they are collected, then their memory is freed (not counted as leaks).
   */
  close(): number
  /** `close()`, for `using pool = new BufferPool()`. */
  [Symbol.dispose](): void
}

// ----------------------------------------------------------------- accounting

/** What leakless holds on the current thread, from {@link stats}. */
export interface LeaklessStats {
  /** Net bytes of native memory reported to V8 with `napi_adjust_external_memory`. */
  externalBytes: number
  /** Live LRUs: how many, their entries, their native bytes. */
  lru: { instances: number; entries: number; bytes: number }
  /**
   * Live BufferPools: how many, the bytes of their lent and idle slots, and
   * how many of their Buffers were collected without release.
   */
  pools: { instances: number; inUseBytes: number; idleBytes: number; leaked: number }
}

/** What leakless holds on the current thread. */
export declare function stats(): LeaklessStats

/** `process.memoryUsage()` plus `leakless`: native bytes leakless reported to V8 (which `external` does not show). */
export declare function memoryUsage(): NodeJS.MemoryUsage & { leakless: number }

/** The package version. */
export declare const version: string
