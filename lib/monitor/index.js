'use strict'

// leakless.monitor(): growth alerts from the heap as it is right after major
// garbage collections, so that garbage waiting to be collected (the sawtooth
// of a busy heap) never looks like a leak.
//
// Sources of samples:
// - a PerformanceObserver on 'gc' entries: after each major GC (mark-compact)
//   a 'gc' sample records the heap used without the young generation (that
//   GC emptied it; whatever sits there now was allocated after it) and V8's
//   external memory (ArrayBuffers, Buffers), plus RSS and leakless's own
//   native bytes. The observer runs on the turn of the event loop after the
//   GC, so the figures are "right after", not "at" the GC.
// - a fallback timer (unref'd): when no major GC happened for `intervalMs`,
//   an 'interval' sample records RSS and leakless's native bytes only. Heap
//   and external figures read between GCs include garbage, so interval
//   samples carry `null` for them and never enter the heap or external trend.
//
// Trends: a least-squares line over the samples of the last `windowMs`, per
// metric. 'heap' and 'external' use 'gc' samples only; 'rss' and 'leakless'
// use every sample. Only the metrics in `alertOn` (default heap and external)
// raise alerts: RSS mostly tells how the allocator keeps freed pages, and
// leakless's native bytes grow by design while bounded caches fill up.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const v8 = require('node:v8')
const { PerformanceObserver, constants } = require('node:perf_hooks')
const { threadId } = require('node:worker_threads')
const { stats } = require('./stats')
const { emitWarning } = require('../common/warnings')
const {
  invalidArgType,
  invalidArgValue,
  validateInteger,
  validateNumber,
  validateOptionalFunction,
  validateOptionalObject,
} = require('../common/errors')
const { kDispose } = require('../common/dispose')

const METRICS = ['heap', 'external', 'rss', 'leakless']
const FIELDS = { heap: 'heapUsed', external: 'external', rss: 'rss', leakless: 'leakless' }
const POST_GC_ONLY = new Set(['heap', 'external'])
const DESCRIPTIONS = {
  heap: 'heap used after GC',
  external: 'external memory after GC',
  rss: 'RSS',
  leakless: 'leakless native memory',
}

const DEFAULTS = {
  intervalMs: 10_000,
  windowMs: 5 * 60_000,
  minGrowthBytesPerMin: 2 ** 20,
  minR2: 0.7,
  minSamples: 6,
  alertOn: ['heap', 'external'],
  snapshotsMax: 2,
}
// setInterval turns longer delays into 1 ms (with a TimeoutOverflowWarning).
const MAX_TIMER_MS = 2 ** 31 - 1
// A trend is judged only when its samples span at least this part of the
// window: a minute of boot-time growth is not a sustained trend.
const MIN_SPAN_FRACTION = 0.5
// Each half of the window must grow at least at this share of the window's slope.
const HALF_SHARE = 0.25
// A process doing many major GCs a second must not make the monitor itself
// grow: past this many samples the oldest go, whatever their age.
const MAX_SAMPLES = 4096

const SNAPSHOT_PREFIX = 'leakless-'
const SNAPSHOT_SUFFIX = '.heapsnapshot'
const LOCK_NAME = '.leakless-snapshot.lock'
// A lock older than this was left by a process that died while writing.
const STALE_LOCK_MS = 60 * 60_000

const epochClock = { now: () => performance.timeOrigin + performance.now() }

// Running monitors of this thread, oldest first (collectMetrics reads the newest).
const running = new Set()
// One heap snapshot at a time on this thread, scheduled or being written,
// whichever monitor asked: two monitors alerting on the same GC want the same
// picture. The lock file covers other threads and processes writing into the
// same directory.
let snapshotBusy = false
let snapshotSeq = 0

/**
 * Least-squares line through (times[i], values[i]). Returns `null` when there
 * is no line (fewer than two points, or all at one time); otherwise the slope
 * per unit of time and R² (0 when the values do not vary).
 */
function fitLine(times, values) {
  const n = times.length
  if (n < 2) return null
  let meanT = 0
  let meanY = 0
  for (let i = 0; i < n; i++) {
    meanT += times[i]
    meanY += values[i]
  }
  meanT /= n
  meanY /= n
  let sxx = 0
  let sxy = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dt = times[i] - meanT
    const dy = values[i] - meanY
    sxx += dt * dt
    sxy += dt * dy
    syy += dy * dy
  }
  if (sxx === 0) return null
  const slope = sxy / sxx
  const r2 = syy === 0 ? 0 : Math.min(1, (sxy * sxy) / (sxx * syy))
  return { slope, r2 }
}

