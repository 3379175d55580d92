'use strict'

const { LRU } = require('./lib/lru')
const { ListenerRegistry } = require('./lib/registry')
const { stats, memoryUsage } = require('./lib/stats')
const { version } = require('./package.json')

module.exports = { LRU, ListenerRegistry, stats, memoryUsage, version }
