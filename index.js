'use strict'

const { LRU } = require('./lib/lru')
const { stats, memoryUsage } = require('./lib/stats')
const { version } = require('./package.json')

module.exports = { LRU, stats, memoryUsage, version }
