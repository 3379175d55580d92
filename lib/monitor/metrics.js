'use strict'

// leakless.collectMetrics(): Prometheus gauges through prom-client, an
// optional peer dependency loaded only when this is called. Every gauge reads
// its value at scrape time (prom-client calls `collect()` before it renders).
//
// leakless_heap_growth_bytes_per_minute is the heap slope of a monitor():
// the one given as `monitor`, else the most recently started monitor still
// running at scrape time. When none is running at the time collectMetrics()
// is called (and `monitor` is not `false`), collectMetrics starts one of its
// own for this thread, with default options and no alerts (`alertOn: []`):
// it measures for the gauge and leaves alerting to Prometheus rules. The
// gauge is NaN while no trend is known (too few samples, or no monitor).

const { stats } = require('./stats')
const { Monitor, latestMonitor, monitor: startMonitor } = require('./index')
const { hasShape, invalidArgType, leaklessError, validateOptionalObject } = require('../common/errors')

const GAUGES = [
  {
    name: 'leakless_external_bytes',
    help: 'Native bytes leakless has reported to V8 on this thread (leakless.stats().externalBytes).',
    read: (s) => s.externalBytes,
  },
  {
    name: 'leakless_lru_entries',
    help: 'Entries held by the live leakless LRU caches of this thread.',
    read: (s) => s.lru?.entries,
  },
  {
    name: 'leakless_pool_in_use_bytes',
    help: 'Bytes of leakless BufferPool memory lent out as Buffers on this thread.',
    read: (s) => s.pools?.inUseBytes,
  },
  {
    name: 'leakless_pool_leaked_buffers',
    help: 'Pool Buffers that were garbage collected without being released, since the pools were made.',
    read: (s) => s.pools?.leaked,
  },
  {
    name: 'leakless_listeners',
    help: 'Listeners attached through live leakless ListenerRegistry scopes on this thread.',
    read: (s) => s.registries?.listeners,
  },
]
const GROWTH_GAUGE = {
  name: 'leakless_heap_growth_bytes_per_minute',
  help:
    'Slope of the heap used after major GCs over the monitor window, in bytes per minute ' +
    '(NaN until a monitor has enough samples).',
}

// registry -> { gauges: { [name]: Gauge } made by us, monitor: the option of
// the latest call }, so a second call finds its own gauges.
const madeFor = new WeakMap()
let ownMonitor = null

function loadPromClient() {
  try {
    return require('prom-client')
  } catch (err) {
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).includes("'prom-client'")) {
      const error = leaklessError(
        Error,
        'ERR_LEAKLESS_MISSING_PEER',
        'leakless.collectMetrics() needs the optional peer dependency "prom-client", which is not installed. ' +
          'Install it with: npm install prom-client',
      )
      error.cause = err
      throw error
    }
    throw err
  }
}

function readStat(read) {
  const value = read(stats())
  return typeof value === 'number' ? value : 0
}

function growthSource(given) {
  if (given instanceof Monitor) return given.running ? given : null
  return latestMonitor()
}

/**
 * Registers leakless's gauges into `register` (default: prom-client's global
 * registry) and returns them by name. See index.d.ts.
 */
function collectMetrics(options = {}) {
  validateOptionalObject(options, 'options')
  const { register: given, monitor } = options
  if (monitor !== undefined && monitor !== false && !(monitor instanceof Monitor)) {
    throw invalidArgType('options.monitor', 'a Monitor from leakless.monitor() or false', monitor)
  }
  const client = loadPromClient()
  const register = given ?? client.register
  if (!hasShape(register, { getSingleMetric: 'function', registerMetric: 'function' })) {
    throw invalidArgType('options.register', 'a prom-client Registry', given)
  }

  const state = madeFor.get(register) ?? { gauges: {}, monitor }
  const ours = state.gauges
  // Check every name before registering any, so a refusal leaves the registry as it was.
  for (const { name } of [...GAUGES, GROWTH_GAUGE]) {
    const existing = register.getSingleMetric(name)
    if (existing !== undefined && existing !== ours[name]) {
      throw leaklessError(
        Error,
        'ERR_LEAKLESS_METRIC_EXISTS',
        `leakless.collectMetrics(): the registry already holds a metric named "${name}" that leakless did not ` +
          'register; pass another registry, or remove that metric first',
      )
    }
  }
  const gauges = {}
  const made = []
  // A gauge of ours still in the registry is returned as it is; a missing one
  // (first call, or the registry was cleared) is made.
  const define = (name, help, collect) => {
    const existing = register.getSingleMetric(name)
    if (existing !== undefined) {
      gauges[name] = existing
      return
    }
    gauges[name] = new client.Gauge({ name, help, registers: [register], collect })
    made.push(name)
  }
  try {
    for (const { name, help, read } of GAUGES) {
      define(name, help, function collect() {
        this.set(readStat(read))
      })
    }
    define(GROWTH_GAUGE.name, GROWTH_GAUGE.help, function collect() {
      const m = growthSource(state.monitor)
      const trend = m === null ? null : m.trends().heap
      this.set(trend === null ? Number.NaN : trend.bytesPerMin)
    })
  } catch (err) {
    // A registry that refused one gauge keeps none of those made here, so
    // that a later call starts clean instead of finding "foreign" metrics.
    if (typeof register.removeSingleMetric === 'function') {
      for (const name of made) {
        try {
          register.removeSingleMetric(name)
        } catch {
          // Keep the first error.
        }
      }
    }
    throw err
  }
  state.gauges = gauges
  state.monitor = monitor
  madeFor.set(register, state)

  if (monitor === undefined && latestMonitor() === null) {
    if (ownMonitor === null || !ownMonitor.running) ownMonitor = startMonitor({ alertOn: [] })
  }
  return Object.freeze({ ...gauges })
}

module.exports = { collectMetrics }
