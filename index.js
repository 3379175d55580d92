'use strict'

const { LRU } = require('./lib/lru')
const { ListenerRegistry } = require('./lib/registry')
const { BufferPool } = require('./lib/pool')
const { stats, memoryUsage } = require('./lib/monitor/stats')
const { monitor } = require('./lib/monitor')
const { collectMetrics } = require('./lib/monitor/metrics')
const { version } = require('./package.json')

module.exports = { LRU, BufferPool, ListenerRegistry, stats, memoryUsage, monitor, collectMetrics, version }
