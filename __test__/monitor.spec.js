'use strict'

// leakless.monitor() and leakless.collectMetrics().
//
// Growth tests are driven, not waited for: each step does some work, moves a
// fake clock on by one second, forces a major GC (AVA runs with --expose-gc)
// and waits until the monitor recorded that GC. The heap figures are real;
// only the time axis is fake, so slopes do not depend on how fast this
// machine is. Nothing here asserts on a duration.

const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { inspect } = require('node:util')
const { Worker } = require('node:worker_threads')
const { Registry } = require('prom-client')

const leakless = require('../index.js')
const { LRU, monitor, collectMetrics, stats } = leakless
const { latestMonitor } = require('../lib/monitor')
const { fitLine } = require('../lib/monitor/trend')
const { takeLock } = require('../lib/monitor/snapshots')
const { GAUGE_NAMES, metricValue } = require('./helpers/metrics')
const { resetWarnings } = require('../lib/common/warnings')

const ROOT = path.join(__dirname, '..')
const MiB = 2 ** 20
// Long enough that the fallback timer never fires during a driven test.
const NO_INTERVAL = 2 ** 31 - 1

const tick = () => new Promise((resolve) => setImmediate(resolve))

function fakeClock(start = 1_700_000_000_000) {
  return {
    t: start,
    now() {
      return this.t
    },
  }
}

// Runs `work`, moves the clock on by `stepMs`, forces a major GC and waits
// for the monitor to record the sample of that GC.
async function gcStep(m, clock, work = () => {}, stepMs = 1000) {
  work()
  clock.t += stepMs
  global.gc()
  for (let i = 0; i < 1000; i++) {
    if (m.samples().at(-1)?.time === clock.t) return
    await tick()
  }
  throw new Error('the monitor did not record the forced GC')
}

// Lets pending immediates (a scheduled heap snapshot) run.
async function settle() {
  for (let i = 0; i < 5; i++) await tick()
}

function captureWarnings() {
  const seen = []
  const listener = (warning) => {
    if (warning.name === 'LeaklessWarning') seen.push(warning)
  }
  process.on('warning', listener)
  return { seen, stop: () => process.off('warning', listener) }
}

// Objects that stay reachable: about 70 bytes each on the heap.
function leaker() {
  const kept = []
  return {
    kept,
    grow(n) {
      for (let i = 0; i < n; i++) kept.push({ id: kept.length, name: `item-${kept.length}` })
    },
  }
}

// A monitor driven by a fake clock (the fallback timer never fires), the
// alerts it raised and the warnings seen meanwhile; stopped when the test ends.
function driven(t, options) {
  const clock = fakeClock()
  const alerts = []
  const warnings = captureWarnings()
  const m = monitor({ perf: clock, intervalMs: NO_INTERVAL, onGrowth: (trend) => alerts.push(trend), ...options })
  t.teardown(() => {
    m.stop()
    warnings.stop()
  })
  return { m, clock, alerts, warnings }
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leakless-monitor-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function runNode(args, options = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 30_000, ...options }, (error, stdout, stderr) => {
      resolve({
        code: error ? error.code : 0,
        signal: error ? error.signal : null,
        killed: error?.killed ?? false,
        stdout,
        stderr,
      })
    })
  })
}

test.beforeEach(() => resetWarnings())

// ---------------------------------------------------------------- trend math

test('fitLine: exact line, flat line, too few points', (t) => {
  const line = fitLine([0, 1, 2, 3], [10, 12, 14, 16])
  t.is(line.slope, 2)
  t.is(line.r2, 1)
  t.deepEqual(fitLine([0, 1, 2], [5, 5, 5]), { slope: 0, r2: 0 })
  t.is(fitLine([0], [1]), null)
  t.is(fitLine([3, 3, 3], [1, 2, 3]), null)
  const noisy = fitLine([0, 1, 2, 3, 4, 5], [0, 9, 1, 8, 2, 7])
  t.true(noisy.r2 < 0.3)
})

// ---------------------------------------------------------------- detection

