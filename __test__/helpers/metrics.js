'use strict'

// What the collectMetrics() tests (AVA and Jest) expect of the exposition.

/** Every gauge collectMetrics() registers, sorted. */
const GAUGE_NAMES = [
  'leakless_external_bytes',
  'leakless_heap_growth_bytes_per_minute',
  'leakless_listeners',
  'leakless_lru_entries',
  'leakless_pool_in_use_bytes',
  'leakless_pool_leaked_buffers',
]

/** The value of the sample `name` in Prometheus text `text`, or undefined. */
function metricValue(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

module.exports = { GAUGE_NAMES, metricValue }
