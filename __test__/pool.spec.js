'use strict'

// BufferPool: behaviour a user relies on. Memory is measured with
// --expose-gc (the AVA config passes it); leaks are produced by dropping
// Buffers and letting the collector find them. No timing is asserted.

const path = require('node:path')
const { Worker } = require('node:worker_threads')
const test = require('ava')
const { BufferPool, stats } = require('..')
const { kForceCopyMode } = require('../lib/pool')
const { resetWarnings } = require('../lib/common/warnings')
const native = require('../lib/common/native')

const KiB = 1024
const MiB = 1024 * 1024

const turn = () => new Promise((resolve) => setImmediate(resolve))

/** Collects garbage and lets the finalizers (which run on later turns) run. */
async function collect(rounds = 3) {
  for (let i = 0; i < rounds; i++) {
    global.gc()
    for (let k = 0; k < 4; k++) await turn()
  }
}

/**
 * A turn first: reading a pool's figures (`stats()`) keeps the pool alive
 * until the current job ends, so a collection in the same job cannot free it.
 */
async function collectAfterTurn() {
  await turn()
  await collect(1)
}

/**
 * Collects until the counts of live pools (JS and native) have stayed the same for three rounds,
 * so that pools dropped by earlier tests, whose finalizers can run several
 * turns after the collection that found them, no longer count.
 */
async function settlePools() {
  let last = ''
  for (let same = 0; same < 3;) {
    await collectAfterTurn()
    const now = `${stats().pools.instances}/${native.nativeStats().poolInstances}`
    same = now === last ? same + 1 : 0
    last = now
  }
}

function throwsCode(t, fn, name, code) {
  const err = t.throws(fn)
  t.is(err?.name, name, err?.message)
  t.is(err?.code, code, err?.message)
  return err
}

function snapshot(pool) {
  const { inUse, idle, acquired, released, leaked, overflow } = pool.stats()
  return { inUse, idle, acquired, released, leaked, overflow }
}

// ------------------------------------------------------------------ basics

test('acquire returns a zero-filled Buffer of exactly the size, over exactly that many bytes', (t) => {
  const pool = new BufferPool({ bufferSize: 16 * KiB, maxBytes: 4 * MiB })
  for (const size of [1, 63, 64, 65, 1000, 1500, 4096, 10_000, 16 * KiB]) {
    const buf = pool.acquire(size)
    t.true(Buffer.isBuffer(buf))
    t.is(buf.length, size)
    t.is(buf.byteOffset, 0)
    t.is(buf.buffer.byteLength, size, 'the ArrayBuffer exposes nothing beyond the Buffer')
    t.true(buf.every((b) => b === 0))
    buf.fill(0xff)
    pool.release(buf)
    t.is(buf.length, 0)
  }
  const def = pool.acquire()
  t.is(def.length, 16 * KiB, 'the default size is bufferSize')
  pool.release(def)
  t.is(pool.bufferSize, 16 * KiB)
  t.is(pool.maxBytes, 4 * MiB)
  t.is(Object.prototype.toString.call(pool), '[object BufferPool]')
  pool.close()
})

test('acquire(0) gives an empty Buffer that can be released', (t) => {
  const pool = new BufferPool({ bufferSize: 1024 })
  const buf = pool.acquire(0)
  t.is(buf.length, 0)
  pool.release(buf)
  throwsCode(t, () => pool.release(buf), 'TypeError', 'ERR_LEAKLESS_DOUBLE_RELEASE')
  pool.close()
})

test('released slots are reused and counted', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB, maxBytes: 1 * MiB })
  for (let i = 0; i < 1000; i++) pool.release(pool.acquire(4 * KiB))
  const s = pool.stats()
  t.like(s, { inUse: 0, idle: 1, acquired: 1000, released: 1000, leaked: 0, overflow: 0, mode: 'external' })
  t.is(s.reservedBytes, 4 * KiB)
  t.is(s.idleBytes, 4 * KiB)
  t.is(s.inUseBytes, 0)
  t.is(s.highWaterBytes, 4 * KiB)
  pool.close()
})