test.serial('a leaking loop triggers onGrowth with a positive slope, and a warning with the trend', async (t) => {
  const { m, clock, alerts, warnings } = driven(t, { windowMs: 20_000 })
  const leak = leaker()
  for (let i = 0; i < 40 && alerts.length === 0; i++) await gcStep(m, clock, () => leak.grow(5000))
  await settle()

  t.is(alerts.length, 1)
  const [trend] = alerts
  t.log(
    `leaking loop: ${(trend.bytesPerMin / MiB).toFixed(2)} MiB/min, R² ${trend.r2.toFixed(3)}, ` +
      `${trend.samples} samples`,
  )
  t.is(trend.metric, 'heap')
  t.true(trend.bytesPerMin > MiB)
  t.true(trend.r2 >= 0.7)
  t.true(trend.samples >= 6)
  t.true(trend.to > trend.from)
  t.true(trend.toTime - trend.fromTime >= 10_000, 'judged over at least half a window')

  const growth = warnings.seen.filter((w) => w.code === 'LEAKLESS_MEMORY_GROWTH')
  t.is(growth.length, 1)
  t.like(growth[0], { metric: 'heap', bytesPerMin: trend.bytesPerMin, r2: trend.r2, from: trend.from, to: trend.to })
  t.is(growth[0].samples, trend.samples)
  t.regex(growth[0].message, /heap used after GC grew by [\d.]+ MiB\/min/)
  t.true(leak.kept.length > 0)
})

test.serial('an alert repeats only after growth went on for another window', async (t) => {
  const { m, clock, alerts } = driven(t, { windowMs: 10_000 })
  const leak = leaker()
  for (let i = 0; i < 36; i++) await gcStep(m, clock, () => leak.grow(3000))

  const heap = alerts.filter((a) => a.metric === 'heap')
  t.true(heap.length >= 2, `alerts: ${heap.length}`)
  // 36 s of growth with a 10 s window: a first alert, then at most one a window.
  t.true(heap.length <= 4, `alerts: ${heap.length}`)
  for (let i = 1; i < heap.length; i++) {
    t.true(heap[i].toTime - heap[i - 1].toTime >= 10_000)
    t.true(heap[i].to > heap[i - 1].to)
  }
})

test.serial('a leaking loop is found with the real clock too', async (t) => {
  const alerts = []
  const m = monitor({ windowMs: 400, intervalMs: NO_INTERVAL, onGrowth: (trend) => alerts.push(trend) })
  t.teardown(() => m.stop())
  const leak = leaker()
  for (let i = 0; i < 1000 && alerts.length === 0; i++) {
    leak.grow(1000)
    const before = m.samples().length
    global.gc()
    for (let k = 0; k < 1000 && m.samples().length === before; k++) await tick()
  }
  t.true(alerts.length >= 1)
  t.is(alerts[0].metric, 'heap')
  t.true(alerts[0].bytesPerMin > 0)
  t.log(`real clock: ${(alerts[0].bytesPerMin / MiB).toFixed(1)} MiB/min after ${leak.kept.length} objects`)
})

test.serial('heavy garbage over a bounded working set never alerts (60 post-GC samples)', async (t) => {
  const clock = fakeClock()
  const alerts = []
  const warnings = captureWarnings()
  // A bounded cache that keeps churning: full before the monitor starts.
  const cache = new LRU({ max: 2000 })
  for (let i = 0; i < 2000; i++) cache.set(`k${i}`, { i, body: `value ${i}` })
  const m = monitor({ perf: clock, windowMs: 20_000, intervalMs: NO_INTERVAL, onGrowth: (trend) => alerts.push(trend) })
  t.teardown(() => {
    m.stop()
    warnings.stop()
  })
  let next = 2000
  let sink = 0
  const work = () => {
    // Allocate and drop: objects, strings, arrays, closures, Maps and Buffers.
    let garbage = []
    for (let i = 0; i < 30_000; i++) garbage.push({ i, s: `request ${i}`, list: [i, i + 1] })
    const map = new Map()
    for (let i = 0; i < 5000; i++) map.set(i, () => i)
    for (let i = 0; i < 100; i++) sink += Buffer.alloc(16 * 1024).length
    sink += garbage.length + map.size
    garbage = null
    for (let i = 0; i < 1000; i++, next++) cache.set(`k${next}`, { i: next, body: `value ${next}` })
  }
  let gcSamples = 0
  const max = { heap: null, external: null }
  for (let i = 0; i < 60; i++) {
    await gcStep(m, clock, work)
    gcSamples++
    for (const [metric, trend] of Object.entries(m.trends())) {
      if (metric in max && trend !== null && (max[metric] === null || trend.bytesPerMin > max[metric].bytesPerMin)) {
        max[metric] = trend
      }
    }
  }
  await settle()
  for (const [metric, trend] of Object.entries(max)) {
    t.log(
      `garbage loop, ${metric}: max slope ${(trend.bytesPerMin / 1024).toFixed(0)} KiB/min ` +
        `(R² ${trend.r2.toFixed(2)}, ${trend.samples} samples) over ${gcSamples} post-GC samples`,
    )
  }
  t.true(gcSamples >= 50)
  t.true(sink > 0)
  t.is(cache.size, 2000)
  t.deepEqual(alerts, [])
  t.deepEqual(
    warnings.seen.filter((w) => w.code === 'LEAKLESS_MEMORY_GROWTH'),
    [],
  )
})

