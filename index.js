'use strict'

const { LRU } = require('./lib/lru')
const { BufferPool } = require('./lib/pool')
const { stats, memoryUsage } = require('./lib/stats')
const { version } = require('./package.json')

module.exports = { LRU, BufferPool, stats, memoryUsage, version }
