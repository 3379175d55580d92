'use strict'

// BufferPool against Buffer.alloc / Buffer.allocUnsafe.
//
//   node benchmark/pool.bench.js            the whole suite (a few minutes)
//   node benchmark/pool.bench.js --quick    fewer runs and operations
//
// Every measurement runs in a fresh process; the contenders alternate, each
// is run RUNS times, and the tables show the median. Operations run in
// batches with a turn of the event loop between batches, as a server would,
// so the time includes what happens on later turns: the finalizers of
// released pool Buffers, and the collection of allocated ones.
//
// Answers are checked before timing: pool Buffers have the right length, are
// zero-filled where promised, and read as empty after release.

const { spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const { PerformanceObserver } = require('node:perf_hooks')
const { machineLine, printTable, saveResults, opsPerSec } = require('./lib/report')

const KiB = 1024
const SIZES = [1 * KiB, 16 * KiB, 64 * KiB]
const BATCH = 1000
const REQUEST_BATCH = 100

const turn = () => new Promise((resolve) => setImmediate(resolve))

// ------------------------------------------------------------------ child

let pool = null

/** The process's one pool (a server keeps one), checked before it is timed. */
function getPool(size, zeroFill) {
  if (pool === null) {
    const { BufferPool } = require('..')
    pool = new BufferPool({ bufferSize: 64 * KiB, zeroFill })
    check(pool, size, zeroFill)
  }
  return pool
}

function check(pool, size, zeroFill) {
  for (let i = 0; i < 100; i++) {
    const buf = pool.acquire(size)
    if (buf.length !== size || buf.buffer.byteLength !== size) throw new Error(`wrong length ${buf.length}`)
    if (zeroFill && !buf.every((b) => b === 0)) throw new Error('not zero-filled')
    buf.fill(0xee)
    const view = buf.subarray(1)
    pool.release(buf)
    if (buf.length !== 0 || view.length !== 0) throw new Error('a released Buffer is still readable')
  }
}

// One loop per contender, so that each is compiled for itself.
const loops = {
  async alloc(size, ops) {
    let sink = 0
    for (let i = 0; i < ops; i += BATCH) {
      for (let j = 0; j < BATCH; j++) {
        const buf = Buffer.alloc(size)
        sink ^= buf[j & 63]
      }
      await turn()
    }
    return sink
  },
  async allocUnsafe(size, ops) {
    let sink = 0
    for (let i = 0; i < ops; i += BATCH) {
      for (let j = 0; j < BATCH; j++) {
        const buf = Buffer.allocUnsafe(size)
        sink ^= buf[j & 63]
      }
      await turn()
    }
    return sink
  },
  async pool(size, ops, zeroFill) {
    const pool = getPool(size, zeroFill)
    let sink = 0
    for (let i = 0; i < ops; i += BATCH) {
      for (let j = 0; j < BATCH; j++) {
        const buf = pool.acquire(size)
        sink ^= buf[j & 63]
        pool.release(buf)
      }
      await turn()
    }
    const s = pool.stats()
    if (s.inUse !== 0 || s.leaked !== 0 || s.overflow !== 0) throw new Error(`pool not balanced: ${JSON.stringify(s)}`)
    return sink
  },
}

// A request-like loop: a body arrives in a 16 KiB Buffer, is hashed, and the
// Buffer is dropped (or released). REQUEST_BATCH requests per turn.
const requests = {
  async allocUnsafe(size, ops) {
    let sink = 0
    for (let i = 0; i < ops; i += REQUEST_BATCH) {
      for (let j = 0; j < REQUEST_BATCH; j++) {
        const body = Buffer.allocUnsafe(size)
        body.fill(i + j)
        sink ^= crypto.createHash('sha256').update(body).digest()[0]
      }
      await turn()
    }
    return sink
  },
  async alloc(size, ops) {
    let sink = 0
    for (let i = 0; i < ops; i += REQUEST_BATCH) {
      for (let j = 0; j < REQUEST_BATCH; j++) {
        const body = Buffer.alloc(size)
        body.fill(i + j)
        sink ^= crypto.createHash('sha256').update(body).digest()[0]
      }
      await turn()
    }
    return sink
  },
  async pool(size, ops, zeroFill) {
    const pool = getPool(size, zeroFill)
    let sink = 0
    for (let i = 0; i < ops; i += REQUEST_BATCH) {
      for (let j = 0; j < REQUEST_BATCH; j++) {
        const body = pool.acquire(size)
        body.fill(i + j)
        sink ^= crypto.createHash('sha256').update(body).digest()[0]
        pool.release(body)
      }
      await turn()
    }
    return sink
  },
}

async function child(spec) {
  const { suite, kind, size, ops, zeroFill } = spec
  const fn = (suite === 'request' ? requests : loops)[kind]
  await fn(size, Math.min(ops, 100 * BATCH), zeroFill) // warm-up: JIT tiers, pool growth, allocator
  await turn()
  let gcMs = 0
  let gcCount = 0
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration
      gcCount++
    }
  })
  obs.observe({ entryTypes: ['gc'] })
  const t0 = process.hrtime.bigint()
  await fn(size, ops, zeroFill)
  const ns = Number(process.hrtime.bigint() - t0)
  for (let i = 0; i < 5; i++) await turn()
  obs.disconnect()
  process.stdout.write(`${JSON.stringify({ nsPerOp: ns / ops, gcMs, gcCount })}\n`)
}

