'use strict'

// ListenerRegistry against the raw APIs it wraps.
//
//   node benchmark/registry.bench.js        (re-spawns itself with --expose-gc)
//
// Time: one on+off pair per operation, each case run in 7 rounds in
// alternating order, median and best ns/op reported. The target is at most
// 3x the raw `emitter.on` + `emitter.off` pair.
// Memory: heap used (after forced GCs) per live registration, 100,000 of
// them, with the listener functions created before the baseline so that only
// what the registration itself costs is counted.

const { spawnSync } = require('node:child_process')

if (typeof global.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const assert = require('node:assert')
const { EventEmitter, addAbortListener, getEventListeners } = require('node:events')
const { ListenerRegistry } = require('..')
const { machineLine, printTable, saveResults } = require('./lib/report')

const kDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')
const ROUNDS = 7
const OPS = 400_000
const LIVE = 100_000

// ------------------------------------------------------------------ cases

const listener = () => {}
const emitter = new EventEmitter()
const target = new EventTarget()
const controller = new AbortController()
const reg = new ListenerRegistry()
const scope = new ListenerRegistry().scope()

const cases = [
  {
    name: 'EventEmitter: emitter.on + emitter.off (raw)',
    baseline: 'raw EventEmitter',
    run(n) {
      for (let i = 0; i < n; i++) {
        emitter.on('data', listener)
        emitter.off('data', listener)
      }
    },
  },
  {
    name: 'EventEmitter: reg.on + dispose',
    vs: 'raw EventEmitter',
    run(n) {
      for (let i = 0; i < n; i++) reg.on(emitter, 'data', listener)()
    },
  },
  {
    name: 'EventEmitter: scope.on + dispose',
    vs: 'raw EventEmitter',
    run(n) {
      for (let i = 0; i < n; i++) scope.on(emitter, 'data', listener)()
    },
  },
  {
    name: 'EventEmitter: reg.once + dispose',
    vs: 'raw EventEmitter',
    run(n) {
      for (let i = 0; i < n; i++) reg.once(emitter, 'data', listener)()
    },
  },
  {
    name: 'events.addAbortListener + dispose (raw)',
    baseline: 'addAbortListener',
    vs: 'raw EventEmitter',
    run(n) {
      for (let i = 0; i < n; i++) addAbortListener(controller.signal, listener)[kDispose]()
    },
  },
  {
    name: 'EventEmitter: emitter.on + addAbortListener, both disposed (raw)',
    baseline: 'raw on + addAbortListener',
    vs: 'raw EventEmitter',
    run(n) {
      for (let i = 0; i < n; i++) {
        emitter.on('data', listener)
        const hook = addAbortListener(controller.signal, () => emitter.off('data', listener))
        emitter.off('data', listener)
        hook[kDispose]()
      }
    },
  },
  {
    name: 'EventEmitter: reg.on with { signal } + dispose',
    vs: 'raw on + addAbortListener',
    run(n) {
      const options = { signal: controller.signal }
      for (let i = 0; i < n; i++) reg.on(emitter, 'data', listener, options)()
    },
  },
  {
    name: 'EventTarget: addEventListener + removeEventListener (raw)',
    baseline: 'raw EventTarget',
    run(n) {
      for (let i = 0; i < n; i++) {
        target.addEventListener('ping', listener)
        target.removeEventListener('ping', listener)
      }
    },
  },
  {
    name: 'EventTarget: reg.on + dispose',
    vs: 'raw EventTarget',
    run(n) {
      for (let i = 0; i < n; i++) reg.on(target, 'ping', listener)()
    },
  },
]

/** Every case must attach and then remove: checked before anything is timed. */
function check() {
  for (const c of cases) {
    c.run(3)
    assert.strictEqual(emitter.listenerCount('data'), 0, c.name)
    assert.strictEqual(getEventListeners(target, 'ping').length, 0, c.name)
    assert.strictEqual(getEventListeners(controller.signal, 'abort').length, 0, c.name)
  }
  const off = reg.on(emitter, 'data', listener)
  assert.strictEqual(emitter.listenerCount('data'), 1)
  assert.strictEqual(reg.count(), 1)
  assert.strictEqual(off(), true)
  const offT = reg.on(target, 'ping', listener, { signal: controller.signal })
  assert.strictEqual(getEventListeners(target, 'ping').length, 1)
  assert.strictEqual(getEventListeners(controller.signal, 'abort').length, 1)
  offT()
  assert.strictEqual(reg.count() + scope.count(), 0)
}

function time(c, n) {
  const t0 = process.hrtime.bigint()
  c.run(n)
  return Number(process.hrtime.bigint() - t0) / n
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function timeAll() {
  for (const c of cases) c.samples = []
  for (const c of cases) c.run(OPS / 4) // warm up
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? cases : [...cases].reverse()
    for (const c of order) c.samples.push(time(c, OPS))
  }
  const base = {}
  for (const c of cases) if (c.baseline) base[c.baseline] = median(c.samples)
  return cases.map((c) => ({
    case: c.name,
    nsPerOp: Math.round(median(c.samples) * 10) / 10,
    bestNsPerOp: Math.round(Math.min(...c.samples) * 10) / 10,
    vs: c.vs ?? null,
    ratio: c.vs ? Math.round((median(c.samples) / base[c.vs]) * 100) / 100 : null,
  }))
}

// ------------------------------------------------------------------ memory

function heapUsed() {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage().heapUsed
}

/** Bytes per registration: `setup()` runs before the baseline, `register(ctx)` after. */
function perRegistration(setup, register) {
  const ctx = setup()
  const before = heapUsed()
  const held = register(ctx)
  const after = heapUsed()
  const bytes = (after - before) / LIVE
  // Keep everything alive until measured.
  assert.ok(ctx && held !== null)
  return Math.round(bytes)
}

function listeners(n) {
  return Array.from({ length: n }, (_, i) => () => i)
}

function memory() {
  const TARGETS = LIVE / 5
  const rows = [
    [
      'raw emitter.on, one emitter',
      () => ({ e: new EventEmitter().setMaxListeners(0), fns: listeners(LIVE) }),
      ({ e, fns }) => {
        for (const fn of fns) e.on('data', fn)
        return e
      },
    ],
    [
      'reg.on, one emitter, disposers dropped',
      () => ({
        e: new EventEmitter().setMaxListeners(0),
        fns: listeners(LIVE),
        r: new ListenerRegistry({ maxListeners: Infinity }),
      }),
      ({ e, fns, r }) => {
        for (const fn of fns) r.on(e, 'data', fn)
        return r
      },
    ],
    [
      'reg.on, one emitter, disposers kept',
      () => ({
        e: new EventEmitter().setMaxListeners(0),
        fns: listeners(LIVE),
        r: new ListenerRegistry({ maxListeners: Infinity }),
      }),
      ({ e, fns, r }) => fns.map((fn) => r.on(e, 'data', fn)),
    ],
    [
      `raw emitter.on, ${TARGETS.toLocaleString('en-US')} emitters x 5`,
      () => ({ es: Array.from({ length: TARGETS }, () => new EventEmitter()), fns: listeners(LIVE) }),
      ({ es, fns }) => {
        for (let i = 0; i < LIVE; i++) es[i % TARGETS].on('data', fns[i])
        return es
      },
    ],
    [
      `reg.on, ${TARGETS.toLocaleString('en-US')} emitters x 5, disposers dropped`,
      () => ({
        es: Array.from({ length: TARGETS }, () => new EventEmitter()),
        fns: listeners(LIVE),
        r: new ListenerRegistry(),
      }),
      ({ es, fns, r }) => {
        for (let i = 0; i < LIVE; i++) r.on(es[i % TARGETS], 'data', fns[i])
        return r
      },
    ],
  ]
  return rows.map(([name, setup, register]) => ({ case: name, bytesPerRegistration: perRegistration(setup, register) }))
}

// -------------------------------------------------------------------- main

check()
console.log(`${machineLine()}\n`)
console.log(`Time: one on+off pair per op, median (and best) of ${ROUNDS} rounds of ${OPS.toLocaleString('en-US')}\n`)
const timeRows = timeAll()
printTable(
  ['case', 'ns/op', 'best', 'ratio'],
  timeRows.map((r) => [
    r.case,
    r.nsPerOp.toFixed(1),
    r.bestNsPerOp.toFixed(1),
    r.ratio === null ? '' : `${r.ratio.toFixed(2)}x ${r.vs}`,
  ]),
)
const main = timeRows.find((r) => r.case === 'EventEmitter: reg.on + dispose')
console.log(`\nreg.on + dispose is ${main.ratio.toFixed(2)}x the raw pair (target: at most 3x)\n`)

console.log(`Memory: heap used per live registration, ${LIVE.toLocaleString('en-US')} registrations\n`)
const memoryRows = memory()
printTable(
  ['case', 'bytes/registration'],
  memoryRows.map((r) => [r.case, r.bytesPerRegistration]),
)

saveResults('registry', { rounds: ROUNDS, opsPerRound: OPS, live: LIVE, time: timeRows, memory: memoryRows })