function heapUsedWithoutYoungGeneration() {
  let used = 0
  for (const space of v8.getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_')) used += space.space_used_size
  }
  return used
}

function formatBytes(bytes) {
  const abs = Math.abs(bytes)
  if (abs >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`
  if (abs >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`
  if (abs >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`
  return `${Math.round(bytes)} B`
}

function formatDuration(ms) {
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`
  return `${(ms / 1000).toFixed(1)} s`
}

function errorText(err) {
  return err instanceof Error ? err.message : String(err)
}

function validateSnapshots(snapshots) {
  if (snapshots === undefined) return null
  validateOptionalObject(snapshots, 'options.snapshots')
  const { dir, max = DEFAULTS.snapshotsMax } = snapshots
  if (typeof dir !== 'string') throw invalidArgType('options.snapshots.dir', 'of type string', dir)
  if (dir.length === 0 || dir.includes('\0')) {
    throw invalidArgValue('options.snapshots.dir', 'must be a non-empty path', dir)
  }
  validateInteger(max, 'options.snapshots.max', 1)
  const absolute = path.resolve(dir)
  checkWritableDir(absolute, dir)
  return { dir: absolute, max }
}

// Creates the missing levels of `dir`, one plain mkdir each. Not
// mkdirSync(dir, { recursive: true }): on Node 20 it never returns for a
// path under /proc (mkdir says ENOENT, the parent exists, and it retries).
function makeDir(dir) {
  const missing = []
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d)
    if (path.dirname(d) === d) break
  }
  for (const level of missing.reverse()) {
    try {
      fs.mkdirSync(level)
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
  }
}

// Creates `dir` if needed and proves it writable by writing a file into it
// (access(W_OK) says yes to root on a read-only file system).
function checkWritableDir(dir, given) {
  const probe = path.join(dir, `.leakless-probe-${process.pid}-${threadId}-${snapshotSeq++}`)
  try {
    makeDir(dir)
    fs.writeFileSync(probe, '')
    fs.unlinkSync(probe)
  } catch (err) {
    const error = invalidArgValue(
      'options.snapshots.dir',
      `must be a directory leakless can write heap snapshots into (${err.code ?? 'error'}: ${errorText(err)})`,
      given,
    )
    error.cause = err
    throw error
  }
}

function validateAlertOn(alertOn) {
  if (alertOn === undefined) return DEFAULTS.alertOn
  if (!Array.isArray(alertOn)) throw invalidArgType('options.alertOn', 'an instance of Array', alertOn)
  for (const metric of alertOn) {
    if (!METRICS.includes(metric)) {
      throw invalidArgValue('options.alertOn', `must only hold ${METRICS.map((m) => `'${m}'`).join(', ')}`, metric)
    }
  }
  return [...new Set(alertOn)]
}

function countSnapshots(dir) {
  let count = 0
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(SNAPSHOT_PREFIX) && name.endsWith(SNAPSHOT_SUFFIX)) count++
  }
  return count
}

function processAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

// When this process started, the same in every thread (to the millisecond or so).
function processStartedAt() {
  return Math.round(Date.now() - process.uptime() * 1000)
}

// Who holds a lock: pid alone is not enough, since a container restarted
// after dying mid-snapshot (a near-OOM heap often does) gets the same pid.
function lockOwner() {
  return JSON.stringify({ pid: process.pid, startedAt: processStartedAt(), host: os.hostname() })
}

// A lock is stale when it is older than STALE_LOCK_MS, or when its owner is
// on this host and is gone: a dead pid, or our pid from an earlier process.
function lockIsStale(lockPath) {
  if (Date.now() - fs.statSync(lockPath).mtimeMs > STALE_LOCK_MS) return true
  let owner
  try {
    owner = JSON.parse(fs.readFileSync(lockPath, 'utf8'))
  } catch (err) {
    if (err.code === 'ENOENT') throw err
    return false // being written right now
  }
  if (owner === null || typeof owner !== 'object' || owner.host !== os.hostname() || !Number.isInteger(owner.pid)) {
    return false
  }
  if (owner.pid === process.pid) return Math.abs(owner.startedAt - processStartedAt()) > 2000
  return !processAlive(owner.pid)
}