test('stats() has the documented shape', (t) => {
  const pool = new BufferPool({ bufferSize: 16 * KiB })
  const held = [pool.acquire(1500), pool.acquire(16 * KiB)]
  pool.release(pool.acquire(100))
  const s = pool.stats()
  t.deepEqual(Object.keys(s).sort(), [
    'acquired',
    'highWaterBytes',
    'idle',
    'idleBytes',
    'inUse',
    'inUseBytes',
    'leaked',
    'mode',
    'overflow',
    'released',
    'reservedBytes',
  ])
  t.like(s, { inUse: 2, idle: 1, inUseBytes: 2048 + 16 * KiB, idleBytes: 128, acquired: 3, released: 1 })
  t.is(s.reservedBytes, s.inUseBytes + s.idleBytes)
  for (const b of held) pool.release(b)
  pool.close()
})

// ---------------------------------------------------------------- security

test('a released Buffer and every view of it read as empty; the next user never sees the secret', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB, maxBytes: 64 * KiB })
  const secret = 'password=hunter2;token=0123456789abcdef'
  const buf = pool.acquire(4 * KiB)
  buf.write(secret)
  const views = [
    buf.subarray(0, 16),
    buf.subarray(9),
    Buffer.from(buf.buffer, 0, buf.length),
    new Uint8Array(buf.buffer),
    new Float64Array(buf.buffer, 8, 4),
    new DataView(buf.buffer),
  ]
  const ab = buf.buffer
  pool.release(buf)

  const next = pool.acquire(4 * KiB)
  t.true(
    next.every((b) => b === 0),
    'zero-filled: the new lease shows none of the old bytes',
  )
  t.false(next.toString('latin1').includes('hunter2'))
  next.write('somebody else entirely')

  t.is(buf.length, 0)
  t.is(buf[0], undefined)
  t.is(buf.toString(), '')
  t.is(ab.byteLength, 0)
  for (const v of views.slice(0, 5)) {
    t.is(v.byteLength, 0, `${v.constructor.name} is empty`)
  }
  t.is(views[0][0], undefined)
  t.is(views[3][5], undefined)
  t.is(views[4][0], undefined)
  // A DataView over a detached ArrayBuffer refuses every access.
  t.throws(() => views[5].byteLength, { instanceOf: TypeError })
  t.throws(() => views[5].getUint8(0), { instanceOf: TypeError })
  pool.release(next)
  pool.close()
})

test("no acquisition ever shows a previous user's bytes (zero-fill on)", (t) => {
  const pool = new BufferPool({ bufferSize: 8 * KiB, maxBytes: 256 * KiB })
  const out = []
  let seen = 0
  for (let i = 0; i < 5000; i++) {
    const size = 1 + ((i * 7919) % (8 * KiB))
    const buf = pool.acquire(size)
    if (!buf.every((b) => b === 0)) seen++
    buf.fill(0xa5)
    out.push(buf)
    if (out.length > 20 || i % 3 === 0) pool.release(out.splice((i * 31) % out.length, 1)[0])
  }
  t.is(seen, 0)
  for (const b of out) pool.release(b)
  pool.close()
})

test('zeroFill: false still empties released Buffers', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB, zeroFill: false })
  const buf = pool.acquire(100)
  buf.write('secret')
  const view = buf.subarray(0, 6)
  pool.release(buf)
  const next = pool.acquire(100)
  t.is(buf.length, 0)
  t.is(view.length, 0)
  t.is(view.toString(), '')
  pool.release(next)
  pool.close()
})

// ------------------------------------------------------------------ misuse