// ----------------------------------------------------------------- parent

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function spawn(spec) {
  const r = spawnSync(process.execPath, [__filename, '--child', JSON.stringify(spec)], {
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`${JSON.stringify(spec)} failed:\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

/** Runs each spec `runs` times, alternating, each in a fresh process. */
function measure(specs, runs) {
  const results = specs.map(() => [])
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < specs.length; i++) {
      const k = (i + r) % specs.length // rotate who goes first
      results[k].push(spawn(specs[k]))
    }
  }
  return results.map((rs) => ({
    nsPerOp: median(rs.map((x) => x.nsPerOp)),
    gcMs: median(rs.map((x) => x.gcMs)),
    gcCount: median(rs.map((x) => x.gcCount)),
    runs: rs.map((x) => Math.round(x.nsPerOp)),
  }))
}

function fmtSize(n) {
  return n >= KiB ? `${n / KiB} KiB` : `${n} B`
}

function main() {
  const quick = process.argv.includes('--quick')
  const runs = quick ? 3 : 5
  const ops = quick ? 100_000 : 300_000
  const requestOps = quick ? 30_000 : 100_000
  console.log(machineLine())
  console.log(
    `\nMedian of ${runs} fresh processes per row, contenders alternating; ${ops.toLocaleString('en-US')} operations ` +
      `per run in batches of ${BATCH} with a turn of the event loop between batches (finalizers and collection ` +
      'included). Pool: one BufferPool({ bufferSize: 65536 }), default leak sampling.\n',
  )

  const rows = []
  const saved = { runs, ops, alloc: [], request: null }
  for (const size of SIZES) {
    const specs = [
      { suite: 'alloc', kind: 'alloc', size, ops },
      { suite: 'alloc', kind: 'pool', size, ops, zeroFill: true },
      { suite: 'alloc', kind: 'allocUnsafe', size, ops },
      { suite: 'alloc', kind: 'pool', size, ops, zeroFill: false },
    ]
    const [alloc, poolZero, unsafe, poolRaw] = measure(specs, runs)
    const row = (name, m, base) => [
      name,
      fmtSize(size),
      m.nsPerOp.toFixed(0),
      opsPerSec(1e9 / m.nsPerOp),
      base === undefined ? '1.00x' : `${(base.nsPerOp / m.nsPerOp).toFixed(2)}x`,
      m.runs.join(' '),
    ]
    rows.push(row('Buffer.alloc', alloc))
    rows.push(row('pool acquire+release (zeroFill)', poolZero, alloc))
    rows.push(row('Buffer.allocUnsafe', unsafe))
    rows.push(row('pool acquire+release (zeroFill: false)', poolRaw, unsafe))
    saved.alloc.push({ size, alloc, poolZeroFill: poolZero, allocUnsafe: unsafe, poolNoZeroFill: poolRaw })
  }
  printTable(['operation', 'size', 'ns/op', 'ops/s', 'throughput vs baseline', 'runs (ns/op)'], rows)

  console.log(
    `\nRequest-like loop: acquire 16 KiB, fill, sha256, release (or drop); ${requestOps.toLocaleString('en-US')} ` +
      `requests per run, ${REQUEST_BATCH} per turn. GC time: sum of perf_hooks 'gc' entries during the run.\n`,
  )
  const rspecs = [
    { suite: 'request', kind: 'allocUnsafe', size: 16 * KiB, ops: requestOps },
    { suite: 'request', kind: 'pool', size: 16 * KiB, ops: requestOps, zeroFill: false },
    { suite: 'request', kind: 'alloc', size: 16 * KiB, ops: requestOps },
    { suite: 'request', kind: 'pool', size: 16 * KiB, ops: requestOps, zeroFill: true },
  ]
  const [rUnsafe, rPoolRaw, rAlloc, rPoolZero] = measure(rspecs, runs)
  const rrow = (name, m, base) => [
    name,
    m.nsPerOp.toFixed(0),
    opsPerSec(1e9 / m.nsPerOp),
    base === undefined ? '1.00x' : `${(base.nsPerOp / m.nsPerOp).toFixed(2)}x`,
    m.gcMs.toFixed(1),
    String(m.gcCount),
  ]
  printTable(
    ['request loop', 'ns/request', 'requests/s', 'throughput vs baseline', 'GC ms (median)', 'GC events'],
    [
      rrow('Buffer.allocUnsafe', rUnsafe),
      rrow('pool (zeroFill: false)', rPoolRaw, rUnsafe),
      rrow('Buffer.alloc', rAlloc),
      rrow('pool (zeroFill)', rPoolZero, rAlloc),
    ],
  )
  saved.request = {
    ops: requestOps,
    allocUnsafe: rUnsafe,
    poolNoZeroFill: rPoolRaw,
    alloc: rAlloc,
    poolZeroFill: rPoolZero,
  }
  saveResults('pool', saved)
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3])).catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  main()
}