test.serial('a one-off step in the heap is not a trend', async (t) => {
  const { m, clock, alerts } = driven(t, { windowMs: 10_000 })
  const block = leaker()
  let steepest = null
  for (let i = 0; i < 21; i++) {
    // 300,000 objects (about 20 MiB) kept at once, in the middle of the run.
    await gcStep(m, clock, () => i === 10 && block.grow(300_000))
    const { heap } = m.trends()
    if (heap !== null && heap.bytesPerMin > MiB && (steepest === null || heap.r2 > steepest.r2)) steepest = heap
  }
  t.log(`step: best fit ${(steepest.bytesPerMin / MiB).toFixed(1)} MiB/min with R² ${steepest.r2.toFixed(2)}`)
  t.true(steepest.r2 >= 0.7, 'slope and R² alone would call it growth')
  t.deepEqual(alerts, [])
  t.is(block.kept.length, 300_000)
})

test.serial('a leak of Buffers shows in the external trend', async (t) => {
  const { m, clock, alerts } = driven(t, { windowMs: 10_000 })
  const kept = []
  for (let i = 0; i < 20 && !alerts.some((a) => a.metric === 'external'); i++) {
    await gcStep(m, clock, () => {
      for (let j = 0; j < 16; j++) kept.push(Buffer.alloc(16 * 1024))
    })
  }
  const external = alerts.find((a) => a.metric === 'external')
  t.truthy(external)
  // 256 KiB a second is 15 MiB/min.
  t.true(external.bytesPerMin > 10 * MiB)
  t.true(external.r2 > 0.9)
})

test.serial('alertOn chooses the metrics that alert', async (t) => {
  const { m, clock, alerts } = driven(t, { windowMs: 10_000, alertOn: [] })
  const leak = leaker()
  for (let i = 0; i < 15; i++) await gcStep(m, clock, () => leak.grow(5000))
  t.deepEqual(alerts, [])
  t.true(m.trends().heap.bytesPerMin > MiB, 'the trend is still measured')
})

// ---------------------------------------------------------------- samples

test.serial('samples() holds the current window of post-GC samples', async (t) => {
  const clock = fakeClock()
  const m = monitor({ perf: clock, windowMs: 5000, intervalMs: NO_INTERVAL })
  t.teardown(() => m.stop())
  for (let i = 0; i < 12; i++) await gcStep(m, clock)
  const samples = m.samples()
  t.true(samples.length >= 6)
  t.true(samples[0].time >= clock.t - 5000)
  const last = samples.at(-1)
  t.is(last.kind, 'gc')
  t.is(last.time, clock.t)
  for (const field of ['heapUsed', 'external', 'rss', 'leakless']) t.is(typeof last[field], 'number', field)
  t.is(last.leakless, stats().externalBytes)
  t.true(Object.isFrozen(last))
  samples.length = 0
  t.true(m.samples().length >= 6, 'a copy')
  const trends = m.trends()
  t.deepEqual(Object.keys(trends), ['heap', 'external', 'rss', 'leakless'])
  t.is(trends.heap.metric, 'heap')
})

test.serial('fallback samples carry RSS and leakless bytes, never heap figures; stop() ends them', async (t) => {
  const m = monitor({ intervalMs: 1 })
  t.teardown(() => m.stop())
  let sample
  for (let i = 0; i < 500 && sample === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2))
    sample = m.samples().find((s) => s.kind === 'interval')
  }
  t.truthy(sample)
  t.is(sample.heapUsed, null)
  t.is(sample.external, null)
  t.is(typeof sample.rss, 'number')
  t.is(typeof sample.leakless, 'number')

  m.stop()
  const count = m.samples().length
  await new Promise((resolve) => setTimeout(resolve, 50))
  global.gc()
  await settle()
  t.is(m.samples().length, count)
})

