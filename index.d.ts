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
  /** Replaced by `set()` with another value, or refused for being larger than `maxSize` or `maxEntrySize`. */
  | 'set'
  /** Removed by `clear()` (`dispose` and `disposeAfter` see `'delete'` instead, as in lru-cache). */
  | 'clear'
  /** Removed because a `fetch` of it failed (off-heap storage reports `'delete'`). */
  | 'fetch'

/** The reasons lru-cache's `dispose` and `disposeAfter` see: `clear()` is `'delete'`. */
export type DisposeReason = Exclude<EvictionReason, 'clear'>

/** Why `onInsert` was called: a new key, another value, or the same value again. */
export type InsertReason = 'add' | 'replace' | 'update'

/**
 * What `fetchMethod` receives as its third argument, as in lru-cache:
 * `signal` aborts when the key is set, deleted, evicted or cleared
 * meanwhile (or when the caller's `signal` aborts); `options` are the
 * fetch's options (it may change `ttl` for this entry); `context` is the
 * `context` given to `fetch`.
 */
export interface LRUFetcherOptions<K, V, FC = unknown> {
  signal: AbortSignal
  options: LRUFetchOptions<K, V, FC>
  context: FC
}

/** `fetchMethod(key, staleValue, { signal, options, context })`, as lru-cache calls it. */
export type LRUFetcher<K, V, FC = unknown> = (
  key: K,
  staleValue: V | undefined,
  options: LRUFetcherOptions<K, V, FC>,
) => V | undefined | void | Promise<V | undefined | void>

/** `memoMethod(key, staleValue, { options, context })`, synchronous. */
export type LRUMemoizer<K, V, FC = unknown> = (
  key: K,
  staleValue: V | undefined,
  options: { options: LRUMemoOptions<K, V, FC>; context: FC },
) => V

