'use strict'

// BufferPool: reusable Buffers over native memory that cannot leak data or
// memory (see index.d.ts for the API, core/src/pool.rs for the slot states).
//
// Hot path: `acquire` writes the pool id and size into a Float64Array shared
// with Rust (the mailbox) and makes one call, which returns an external
// Buffer over a pool slot; `release` makes one call, which checks the Buffer
// is exactly that lease and detaches it, so it and every view of it read as
// empty from then on. The lease's slot rides on the Buffer in a private field
// (no WeakMap: cheaper, and the garbage collector has nothing to trace).
//
// Leaks: Rust queues a record when a lent Buffer is collected (its finalizer
// runs on a later turn of the event loop, never inside GC code that could run
// JS). Records are collected here on the next acquire of the pool, on stats(),
// and on a turn scheduled by Rust through a thread-safe function; reports go
// to `onLeak` and a rate-limited LeaklessWarning from a setImmediate, so user
// code never runs inside acquire. Stacks are captured only for sampled
// acquisitions and dropped on release.

const native = require('../common/native')
const { LiveSet } = require('../common/tracker')
const { emitWarning } = require('../common/warnings')
const {
  describe,
  invalidArgType,
  leaklessError,
  outOfRange,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateObject,
  validateOneOf,
  validateOptionalFunction,
} = require('../common/errors')
const { kDispose } = require('../common/dispose')
const { constants: bufferConstants } = require('node:buffer')

// Mailbox layout and statuses: src/pool.rs.
const {
  MB_POOL,
  MB_ARG,
  MB_STATUS,
  MB_SLOT,
  MB_SERIAL,
  MB_LEAKS,
  ST_OK,
  ST_CLOSED,
  ST_EXHAUSTED,
  ST_NO_EXTERNAL,
  ST_NOT_LENT,
  ST_MISMATCH,
  LEAK_RECORD,
} = require('../common/protocol').pool

// Private-field values for Buffers that are not (or no longer) a pool slot.
const RELEASED = -1
const PLAIN = -2 // an ordinary Buffer: overflow, copy mode, or size 0

const DEFAULT_BUFFER_SIZE = 16 * 1024
const DEFAULT_MAX_BYTES = 64 * 2 ** 20
const MAX_BUFFER_SIZE = Math.min(bufferConstants.MAX_LENGTH, 2 ** 31 - 1)
const SAMPLE_INTERVAL = 128
const LEAK_WARNING = 'LEAKLESS_BUFFER_LEAK'
const MAX_PENDING_REPORTS = 4096

/** Test hook: `new BufferPool({ [kForceCopyMode]: true })` behaves as under a V8 sandbox. */
const kForceCopyMode = Symbol('leakless.pool.forceCopyMode')
const kCollect = Symbol('leakless.pool.collect')
const kTotals = Symbol('leakless.pool.totals')

// Cells of live pools hold a WeakRef: leak records and totals need the
// pool's own state. A deref keeps a pool alive only until the current job
// ends, and only when stats() or a leak drain ran.
const live = new LiveSet()
function forEachPool(fn) {
  live.forEach((cell) => {
    const pool = cell.ref.deref()
    if (pool !== undefined) fn(pool)
  })
}

let mailbox
let nativeAcquire
let nativeRelease
let nativeDetach
let externalAllowed = false

function init() {
  if (mailbox !== undefined) return
  const [mb, acquire, release, detach, external] = native.poolInit(drainAll)
  mailbox = mb
  nativeAcquire = acquire
  nativeRelease = release
  nativeDetach = detach
  externalAllowed = external
}

// Called by Rust on a later turn of the event loop when a Buffer leaked.
function drainAll() {
  forEachPool((pool) => pool[kCollect]())
}

// Brands a Buffer with the pool that lent it (a token object, so that a
// Buffer kept after release does not keep its pool alive) and its slot. The
// base class returns the Buffer itself, so the private fields land on it.
class Brand {
  constructor(target) {
    return target
  }
}

class Lease extends Brand {
  #pool
  #slot

  constructor(buf, token, slot) {
    super(buf)
    this.#pool = token
    this.#slot = slot
  }

  /** The token of the pool that lent `buf`, or undefined. */
  static poolOf(buf) {
    return #pool in buf ? buf.#pool : undefined
  }

