'use strict'

// The trend maths of monitor(): a least-squares line per metric over the
// samples of the window, and the tests that tell sustained growth from
// noise and from a one-off step. Functions of the samples only: no timers,
// no I/O, no state.

const METRICS = ['heap', 'external', 'rss', 'leakless']
const FIELDS = { heap: 'heapUsed', external: 'external', rss: 'rss', leakless: 'leakless' }
// Heap figures read between GCs include garbage: only 'gc' samples count.
const POST_GC_ONLY = new Set(['heap', 'external'])
const DESCRIPTIONS = {
  heap: 'heap used after GC',
  external: 'external memory after GC',
  rss: 'RSS',
  leakless: 'leakless native memory',
}
// A trend is judged only when its samples span at least this part of the
// window: a minute of boot-time growth is not a sustained trend.
const MIN_SPAN_FRACTION = 0.5
// Each half of the window must grow at least at this share of the window's slope.
const HALF_SHARE = 0.25

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

/**
 * The values of `metric` in `samples`, with times relative to the first
 * (small numbers keep the sums of squares exact).
 */
function seriesOf(samples, metric) {
  const field = FIELDS[metric]
  const postGcOnly = POST_GC_ONLY.has(metric)
  const times = []
  const values = []
  let first = null
  let last = null
  for (const sample of samples) {
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

/** The line fitted to `series` as a frozen trend, or null with fewer than `minSamples` points. */
function trendOf(metric, series, minSamples) {
  const { field, times, values, first, last } = series
  if (times.length < minSamples) return null
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

// Sustained growth grows in both halves of the window. A one-off step (a
// cache filled at once, a burst of compiled code) fits a line with R² up
// to 0.75 when it sits mid-window, but one half on its own is flat. Each
// half must climb at a fair share of the whole window's slope; comparing
// with the window's slope rather than with minGrowthBytesPerMin keeps the
// test above the noise of post-GC figures.
function grewInBothHalves({ times, values }, trend) {
  const middle = times.at(-1) / 2
  const split = times.findIndex((time) => time > middle)
  const firstHalf = fitLine(times.slice(0, split), values.slice(0, split))
  const secondHalf = fitLine(times.slice(split), values.slice(split))
  if (firstHalf === null || secondHalf === null) return false
  const floor = (trend.bytesPerMin / 60_000) * HALF_SHARE
  return firstHalf.slope >= floor && secondHalf.slope >= floor
}

/**
 * Whether `trend` (fitted to `series`) is growth worth an alert: faster
 * than `minGrowthBytesPerMin` with R² of at least `minR2`, over at least
 * half of `windowMs`, and in both halves of it.
 */
function isSustainedGrowth(series, trend, { minGrowthBytesPerMin, minR2, windowMs }) {
  if (!(trend.bytesPerMin > minGrowthBytesPerMin) || trend.r2 < minR2) return false
  if (trend.toTime - trend.fromTime < windowMs * MIN_SPAN_FRACTION) return false
  return grewInBothHalves(series, trend)
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

/** The text of a growth alert. */
function describeGrowth({ metric, bytesPerMin, r2, from, to, fromTime, toTime, samples }) {
  return (
    `${DESCRIPTIONS[metric]} grew by ${formatBytes(bytesPerMin)}/min for ${formatDuration(toTime - fromTime)} ` +
    `(R² ${r2.toFixed(2)} over ${samples} samples): ${formatBytes(from)} -> ${formatBytes(to)}`
  )
}

module.exports = { METRICS, fitLine, seriesOf, trendOf, isSustainedGrowth, describeGrowth }