test('releasing twice throws ERR_LEAKLESS_DOUBLE_RELEASE and changes nothing', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  const a = pool.acquire(100)
  pool.release(a)
  const b = pool.acquire(100) // takes the same slot
  b.write('still mine')
  const before = snapshot(pool)
  throwsCode(t, () => pool.release(a), 'TypeError', 'ERR_LEAKLESS_DOUBLE_RELEASE')
  t.deepEqual(snapshot(pool), before)
  t.is(b.toString('utf8', 0, 10), 'still mine', 'the current lease of the slot is untouched')
  pool.release(b)
  pool.close()
})

test('releasing a slice or another view of the same memory throws ERR_LEAKLESS_NOT_POOLED and leaves the Buffer intact', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  const buf = pool.acquire(1000)
  buf.write('intact')
  const before = snapshot(pool)
  const impostors = [
    buf.subarray(10, 20),
    buf.subarray(0, 999),
    buf.subarray(0), // same memory, another object
    buf.slice(1),
    Buffer.from(buf.buffer, buf.byteOffset, buf.length),
    new Uint8Array(buf.buffer),
  ]
  for (const view of impostors) {
    const err = throwsCode(t, () => pool.release(view), 'TypeError', 'ERR_LEAKLESS_NOT_POOLED')
    t.regex(err.message, /view|slice|did not lend/)
  }
  t.regex(t.throws(() => pool.release(buf.subarray(10, 20))).message, /slice/)
  t.is(buf.length, 1000)
  t.is(buf.toString('utf8', 0, 6), 'intact')
  t.true(impostors.every((v) => v.byteLength > 0))
  t.deepEqual(snapshot(pool), before)
  pool.release(buf)
  t.is(buf.length, 0)
  pool.close()
})

test('releasing a Buffer the pool did not lend throws ERR_LEAKLESS_NOT_POOLED', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  const other = new BufferPool({ bufferSize: 4 * KiB })
  const theirs = other.acquire(100)
  theirs.write('theirs')
  const foreign = [
    Buffer.alloc(100),
    Buffer.allocUnsafe(100),
    new Uint8Array(8),
    theirs,
    new DataView(new ArrayBuffer(4)),
  ]
  for (const buf of foreign) throwsCode(t, () => pool.release(buf), 'TypeError', 'ERR_LEAKLESS_NOT_POOLED')
  t.regex(t.throws(() => pool.release(theirs)).message, /another BufferPool/)
  t.is(theirs.toString('utf8', 0, 6), 'theirs')
  other.release(theirs)
  for (const bad of [undefined, null, 'buf', 42, {}, [], () => {}]) {
    throwsCode(t, () => pool.release(bad), 'TypeError', 'ERR_INVALID_ARG_TYPE')
  }
  t.deepEqual(snapshot(pool), { inUse: 0, idle: 0, acquired: 0, released: 0, leaked: 0, overflow: 0 })
  pool.close()
  other.close()
})

test('after close(): acquire and release throw ERR_LEAKLESS_POOL_CLOSED, outstanding Buffers stay valid', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  const buf = pool.acquire(100)
  buf.write('outstanding')
  pool.release(pool.acquire(4 * KiB))
  t.is(pool.close(), 4 * KiB)
  t.true(pool.closed)
  throwsCode(t, () => pool.acquire(10), 'Error', 'ERR_LEAKLESS_POOL_CLOSED')
  throwsCode(t, () => pool.release(buf), 'Error', 'ERR_LEAKLESS_POOL_CLOSED')
  t.is(buf.toString('utf8', 0, 11), 'outstanding')
  t.is(pool.close(), 0, 'closing again frees nothing')
  t.is(pool.stats().inUse, 1)
})