// ---------------------------------------------------------------- lifecycle

test.serial('stop() is idempotent, removes the GC observer, and [Symbol.dispose] stops too', async (t) => {
  const clock = fakeClock()
  const m = monitor({ perf: clock, intervalMs: NO_INTERVAL })
  await gcStep(m, clock)
  t.true(m.running)
  t.is(latestMonitor(), m)
  t.is(m.stop(), undefined)
  t.notThrows(() => m.stop())
  t.false(m.running)
  t.not(latestMonitor(), m)
  const count = m.samples().length
  global.gc()
  await settle()
  t.is(m.samples().length, count)

  const dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')
  const d = monitor({ intervalMs: NO_INTERVAL })
  d[dispose]()
  t.false(d.running)
  t.notThrows(() => d[dispose]())
})

test.serial('a throwing onGrowth is reported as a warning and sampling goes on', async (t) => {
  const clock = fakeClock()
  let calls = 0
  const warnings = captureWarnings()
  const m = monitor({
    perf: clock,
    windowMs: 10_000,
    intervalMs: NO_INTERVAL,
    onGrowth() {
      calls++
      throw new Error('logger is down')
    },
  })
  t.teardown(() => {
    m.stop()
    warnings.stop()
  })
  const leak = leaker()
  for (let i = 0; i < 30 && calls < 2; i++) await gcStep(m, clock, () => leak.grow(5000))
  await settle()
  t.is(calls, 2, 'called again after another window: the monitor survived the throw')
  const errors = warnings.seen.filter((w) => w.code === 'LEAKLESS_MONITOR_ERROR')
  t.true(errors.length >= 1)
  t.regex(errors[0].message, /onGrowth threw.*logger is down/)
})

test('a process whose only handle is a monitor exits by itself', async (t) => {
  const script = `
    const leakless = require('./index.js')
    leakless.monitor({ intervalMs: 1000, onGrowth() {} })
    leakless.monitor()
    const { Registry } = require('prom-client')
    const register = new Registry()
    leakless.collectMetrics({ register })
    register.metrics().then((text) => process.stdout.write(text))
  `
  const result = await runNode(['--expose-gc', '-e', script])
  t.is(result.killed, false, 'not killed by the bound')
  t.is(result.code, 0, result.stderr)
  t.is(result.signal, null)
  // The gauge of the monitor collectMetrics found (no trend yet).
  t.regex(result.stdout, /^leakless_heap_growth_bytes_per_minute NaN$/im)
})

