'use strict'

// The addon's own errors (src/errors.rs), met by calling the binding
// directly with bad arguments: every entry point, napi-rs or plain N-API,
// throws Node's class with a stable code and a message naming the argument,
// never napi-rs's `InvalidArg`/`NumberExpected`. The public API validates
// before it calls the addon; its codes are checked by the other specs.

const test = require('ava')
const native = require('../lib/common/native')
const { OP_INSERT, OP_DELETE } = require('../lib/common/protocol').recency

const NODE_CLASS = {
  ERR_INVALID_ARG_TYPE: TypeError,
  ERR_INVALID_ARG_VALUE: TypeError,
  ERR_OUT_OF_RANGE: RangeError,
  ERR_LEAKLESS_STALE_HANDLE: Error,
}

/** Asserts that `fn` throws `code` with Node's class for it; returns the error. */
function throwsNative(t, fn, code, messagePattern) {
  const err = t.throws(fn)
  t.is(err.code, code, err.message)
  t.is(err.constructor, NODE_CLASS[code], `${code} is a ${NODE_CLASS[code].name}`)
  if (messagePattern !== undefined) t.regex(err.message, messagePattern)
  return err
}

const u8 = (n = 64) => new Uint8Array(n)
const u32 = (n = 4) => new Uint32Array(n)
const f64 = (n = 8) => new Float64Array(n)

// Keeps the owners alive for the whole file, so that ids stay valid.
const owners = []
function heapLru() {
  const [id, owner] = native.lruCreate()
  owners.push(owner)
  return id
}
function s3Lru() {
  const [id, owner] = native.lruCreateS3Fifo(100, false)
  owners.push(owner)
  return id
}
function offLru() {
  const [id, owner] = native.offCreate(100, Infinity, false, false, true)
  owners.push(owner)
  return id
}
function shared() {
  const [id, owner] = native.sharedOpen('native-errors.spec', 100, Infinity, 0, false, false)
  owners.push(owner)
  return id
}
function pool() {
  const [id, owner] = native.poolCreate(1024, 65536, false)
  owners.push(owner)
  return id
}

/** Every entry point that takes an id first, with valid remaining arguments. */
function entryPoints() {
  const lru = heapLru()
  const s3 = s3Lru()
  const off = offLru()
  const p = pool()
  const sh = shared()
  return [
    ['lruApply', lru, [u32(), 0, u32()]],
    ['lruRefill', lru, [u32(), 0, u32(), undefined, u32(), u32(), 0, f64(2)]],
    ['lruOrder', lru, [u32(), 0, u32(), undefined, u32()]],
    ['lruOldest', lru, [u32(), 0, u32()]],
    ['lruRenumber', lru, [u32(), 0, u32()]],
    ['lruReset', lru, []],
    ['lruNativeBytes', lru, []],
    ['lruS3Refill', s3, [u32(), 0, u32(), undefined, u8(4), undefined, u32(), u32(), u8(4), 0, f64(2), 1, u8()]],
    ['lruS3Order', s3, [u32(), 0, u32(), undefined, u8(4), undefined, u32(), u8()]],
    ['lruS3SetCapacity', s3, [10]],
    ['lruReset', s3, []],
    ['offGet', off, ['k', 0]],
    ['offPeek', off, ['k', 0, false]],
    ['offHas', off, ['k', 0]],
    ['offDelete', off, ['k', 0]],
    ['offRemainingTtl', off, ['k', 0]],
    ['offSet', off, ['k', 'v', 0, 0]],
    ['offSize', off, []],
    ['offTakeRemoved', off, []],
    ['offCollectRemoved', off, [true]],
    ['offClear', off, []],
    ['offPop', off, [0]],
    ['offResize', off, [10, 0]],
    ['offPurgeStale', off, [0]],
    ['offKeys', off, [0]],
    ['offDump', off, [0]],
    ['offStats', off, [f64()]],
    ['offNativeBytes', off, []],
    ['sharedGet', sh, ['k']],
    ['sharedPeek', sh, ['k', false]],
    ['sharedHas', sh, ['k']],
    ['sharedDelete', sh, ['k']],
    ['sharedRemainingTtl', sh, ['k']],
    ['sharedSet', sh, ['k', 'v', 0]],
    ['sharedSize', sh, []],
    ['sharedClear', sh, []],
    ['sharedPop', sh, []],
    ['sharedPurgeStale', sh, []],
    ['sharedEntries', sh, []],
    ['sharedDump', sh, []],
    ['sharedStats', sh, [f64()]],
    ['sharedNativeBytes', sh, []],
    ['poolStats', p, []],
    ['poolTrim', p, []],
    ['poolTakeLeaks', p, []],
    ['poolLocate', p, [Buffer.alloc(4)]],
    ['poolClose', p, []],
  ]
}

