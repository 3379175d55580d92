'use strict'

// The Jest subset of __test__/monitor.spec.js: the parts that need no forced
// GC. Errors are checked by `code` and `name` (see NOTES.md on Jest realms).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Registry, Gauge } = require('prom-client')
const { LRU, monitor, collectMetrics, stats } = require('../../index.js')
const { thrown, kDispose: dispose } = require('../helpers/thrown')
const { GAUGE_NAMES, metricValue } = require('../helpers/metrics')

describe('monitor()', () => {
  test.each([
    [null, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ onGrowth: 42 }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ windowMs: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ windowMs: 0 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ intervalMs: 0 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ minGrowthBytesPerMin: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ minR2: 2 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ minSamples: 1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ alertOn: ['heap', 'disk'] }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    [{ snapshots: { dir: 42 } }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ snapshots: { dir: os.tmpdir(), max: -1 } }, 'RangeError', 'ERR_OUT_OF_RANGE'],
  ])('monitor(%p) throws %s %s', (options, name, code) => {
    const err = thrown(() => monitor(options))
    expect(err.name).toBe(name)
    expect(err.code).toBe(code)
  })

  test('a snapshot dir that cannot be written is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leakless-jest-'))
    try {
      const file = path.join(dir, 'file')
      fs.writeFileSync(file, '')
      const err = thrown(() => monitor({ snapshots: { dir: path.join(file, 'below') } }))
      expect(err.name).toBe('TypeError')
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
      expect(err.message).toMatch(/options\.snapshots\.dir/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('stop() is idempotent and [Symbol.dispose] stops', () => {
    const m = monitor({ intervalMs: 60_000 })
    expect(m.running).toBe(true)
    expect(Array.isArray(m.samples())).toBe(true)
    m.stop()
    m.stop()
    expect(m.running).toBe(false)
    const d = monitor()
    d[dispose]()
    expect(d.running).toBe(false)
  })
})

describe('collectMetrics()', () => {
  test('registers the gauges, read at scrape time', async () => {
    const register = new Registry()
    const cache = new LRU({ max: 10 })
    cache.set('a', 1).set('b', 2)
    const gauges = collectMetrics({ register, monitor: false })
    expect(Object.keys(gauges).sort()).toEqual(GAUGE_NAMES)
    let text = await register.metrics()
    expect(metricValue(text, 'leakless_lru_entries')).toBe(stats().lru.entries)
    expect(metricValue(text, 'leakless_external_bytes')).toBe(stats().externalBytes)
    expect(text).toMatch(/^leakless_heap_growth_bytes_per_minute NaN$/im)
    cache.set('c', 3)
    text = await register.metrics()
    expect(metricValue(text, 'leakless_lru_entries')).toBe(stats().lru.entries)

    const again = collectMetrics({ register, monitor: false })
    expect(again.leakless_lru_entries).toBe(gauges.leakless_lru_entries)
  })

  test('a metric of the same name from elsewhere is refused with a code', () => {
    const register = new Registry()
    new Gauge({ name: 'leakless_external_bytes', help: 'not ours', registers: [register] })
    const err = thrown(() => collectMetrics({ register, monitor: false }))
    expect(err.code).toBe('ERR_LEAKLESS_METRIC_EXISTS')
    expect(register.getSingleMetric('leakless_lru_entries')).toBeUndefined()
  })

  test('without prom-client: ERR_LEAKLESS_MISSING_PEER naming the package', () => {
    jest.isolateModules(() => {
      jest.doMock('prom-client', () => {
        const err = new Error("Cannot find module 'prom-client' from 'lib/monitor/metrics.js'")
        err.code = 'MODULE_NOT_FOUND'
        throw err
      })
      const { collectMetrics: isolated } = require('../../lib/monitor/metrics')
      const err = thrown(() => isolated())
      expect(err.name).toBe('Error')
      expect(err.code).toBe('ERR_LEAKLESS_MISSING_PEER')
      expect(err.message).toMatch(/"prom-client"/)
    })
    jest.dontMock('prom-client')
  })
})