/** Options of {@link LRU}. At least one of `max` and `maxSize` is required. */
export interface LRUOptions<K, V, FC = unknown> {
  /** Most entries kept. A positive integer (`Infinity`: none, so that `new LRU({ max: c.max })` copies). */
  max?: number
  /**
   * Most total size kept. Sizes come from `sizeCalculation(value, key)` or the
   * `size` given to `set()`; with `storage: 'offheap'`, from the real bytes held.
   */
  maxSize?: number
  /** Largest size of one entry (default `maxSize`; off-heap, real bytes); a larger one is not stored. */
  maxEntrySize?: number
  /** Milliseconds an entry lives (0: forever). Expired (age > ttl) entries are never returned and are evicted first. */
  ttl?: number
  /** Expired entries are removed by timers that never keep the process alive (`unref`). */
  ttlAutopurge?: boolean
  /** Accepted for lru-cache code; leakless reads the clock on every check, as lru-cache does with `0`. */
  ttlResolution?: number
  /** A `get` restarts the entry's TTL. */
  updateAgeOnGet?: boolean
  /** A `has` restarts the entry's TTL. */
  updateAgeOnHas?: boolean
  /** A `get` of an expired entry returns it once, then it is gone; `fetch` returns it while refreshing. */
  allowStale?: boolean
  /** A `get` of an expired entry does not remove it. */
  noDeleteOnStaleGet?: boolean
  /** Replacing a value does not report the old one to `dispose`, `disposeAfter` or `onEvict`. */
  noDisposeOnSet?: boolean
  /** Replacing a value keeps the entry's TTL. */
  noUpdateTTL?: boolean
  /**
   * Called after an entry left the cache. The cache is consistent when it runs,
   * so it may call back into the cache. If it throws, the operation that caused
   * the eviction completes and then rethrows.
   */
  onEvict?: (value: V, key: K, reason: EvictionReason) => void
  /**
   * lru-cache's name: called for each entry that leaves. Heap storage calls it as lru-cache does, during the
   * operation while the entry is still in the cache (`has`/`peek` see it); the cache can be read there, and a
   * change (`set`, `delete`, `clear`, `pop`, `resize`, `purgeStale`) throws `ERR_LEAKLESS_REENTRANT`. If it
   * throws, the operation completes first and the error is thrown after. Off-heap storage calls it once the
   * operation is done, before `disposeAfter`.
   */
  dispose?: (value: V, key: K, reason: DisposeReason) => void
  /** lru-cache's name: called for each entry that left, after every `dispose` call. */
  disposeAfter?: (value: V, key: K, reason: DisposeReason) => void
  /** Called after `set` stored a value. */
  onInsert?: (value: V, key: K, reason: InsertReason) => void
  /** Size of an entry, a positive integer; called once per `set`. Heap storage only. */
  sizeCalculation?: (value: V, key: K) => number
  /** Loader for {@link LRU.fetch}, as lru-cache calls it. */
  fetchMethod?: LRUFetcher<K, V, FC>
  /** Computes a miss for {@link LRU.memo}. */
  memoMethod?: LRUMemoizer<K, V, FC>
  /** A failed `fetch` resolves to the stale value (and keeps it), if there is one. */
  allowStaleOnFetchRejection?: boolean
  /** A `fetch` aborted by its caller's `signal` resolves to the stale value; a late result is still stored. */
  allowStaleOnFetchAbort?: boolean
  /** A `fetch` whose `signal` aborted still stores what `fetchMethod` resolves to. */
  ignoreFetchAbort?: boolean
  /** A failed `fetch` leaves the stale entry in place. */
  noDeleteOnFetchRejection?: boolean
  /**
   * `'heap'` (default): any JS value. `'offheap'`: keys (strings, numbers) and
   * values (strings, Buffers, Uint8Arrays) live in native memory that the
   * garbage collector never traces. `'shared'`: off-heap keys and values in
   * the store named `name`, one for every thread of the process.
   */
  storage?: 'heap' | 'offheap' | 'shared'
  /**
   * With `storage: 'shared'` (required there): the store's name, 1 to 256
   * characters. The first cache with a name creates the store; every later
   * one, in any thread, opens it and must give the same `max`, `maxSize`,
   * `ttl`, `updateAgeOnGet` and `allowStale` (else `ERR_LEAKLESS_SHARED_MISMATCH`).
   * `onEvict`, `sizeCalculation` and `perf` are refused there.
   *
   * @example
   * const sessions = new LRU({ storage: 'shared', name: 'sessions', maxSize: 256 * 2 ** 20, ttl: 60_000 })
   */
  name?: string
  /**
   * Eviction policy. `'lru'` (default): the exact least recently used entry
   * goes first. `'s3fifo'`: S3-FIFO (SOSP 2023): new entries wait in a small
   * FIFO, entries read twice there move to a main FIFO, keys evicted recently
   * (remembered by hash) come back straight to main; a one-off scan no longer
   * flushes the entries that are read often. Under `'s3fifo'`, `keys()`,
   * `values()`, `entries()` and iteration list the main queue newest first,
   * then the small queue newest first; `dump()` is that order reversed;
   * `pop()` removes the entry eviction would take next. With `maxSize` the
   * queues are sized in size units. Anything else throws `ERR_INVALID_ARG_VALUE`,
   * and so does `'s3fifo'` with `storage: 'shared'` (its store is LRU only).
   * @example new LRU({ max: 10_000, policy: 's3fifo' })
   */
  policy?: 'lru' | 's3fifo'
  /** Clock for TTLs (default `performance`; `Date` works). Tests can pass a fake one. Not with `storage: 'shared'`. */
  perf?: { now(): number }
}

/**
 * Thrown by `new LRU({ storage: 'shared', name })` when the store exists with
 * other options: `code` is `'ERR_LEAKLESS_SHARED_MISMATCH'`, `option` names
 * the option, `existing` is the store's value and `given` this call's.
 */
export interface SharedMismatchError extends TypeError {
  code: 'ERR_LEAKLESS_SHARED_MISMATCH'
  option: 'max' | 'maxSize' | 'ttl' | 'updateAgeOnGet' | 'allowStale'
  existing: number | boolean
  given: number | boolean
}

/** One shared store of the process, in {@link LeaklessStats.shared}. */
export interface SharedStoreStats {
  /** The store's name. */
  name: string
  /** Entries held. */
  entries: number
  /** Bytes held (keys, values and per-entry bookkeeping), as counted against `maxSize`. */
  bytes: number
  /** Caches open on it, in every thread. */
  holders: number
}