test('every entry point accepts its valid arguments (the baseline the other tests change one argument of)', (t) => {
  for (const [name, id, rest] of entryPoints()) {
    t.notThrows(() => native[name](id, ...rest), name)
  }
})

test('a non-number id throws ERR_INVALID_ARG_TYPE naming "id" from every entry point, napi-rs and plain N-API alike', (t) => {
  for (const [name, , rest] of entryPoints()) {
    for (const bad of ['1', undefined, null, {}, 1n]) {
      const err = throwsNative(t, () => native[name](bad, ...rest), 'ERR_INVALID_ARG_TYPE')
      t.regex(err.message, /^The "id" argument must be of type number\. Received /, name)
    }
  }
})

test('what was received is described as Node describes it', (t) => {
  const message = (bad) => t.throws(() => native.lruReset(bad)).message
  t.regex(message('abc'), /Received type string \("abc"\)$/)
  t.regex(message('x'.repeat(40)), /Received type string \("x{25}\.\.\."\)$/)
  t.regex(message(undefined), /Received undefined$/)
  t.regex(message(null), /Received null$/)
  t.regex(message(true), /Received type boolean \(true\)$/)
  t.regex(message(7n), /Received type bigint \(7n\)$/)
  t.regex(message([]), /Received an instance of Array$/)
  t.regex(message(new Float32Array(1)), /Received an instance of Float32Array$/)
  t.regex(
    message(() => {}),
    /Received function$/,
  )
  t.regex(message(Symbol('s')), /Received type symbol$/)
})

test('an id naming no live structure throws ERR_LEAKLESS_STALE_HANDLE from both kinds of entry point', (t) => {
  const never = 0x7fffffff
  throwsNative(t, () => native.offGet(never, 'k', 0), 'ERR_LEAKLESS_STALE_HANDLE', /off-heap LRU has id 2147483647/)
  throwsNative(t, () => native.offSet(never, 'k', 'v', 0, 0), 'ERR_LEAKLESS_STALE_HANDLE')
  throwsNative(t, () => native.offClear(never), 'ERR_LEAKLESS_STALE_HANDLE', /off-heap LRU/)
  throwsNative(t, () => native.lruReset(never), 'ERR_LEAKLESS_STALE_HANDLE', /native LRU has id/)
  throwsNative(t, () => native.poolStats(never), 'ERR_LEAKLESS_STALE_HANDLE', /BufferPool has id/)
  // The byte counts read 0 for a freed structure by design.
  t.is(native.offSize(never), 0)
  t.is(native.offNativeBytes(never), 0)
  t.is(native.lruNativeBytes(never), 0)
})

test('keys, values and the other scalars of the plain N-API calls are checked by name', (t) => {
  const off = offLru()
  throwsNative(
    t,
    () => native.offGet(off, {}, 0),
    'ERR_INVALID_ARG_TYPE',
    /^The "key" argument must be of type string or number\. Received an object$/,
  )
  throwsNative(t, () => native.offHas(off, undefined, 0), 'ERR_INVALID_ARG_TYPE', /"key"/)
  throwsNative(
    t,
    () => native.offGet(off, 'k', 'now'),
    'ERR_INVALID_ARG_TYPE',
    /^The "now" argument must be of type number/,
  )
  throwsNative(
    t,
    () => native.offPeek(off, 'k', 0, 'yes'),
    'ERR_INVALID_ARG_TYPE',
    /"allowStale" argument must be of type boolean/,
  )
  for (const value of [1, {}, new Uint16Array(2), null]) {
    throwsNative(
      t,
      () => native.offSet(off, 'k', value, 0, 0),
      'ERR_INVALID_ARG_TYPE',
      /^The "value" argument must be of type string or an instance of Buffer or Uint8Array/,
    )
  }
  throwsNative(t, () => native.offSet(off, 'k', 'v', 'ttl', 0), 'ERR_INVALID_ARG_TYPE', /"ttl"/)
  throwsNative(t, () => native.offSet(off, 'k', 'v', 0, 0, 'later'), 'ERR_INVALID_ARG_TYPE', /"expiresAt"/)
  // Nothing was stored by the refused calls.
  t.is(native.offSize(off), 0)
})