// Takes the directory's snapshot lock: true when taken. A stale lock is taken over once.
function takeLock(lockPath) {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, lockOwner(), { flag: 'wx' })
      return true
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    let stale
    try {
      stale = lockIsStale(lockPath)
    } catch (err) {
      if (err.code === 'ENOENT') continue // released meanwhile: try again
      throw err
    }
    if (!stale) return false
    try {
      fs.unlinkSync(lockPath)
    } catch (err) {
      if (err.code !== 'ENOENT') throw err
    }
  }
  return false
}

function snapshotName() {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  return `${SNAPSHOT_PREFIX}${stamp}-${process.pid}-${threadId}-${snapshotSeq++}${SNAPSHOT_SUFFIX}`
}

/**
 * Watches memory and reports sustained growth. Made by `monitor(options)`;
 * see index.d.ts for the public contract.
 */
class Monitor {
  #onGrowth
  #intervalMs
  #windowMs
  #minGrowthBytesPerMin
  #minR2
  #minSamples
  #alertOn
  #snapshots
  #clock

  #samples = []
  #lastGcTime = -Infinity
  #lastAlerts = new Map() // metric -> the trend of its last alert
  #observer = null
  #timer = null
  #pendingSnapshot = null
  #snapshotLimitReported = false
  #stopped = false

  constructor(options = {}) {
    validateOptionalObject(options, 'options')
    const {
      onGrowth,
      intervalMs = DEFAULTS.intervalMs,
      windowMs = DEFAULTS.windowMs,
      minGrowthBytesPerMin = DEFAULTS.minGrowthBytesPerMin,
      minR2 = DEFAULTS.minR2,
      minSamples = DEFAULTS.minSamples,
      alertOn,
      snapshots,
      perf,
    } = options
    validateOptionalFunction(onGrowth, 'options.onGrowth')
    validateNumber(intervalMs, 'options.intervalMs', 1, MAX_TIMER_MS)
    validateNumber(windowMs, 'options.windowMs', 1)
    validateNumber(minGrowthBytesPerMin, 'options.minGrowthBytesPerMin', 0)
    validateNumber(minR2, 'options.minR2', 0, 1)
    validateInteger(minSamples, 'options.minSamples', 3)
    if (perf !== undefined && (perf === null || typeof perf.now !== 'function')) {
      throw invalidArgType('options.perf', 'an object with a now() method', perf)
    }
    this.#onGrowth = onGrowth
    this.#intervalMs = intervalMs
    this.#windowMs = windowMs
    this.#minGrowthBytesPerMin = minGrowthBytesPerMin
    this.#minR2 = minR2
    this.#minSamples = minSamples
    this.#alertOn = validateAlertOn(alertOn)
    this.#snapshots = validateSnapshots(snapshots)
    this.#clock = perf ?? epochClock

    this.#observer = new PerformanceObserver((list) => this.#onGcEntries(list))
    this.#observer.observe({ entryTypes: ['gc'] })
    this.#timer = setInterval(() => this.#onTimer(), intervalMs)
    this.#timer.unref()
    running.add(this)
  }

  /** The samples of the current window, oldest first. */
  samples() {
    return this.#samples.slice()
  }

  /** The line fitted to each metric over the current window (`null` with fewer than `minSamples`). */
  trends() {
    const trends = {}
    for (const metric of METRICS) trends[metric] = this.#trend(metric)
    return trends
  }

  /** Whether the monitor still samples (false after `stop()`). */
  get running() {
    return !this.#stopped
  }