test('bad sizes throw Node-style errors and change nothing', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  const before = snapshot(pool)
  throwsCode(t, () => pool.acquire(-1), 'RangeError', 'ERR_OUT_OF_RANGE')
  throwsCode(t, () => pool.acquire(1.5), 'RangeError', 'ERR_OUT_OF_RANGE')
  throwsCode(t, () => pool.acquire(NaN), 'RangeError', 'ERR_OUT_OF_RANGE')
  throwsCode(t, () => pool.acquire(Infinity), 'RangeError', 'ERR_OUT_OF_RANGE')
  const err = throwsCode(t, () => pool.acquire(4 * KiB + 1), 'RangeError', 'ERR_OUT_OF_RANGE')
  t.regex(err.message, /4096/)
  throwsCode(t, () => pool.acquire('10'), 'TypeError', 'ERR_INVALID_ARG_TYPE')
  throwsCode(t, () => pool.acquire(null), 'TypeError', 'ERR_INVALID_ARG_TYPE')
  t.deepEqual(snapshot(pool), before)
  pool.release(pool.acquire(10))
  pool.close()
})

test('bad options throw Node-style errors', (t) => {
  const cases = [
    ['nope', 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ bufferSize: 0 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ bufferSize: 1.5 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ bufferSize: '1k' }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ bufferSize: 2 ** 40 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ bufferSize: 4096, maxBytes: 4095 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ maxBytes: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ zeroFill: 1 }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ whenExhausted: 'wait' }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    [{ leakDetection: 'paranoid' }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    [{ onLeak: 'log' }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [options, name, code] of cases) throwsCode(t, () => new BufferPool(options), name, code)
  const pool = new BufferPool()
  t.is(pool.bufferSize, 16 * KiB)
  t.is(pool.maxBytes, 64 * MiB)
  pool.close()
})

// -------------------------------------------------------------- exhaustion

test("whenExhausted: 'throw' throws ERR_LEAKLESS_POOL_EXHAUSTED past maxBytes", (t) => {
  const pool = new BufferPool({ bufferSize: 16 * KiB, maxBytes: 64 * KiB, whenExhausted: 'throw' })
  const held = [1, 2, 3, 4].map(() => pool.acquire())
  const err = throwsCode(t, () => pool.acquire(), 'RangeError', 'ERR_LEAKLESS_POOL_EXHAUSTED')
  t.regex(err.message, /65536/)
  throwsCode(t, () => pool.acquire(1), 'RangeError', 'ERR_LEAKLESS_POOL_EXHAUSTED')
  t.like(pool.stats(), { inUse: 4, acquired: 4, overflow: 0, reservedBytes: 64 * KiB })
  pool.release(held.pop())
  const again = pool.acquire()
  t.is(again.length, 16 * KiB)
  // Idle slots of another size make room.
  pool.release(again)
  pool.release(held.pop())
  const small = pool.acquire(100)
  pool.release(small)
  t.is(pool.acquire(16 * KiB).length, 16 * KiB)
  t.is(pool.acquire(16 * KiB).length, 16 * KiB)
  t.true(pool.stats().reservedBytes <= 64 * KiB)
  pool.close()
})

test("whenExhausted: 'allocate' hands out ordinary Buffers, counted in overflow, that release also empties", (t) => {
  const pool = new BufferPool({ bufferSize: 16 * KiB, maxBytes: 32 * KiB })
  const held = [pool.acquire(), pool.acquire()]
  const extra = pool.acquire(1000)
  t.is(extra.length, 1000)
  t.is(extra.buffer.byteLength, 1000)
  t.true(extra.every((b) => b === 0))
  t.like(pool.stats(), { inUse: 2, acquired: 2, overflow: 1 })
  extra.write('overflow secret')
  const view = extra.subarray(0, 8)
  throwsCode(t, () => pool.release(view), 'TypeError', 'ERR_LEAKLESS_NOT_POOLED')
  pool.release(extra)
  t.is(extra.length, 0)
  t.is(view.length, 0)
  throwsCode(t, () => pool.release(extra), 'TypeError', 'ERR_LEAKLESS_DOUBLE_RELEASE')
  for (const b of held) pool.release(b)
  t.like(pool.stats(), { inUse: 0, released: 2, overflow: 1 })
  pool.close()
})

// ------------------------------------------------------------- trim, close