  static slotOf(buf) {
    return buf.#slot
  }

  static markReleased(buf) {
    buf.#slot = RELEASED
  }
}

function poolClosed(what) {
  return leaklessError(Error, 'ERR_LEAKLESS_POOL_CLOSED', `Cannot ${what}: the BufferPool is closed`)
}

/** The frames of a captured stack, without its first line. */
function framesOf(site) {
  const stack = site.stack
  if (typeof stack !== 'string') return undefined
  const nl = stack.indexOf('\n')
  return nl === -1 ? stack : stack.slice(nl + 1)
}

/**
 * Reusable Buffers in native memory. See index.d.ts for the API.
 */
class BufferPool {
  #id = -1
  // Holds the native pool's owner: collected with this object, it frees it.
  // eslint-disable-next-line no-unused-private-class-members
  #owner = null
  // What lent Buffers carry to name this pool.
  #token = {}
  #bufferSize
  #maxBytes
  #zeroFill
  #whenExhausted
  #leakDetection
  #onLeak
  #closed = false
  #copy = false

  // Sampling: a countdown to the next recorded acquisition (0: never).
  #countdown = 0
  // slot -> { serial, site } for sampled leases still out.
  #sites = new Map()
  #reports = []
  #deliveryScheduled = false

  #overflow = 0
  // Copy mode keeps its own counters (nothing is pooled).
  #copyAcquired = 0
  #copyReleased = 0
  #copyLeaked = 0
  #copyInUse = 0
  #copyInUseBytes = 0
  #copyRegistry = null

  /**
   * @param {object} [options]
   */
  constructor(options = {}) {
    validateObject(options, 'options')
    const {
      bufferSize = DEFAULT_BUFFER_SIZE,
      maxBytes,
      zeroFill = true,
      whenExhausted = 'allocate',
      leakDetection = 'sample',
      onLeak,
    } = options
    validateInteger(bufferSize, 'options.bufferSize', 1, MAX_BUFFER_SIZE)
    const max = maxBytes === undefined ? Math.max(DEFAULT_MAX_BYTES, bufferSize) : maxBytes
    validateInteger(max, 'options.maxBytes', 1, Number.MAX_SAFE_INTEGER)
    if (max < bufferSize) {
      throw outOfRange('options.maxBytes', `>= options.bufferSize (${bufferSize})`, max)
    }
    validateBoolean(zeroFill, 'options.zeroFill')
    validateOneOf(whenExhausted, 'options.whenExhausted', ['allocate', 'throw'])
    validateOneOf(leakDetection, 'options.leakDetection', ['off', 'sample', 'full'])
    validateOptionalFunction(onLeak, 'options.onLeak')

    this.#bufferSize = bufferSize
    this.#maxBytes = max
    this.#zeroFill = zeroFill
    this.#whenExhausted = whenExhausted
    this.#leakDetection = leakDetection
    this.#onLeak = onLeak
    this.#countdown = leakDetection === 'full' ? 1 : leakDetection === 'sample' ? nextSample() : 0

    init()
    if (!externalAllowed || options[kForceCopyMode] === true) {
      this.#useCopyMode()
    } else {
      const [id, owner] = native.poolCreate(bufferSize, max, zeroFill)
      this.#id = id
      this.#owner = owner
    }
    live.add(this, { ref: new WeakRef(this) })
  }

  /** Largest size `acquire` accepts, and its default. */
  get bufferSize() {
    return this.#bufferSize
  }

  /** Most bytes the pool keeps. */
  get maxBytes() {
    return this.#maxBytes
  }

  /** Whether `close()` was called. */
  get closed() {
    return this.#closed
  }

  /** `'external'`, or `'copy'` where the runtime refuses external buffers. */
  get mode() {
    return this.#copy ? 'copy' : 'external'
  }

  get [Symbol.toStringTag]() {
    return 'BufferPool'
  }