/**
 * What happened during one call, filled in when an object is passed as
 * `status` (lru-cache's tracking object).
 */
export interface LRUStatus<V> {
  get?: 'hit' | 'stale' | 'miss'
  has?: 'hit' | 'stale' | 'miss'
  set?: 'add' | 'update' | 'replace' | 'miss'
  fetch?: 'get' | 'inflight' | 'miss' | 'hit' | 'stale' | 'refresh'
  memo?: 'hit' | 'miss'
  /** The value replaced by `set`. */
  oldValue?: V
  /** A stale value was returned. */
  returnedStale?: true
  /** `set` stored nothing: the entry is larger than `maxEntrySize` (or `maxSize`). */
  maxEntrySizeExceeded?: true
  ttl?: number
  start?: number
  now?: number
  remainingTTL?: number
  entrySize?: number
  totalCalculatedSize?: number
  fetchAborted?: true
  fetchAbortIgnored?: true
  fetchResolved?: true
  fetchRejected?: true
  fetchUpdated?: true
  fetchError?: unknown
}

/** Per-call options of {@link LRU.set}. */
export interface LRUSetOptions<K = any, V = any> {
  /** TTL of this entry in milliseconds, overriding the cache's `ttl` (0: forever). */
  ttl?: number
  /** When the TTL starts, on the `perf` clock (default: now). */
  start?: number
  /** Size of this entry, overriding `sizeCalculation`. Needs a cache that tracks sizes (heap storage). */
  size?: number
  /** Size of this entry, computed. Needs a cache that tracks sizes (heap storage). */
  sizeCalculation?: (value: V, key: K) => number
  noDisposeOnSet?: boolean
  noUpdateTTL?: boolean
  status?: LRUStatus<V>
}

/** Per-call options of {@link LRU.get}. */
export interface LRUGetOptions<V = any> {
  allowStale?: boolean
  /** Off-heap, `false` cannot turn off the cache's `updateAgeOnGet`. */
  updateAgeOnGet?: boolean
  noDeleteOnStaleGet?: boolean
  status?: LRUStatus<V>
}

/** Per-call options of {@link LRU.has}. */
export interface LRUHasOptions<V = any> {
  updateAgeOnHas?: boolean
  status?: LRUStatus<V>
}

/** Per-call options of {@link LRU.peek}. */
export interface LRUPeekOptions {
  allowStale?: boolean
}

/** Options of {@link LRU.fetch}, as lru-cache takes them. */
export interface LRUFetchOptions<K = any, V = any, FC = unknown>
  extends Omit<LRUGetOptions<V>, 'status'>, Omit<LRUSetOptions<K, V>, 'status' | 'start'> {
  /** Loads even if the entry is live (with `allowStale`, the current value is returned meanwhile). */
  forceRefresh?: boolean
  /** Aborts the load. */
  signal?: AbortSignal
  /** Passed to `fetchMethod` as `context`. */
  context?: FC
  allowStaleOnFetchRejection?: boolean
  allowStaleOnFetchAbort?: boolean
  ignoreFetchAbort?: boolean
  noDeleteOnFetchRejection?: boolean
  status?: LRUStatus<V>
}

