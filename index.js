'use strict'

const native = require('./lib/native')
const { LRU, lruTotals } = require('./lib/lru')
const { version } = require('./package.json')

/**
 * What leakless holds on this thread, and what it has reported to V8.
 */
function stats() {
  const nativeStats = native.nativeStats()
  return {
    externalBytes: nativeStats.externalBytes,
    lru: lruTotals(),
  }
}

/** `process.memoryUsage()` plus `leakless`: the native bytes V8 was told about. */
function memoryUsage() {
  return { ...process.memoryUsage(), leakless: native.nativeStats().externalBytes }
}

module.exports = { LRU, stats, memoryUsage, version }
