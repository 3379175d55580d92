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
//
// This file holds the Monitor (sampling, alerts, scheduling snapshots); the
// trend maths is in trend.js, writing heap snapshots (and their lock file)
// in snapshots.js.

const v8 = require('node:v8')
const { PerformanceObserver, constants } = require('node:perf_hooks')
const { stats } = require('./stats')
const { METRICS, seriesOf, trendOf, isSustainedGrowth, describeGrowth } = require('./trend')
const { validateSnapshots, writeSnapshot } = require('./snapshots')
const { emitWarning } = require('../common/warnings')
const {
  errorText,
  invalidArgType,
  invalidArgValue,
  validateInteger,
  validateNumber,
  validateOptionalFunction,
  validateOptionalObject,
} = require('../common/errors')
const { kDispose } = require('../common/dispose')

const DEFAULTS = {
  intervalMs: 10_000,
  windowMs: 5 * 60_000,
  minGrowthBytesPerMin: 2 ** 20,
  minR2: 0.7,
  minSamples: 6,
  alertOn: ['heap', 'external'],
}
// setInterval turns longer delays into 1 ms (with a TimeoutOverflowWarning).
const MAX_TIMER_MS = 2 ** 31 - 1
// A process doing many major GCs a second must not make the monitor itself
// grow: past this many samples the oldest go, whatever their age.
const MAX_SAMPLES = 4096

const epochClock = { now: () => performance.timeOrigin + performance.now() }

// Running monitors of this thread, oldest first (collectMetrics reads the newest).
const running = new Set()
// One heap snapshot at a time on this thread, scheduled or being written,
// whichever monitor asked: two monitors alerting on the same GC want the same
// picture. The lock file (snapshots.js) covers other threads and processes
// writing into the same directory.
let snapshotBusy = false

function heapUsedWithoutYoungGeneration() {
  let used = 0
  for (const space of v8.getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_')) used += space.space_used_size
  }
  return used
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

/**
 * Watches memory and reports sustained growth. Made by `monitor(options)`;
 * see index.d.ts for the public contract.
 */
class Monitor {
  #onGrowth
  #intervalMs
  #windowMs
  #thresholds // what isSustainedGrowth() asks of a trend
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
  #snapshotState = { limitReported: false }
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
    this.#thresholds = Object.freeze({ minGrowthBytesPerMin, minR2, windowMs })
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
    for (const metric of METRICS) trends[metric] = trendOf(metric, seriesOf(this.#samples, metric), this.#minSamples)
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

  #evaluate() {
    let alerted = false
    for (const metric of this.#alertOn) {
      const series = seriesOf(this.#samples, metric)
      const trend = trendOf(metric, series, this.#minSamples)
      if (trend === null || !isSustainedGrowth(series, trend, this.#thresholds)) continue
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

  #alert(trend) {
    const { metric, bytesPerMin, r2, from, to, fromTime, toTime, samples } = trend
    emitWarning(describeGrowth(trend), 'LEAKLESS_MEMORY_GROWTH', {
      key: `monitor:growth:${metric}`,
      fields: { metric, bytesPerMin, r2, from, to, fromTime, toTime, samples },
    })
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
        if (!this.#stopped) writeSnapshot(this.#snapshots, this.#snapshotState)
      } catch (err) {
        this.#reportError('writing a heap snapshot', err)
      } finally {
        snapshotBusy = false
      }
    })
    this.#pendingSnapshot.unref()
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

module.exports = { monitor, Monitor, latestMonitor }
