'use strict'

// The demo's measuring harness, not part of the example apps: it serves one
// app (examples/express-leaky.js or examples/express-leakless.js, given as
// the first argument) on 127.0.0.1 and records what its memory does while
// run.js drives load at it. It talks to run.js over the IPC channel of
// child_process.fork:
//
//   child -> parent  { type: 'listening', port }
//   parent -> child  { type: 'start' }          load begins
//   parent -> child  { type: 'stop' }           load is over
//   child -> parent  { type: 'report', ... }    then it exits
//
// It must run with --expose-gc (run.js passes it): see "Forced GCs" below.

const http = require('node:http')
const path = require('node:path')
const { PerformanceObserver, constants } = require('node:perf_hooks')
const leakless = require('../..')

const appFile = path.resolve(process.argv[2])
const config = JSON.parse(process.argv[3] ?? '{}')
// Every `sampleMs` the harness reads process.memoryUsage() and leakless.stats();
// every `gcEvery`-th sample comes right after a forced full GC.
const sampleMs = config.sampleMs ?? 250
const gcEvery = config.gcEvery ?? 4
const windowMs = config.windowMs ?? 30_000

if (typeof global.gc !== 'function') {
  console.error('examples/demo/server.js needs --expose-gc')
  process.exit(2)
}

// ---------------------------------------------------------------- GC time
// Every GC the process runs, from perf_hooks 'gc' entries. Forced GCs (the
// ones below) are counted apart, so the table can show what the app's own
// allocation cost in GC time.
const gcTime = { count: 0, ms: 0, maxPauseMs: 0, forcedCount: 0, forcedMs: 0 }
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const flags = entry.detail?.flags ?? entry.flags ?? 0
    if (flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) {
      gcTime.forcedCount++
      gcTime.forcedMs += entry.duration
    } else {
      gcTime.count++
      gcTime.ms += entry.duration
      gcTime.maxPauseMs = Math.max(gcTime.maxPauseMs, entry.duration)
    }
  }
})

// ---------------------------------------------------------------- monitor
// leakless.monitor() fits a line to the heap as it is right after major
// (mark-compact) GCs. A busy server whose garbage dies young runs few of
// those: a minute can pass without one, leaking or not, and a default monitor
// (5-minute window, at least 6 post-GC samples) would have nothing to judge
// in a 30-second demo. Two changes make its verdict honest at this scale:
//
// - Forced GCs. The harness calls gc() (a full, synchronous mark-compact)
//   every `gcEvery` samples, in both apps alike, so the monitor gets a
//   post-GC sample every 0.5 to 2 s: the heap as it really is, with no
//   garbage in it. This is what a long window gives a real service for free.
//   They cost the app time (the table shows how much), the leaking app more,
//   since a full GC takes longer the more the heap holds.
// - A window as long as the run (`windowMs`, set by run.js). The monitor only
//   judges a window its samples span at least half of, and asks that both
//   halves grow: a cache that fills up in the first seconds and then stays
//   flat is not a trend, a heap that climbs the whole run is.
//
// The thresholds are the defaults (more than 1 MiB/min, R² of at least 0.7).
// In production keep the default window, or a longer one, and no forced GCs.
const growth = []
let monitor = null

// ---------------------------------------------------------------- server
let served = 0
const { createApp } = require(appFile)
const server = http.createServer(createApp())
server.on('request', (req, res) => res.once('finish', () => served++))

const samples = []
let sampleCount = 0
let timer = null
let startedAt = 0

function sample(forceGc) {
  if (forceGc) global.gc()
  const mem = process.memoryUsage()
  const s = leakless.stats()
  samples.push({
    t: Date.now() - startedAt,
    requests: served,
    postGc: forceGc,
    heapUsed: mem.heapUsed,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    rss: mem.rss,
    leakless: s.externalBytes,
    lruEntries: s.lru.entries,
    listeners: s.registries.listeners,
    poolInUseBytes: s.pools.inUseBytes,
    poolLeaked: s.pools.leaked,
  })
}

function start() {
  startedAt = Date.now()
  served = 0 // the warm-up requests do not count
  gcObserver.observe({ entryTypes: ['gc'] })
  monitor = leakless.monitor({ windowMs, onGrowth: (trend) => growth.push(trend) })
  sample(true)
  timer = setInterval(() => sample(++sampleCount % gcEvery === 0), sampleMs)
}

async function stop() {
  clearInterval(timer)
  sample(true)
  // The GC observers (ours and the monitor's) hear of that GC on a later turn.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  const trends = monitor.trends()
  const monitorSamples = monitor.samples()
  monitor.stop()
  gcObserver.disconnect()
  process.send(
    {
      type: 'report',
      app: path.basename(appFile),
      samples,
      gcTime,
      monitor: {
        windowMs,
        alerts: growth,
        heap: trends.heap,
        external: trends.external,
        postGcSamples: monitorSamples.filter((m) => m.kind === 'gc').length,
      },
      served,
    },
    () => process.exit(0),
  )
}

process.on('message', (message) => {
  if (message.type === 'start') start()
  else if (message.type === 'stop') stop()
})

// 127.0.0.1 only, on a port the system picks.
server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }))