test("the shared store's own arguments: name, wake function, waker, load, stale holders", (t) => {
  throwsNative(
    t,
    () => native.sharedOpen(7, 100, Infinity, 0, false, false),
    'ERR_INVALID_ARG_TYPE',
    /^The "name" argument must be of type string\. Received type number \(7\)$/,
  )
  throwsNative(t, () => native.sharedOpen('x', 100, Infinity, '0', false, false), 'ERR_INVALID_ARG_TYPE', /"ttl"/)
  throwsNative(t, () => native.sharedOpen('x', 100, Infinity, 0, 1, false), 'ERR_INVALID_ARG_TYPE', /"updateAgeOnGet"/)
  throwsNative(
    t,
    () => native.sharedInit('wake'),
    'ERR_INVALID_ARG_TYPE',
    /^The "wake" argument must be of type function\. Received type string \("wake"\)$/,
  )
  const sh = shared()
  throwsNative(
    t,
    () => native.sharedClaim(sh, 'k', 0x7fffffff, 1),
    'ERR_LEAKLESS_STALE_HANDLE',
    /^No live native shared-store waker has id 2147483647/,
  )
  throwsNative(t, () => native.sharedClaim(sh, 'k', 'w', 1), 'ERR_INVALID_ARG_TYPE', /"waker"/)
  throwsNative(t, () => native.sharedAbandon(sh, 'k', 'load'), 'ERR_INVALID_ARG_TYPE', /"load"/)
  throwsNative(t, () => native.sharedComplete(sh, 'k', 1, 'v', 'ttl'), 'ERR_INVALID_ARG_TYPE', /"ttl"/)
  throwsNative(t, () => native.sharedSet(sh, 'k', 'v', 0, 'later'), 'ERR_INVALID_ARG_TYPE', /"expiresAt"/)
  throwsNative(t, () => native.sharedPeek(sh, 'k', 'yes'), 'ERR_INVALID_ARG_TYPE', /"allowStale"/)
  throwsNative(
    t,
    () => native.sharedGet(sh, {}),
    'ERR_INVALID_ARG_TYPE',
    /^The "key" argument must be of type string or number\. Received an object$/,
  )
  throwsNative(t, () => native.sharedSet(sh, 'k', 1, 0), 'ERR_INVALID_ARG_TYPE', /^The "value" argument must be/)
  throwsNative(
    t,
    () => native.sharedGet(0x7fffffff, 'k'),
    'ERR_LEAKLESS_STALE_HANDLE',
    /shared-store holder has id 2147483647/,
  )
  throwsNative(
    t,
    () => native.sharedStats(sh, f64(7)),
    'ERR_INVALID_ARG_VALUE',
    /"out" must have a length of at least 8/,
  )
  t.is(native.sharedSize(0x7fffffff), 0)
  t.is(native.sharedNativeBytes(0x7fffffff), 0)
  // A claim with a live waker leads the load, and abandoning it ends it once.
  const waker = native.sharedInit(() => {})
  const load = native.sharedClaim(sh, 'k', waker, 1)
  t.is(typeof load, 'number')
  t.true(native.sharedAbandon(sh, 'k', load))
  t.false(native.sharedAbandon(sh, 'k', load))
  t.is(native.sharedSize(sh), 0)
})