/** Options of {@link LRU.memo}. */
export interface LRUMemoOptions<K = any, V = any, FC = unknown>
  extends LRUGetOptions<V>, Omit<LRUSetOptions<K, V>, 'status'> {
  forceRefresh?: boolean
  context?: FC
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
 * Keys compare like `Map` keys (SameValueZero). Takes lru-cache 11's options
 * and methods; the README lists what differs.
 *
 * @example
 * const cache = new LRU<string, User>({ max: 10_000 })
 * cache.set('ada', user)
 * cache.get('ada') // user, now the most recently used
 */
export declare class LRU<K = any, V = any, FC = unknown> implements Iterable<[K, V]> {
  /**
   * `new LRU(1000)` is `new LRU({ max: 1000 })`. Throws `RangeError`
   * (`ERR_LEAKLESS_UNBOUNDED`) without `max` or `maxSize`.
   */
  constructor(options: number | LRUOptions<K, V, FC>)
  /** Number of entries (expired entries count until they are removed). */
  readonly size: number
  /** `'LRU'`. */
  readonly [Symbol.toStringTag]: string
  /** The value of `key`, which becomes the most recently used; `undefined` if absent or expired. */
  get(key: K, options?: LRUGetOptions<V>): V | undefined
  /**
   * Stores `value` under `key` as the most recently used entry, evicting if
   * needed. Returns the cache. A number as `options` is the TTL in ms (as
   * keyv passes it).
   */
  set(key: K, value: V, options?: LRUSetOptions<K, V> | number): this
  /** Whether `key` has a live entry. Does not change recency. */
  has(key: K, options?: LRUHasOptions<V>): boolean
  /** Removes `key`; `true` if a live entry was removed. */
  delete(key: K): boolean
  /** Removes every entry, least recently used first (`onEvict` sees reason `'clear'`). */
  clear(): void
  /** Keys, most recently used first. */
  keys(): IterableIterator<K>
  /** Values, most recently used first. */
  values(): IterableIterator<V>
  /** `[key, value]` pairs, most recently used first. */
  entries(): IterableIterator<[K, V]>
  /** Keys, least recently used first. */
  rkeys(): IterableIterator<K>
  /** Values, least recently used first. */
  rvalues(): IterableIterator<V>
  /** `[key, value]` pairs, least recently used first. */
  rentries(): IterableIterator<[K, V]>
  [Symbol.iterator](): IterableIterator<[K, V]>
  /** Calls `callback(value, key, cache)` for each entry, most recently used first. */
  forEach(callback: (value: V, key: K, cache: this) => void, thisArg?: any): void
  /** Calls `callback(value, key, cache)` for each entry, least recently used first. */
  rforEach(callback: (value: V, key: K, cache: this) => void, thisArg?: any): void
  /** The value (read with `get(key, options)`) of the first entry, most recently used first, that `fn` accepts. */
  find(fn: (value: V, key: K, cache: this) => boolean | undefined | void, options?: LRUGetOptions<V>): V | undefined
  /** `{ value, ttl?, start?, size? }` of a live entry (`ttl`: what is left), or `undefined`. */
  info(key: K): LRUDumpEntry<V> | undefined

  /** The value of `key` without changing recency. */
  peek(key: K, options?: LRUPeekOptions): V | undefined
  /** Removes and returns the least recently used entry, as `[key, value]`. */
  pop(): [K, V] | undefined
  /** Changes `max`, evicting down to it at once. Throws `ERR_LEAKLESS_SHARED_FIXED` on a shared store. */
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
   * The value of `key`; on a miss (or a stale entry, or with `forceRefresh`),
   * calls `fetchMethod(key, staleValue, { signal, options, context })` and
   * stores what it resolves to (unless `undefined`). Concurrent calls for one
   * key share one load; a rejection is not cached. Without a `fetchMethod`,
   * an async `get`. A function instead of options is used as the loader.
   *
   * @example
   * const user = await cache.fetch(id, { context: req })
   */
  fetch(key: K, options?: LRUFetchOptions<K, V, FC> | LRUFetcher<K, V, FC>): Promise<V | undefined>
  /** `fetch`, rejecting when it resolves to `undefined`. */
  forceFetch(key: K, options?: LRUFetchOptions<K, V, FC> | LRUFetcher<K, V, FC>): Promise<V>
  /** The value of `key`; on a miss, `memoMethod` computes it (synchronously) and it is stored. */
  memo(key: K, options?: LRUMemoOptions<K, V, FC>): V
  /** Entries with their TTL and size, least recently used first, for {@link LRU.load}. */
  dump(): Array<[K, LRUDumpEntry<V>]>
  /** Sets entries from {@link LRU.dump}, in order; expired ones are skipped. */
  load(entries: Iterable<[K, LRUDumpEntry<V>]>): void
  /** With `storage: 'shared'`: the store's name (otherwise `undefined`). */
  readonly name?: string
}

// ----------------------------------------------------------- ListenerRegistry

/**
 * Anything {@link ListenerRegistry.on} can attach to without an EventTarget:
 * an object with `on`/`off` (Node's `EventEmitter`, `MessagePort`, streams,
 * sockets...) or with `addListener`/`removeListener`.
 */
export type EventEmitterLike =
  | {
      on(event: string | symbol, listener: (...args: any[]) => void): unknown
      off(event: string | symbol, listener: (...args: any[]) => void): unknown
    }
  | {
      addListener(event: string | symbol, listener: (...args: any[]) => void): unknown
      removeListener(event: string | symbol, listener: (...args: any[]) => void): unknown
    }

/**
 * Removes one registration. Returns `true` the first time, when the listener
 * was still attached; `false` after that, after a `once` listener fired, after
 * its signal aborted, or when its target was garbage collected.
 * `[Symbol.dispose]` does the same, so `using off = reg.on(...)` works.
 *
 * A disposer references its listener: keeping the disposer keeps the listener
 * (and what the listener closes over), not the target itself.
 */
export type Disposer = (() => boolean) & { [Symbol.dispose](): void }

/** Per-registration options of {@link ListenerRegistry.on}. */
export interface ListenerOptions {
  /** Removed (and forgotten by the registry) after it first runs. */
  once?: boolean
  /**
   * Aborting removes the listener. Removing the listener first takes the
   * registry's abort hook off the signal, so a long-lived signal does not
   * accumulate hooks. An already aborted signal adds nothing.
   */
  signal?: AbortSignal
}

/** Options of {@link ListenerRegistry}. A registry's scopes share them. */
export interface ListenerRegistryOptions {
  /**
   * Listeners on one target+event (counted over the registry and all its
   * scopes) past which a `LeaklessWarning` and `onLeak` fire. Another warning
   * follows each time the count grows by another half of it. A positive
   * integer, or `Infinity` to disable leak detection. Default 10.
   */
  maxListeners?: number
  /**
   * Count past which `on` throws `RangeError` `ERR_LEAKLESS_TOO_MANY_LISTENERS`
   * instead of adding. At least `maxListeners`. Default `maxListeners ** 2`
   * (at least `maxListeners + 1`, at most `Number.MAX_SAFE_INTEGER`).
   */
  refuseAt?: number
  /**
   * Called with each leak report, alongside the warning. If it throws, the
   * registration that crossed the threshold is not made and `on` rethrows:
   * a test can fail on the first leak.
   */
  onLeak?: (report: ListenerLeakReport) => void
}

/** What {@link ListenerRegistryOptions.onLeak} receives. */
export interface ListenerLeakReport {
  /** The target with too many listeners. */
  target: object
  event: string | symbol
  /** Listeners on this target+event, counting the one being added. */
  count: number
  maxListeners: number
  /**
   * The most frequent registration stack (`    at ...` lines, without
   * leakless's own frames or Node's internals); its first line is the
   * user's file:line:column. Stacks are recorded only past half of `maxListeners`.
   */
  topStack: string
  /** How many recorded registrations share `topStack`. */
  topStackCount: number
  /** The text of the warning. */
  message: string
}

/** One line of {@link ListenerRegistry.report}. */
export interface ListenerReportEntry {
  target: object
  event: string | symbol
  /** Listeners this registry (and its scopes) hold on this target+event. */
  count: number
  /** Most frequent registration stack, or `null` when the count never came near `maxListeners`. */
  topStack: string | null
}

/**
 * Listeners that cannot outlive their scope. Each registration returns a
 * disposer; `dispose()` removes everything a registry and its scopes added.
 * Targets are held weakly: a registry never keeps an emitter alive. Too many
 * listeners on one target+event raise a `LeaklessWarning` naming the line
 * that keeps adding them.
 *
 * @example
 * const reg = new ListenerRegistry({ maxListeners: 10 })
 * const off = reg.on(socket, 'data', onData)
 * reg.once(worker, 'exit', onExit, { signal })
 * off()          // or: using off = reg.on(...)
 * reg.dispose()  // removes the rest; returns how many
 */
export declare class ListenerRegistry {
  /** Throws `RangeError` `ERR_OUT_OF_RANGE` for a bad `maxListeners` or `refuseAt`. */
  constructor(options?: ListenerRegistryOptions)
  /**
   * Attaches `listener` through the target's own API (`on`/`off`,
   * `addListener`/`removeListener`, or `addEventListener`/`removeEventListener`,
   * in that order of preference) and returns its disposer. On an EventTarget,
   * each registration attaches its own function, so registering one listener
   * twice attaches it twice, as on an EventEmitter.
   *
   * Throws `TypeError` `ERR_INVALID_ARG_TYPE` for a bad argument,
   * `ERR_LEAKLESS_DISPOSED` once disposed, and `RangeError`
   * `ERR_LEAKLESS_TOO_MANY_LISTENERS` past `refuseAt`.
   */
  on(
    target: EventEmitterLike | EventTarget,
    event: string | symbol,
    listener: (...args: any[]) => void,
    options?: ListenerOptions,
  ): Disposer
  /** `on` with `once: true`. */
  once(
    target: EventEmitterLike | EventTarget,
    event: string | symbol,
    listener: (...args: any[]) => void,
    options?: { signal?: AbortSignal },
  ): Disposer
  /**
   * Removes the most recent registration of `listener` for `event` on
   * `target` (here or in a scope). `true` if one was removed.
   */
  off(target: EventEmitterLike | EventTarget, event: string | symbol, listener: (...args: any[]) => void): boolean
  /**
   * Removes the listeners this registry and its scopes hold (on `target`,
   * for `event`); returns how many. The registry stays usable.
   */
  removeAll(target?: EventEmitterLike | EventTarget, event?: string | symbol): number
  /** Listeners this registry and its scopes hold (on `target`, for `event`). */
  count(target?: EventEmitterLike | EventTarget, event?: string | symbol): number
  /**
   * A child registry with the same options: disposed when this one is.
   * Leak detection counts a target+event over the whole tree.
   *
   * @example
   * const scope = reg.scope()
   * scope.on(bus, 'job', onJob)
   * scope.dispose()
   */
  scope(): ListenerRegistry
  /**
   * Removes every listener this registry and its scopes added, and refuses
   * new ones. Returns how many were removed (0 the second time).
   */
  dispose(): number
  /** `dispose()`, for `using reg = new ListenerRegistry()`. */
  [Symbol.dispose](): void
  /** Whether this registry or an ancestor was disposed. */
  readonly disposed: boolean
  /** Listeners per target and event, most numerous first. */
  report(): { total: number; entries: ListenerReportEntry[] }
  /** `'ListenerRegistry'`. */
  readonly [Symbol.toStringTag]: string
  /**
   * Express middleware giving each request a scope of one registry, reached
   * with `ListenerRegistry.of(req)`, disposed once when the response
   * finishes or closes, whichever comes first. Nothing is set on `req`. The
   * middleware's `registry` is that registry.
   *
   * @example
   * app.use(ListenerRegistry.express())
   * app.get('/events', (req, res) => {
   *   ListenerRegistry.of(req).on(bus, 'tick', (t) => res.write(`data: ${t}\n\n`))
   * })
   */
  static express(options?: ListenerRegistryOptions): ((req: any, res: any, next: (err?: unknown) => void) => void) & {
    registry: ListenerRegistry
  }
  /**
   * The scope `ListenerRegistry.express()` gave this request; throws
   * `ERR_LEAKLESS_NO_SCOPE` (`TypeError`) for a request that went through no
   * such middleware.
   */
  static of(req: object): ListenerRegistry
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
  /** Live ListenerRegistries (roots and scopes, not disposed) and the listeners they hold. */
  registries: { instances: number; listeners: number }
  /**
   * Live BufferPools: how many, the bytes of their lent and idle slots, and
   * how many of their Buffers were collected without release.
   */
  pools: { instances: number; inUseBytes: number; idleBytes: number; leaked: number }
  /**
   * Every shared store of the process (`storage: 'shared'`), by name: the
   * same list in every thread. Their bytes are not in `lru`; each holder
   * reports `bytes / holders` in `externalBytes`.
   */
  shared: SharedStoreStats[]
}

/** What leakless holds on the current thread. */
export declare function stats(): LeaklessStats

/** `process.memoryUsage()` plus `leakless`: native bytes leakless reported to V8 (which `external` does not show). */
export declare function memoryUsage(): NodeJS.MemoryUsage & { leakless: number }

/** The package version. */
export declare const version: string

// -------------------------------------------------------------------- monitor

/**
 * A memory figure a {@link Monitor} follows.
 * - `'heap'`: heap used right after major GCs, without the young generation.
 * - `'external'`: V8's external memory (Buffers, ArrayBuffers) right after major GCs.
 * - `'rss'`: resident set size of the process.
 * - `'leakless'`: native bytes leakless reported to V8 (`stats().externalBytes`).
 */
export type MonitorMetric = 'heap' | 'external' | 'rss' | 'leakless'

/** One reading of a {@link Monitor}, from {@link Monitor.samples}. Samples are frozen. */
export interface MonitorSample {
  /** When it was taken: `perf.now()`, by default epoch milliseconds that never go backwards. */
  time: number
  /**
   * `'gc'`: taken just after a major GC (on the next turn of the event loop).
   * `'interval'`: taken by the fallback timer because no major GC happened for `intervalMs`.
   */
  kind: 'gc' | 'interval'
  /**
   * Bytes of heap in use after the GC, not counting the young generation (the
   * GC emptied it; what sits there now was allocated after). `null` on
   * `'interval'` samples: between GCs the heap holds garbage.
   */
  heapUsed: number | null
  /** V8's external memory after the GC (`process.memoryUsage().external`); `null` on `'interval'` samples. */
  external: number | null
  /** Resident set size in bytes (`null` if the system refused to tell, e.g. out of file descriptors). */
  rss: number | null
  /** `leakless.stats().externalBytes`: native bytes leakless reported to V8. */
  leakless: number | null
}

/**
 * A least-squares line through one metric's samples in the current window:
 * what `onGrowth` receives, and what the growth `LeaklessWarning` carries as
 * properties.
 */
export interface GrowthTrend {
  /** The metric the line was fitted to. */
  metric: MonitorMetric
  /** Slope of the line, in bytes per minute. */
  bytesPerMin: number
  /** Coefficient of determination of the line, 0 to 1: how well a steady climb explains the samples. */
  r2: number
  /** The metric's value in the first sample of the window, in bytes. */
  from: number
  /** The metric's value in the last sample of the window, in bytes. */
  to: number
  /** Time of the first sample of the window (same clock as {@link MonitorSample.time}). */
  fromTime: number
  /** Time of the last sample of the window. */
  toTime: number
  /** Number of samples the line was fitted to. */
  samples: number
}

/** Where and how many heap snapshots a {@link Monitor} writes when it detects growth. */
export interface MonitorSnapshotOptions {
  /**
   * Directory for the `.heapsnapshot` files, created if missing. It must be
   * writable when `monitor()` is called (else `ERR_INVALID_ARG_VALUE`); later
   * failures are reported as a `LeaklessWarning` (`LEAKLESS_HEAP_SNAPSHOT_FAILED`).
   */
  dir: string
  /**
   * Most leakless snapshots (`leakless-*.heapsnapshot`) kept in `dir`, counting
   * those left by earlier processes, so a leaking service that restarts cannot
   * fill the disk. Default 2: one on detection, one after further growth.
   */
  max?: number
}

/** Options of {@link monitor}. Every one is optional. */
export interface MonitorOptions {
  /**
   * Called with the trend when sustained growth is detected, and again only
   * after growth went on for another whole window. If it throws, the error is
   * reported as a `LeaklessWarning` (`LEAKLESS_MONITOR_ERROR`) and sampling goes on.
   */
  onGrowth?: (trend: GrowthTrend) => void
  /**
   * Milliseconds without a major GC after which the fallback timer takes an
   * `'interval'` sample (RSS and leakless bytes only). Default 10 000. The
   * timer is unref'd: it never keeps the process alive.
   */
  intervalMs?: number
  /** Length of the sliding window the line is fitted over, in milliseconds. Default 300 000 (5 min). */
  windowMs?: number
  /** Growth below this many bytes per minute is never reported. Default 1 MiB (1 048 576). */
  minGrowthBytesPerMin?: number
  /** Least R² for a line to count as sustained growth, 0 to 1. Default 0.7. */
  minR2?: number
  /** Fewest samples a line is fitted to (at least 3). Default 6. */
  minSamples?: number
  /**
   * Metrics whose growth raises alerts. Default `['heap', 'external']`; `[]`
   * measures without alerting. `'rss'` follows the allocator more than the
   * program, and `'leakless'` grows by design while bounded caches fill up.
   */
  alertOn?: MonitorMetric[]
  /** Write heap snapshots on detection. Off unless given. */
  snapshots?: MonitorSnapshotOptions
  /** Clock for sample times, in milliseconds. Tests can pass a fake one. Default: epoch milliseconds. */
  perf?: { now(): number }
}

/**
 * A running memory monitor, from {@link monitor}. Stop it with `stop()` or
 * `using m = monitor()`.
 */
export interface Monitor {
  /** The samples of the current window, oldest first (a copy). */
  samples(): MonitorSample[]
  /**
   * The line fitted to each metric over the current window, whether or not it
   * crosses the thresholds; `null` for a metric with fewer than `minSamples` samples.
   * `'heap'` and `'external'` use `'gc'` samples only; `'rss'` and `'leakless'` use all.
   */
  trends(): Record<MonitorMetric, GrowthTrend | null>
  /** `true` until `stop()`. */
  readonly running: boolean
  /** Removes the GC observer and every timer the monitor made. Calling it again does nothing. */
  stop(): void
  /** Same as `stop()`. */
  [Symbol.dispose](): void
  /** `'Monitor'`. */
  readonly [Symbol.toStringTag]: string
}

/**
 * Watches memory for sustained growth. Samples the heap right after each major
 * GC, so garbage waiting to be collected never looks like a leak. Growth is
 * reported (`onGrowth` and a `LeaklessWarning` with code `LEAKLESS_MEMORY_GROWTH`)
 * when, over the window, the least-squares slope exceeds
 * `minGrowthBytesPerMin`, R² is at least `minR2`, there are at least
 * `minSamples` samples spanning at least half the window, and each half of the
 * window grows at a quarter of the slope or more (a one-off step is not a trend).
 *
 * @example
 * const m = monitor({ onGrowth: (trend) => log.warn(trend), snapshots: { dir: '/tmp/heaps', max: 2 } })
 * m.stop()
 */
export declare function monitor(options?: MonitorOptions): Monitor

/** Names of the gauges {@link collectMetrics} registers. */
export type LeaklessMetricName =
  | 'leakless_external_bytes'
  | 'leakless_lru_entries'
  | 'leakless_pool_in_use_bytes'
  | 'leakless_pool_leaked_buffers'
  | 'leakless_listeners'
  | 'leakless_heap_growth_bytes_per_minute'

/** The part of a prom-client `Registry` that {@link collectMetrics} uses. */
export interface PrometheusRegistry {
  getSingleMetric(name: string): unknown
  registerMetric(metric: any): void
}

/** The part of a prom-client `Gauge` worth reading back. */
export interface PrometheusGauge {
  /** The gauge's current value, read at call time. */
  get(): Promise<{ name: string; values: Array<{ value: number }> }>
}

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** The prom-client registry to register into. Default: prom-client's global `register`. */
  register?: PrometheusRegistry
  /**
   * Where `leakless_heap_growth_bytes_per_minute` comes from. A {@link Monitor}:
   * its heap slope (NaN once it is stopped). Omitted: the most recently started
   * monitor still running at scrape time; when none is running at the call,
   * collectMetrics starts one of its own (default options, `alertOn: []`, one
   * per thread, unref'd). `false`: never start one.
   */
  monitor?: Monitor | false
}

/**
 * Registers Prometheus gauges through prom-client, an optional peer
 * dependency (`ERR_LEAKLESS_MISSING_PEER` when it is not installed). Every
 * gauge reads its value at scrape time; the heap growth gauge is NaN while no
 * trend is known. Calling it again with the same registry returns the same
 * gauges; a registry holding one of these names from elsewhere is refused
 * with `ERR_LEAKLESS_METRIC_EXISTS`, before anything is registered.
 *
 * @example
 * const { Registry } = require('prom-client')
 * const register = new Registry()
 * leakless.monitor({ onGrowth: (trend) => log.warn(trend) })
 * leakless.collectMetrics({ register })
 */
export declare function collectMetrics(
  options?: CollectMetricsOptions,
): Readonly<Record<LeaklessMetricName, PrometheusGauge>>
