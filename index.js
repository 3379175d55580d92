'use strict'

const { LRU } = require('./lib/lru')
const { ListenerRegistry } = require('./lib/registry')
const { stats, memoryUsage } = require('./lib/stats')
const { monitor } = require('./lib/monitor')
const { collectMetrics } = require('./lib/metrics')
const { version } = require('./package.json')

module.exports = { LRU, ListenerRegistry, stats, memoryUsage, monitor, collectMetrics, version }