test('typed arrays of the wrong kind or too short are refused by name', (t) => {
  const lru = heapLru()
  throwsNative(
    t,
    () => native.lruApply(lru, [0, 1], 0, u32()),
    'ERR_INVALID_ARG_TYPE',
    /^The "log" argument must be an instance of Uint32Array\. Received an instance of Array$/,
  )
  throwsNative(
    t,
    () => native.lruApply(lru, u32(), 0, new Int32Array(4)),
    'ERR_INVALID_ARG_TYPE',
    /"stamps".*Received an instance of Int32Array/,
  )
  throwsNative(
    t,
    () => native.lruApply(lru, u32(), 0, u32(), new Float32Array(4)),
    'ERR_INVALID_ARG_TYPE',
    /"expires" argument must be an instance of Float64Array/,
  )
  throwsNative(
    t,
    () => native.lruRefill(lru, u32(), 0, u32(), undefined, u32(), u32(), 0, f64(1)),
    'ERR_INVALID_ARG_VALUE',
    /^The argument "meta" must have a length of at least 2/,
  )
  throwsNative(
    t,
    () => native.offStats(offLru(), f64(7)),
    'ERR_INVALID_ARG_VALUE',
    /^The argument "out" must have a length of at least 8/,
  )
  throwsNative(
    t,
    () => native.poolLocate(pool(), 'buf'),
    'ERR_INVALID_ARG_TYPE',
    /"view" argument must be an instance of Uint8Array/,
  )
})

test('a log count beyond the log is ERR_OUT_OF_RANGE, a malformed log ERR_INVALID_ARG_VALUE', (t) => {
  const lru = heapLru()
  throwsNative(
    t,
    () => native.lruApply(lru, u32(2), 3, u32()),
    'ERR_OUT_OF_RANGE',
    /^The value of "n" is out of range\. It must be an integer >= 0 && <= log\.length \(2\)\. Received type number \(3\)$/,
  )
  throwsNative(t, () => native.lruApply(lru, u32(2), 1.5, u32()), 'ERR_OUT_OF_RANGE', /"n"/)
  throwsNative(t, () => native.lruApply(lru, u32(2), -1, u32()), 'ERR_OUT_OF_RANGE', /"n"/)
  // An odd number of words, and a slot beyond the stamps array.
  throwsNative(
    t,
    () => native.lruApply(lru, u32(3), 3, u32()),
    'ERR_INVALID_ARG_VALUE',
    /^The argument "log" must hold valid operations/,
  )
  const log = Uint32Array.of(OP_INSERT + 9, 1)
  throwsNative(t, () => native.lruApply(lru, log, 2, u32(4)), 'ERR_INVALID_ARG_VALUE', /slot 9/)
})

test('a count of used slots beyond the stamps is ERR_OUT_OF_RANGE on every heap LRU replay', (t) => {
  const lru = heapLru()
  const calls = {
    lruApply: (used) => native.lruApply(lru, u32(), 0, u32(2), undefined, used),
    lruRefill: (used) => native.lruRefill(lru, u32(), 0, u32(2), undefined, u32(), u32(), 0, f64(2), used),
    lruOrder: (used) => native.lruOrder(lru, u32(), 0, u32(2), undefined, u32(), used),
    lruOldest: (used) => native.lruOldest(lru, u32(), 0, u32(2), undefined, used),
    lruRenumber: (used) => native.lruRenumber(lru, u32(), 0, u32(2), undefined, used),
  }
  for (const [name, call] of Object.entries(calls)) {
    throwsNative(
      t,
      () => call(3),
      'ERR_OUT_OF_RANGE',
      /^The value of "used" is out of range\. It must be an integer >= 0 && <= stamps\.length \(2\)\. Received type number \(3\)$/,
    )
    for (const bad of [-1, 1.5, NaN]) throwsNative(t, () => call(bad), 'ERR_OUT_OF_RANGE', /"used"/)
    throwsNative(t, () => call('2'), 'ERR_INVALID_ARG_TYPE', /"used"/)
    t.notThrows(() => call(2), name)
    t.notThrows(() => call(null), name)
  }
})