test('trim() and close() free idle memory and return the bytes freed', (t) => {
  const pool = new BufferPool({ bufferSize: 16 * KiB, maxBytes: 1 * MiB })
  const bufs = [pool.acquire(), pool.acquire(), pool.acquire(1000), pool.acquire(100)]
  const kept = bufs.shift()
  for (const b of bufs) pool.release(b)
  t.like(pool.stats(), { idleBytes: 16 * KiB + 1024 + 128, inUseBytes: 16 * KiB })
  t.is(pool.trim(), 16 * KiB + 1024 + 128)
  t.is(pool.trim(), 0)
  t.like(pool.stats(), { idle: 0, idleBytes: 0, reservedBytes: 16 * KiB, highWaterBytes: 2 * 16 * KiB + 1024 + 128 })
  pool.release(kept)
  t.is(pool.close(), 16 * KiB)
  t.like(pool.stats(), { reservedBytes: 0, idleBytes: 0 })
  t.is(pool.trim(), 0)
})

// ------------------------------------------------------------------- using

test('using() releases when fn returns and when it throws', (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  let kept
  const result = pool.using(100, (buf) => {
    kept = buf
    t.is(buf.length, 100)
    buf.write('inside')
    return 'value'
  })
  t.is(result, 'value')
  t.is(kept.length, 0)
  const err = t.throws(() =>
    pool.using(50, (buf) => {
      kept = buf
      throw new Error('boom')
    }),
  )
  t.is(err.message, 'boom')
  t.is(kept.length, 0)
  t.is(
    pool.using((buf) => buf.length),
    4 * KiB,
    'size defaults to bufferSize',
  )
  t.like(pool.stats(), { inUse: 0, acquired: 3, released: 3 })
  throwsCode(t, () => pool.using(10), 'TypeError', 'ERR_INVALID_ARG_TYPE')
  throwsCode(t, () => pool.using(-1, () => {}), 'RangeError', 'ERR_OUT_OF_RANGE')
  pool.close()
})

test('using() releases when the promise resolves and when it rejects', async (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  let kept
  const value = await pool.using(4096, async (buf) => {
    kept = buf
    await turn()
    t.is(buf.length, 4096)
    return 42
  })
  t.is(value, 42)
  t.is(kept.length, 0)
  const pending = pool.using(10, async (buf) => {
    kept = buf
    await turn()
    throw new Error('rejected')
  })
  t.is(pool.stats().inUse, 1)
  await t.throwsAsync(pending, { message: 'rejected' })
  t.is(kept.length, 0)
  t.like(pool.stats(), { inUse: 0, released: 2 })
  pool.close()
})

test('using() tolerates fn releasing the Buffer itself, or closing the pool', async (t) => {
  const pool = new BufferPool({ bufferSize: 4 * KiB })
  t.is(
    pool.using(10, (buf) => pool.release(buf) ?? 'ok'),
    'ok',
  )
  await pool.using(10, async () => {
    await turn()
    pool.close()
  })
  t.is(pool.stats().released, 1)
})

// ------------------------------------------------------------------- leaks

