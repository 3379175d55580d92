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

// ----------------------------------------------------------------- accounting

/** What leakless holds on the current thread, from {@link stats}. */
export interface LeaklessStats {
  /** Net bytes of native memory reported to V8 with `napi_adjust_external_memory`. */
  externalBytes: number
  /** Live LRUs: how many, their entries, their native bytes. */
  lru: { instances: number; entries: number; bytes: number }
}

/** What leakless holds on the current thread. */
export declare function stats(): LeaklessStats

/** `process.memoryUsage()` plus `leakless`: native bytes leakless reported to V8 (which `external` does not show). */
export declare function memoryUsage(): NodeJS.MemoryUsage & { leakless: number }

/** The package version. */
export declare const version: string