test('poolCreate names the bad option and its range (not a bare "bufferSize")', (t) => {
  for (const size of [0, -1, 1.5, NaN, 2 ** 31]) {
    throwsNative(
      t,
      () => native.poolCreate(size, 2 ** 32, false),
      'ERR_OUT_OF_RANGE',
      /^The value of "bufferSize" is out of range\. It must be an integer >= 1 && <= 2147483647\. Received type number/,
    )
  }
  throwsNative(
    t,
    () => native.poolCreate(4096, 100, false),
    'ERR_OUT_OF_RANGE',
    /^The value of "maxBytes" is out of range\. It must be an integer >= bufferSize \(4096\).*Received type number \(100\)$/,
  )
  throwsNative(
    t,
    () => native.poolCreate('4096', 8192, false),
    'ERR_INVALID_ARG_TYPE',
    /"bufferSize" argument must be of type number/,
  )
  throwsNative(
    t,
    () => native.poolCreate(4096, 8192, 0),
    'ERR_INVALID_ARG_TYPE',
    /"zeroFill" argument must be of type boolean/,
  )
  throwsNative(t, () => native.offCreate('10', Infinity, false, false, false), 'ERR_INVALID_ARG_TYPE', /"max"/)
  throwsNative(
    t,
    () => native.poolInit('drain'),
    'ERR_INVALID_ARG_TYPE',
    /^The "drain" argument must be of type function\. Received type string \("drain"\)$/,
  )
})

/** A heap LRU core holding one entry in slot 0, and its arrays. */
function oneEntry() {
  const id = heapLru()
  const stamps = u32(4)
  stamps[0] = 1
  native.lruApply(id, Uint32Array.of(OP_INSERT + 0, 1), 2, stamps)
  return { id, stamps }
}

test('lruRefill refuses written arrays that share memory with another array, and writes nothing', (t) => {
  const { id, stamps } = oneEntry()
  const victims = u32(4).fill(7)
  const meta = f64(2).fill(7)
  // The same array twice.
  throwsNative(
    t,
    () => native.lruRefill(id, u32(), 0, stamps, undefined, victims, victims, 0, meta),
    'ERR_INVALID_ARG_VALUE',
    /^The argument "victimStamps" must not share memory with "victims"\. Received an instance of Uint32Array$/,
  )
  // A written array over the stamps it reads.
  throwsNative(
    t,
    () => native.lruRefill(id, u32(), 0, stamps, undefined, stamps, u32(), 0, meta),
    'ERR_INVALID_ARG_VALUE',
    /"victims" must not share memory with "stamps"/,
  )
  // Two overlapping views of one buffer, of different types.
  const ab = new ArrayBuffer(64)
  throwsNative(
    t,
    () =>
      native.lruRefill(
        id,
        u32(),
        0,
        stamps,
        undefined,
        new Uint32Array(ab, 0, 4),
        u32(),
        0,
        new Float64Array(ab, 8, 2),
      ),
    'ERR_INVALID_ARG_VALUE',
    /"meta" must not share memory with "victims"/,
  )
  // The log and the written arrays.
  const log = u32(4)
  throwsNative(
    t,
    () => native.lruRefill(id, log, 0, stamps, undefined, log, u32(), 0, meta),
    'ERR_INVALID_ARG_VALUE',
    /"victims" must not share memory with "log"/,
  )
  t.deepEqual([...victims], [7, 7, 7, 7])
  t.deepEqual([...meta], [7, 7])

  // Disjoint views of one buffer are fine, and the core still answers.
  const victimStamps = new Uint32Array(ab, 16, 4)
  const count = native.lruRefill(
    id,
    u32(),
    0,
    stamps,
    undefined,
    new Uint32Array(ab, 0, 4),
    victimStamps,
    0,
    new Float64Array(ab, 32, 2),
  )
  t.is(count, 1)
  t.is(new Uint32Array(ab, 0, 1)[0], 0)
  t.is(victimStamps[0], 1)
})

test('lruOrder and lruRenumber refuse a written array that aliases one they read', (t) => {
  const { id, stamps } = oneEntry()
  throwsNative(
    t,
    () => native.lruOrder(id, u32(), 0, stamps, undefined, stamps),
    'ERR_INVALID_ARG_VALUE',
    /"out" must not share memory with "stamps"/,
  )
  const expires = f64(4)
  throwsNative(
    t,
    () => native.lruOrder(id, u32(), 0, stamps, expires, new Uint32Array(expires.buffer)),
    'ERR_INVALID_ARG_VALUE',
    /"out" must not share memory with "expires"/,
  )
  const log = u32(4)
  throwsNative(
    t,
    () => native.lruRenumber(id, log, 0, log),
    'ERR_INVALID_ARG_VALUE',
    /"stamps" must not share memory with "log"/,
  )
  throwsNative(
    t,
    () => native.lruRenumber(id, u32(), 0, stamps, new Float64Array(stamps.buffer)),
    'ERR_INVALID_ARG_VALUE',
    /"stamps" must not share memory with "expires"/,
  )
  t.is(stamps[0], 1)

  // Calls that only read may pass the same memory twice.
  const out = u32(4)
  t.is(native.lruOrder(id, u32(), 0, stamps, undefined, out), 1)
  t.is(out[0], 0)
  t.notThrows(() => native.lruApply(id, stamps, 0, stamps))
  t.is(native.lruRenumber(id, u32(), 0, stamps), 1)
})