  /** Removes the observer and the timers this monitor made. Safe to call again. */
  stop() {
    if (this.#stopped) return
    this.#stopped = true
    running.delete(this)
    this.#observer.disconnect()
    this.#observer = null
    clearInterval(this.#timer)
    this.#timer = null
    if (this.#pendingSnapshot !== null) {
      clearImmediate(this.#pendingSnapshot)
      this.#pendingSnapshot = null
      snapshotBusy = false
    }
  }

  [kDispose]() {
    this.stop()
  }

  get [Symbol.toStringTag]() {
    return 'Monitor'
  }

  // ------------------------------------------------------------- sampling

  #onGcEntries(list) {
    // Whatever happens here must not become an uncaught exception in the
    // process being watched.
    try {
      if (this.#stopped) return
      let major = false
      for (const entry of list.getEntries()) {
        const kind = entry.detail?.kind ?? entry.kind
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major = true
      }
      // Several GCs reported in one batch share one reading: the heap as it is now.
      if (major) this.#record('gc')
    } catch (err) {
      this.#reportError('sampling after a GC', err)
    }
  }

  #onTimer() {
    try {
      if (this.#stopped) return
      // A fallback: a major GC within the interval made it unnecessary.
      if (this.#clock.now() - this.#lastGcTime < this.#intervalMs) return
      this.#record('interval')
    } catch (err) {
      this.#reportError('sampling on the fallback timer', err)
    }
  }

  #record(kind) {
    const postGc = kind === 'gc'
    let rss = null
    try {
      rss = process.memoryUsage.rss()
    } catch {
      // Reading RSS can fail when the process is out of file descriptors.
    }
    let leakless = null
    try {
      const current = stats()
      if (typeof current?.externalBytes === 'number') leakless = current.externalBytes
    } catch (err) {
      // The heap figures are still worth keeping.
      this.#reportError('leakless.stats()', err)
    }
    const sample = Object.freeze({
      time: this.#clock.now(),
      kind,
      heapUsed: postGc ? heapUsedWithoutYoungGeneration() : null,
      external: postGc ? v8.getHeapStatistics().external_memory : null,
      rss,
      leakless,
    })
    if (postGc) this.#lastGcTime = sample.time
    const samples = this.#samples
    samples.push(sample)
    const oldest = sample.time - this.#windowMs
    let drop = Math.max(0, samples.length - MAX_SAMPLES)
    while (drop < samples.length && samples[drop].time < oldest) drop++
    if (drop > 0) samples.splice(0, drop)
    this.#evaluate()
  }

  // ------------------------------------------------------------- trends

  // The values of `metric` in the window, with times relative to the first
  // (small numbers keep the sums of squares exact).
  #series(metric) {
    const field = FIELDS[metric]
    const postGcOnly = POST_GC_ONLY.has(metric)
    const times = []
    const values = []
    let first = null
    let last = null
    for (const sample of this.#samples) {
      if (postGcOnly && sample.kind !== 'gc') continue
      const value = sample[field]
      if (value === null) continue
      if (first === null) first = sample
      last = sample
      times.push(sample.time - first.time)
      values.push(value)
    }
    return { field, times, values, first, last }
  }

  #trend(metric, series = this.#series(metric)) {
    const { field, times, values, first, last } = series
    if (times.length < this.#minSamples) return null
    const line = fitLine(times, values)
    if (line === null) return null
    return Object.freeze({
      metric,
      bytesPerMin: line.slope * 60_000,
      r2: line.r2,
      from: first[field],
      to: last[field],
      fromTime: first.time,
      toTime: last.time,
      samples: times.length,
    })
  }

  #evaluate() {
    let alerted = false
    for (const metric of this.#alertOn) {
      const series = this.#series(metric)
      const trend = this.#trend(metric, series)
      if (trend === null) continue
      if (!(trend.bytesPerMin > this.#minGrowthBytesPerMin) || trend.r2 < this.#minR2) continue
      if (trend.toTime - trend.fromTime < this.#windowMs * MIN_SPAN_FRACTION) continue
      if (!this.#grewInBothHalves(series, trend)) continue
      const previous = this.#lastAlerts.get(metric)
      // Again only when growth went on for another whole window.
      if (previous !== undefined && (trend.toTime - previous.toTime < this.#windowMs || trend.to <= previous.to)) {
        continue
      }
      this.#lastAlerts.set(metric, trend)
      this.#alert(trend)
      alerted = true
    }
    if (alerted) this.#scheduleSnapshot()
  }

  // Sustained growth grows in both halves of the window. A one-off step (a
  // cache filled at once, a burst of compiled code) fits a line with R² up
  // to 0.75 when it sits mid-window, but one half on its own is flat. Each
  // half must climb at a fair share of the whole window's slope; comparing
  // with the window's slope rather than with minGrowthBytesPerMin keeps the
  // test above the noise of post-GC figures.
  #grewInBothHalves({ times, values }, trend) {
    const middle = times.at(-1) / 2
    const split = times.findIndex((time) => time > middle)
    const firstHalf = fitLine(times.slice(0, split), values.slice(0, split))
    const secondHalf = fitLine(times.slice(split), values.slice(split))
    if (firstHalf === null || secondHalf === null) return false
    const floor = (trend.bytesPerMin / 60_000) * HALF_SHARE
    return firstHalf.slope >= floor && secondHalf.slope >= floor
  }

  #alert(trend) {
    const { metric, bytesPerMin, r2, from, to, fromTime, toTime, samples } = trend
    emitWarning(
      `${DESCRIPTIONS[metric]} grew by ${formatBytes(bytesPerMin)}/min for ${formatDuration(toTime - fromTime)} ` +
        `(R² ${r2.toFixed(2)} over ${samples} samples): ${formatBytes(from)} -> ${formatBytes(to)}`,
      'LEAKLESS_MEMORY_GROWTH',
      { key: `monitor:growth:${metric}`, fields: { metric, bytesPerMin, r2, from, to, fromTime, toTime, samples } },
    )
    if (this.#onGrowth === undefined) return
    try {
      this.#onGrowth(trend)
    } catch (err) {
      this.#reportError('onGrowth', err)
    }
  }

  #reportError(where, err) {
    emitWarning(
      `leakless.monitor(): ${where} threw; the monitor keeps running. ${errorText(err)}`,
      'LEAKLESS_MONITOR_ERROR',
      { key: `monitor:error:${where}` },
    )
  }

  // ------------------------------------------------------------- snapshots

  #scheduleSnapshot() {
    if (this.#snapshots === null || snapshotBusy) return
    snapshotBusy = true
    // On a later turn, so the growth warning is printed before the (seconds
    // long, blocking) snapshot starts.
    this.#pendingSnapshot = setImmediate(() => {
      this.#pendingSnapshot = null
      try {
        this.#writeSnapshot()
      } catch (err) {
        this.#reportError('writing a heap snapshot', err)
      } finally {
        snapshotBusy = false
      }
    })
    this.#pendingSnapshot.unref()
  }

  #writeSnapshot() {
    if (this.#stopped) return
    const { dir, max } = this.#snapshots
    const lockPath = path.join(dir, LOCK_NAME)
    let locked = false
    try {
      locked = takeLock(lockPath)
      if (!locked) {
        emitWarning(
          `leakless.monitor(): another heap snapshot is being written into ${dir}; this one is skipped`,
          'LEAKLESS_HEAP_SNAPSHOT',
          { key: `monitor:snapshot-busy:${dir}` },
        )
        return
      }
      const existing = countSnapshots(dir)
      if (existing >= max) {
        if (!this.#snapshotLimitReported) {
          this.#snapshotLimitReported = true
          emitWarning(
            `leakless.monitor(): ${dir} already holds ${existing} leakless heap snapshot(s) (max ${max}); ` +
              'no more are written until some are moved away',
            'LEAKLESS_HEAP_SNAPSHOT',
            { key: `monitor:snapshot-limit:${dir}` },
          )
        }
        return
      }
      const file = v8.writeHeapSnapshot(path.join(dir, snapshotName()))
      emitWarning(`leakless.monitor(): heap snapshot written to ${file}`, 'LEAKLESS_HEAP_SNAPSHOT', {
        key: `monitor:snapshot:${file}`,
      })
    } catch (err) {
      emitWarning(
        `leakless.monitor(): could not write a heap snapshot into ${dir}: ${errorText(err)}`,
        'LEAKLESS_HEAP_SNAPSHOT_FAILED',
        { key: `monitor:snapshot-failed:${dir}` },
      )
    } finally {
      if (locked) {
        try {
          fs.unlinkSync(lockPath)
        } catch {
          // Gone already: nothing to release.
        }
      }
    }
  }
}

/**
 * Starts watching memory for sustained growth. See index.d.ts.
 */
function monitor(options) {
  return new Monitor(options)
}

/** The most recently started monitor of this thread that is still running, or null. */
function latestMonitor() {
  let latest = null
  for (const m of running) latest = m
  return latest
}

module.exports = { monitor, Monitor, latestMonitor, fitLine, takeLock, METRICS }