test('a worker whose only handle is a monitor ends by itself', async (t) => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const m = require(${JSON.stringify(path.join(ROOT, 'index.js'))}).monitor({ intervalMs: 1000 })
     parentPort.postMessage(m.running)`,
    { eval: true },
  )
  const messages = []
  worker.on('message', (message) => messages.push(message))
  const code = await new Promise((resolve, reject) => {
    worker.once('exit', resolve)
    worker.once('error', reject)
  })
  t.is(code, 0)
  t.deepEqual(messages, [true])
})

// ---------------------------------------------------------------- options

const bad = [
  [null, 'options', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [5, 'options', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ onGrowth: 'log' }, 'options.onGrowth', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ onGrowth: null }, 'options.onGrowth', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ windowMs: -1 }, 'options.windowMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ windowMs: 0 }, 'options.windowMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ windowMs: Number.NaN }, 'options.windowMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ windowMs: Infinity }, 'options.windowMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ windowMs: '60000' }, 'options.windowMs', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ intervalMs: 0 }, 'options.intervalMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ intervalMs: -5 }, 'options.intervalMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ intervalMs: 2 ** 31 }, 'options.intervalMs', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ minGrowthBytesPerMin: -1 }, 'options.minGrowthBytesPerMin', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ minGrowthBytesPerMin: 10n }, 'options.minGrowthBytesPerMin', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ minR2: 1.5 }, 'options.minR2', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ minR2: -0.1 }, 'options.minR2', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ minSamples: 2 }, 'options.minSamples', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ minSamples: 6.5 }, 'options.minSamples', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ alertOn: 'heap' }, 'options.alertOn', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ alertOn: ['heap', 'cpu'] }, 'options.alertOn', TypeError, 'ERR_INVALID_ARG_VALUE'],
  [{ snapshots: '/tmp' }, 'options.snapshots', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ snapshots: {} }, 'options.snapshots.dir', TypeError, 'ERR_INVALID_ARG_TYPE'],
  [{ snapshots: { dir: '' } }, 'options.snapshots.dir', TypeError, 'ERR_INVALID_ARG_VALUE'],
  [{ snapshots: { dir: os.tmpdir(), max: 0 } }, 'options.snapshots.max', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ snapshots: { dir: os.tmpdir(), max: 1.5 } }, 'options.snapshots.max', RangeError, 'ERR_OUT_OF_RANGE'],
  [{ perf: {} }, 'options.perf', TypeError, 'ERR_INVALID_ARG_TYPE'],
]

for (const [options, name, Ctor, code] of bad) {
  const shown = inspect(options, { breakLength: Infinity })
  test.serial(`monitor(${shown}) throws ${Ctor.name} ${code}`, (t) => {
    const before = latestMonitor()
    const err = t.throws(() => monitor(options), { instanceOf: Ctor })
    t.is(err.code, code)
    t.true(err.message.includes(`"${name}"`), err.message)
    t.true(err.message.includes('Received'), err.message)
    t.is(latestMonitor(), before, 'nothing was started')
  })
}

test.serial('a snapshot dir that cannot be written is refused at monitor() time', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'a-file')
  fs.writeFileSync(file, '')
  for (const target of [file, path.join(file, 'below')]) {
    const err = t.throws(() => monitor({ snapshots: { dir: target } }), { instanceOf: TypeError })
    t.is(err.code, 'ERR_INVALID_ARG_VALUE')
    t.regex(err.message, /"options\.snapshots\.dir" must be a directory leakless can write heap snapshots into/)
    t.regex(err.message, /\((ENOTDIR|EEXIST)/)
    t.truthy(err.cause)
  }
  t.is(latestMonitor(), null)
})

test.serial('a missing snapshot dir is created; no probe file is left behind', (t) => {
  const dir = path.join(tempDir(t), 'nested', 'heaps')
  const m = monitor({ snapshots: { dir } })
  m.stop()
  t.deepEqual(fs.readdirSync(dir), [])
})

// ---------------------------------------------------------------- snapshots

test.serial('heap snapshots: written on growth and further growth, valid JSON, never more than max', async (t) => {
  const dir = tempDir(t)
  const { m, clock, alerts, warnings } = driven(t, { windowMs: 10_000, snapshots: { dir, max: 2 } })
  const leak = leaker()
  const counts = []
  for (let i = 0; i < 40 && alerts.length < 3; i++) {
    await gcStep(m, clock, () => leak.grow(2000))
    await settle()
    counts.push(fs.readdirSync(dir).length)
  }
  await settle()
  t.true(alerts.length >= 3, `alerts: ${alerts.length}`)
  t.true(Math.max(...counts) <= 2)
  const files = fs.readdirSync(dir).sort()
  t.is(files.length, 2, 'one on detection, one after further growth, none past max; no lock left')
  for (const name of files) {
    t.regex(name, /^leakless-\d{8}T\d{6}Z-\d+-\d+-\d+\.heapsnapshot$/)
    const snapshot = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'))
    t.true(Array.isArray(snapshot.snapshot.meta.node_fields))
    t.true(snapshot.snapshot.node_count > 0)
  }
  const notes = warnings.seen.filter((w) => w.code === 'LEAKLESS_HEAP_SNAPSHOT').map((w) => w.message)
  t.is(notes.filter((text) => text.includes('heap snapshot written to')).length, 2)
  t.true(notes.some((text) => text.includes('no more are written')))
})

test.serial('snapshots already in dir count toward max', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'leakless-earlier-run.heapsnapshot'), '{}')
  const { m, clock, alerts, warnings } = driven(t, { windowMs: 10_000, snapshots: { dir, max: 1 } })
  const leak = leaker()
  for (let i = 0; i < 30 && alerts.length === 0; i++) await gcStep(m, clock, () => leak.grow(5000))
  await settle()
  t.is(alerts.length, 1)
  t.deepEqual(fs.readdirSync(dir), ['leakless-earlier-run.heapsnapshot'])
  t.true(warnings.seen.some((w) => w.code === 'LEAKLESS_HEAP_SNAPSHOT' && /already holds 1/.test(w.message)))
})

test.serial('a snapshot dir that disappears is reported, and sampling goes on', async (t) => {
  const dir = tempDir(t)
  const { m, clock, alerts, warnings } = driven(t, { windowMs: 10_000, snapshots: { dir, max: 2 } })
  fs.rmSync(dir, { recursive: true })
  const leak = leaker()
  for (let i = 0; i < 30 && alerts.length === 0; i++) await gcStep(m, clock, () => leak.grow(5000))
  await settle()
  t.is(alerts.length, 1)
  const failed = warnings.seen.filter((w) => w.code === 'LEAKLESS_HEAP_SNAPSHOT_FAILED')
  t.is(failed.length, 1)
  t.regex(failed[0].message, /could not write a heap snapshot into .*ENOENT/)
  await gcStep(m, clock) // throws if the GC was not recorded
  t.true(m.running)
  t.false(fs.existsSync(dir))
})

test('the snapshot lock: held by a live owner, taken over from a dead or earlier one', async (t) => {
  const dir = tempDir(t)
  const lock = path.join(dir, '.leakless-snapshot.lock')
  const write = (owner) => fs.writeFileSync(lock, JSON.stringify({ host: os.hostname(), ...owner }))
  const startedAt = Math.round(Date.now() - process.uptime() * 1000)

  t.true(takeLock(lock))
  t.false(takeLock(lock), 'this process holds it (another thread writing)')

  const exited = await runNode(['-e', 'process.stdout.write(String(process.pid))'])
  write({ pid: Number(exited.stdout), startedAt: 0 })
  t.true(takeLock(lock), 'its owner is dead')

  write({ pid: process.pid, startedAt: startedAt - 60_000 })
  t.true(takeLock(lock), 'an earlier process with our pid (a restarted container)')

  write({ pid: process.ppid, startedAt: 0 })
  t.false(takeLock(lock), 'a live process holds it')

  fs.writeFileSync(lock, JSON.stringify({ host: 'elsewhere', pid: Number(exited.stdout), startedAt: 0 }))
  t.false(takeLock(lock), 'another host: only age can tell')
  const old = new Date(Date.now() - 2 * 60 * 60_000)
  fs.utimesSync(lock, old, old)
  t.true(takeLock(lock), 'older than an hour')

  fs.writeFileSync(lock, '')
  t.false(takeLock(lock), 'being written')
})

test.serial('a snapshot is skipped while another process holds the lock', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(
    path.join(dir, '.leakless-snapshot.lock'),
    JSON.stringify({ host: os.hostname(), pid: process.ppid, startedAt: 0 }),
  )
  const { m, clock, alerts, warnings } = driven(t, { windowMs: 10_000, snapshots: { dir } })
  const leak = leaker()
  for (let i = 0; i < 30 && alerts.length === 0; i++) await gcStep(m, clock, () => leak.grow(5000))
  await settle()
  t.is(alerts.length, 1)
  t.deepEqual(fs.readdirSync(dir), ['.leakless-snapshot.lock'])
  t.true(warnings.seen.some((w) => w.code === 'LEAKLESS_HEAP_SNAPSHOT' && /another heap snapshot/.test(w.message)))
})

// ---------------------------------------------------------------- Prometheus

test.serial('collectMetrics: gauges with live values in a fresh registry', async (t) => {
  const clock = fakeClock()
  const m = monitor({ perf: clock, windowMs: 10_000, intervalMs: NO_INTERVAL, alertOn: [] })
  t.teardown(() => m.stop())
  const leak = leaker()
  for (let i = 0; i < 8; i++) await gcStep(m, clock, () => leak.grow(3000))

  const register = new Registry()
  const cache = new LRU({ max: 100 })
  for (let i = 0; i < 42; i++) cache.set(i, i)
  const gauges = collectMetrics({ register })
  t.deepEqual(Object.keys(gauges).sort(), GAUGE_NAMES)

  let text = await register.metrics()
  const now = stats()
  t.regex(text, /# TYPE leakless_external_bytes gauge/)
  t.is(metricValue(text, 'leakless_external_bytes'), now.externalBytes)
  t.is(metricValue(text, 'leakless_lru_entries'), now.lru.entries)
  t.true(now.lru.entries >= 42)
  t.is(metricValue(text, 'leakless_pool_in_use_bytes'), now.pools?.inUseBytes ?? 0)
  t.is(metricValue(text, 'leakless_pool_leaked_buffers'), now.pools?.leaked ?? 0)
  t.is(metricValue(text, 'leakless_listeners'), now.registries?.listeners ?? 0)
  const growth = metricValue(text, 'leakless_heap_growth_bytes_per_minute')
  t.is(growth, m.trends().heap.bytesPerMin)
  t.true(growth > 0)

  // Values are read at scrape time.
  for (let i = 100; i < 150; i++) cache.set(i, i)
  text = await register.metrics()
  t.is(metricValue(text, 'leakless_lru_entries'), stats().lru.entries)
  t.is(metricValue(text, 'leakless_lru_entries'), now.lru.entries + 50)
})

test.serial('collectMetrics: a second call returns the same gauges; a foreign metric is refused clearly', (t) => {
  const register = new Registry()
  const first = collectMetrics({ register, monitor: false })
  const second = collectMetrics({ register, monitor: false })
  for (const name of Object.keys(first)) t.is(second[name], first[name], name)

  const other = new Registry()
  const { Gauge } = require('prom-client')
  new Gauge({ name: 'leakless_lru_entries', help: 'someone else', registers: [other] })
  const err = t.throws(() => collectMetrics({ register: other, monitor: false }))
  t.is(err.code, 'ERR_LEAKLESS_METRIC_EXISTS')
  t.regex(err.message, /"leakless_lru_entries"/)
  t.is(other.getSingleMetric('leakless_external_bytes'), undefined, 'nothing registered on refusal')

  // A cleared registry gets fresh gauges.
  register.clear()
  const third = collectMetrics({ register, monitor: false })
  t.is(register.getSingleMetric('leakless_external_bytes'), third.leakless_external_bytes)
})

test.serial('collectMetrics: growth is NaN without a running monitor; reads the given monitor', async (t) => {
  t.is(latestMonitor(), null)
  const register = new Registry()
  collectMetrics({ register, monitor: false })
  t.is(latestMonitor(), null, 'monitor: false starts none')
  t.regex(await register.metrics(), /^leakless_heap_growth_bytes_per_minute NaN$/im)

  const clock = fakeClock()
  const m = monitor({ perf: clock, windowMs: 10_000, intervalMs: NO_INTERVAL, alertOn: [] })
  for (let i = 0; i < 8; i++) await gcStep(m, clock)
  const given = new Registry()
  collectMetrics({ register: given, monitor: m })
  t.is(metricValue(await given.metrics(), 'leakless_heap_growth_bytes_per_minute'), m.trends().heap.bytesPerMin)
  m.stop()
  t.regex(await given.metrics(), /^leakless_heap_growth_bytes_per_minute NaN$/im, 'a stopped monitor reports nothing')
})

test.serial('collectMetrics: default register, and bad options', (t) => {
  const client = require('prom-client')
  const gauges = collectMetrics({ monitor: false })
  t.teardown(() => {
    for (const name of Object.keys(gauges)) client.register.removeSingleMetric(name)
  })
  t.is(client.register.getSingleMetric('leakless_external_bytes'), gauges.leakless_external_bytes)

  let err = t.throws(() => collectMetrics(null), { instanceOf: TypeError })
  t.is(err.code, 'ERR_INVALID_ARG_TYPE')
  err = t.throws(() => collectMetrics({ register: {} }), { instanceOf: TypeError })
  t.is(err.code, 'ERR_INVALID_ARG_TYPE')
  t.regex(err.message, /"options\.register"/)
  err = t.throws(() => collectMetrics({ monitor: {} }), { instanceOf: TypeError })
  t.is(err.code, 'ERR_INVALID_ARG_TYPE')
  t.regex(err.message, /"options\.monitor"/)
})

test('collectMetrics: a clear error when prom-client is not installed', async (t) => {
  const script = `
    const Module = require('node:module')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'prom-client') {
        const err = new Error("Cannot find module 'prom-client'")
        err.code = 'MODULE_NOT_FOUND'
        throw err
      }
      return resolve.call(this, request, ...rest)
    }
    try {
      require('./index.js').collectMetrics()
    } catch (err) {
      process.stdout.write(JSON.stringify({ name: err.name, code: err.code, message: err.message }))
    }
  `
  const result = await runNode(['-e', script])
  t.is(result.code, 0, result.stderr)
  const err = JSON.parse(result.stdout)
  t.is(err.code, 'ERR_LEAKLESS_MISSING_PEER')
  t.is(err.name, 'Error')
  t.regex(err.message, /"prom-client"/)
  t.regex(err.message, /npm install prom-client/)
})