/**
 * An S3-FIFO core holding one entry in slot 0, and its arrays; `refill`
 * and `order` call it with every array but the ones given replaced.
 */
function oneS3Entry() {
  const id = s3Lru()
  const a = { stamps: u32(4), freq: u8(4), ghostFilter: u8() }
  a.stamps[0] = 1
  native.lruS3Order(
    id,
    Uint32Array.of(OP_INSERT + 0, 7),
    2,
    a.stamps,
    undefined,
    a.freq,
    undefined,
    u32(0),
    a.ghostFilter,
  )
  const refill = (o) => {
    const b = { log: u32(), n: 0, logSizes: undefined, expires: undefined, victims: u32(), victimStamps: u32() }
    Object.assign(b, a, { victimLimits: u8(4), meta: f64(2), want: 1 }, o)
    return native.lruS3Refill(
      id,
      b.log,
      b.n,
      b.stamps,
      b.expires,
      b.freq,
      b.logSizes,
      b.victims,
      b.victimStamps,
      b.victimLimits,
      0,
      b.meta,
      b.want,
      b.ghostFilter,
    )
  }
  const order = (o) => {
    const b = { log: u32(), n: 0, logSizes: undefined, expires: undefined, out: u32() }
    Object.assign(b, a, o)
    return native.lruS3Order(id, b.log, b.n, b.stamps, b.expires, b.freq, b.logSizes, b.out, b.ghostFilter)
  }
  return { id, ...a, refill, order }
}

test('the S3-FIFO entry points check their scalars and name them', (t) => {
  throwsNative(
    t,
    () => native.lruCreateS3Fifo('10', false),
    'ERR_INVALID_ARG_TYPE',
    /"capacity" argument must be of type number/,
  )
  for (const bad of [0, -1, NaN]) {
    throwsNative(
      t,
      () => native.lruCreateS3Fifo(bad, false),
      'ERR_OUT_OF_RANGE',
      /^The value of "capacity" is out of range\. It must be >= 1/,
    )
  }
  throwsNative(
    t,
    () => native.lruCreateS3Fifo(10, 1),
    'ERR_INVALID_ARG_TYPE',
    /"weighted" argument must be of type boolean/,
  )
  const s3 = s3Lru()
  throwsNative(t, () => native.lruS3SetCapacity(s3, 0), 'ERR_OUT_OF_RANGE', /"capacity"/)
  throwsNative(t, () => native.lruS3SetCapacity(s3, '5'), 'ERR_INVALID_ARG_TYPE', /"capacity"/)
  throwsNative(
    t,
    () => native.offCreate(100, Infinity, false, false, false, 'yes'),
    'ERR_INVALID_ARG_TYPE',
    /"s3fifo" argument must be of type boolean/,
  )
  t.notThrows(() => native.offCreate(100, Infinity, false, false, false, null))
  const { refill } = oneS3Entry()
  for (const want of [-1, 1.5, NaN]) {
    throwsNative(t, () => refill({ want }), 'ERR_OUT_OF_RANGE', /"want"/)
  }
  throwsNative(t, () => refill({ want: '1' }), 'ERR_INVALID_ARG_TYPE', /"want"/)
  throwsNative(t, () => refill({ meta: f64(1) }), 'ERR_INVALID_ARG_VALUE', /"meta" must have a length of at least 2/)
  throwsNative(
    t,
    () => refill({ freq: u32() }),
    'ERR_INVALID_ARG_TYPE',
    /"freq" argument must be an instance of Uint8Array/,
  )
  throwsNative(
    t,
    () => refill({ logSizes: u32() }),
    'ERR_INVALID_ARG_TYPE',
    /"logSizes" argument must be an instance of Float64Array/,
  )
  throwsNative(t, () => refill({ victimLimits: u32() }), 'ERR_INVALID_ARG_TYPE', /"victimLimits"/)
  throwsNative(t, () => refill({ ghostFilter: undefined }), 'ERR_INVALID_ARG_TYPE', /"ghostFilter"/)
})