test.serial('10,000 dropped 16 KiB Buffers are counted, reported with stacks, and memory stays bounded', async (t) => {
  t.is(typeof global.gc, 'function', 'run with --expose-gc')
  const reports = []
  const pool = new BufferPool({
    bufferSize: 16 * KiB,
    maxBytes: 32 * MiB,
    whenExhausted: 'throw', // leaked slots must come back, or acquire throws
    leakDetection: 'full',
    onLeak: (r) => reports.push(r),
  })
  await collect()
  const rssBefore = process.memoryUsage().rss
  let rssPeak = rssBefore
  function leakSome(n) {
    for (let i = 0; i < n; i++) pool.acquire(16 * KiB).fill(i & 0xff)
  }
  for (let round = 0; round < 10; round++) {
    leakSome(1000)
    await collect(2)
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
  }
  for (let i = 0; i < 10 && reports.length < 10_000; i++) await collect(1)
  const s = pool.stats()
  t.is(s.leaked, 10_000)
  t.is(s.inUse, 0)
  t.is(s.released, 0)
  t.is(reports.length, 10_000)
  t.true(reports.every((r) => r.size === 16 * KiB && r.age >= 0 && typeof r.stack === 'string'))
  t.true(reports.every((r) => r.stack.includes('leakSome') && r.stack.includes('pool.spec.js')))
  t.true(s.reservedBytes <= 32 * MiB)
  const growth = rssPeak - rssBefore
  t.log(
    `RSS ${(rssBefore / MiB).toFixed(1)} MiB -> peak ${(rssPeak / MiB).toFixed(1)} MiB;`,
    `pool reserved ${(s.reservedBytes / MiB).toFixed(1)} MiB for 10,000 x 16 KiB = 156 MiB leaked`,
  )
  t.true(growth < 96 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`)
  pool.close()
})

test.serial("leakDetection 'sample' records some stacks, 'off' reports nothing but still counts", async (t) => {
  const sampled = []
  const silent = []
  const a = new BufferPool({ bufferSize: 1024, onLeak: (r) => sampled.push(r) })
  const b = new BufferPool({ bufferSize: 1024, leakDetection: 'off', onLeak: (r) => silent.push(r) })
  for (let i = 0; i < 2000; i++) {
    a.acquire(1024)
    b.acquire(1024)
  }
  for (let i = 0; i < 10 && (sampled.length < 2000 || b.stats().leaked < 2000); i++) await collect(1)
  t.is(a.stats().leaked, 2000)
  t.is(b.stats().leaked, 2000)
  t.is(sampled.length, 2000)
  t.is(silent.length, 0)
  const withStack = sampled.filter((r) => r.stack !== undefined).length
  t.log(`${withStack} of 2000 sampled leaks carry a stack`)
  t.true(withStack > 0 && withStack < 200, `${withStack} stacks`)
  a.close()
  b.close()
})

test.serial('a leak keeps its stack when its slot is lent again before the report is collected', async (t) => {
  const reports = []
  const pool = new BufferPool({ bufferSize: 1024, leakDetection: 'full', onLeak: (r) => reports.push(r) })
  ;(function leakOne() {
    pool.acquire(1024)
  })()
  global.gc()
  // Node runs the finalizers of a turn just before its setImmediate callbacks:
  // each callback lends the freed slot again, before any drain ran.
  for (let i = 0; i < 50 && reports.length === 0; i++) {
    await new Promise((resolve) =>
      setImmediate(() => {
        pool.release(pool.acquire(1024))
        resolve()
      }),
    )
    if (i % 10 === 9) global.gc()
  }
  await turn()
  t.is(reports.length, 1)
  t.regex(reports[0].stack ?? '', /leakOne/)
  pool.close()
})

test.serial('released Buffers are never reported as leaks', async (t) => {
  const reports = []
  const pool = new BufferPool({ bufferSize: 4 * KiB, leakDetection: 'full', onLeak: (r) => reports.push(r) })
  for (let i = 0; i < 20_000; i++) pool.release(pool.acquire(i % 4096 || 1))
  await collect()
  t.like(pool.stats(), { leaked: 0, acquired: 20_000, released: 20_000 })
  t.is(reports.length, 0)
  pool.close()
})

test.serial('leaks raise a rate-limited LeaklessWarning that says where the Buffer was acquired', async (t) => {
  resetWarnings()
  const warnings = []
  const onWarning = (w) => {
    if (w.name === 'LeaklessWarning') warnings.push(w)
  }
  process.on('warning', onWarning)
  try {
    const pool = new BufferPool({ bufferSize: 1024, leakDetection: 'full' })
    const leakHere = () => pool.acquire(512)
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) leakHere()
      await collect()
    }
    await turn()
    t.is(pool.stats().leaked, 300)
    t.is(warnings.length, 1, 'three batches of leaks, one warning')
    t.is(warnings[0].code, 'LEAKLESS_BUFFER_LEAK')
    t.regex(warnings[0].message, /garbage-collected without release\(\)/)
    t.regex(warnings[0].message, /512 bytes/)
    t.regex(warnings[0].message, /leakHere/)
    pool.close()
  } finally {
    process.off('warning', onWarning)
    resetWarnings()
  }
})

// -------------------------------------------------------------- accounting

test.serial(
  'externalBytes and process.memoryUsage().external return to the start after close and collection',
  async (t) => {
    await settlePools()
    const start = stats()
    const externalStart = process.memoryUsage().external
    let pool = new BufferPool({ bufferSize: 64 * KiB, maxBytes: 16 * MiB })
    const held = []
    for (let i = 0; i < 100; i++) held.push(pool.acquire(i % 2 ? 64 * KiB : 1000))
    const during = stats()
    t.is(during.pools.instances, start.pools.instances + 1)
    t.is(during.pools.inUseBytes - start.pools.inUseBytes, 50 * 64 * KiB + 50 * 1024)
    // Lent bytes are V8's to count; only the unused tails of the slots are reported.
    t.is(during.externalBytes - start.externalBytes, 50 * (1024 - 1000))
    t.true(process.memoryUsage().external - externalStart >= 50 * 64 * KiB)
    for (const b of held.splice(0)) pool.release(b)
    const idle = stats()
    t.is(idle.pools.idleBytes - start.pools.idleBytes, 50 * 64 * KiB + 50 * 1024)
    t.is(idle.externalBytes - start.externalBytes, 50 * 64 * KiB + 50 * 1024, 'idle memory is reported to V8')
    t.is(pool.close(), 50 * 64 * KiB + 50 * 1024)
    t.is(stats().externalBytes, start.externalBytes)
    pool = null
    while (stats().pools.instances > start.pools.instances) await collectAfterTurn()
    const end = stats()
    t.is(end.externalBytes, start.externalBytes)
    t.is(end.pools.instances, start.pools.instances)
    const externalGrowth = process.memoryUsage().external - externalStart
    t.log(`process.memoryUsage().external: ${externalStart} -> ${process.memoryUsage().external}`)
    t.true(Math.abs(externalGrowth) < 256 * KiB, `external moved by ${externalGrowth} bytes`)
  },
)

test.serial('a pool dropped with Buffers still out keeps them readable, then gives everything back', async (t) => {
  await settlePools()
  const start = stats().externalBytes
  const externalStart = process.memoryUsage().external
  const nativePools = native.nativeStats().poolInstances
  let pool = new BufferPool({ bufferSize: 16 * KiB })
  let outstanding = pool.acquire(16 * KiB).fill(7)
  pool.release(pool.acquire(1000))
  pool = null
  await collect()
  t.is(native.nativeStats().poolInstances, nativePools + 1, 'the native pool outlives its owner while a Buffer is out')
  t.is(outstanding.length, 16 * KiB)
  t.true(
    outstanding.every((b) => b === 7),
    'the memory of an outstanding Buffer stays valid',
  )
  outstanding = null
  await collect()
  t.is(native.nativeStats().poolInstances, nativePools, 'the native pool is freed with its last Buffer')
  t.is(stats().externalBytes, start)
  t.true(Math.abs(process.memoryUsage().external - externalStart) < 256 * KiB)
})

// --------------------------------------------------------------- copy mode

test("mode 'copy' (external buffers refused) still lends, empties on release and counts leaks", async (t) => {
  const reports = []
  const pool = new BufferPool({
    bufferSize: 4 * KiB,
    leakDetection: 'full',
    onLeak: (r) => reports.push(r),
    [kForceCopyMode]: true,
  })
  t.is(pool.mode, 'copy')
  const buf = pool.acquire(100)
  t.is(buf.length, 100)
  t.true(buf.every((b) => b === 0))
  const view = buf.subarray(1)
  pool.release(buf)
  t.is(buf.length, 0)
  t.is(view.length, 0)
  throwsCode(t, () => pool.release(buf), 'TypeError', 'ERR_LEAKLESS_DOUBLE_RELEASE')
  throwsCode(t, () => pool.release(Buffer.alloc(3)), 'TypeError', 'ERR_LEAKLESS_NOT_POOLED')
  t.like(pool.stats(), { mode: 'copy', inUse: 0, acquired: 1, released: 1, reservedBytes: 0 })
  ;(() => {
    for (let i = 0; i < 10; i++) pool.acquire(10)
  })()
  for (let i = 0; i < 20 && pool.stats().leaked < 10; i++) await collect(1)
  t.is(pool.stats().leaked, 10)
  for (let i = 0; i < 5 && reports.length < 10; i++) await turn()
  t.is(reports.length, 10)
  pool.close()
})

// ----------------------------------------------------------------- workers

test.serial('10 workers acquire without releasing and exit; the main thread stays healthy', async (t) => {
  const pool = new BufferPool({ bufferSize: 16 * KiB })
  const mine = pool.acquire(64).fill(0x5a)
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { BufferPool } = require(workerData.root)
    const pool = new BufferPool({ bufferSize: 64 * 1024, leakDetection: 'full' })
    globalThis.kept = []
    for (let i = 0; i < 300; i++) globalThis.kept.push(pool.acquire(i % 3 ? 64 * 1024 : 1000).fill(i & 0xff))
    for (let i = 0; i < 100; i++) pool.release(globalThis.kept.pop())
    parentPort.postMessage(pool.stats())
    if (workerData.how === 'exit') process.exit(0)
    if (workerData.how === 'hang') setInterval(() => {}, 1000)
  `
  const root = path.join(__dirname, '..')
  // RSS is measured from the end of a first round: the first worker threads
  // leave memory in the allocator that later ones reuse, with or without
  // leakless (Node 24: 20 plain workers keep ~350 MiB of RSS after they end).
  let rssBefore
  for (let round = 0; round < 4; round++) {
    if (round === 1) {
      await collect()
      rssBefore = process.memoryUsage().rss
    }
    const runs = Array.from({ length: 10 }, (_, i) => {
      const how = ['exit', 'return', 'hang'][i % 3]
      return new Promise((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { root, how } })
        let seen
        w.on('message', (s) => {
          seen = s
          if (how === 'hang') w.terminate()
        })
        w.on('error', reject)
        w.on('exit', () => resolve(seen))
      })
    })
    const seen = await Promise.all(runs)
    for (const s of seen) t.like(s, { inUse: 200, released: 100, acquired: 300, mode: 'external' })
  }
  await collect()
  t.is(mine.length, 64)
  t.true(
    mine.every((b) => b === 0x5a),
    "another thread's exit did not touch this thread's pool",
  )
  for (let i = 0; i < 1000; i++) pool.release(pool.acquire(i % 2 ? 16 * KiB : 64))
  t.like(pool.stats(), { inUse: 1, leaked: 0 })
  const growth = process.memoryUsage().rss - rssBefore
  t.log(`RSS after 30 more workers each holding ~13 MiB of pool Buffers: +${(growth / MiB).toFixed(1)} MiB`)
  t.true(growth < 200 * MiB)
  pool.release(mine)
  pool.close()
})

test('leakless.stats().pools sums the live pools of this thread', (t) => {
  const before = stats().pools
  const a = new BufferPool({ bufferSize: 1024 })
  const b = new BufferPool({ bufferSize: 1024 })
  const x = a.acquire(1024)
  b.release(b.acquire(100))
  const during = stats().pools
  t.is(during.instances, before.instances + 2)
  t.true(during.inUseBytes >= before.inUseBytes + 1024)
  t.true(during.idleBytes >= before.idleBytes + 128)
  a.release(x)
  a.close()
  b.close()
})