  /**
   * A Buffer of exactly `size` bytes over pool memory.
   * @param {number} [size]
   */
  acquire(size) {
    if (size === undefined) size = this.#bufferSize
    else if (typeof size !== 'number' || !(size >= 0 && size <= this.#bufferSize) || size % 1 !== 0) {
      this.#badSize(size)
    }
    return this.#take(size, BufferPool.prototype.acquire)
  }

  #take(size, entry) {
    if (this.#closed) throw poolClosed('acquire')
    if (this.#copy || size === 0) return this.#takePlain(size, entry)
    const mb = mailbox
    mb[MB_POOL] = this.#id
    mb[MB_ARG] = size
    const buf = nativeAcquire()
    if (buf === undefined) return this.#takeFailed(size, entry)
    const slot = mb[MB_SLOT]
    new Lease(buf, this.#token, slot)
    // Leak records first: one may name this very slot, and its recorded
    // stack must be matched before a new one takes its place.
    if (mb[MB_LEAKS] !== 0) this[kCollect]()
    if (this.#countdown !== 0 && --this.#countdown === 0) this.#recordSite(slot, mb[MB_SERIAL], entry)
    return buf
  }

  #badSize(size) {
    validateInteger(size, 'size', 0, this.#bufferSize)
    // validateInteger accepts what the fast check refused only for -0.
  }

  #recordSite(slot, serial, entry) {
    this.#countdown = this.#leakDetection === 'full' ? 1 : nextSample()
    const site = {}
    Error.captureStackTrace(site, entry)
    this.#sites.set(slot, { serial, site })
  }

  #takeFailed(size, entry) {
    const status = mailbox[MB_STATUS]
    if (status === ST_EXHAUSTED) {
      if (this.#whenExhausted === 'throw') {
        throw leaklessError(
          RangeError,
          'ERR_LEAKLESS_POOL_EXHAUSTED',
          `BufferPool exhausted: ${size} bytes requested, maxBytes (${this.#maxBytes}) in use`,
        )
      }
      this.#overflow++
      return this.#plain(size)
    }
    if (status === ST_NO_EXTERNAL) {
      this.#useCopyMode()
      return this.#takePlain(size, entry)
    }
    if (status === ST_CLOSED) throw poolClosed('acquire')
    throw leaklessError(Error, 'ERR_LEAKLESS_POOL_FAILED', `BufferPool could not create a Buffer of ${size} bytes`)
  }

  /** An ordinary Buffer with its own ArrayBuffer, so that release can detach it. */
  #plain(size) {
    const buf = this.#zeroFill ? Buffer.alloc(size) : Buffer.allocUnsafeSlow(size)
    new Lease(buf, this.#token, PLAIN)
    return buf
  }

  #takePlain(size, entry) {
    const buf = this.#plain(size)
    if (this.#copy && size !== 0) {
      this.#copyAcquired++
      this.#copyInUse++
      this.#copyInUseBytes += size
      let site
      if (this.#countdown !== 0 && --this.#countdown === 0) {
        this.#countdown = this.#leakDetection === 'full' ? 1 : nextSample()
        site = {}
        Error.captureStackTrace(site, entry)
      }
      this.#copyRegistry.register(buf, { size, at: performance.now(), site }, buf)
    }
    return buf
  }

  #useCopyMode() {
    this.#copy = true
    if (this.#copyRegistry !== null) return
    this.#copyRegistry = new FinalizationRegistry(({ size, at, site }) => {
      this.#copyInUse--
      this.#copyInUseBytes -= size
      this.#copyLeaked++
      this.#queueReport(size, performance.now() - at, site === undefined ? undefined : framesOf(site))
    })
  }

  /**
   * Gives `buf` back. It reads as empty from then on.
   * @param {Buffer} buf
   */
  release(buf) {
    if (typeof buf !== 'object' || buf === null) {
      throw invalidArgType('buffer', 'an instance of Buffer or Uint8Array', buf)
    }
    if (Lease.poolOf(buf) !== this.#token) throw this.#notPooled(buf)
    const slot = Lease.slotOf(buf)
    if (slot === RELEASED) {
      throw leaklessError(
        TypeError,
        'ERR_LEAKLESS_DOUBLE_RELEASE',
        'This Buffer was already released to the BufferPool (a released Buffer is empty)',
      )
    }
    if (this.#closed) throw poolClosed('release')
    if (slot === PLAIN) return this.#releasePlain(buf)
    const mb = mailbox
    mb[MB_POOL] = this.#id
    mb[MB_ARG] = slot
    mb[MB_STATUS] = -1
    nativeRelease(buf)
    if (mb[MB_STATUS] !== ST_OK) throw this.#releaseFailed(buf, mb[MB_STATUS])
    Lease.markReleased(buf)
    if (this.#sites.size !== 0) this.#sites.delete(slot)
  }

  #releasePlain(buf) {
    const size = buf.byteLength
    mailbox[MB_STATUS] = -1
    nativeDetach(buf)
    if (mailbox[MB_STATUS] !== ST_OK) throw this.#releaseFailed(buf, mailbox[MB_STATUS])
    Lease.markReleased(buf)
    if (this.#copyRegistry !== null && this.#copyRegistry.unregister(buf)) {
      this.#copyReleased++
      this.#copyInUse--
      this.#copyInUseBytes -= size
    }
  }

  #notPooled(buf) {
    if (!ArrayBuffer.isView(buf)) {
      return invalidArgType('buffer', 'an instance of Buffer or Uint8Array', buf)
    }
    const owner = Lease.poolOf(buf)
    if (owner !== undefined) {
      return leaklessError(
        TypeError,
        'ERR_LEAKLESS_NOT_POOLED',
        'This Buffer was acquired from another BufferPool; release it to the pool that lent it',
      )
    }
    if (!this.#copy && this.#id >= 0 && buf.byteLength > 0 && native.poolLocate(this.#id, toBytes(buf)) >= 0) {
      return leaklessError(
        TypeError,
        'ERR_LEAKLESS_NOT_POOLED',
        `Cannot release a view (slice) of a pooled Buffer (${describe(buf)}, byteOffset ${buf.byteOffset}, ` +
          `length ${buf.byteLength}); release the Buffer that acquire() returned`,
      )
    }
    return leaklessError(
      TypeError,
      'ERR_LEAKLESS_NOT_POOLED',
      `Cannot release a Buffer this BufferPool did not lend (${describe(buf)} of ${buf.byteLength} bytes)`,
    )
  }

  #releaseFailed(buf, status) {
    if (status === ST_CLOSED) return poolClosed('release')
    if (status === ST_NOT_LENT) {
      return leaklessError(
        TypeError,
        'ERR_LEAKLESS_DOUBLE_RELEASE',
        'This Buffer was already released to the BufferPool',
      )
    }
    if (status === ST_MISMATCH) {
      return leaklessError(
        TypeError,
        'ERR_LEAKLESS_NOT_POOLED',
        `This Buffer no longer views the memory the pool lent (${buf.byteLength} bytes at offset ${buf.byteOffset}): ` +
          'its ArrayBuffer was detached or transferred',
      )
    }
    return leaklessError(Error, 'ERR_LEAKLESS_POOL_FAILED', 'BufferPool could not release this Buffer')
  }

  /**
   * Calls `fn(buf)` with a Buffer of `size` bytes and releases it when `fn`
   * returns, throws, or its promise settles.
   */
  using(size, fn) {
    if (typeof size === 'function' && fn === undefined) {
      fn = size
      size = undefined
    }
    validateFunction(fn, 'fn')
    if (size === undefined) size = this.#bufferSize
    else if (typeof size !== 'number' || !(size >= 0 && size <= this.#bufferSize) || size % 1 !== 0) {
      this.#badSize(size)
    }
    const buf = this.#take(size, BufferPool.prototype.using)
    let result
    try {
      result = fn(buf)
    } catch (err) {
      this.#giveBack(buf)
      throw err
    }
    if (isThenable(result)) return Promise.resolve(result).finally(() => this.#giveBack(buf))
    this.#giveBack(buf)
    return result
  }

  // Release for `using`: the callback may have released the Buffer itself,
  // and a pool closed meanwhile takes nothing back.
  #giveBack(buf) {
    if (this.#closed || Lease.slotOf(buf) === RELEASED) return
    this.release(buf)
  }

  /** Counters and sizes; see index.d.ts. */
  stats() {
    const mode = this.#copy ? 'copy' : 'external'
    if (this.#id < 0) {
      return {
        inUse: this.#copyInUse,
        idle: 0,
        inUseBytes: this.#copyInUseBytes,
        idleBytes: 0,
        reservedBytes: 0,
        highWaterBytes: 0,
        acquired: this.#copyAcquired,
        released: this.#copyReleased,
        leaked: this.#copyLeaked,
        overflow: this.#overflow,
        mode,
      }
    }
    const s = native.poolStats(this.#id)
    if (s.pendingLeaks !== 0) this[kCollect]()
    return {
      inUse: s.inUse + this.#copyInUse,
      idle: s.idle,
      inUseBytes: s.inUseBytes + this.#copyInUseBytes,
      idleBytes: s.idleBytes,
      reservedBytes: s.reservedBytes,
      highWaterBytes: s.highWaterBytes,
      acquired: s.acquired + this.#copyAcquired,
      released: s.released + this.#copyReleased,
      leaked: s.leaked + this.#copyLeaked,
      overflow: this.#overflow,
      mode,
    }
  }

  /** Frees idle memory; returns the bytes freed. */
  trim() {
    if (this.#id < 0 || this.#closed) return 0
    return native.poolTrim(this.#id)
  }

  /** Frees idle memory and refuses further acquisitions; returns the bytes freed. */
  close() {
    if (this.#closed) return 0
    this.#closed = true
    if (this.#id < 0) return 0
    return native.poolClose(this.#id)
  }

  [kDispose]() {
    this.close()
  }

  /** Takes the leak records Rust queued and schedules their reports. */
  [kCollect]() {
    if (this.#id < 0) return
    const flat = native.poolTakeLeaks(this.#id)
    for (let i = 0; i < flat.length; i += LEAK_RECORD) {
      const serial = flat[i]
      const slot = flat[i + 1]
      let stack
      const record = this.#sites.get(slot)
      if (record !== undefined && record.serial === serial) {
        stack = framesOf(record.site)
        this.#sites.delete(slot)
      }
      this.#queueReport(flat[i + 2], flat[i + 3], stack)
    }
  }

  #queueReport(size, age, stack) {
    if (this.#leakDetection === 'off') return
    if (this.#reports.length < MAX_PENDING_REPORTS) this.#reports.push({ size, age, stack })
    if (!this.#deliveryScheduled) {
      this.#deliveryScheduled = true
      setImmediate(() => this.#deliver()).unref()
    }
  }

  #deliver() {
    this.#deliveryScheduled = false
    const reports = this.#reports
    if (reports.length === 0) return
    this.#reports = []
    const first = reports.find((r) => r.stack !== undefined) ?? reports[0]
    const count = reports.length
    let message =
      count === 1
        ? `A BufferPool Buffer of ${first.size} bytes was garbage-collected without release(); it`
        : `${count} BufferPool Buffers were garbage-collected without release(); one of ${first.size} bytes`
    message += ` was acquired ${Math.round(first.age)} ms before it was collected.`
    message +=
      first.stack === undefined
        ? " Use leakDetection: 'full' to record where Buffers are acquired."
        : ` Acquired at:\n${first.stack}`
    emitWarning(message, LEAK_WARNING)
    const onLeak = this.#onLeak
    if (onLeak === undefined) return
    for (const report of reports) {
      try {
        onLeak(report)
      } catch (err) {
        process.nextTick(() => {
          throw err
        })
      }
    }
  }

  // This pool's share of leakless.stats().pools: the same figures as stats().
  [kTotals]() {
    const { inUseBytes, idleBytes, leaked } = this.stats()
    return { inUseBytes, idleBytes, leaked }
  }
}

function nextSample() {
  // Uniform in [1, 2 * SAMPLE_INTERVAL - 1]: about 1 in SAMPLE_INTERVAL.
  return 1 + Math.floor(Math.random() * (2 * SAMPLE_INTERVAL - 1))
}

function isThenable(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false
  return typeof value.then === 'function'
}

function toBytes(view) {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
}

/** Totals over this thread's live pools, for `leakless.stats().pools`. */
function poolTotals() {
  const totals = { instances: 0, inUseBytes: 0, idleBytes: 0, leaked: 0 }
  forEachPool((pool) => {
    const t = pool[kTotals]()
    totals.instances++
    totals.inUseBytes += t.inUseBytes
    totals.idleBytes += t.idleBytes
    totals.leaked += t.leaked
  })
  return totals
}

module.exports = { BufferPool, poolTotals, kForceCopyMode }