test('the S3-FIFO entry points refuse a core of the other policy and a malformed log, and apply none of it', (t) => {
  const { stamps, freq, ghostFilter } = oneS3Entry()
  const lru = heapLru()
  throwsNative(
    t,
    () => native.lruS3Order(lru, u32(), 0, stamps, undefined, freq, undefined, u32(), ghostFilter),
    'ERR_INVALID_ARG_VALUE',
    /^The argument "id" must name an LRU created with policy 's3fifo'/,
  )
  const { order, refill } = oneS3Entry()
  throwsNative(t, () => order({ log: u32(2), n: 3 }), 'ERR_OUT_OF_RANGE', /"n"/)
  throwsNative(t, () => order({ log: u32(3), n: 3 }), 'ERR_INVALID_ARG_VALUE', /an odd number of words/)
  // A valid delete of slot 0 followed by a slot beyond the arrays, then an
  // unknown operation: the delete is not applied either.
  throwsNative(
    t,
    () => order({ log: Uint32Array.of(OP_DELETE + 0, 0, OP_INSERT + 9, 1), n: 4 }),
    'ERR_INVALID_ARG_VALUE',
    /^The argument "log" must hold valid operations \(slot 9 is beyond the arrays\)/,
  )
  throwsNative(
    t,
    () => order({ log: Uint32Array.of(OP_DELETE + 0, 0, 0xc0000000, 0), n: 4 }),
    'ERR_INVALID_ARG_VALUE',
    /unknown operation/,
  )
  const out = u32()
  t.is(order({ out }), 1, 'slot 0 is still there')
  t.is(out[0], 0)
  const victims = u32()
  t.is(refill({ victims }), 1)
  t.is(victims[0], 0)
})

test('lruS3Refill and lruS3Order refuse written arrays that share memory with another array, and write nothing', (t) => {
  const { refill, order, stamps, freq } = oneS3Entry()
  const victims = u32().fill(7)
  const meta = f64(2).fill(7)
  const ab = new ArrayBuffer(64)
  const log = u32()
  const refused = [
    [refill, { victims, victimStamps: victims, meta }, /"victimStamps" must not share memory with "victims"/],
    // The counters are written (a victim's is spent): not over the stamps,
    // nor the filter, nor the limits.
    [
      refill,
      { freq: new Uint8Array(stamps.buffer), victims, meta },
      /must not share memory with "stamps"|"stamps" must not share memory with "freq"/,
    ],
    [refill, { ghostFilter: freq, victims, meta }, /"ghostFilter" must not share memory with "freq"/],
    [refill, { victimLimits: freq, victims, meta }, /"victimLimits" must not share memory with "freq"/],
    // A read array over a written one.
    [
      refill,
      { logSizes: new Float64Array(ab, 0, 2), victims: new Uint32Array(ab, 8, 4), meta },
      /"victims" must not share memory with "logSizes"/,
    ],
    [refill, { log: victims, victims, meta }, /"victims" must not share memory with "log"/],
    [order, { out: stamps }, /"out" must not share memory with "stamps"/],
    [order, { log, ghostFilter: new Uint8Array(log.buffer) }, /"ghostFilter" must not share memory with "log"/],
    [order, { out: new Uint32Array(freq.buffer) }, /"out" must not share memory with "freq"/],
  ]
  for (const [call, args, message] of refused) {
    throwsNative(t, () => call(args), 'ERR_INVALID_ARG_VALUE', message)
  }
  t.deepEqual([...victims], [7, 7, 7, 7])
  t.deepEqual([...meta], [7, 7])
  t.is(freq[0], 0)
  t.is(stamps[0], 1)
  // Disjoint views of one buffer are fine.
  const out = new Uint32Array(ab, 0, 4)
  t.is(order({ out, ghostFilter: new Uint8Array(ab, 16, 32) }), 1)
  t.is(out[0], 0)
})
