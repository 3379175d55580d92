'use strict'

// leakless.stats() and leakless.memoryUsage(): one view over every kind of
// structure on this thread. Each kind contributes a `totals()` function.

const native = require('../common/native')
const { lruTotals, sharedStores } = require('../lru')
const { registryTotals } = require('../registry')
const { poolTotals } = require('../pool')

/**
 * What leakless holds on this thread, and what it has reported to V8.
 */
function stats() {
  // Structures first: reading them replays pending logs, which may move
  // native memory; the native figure is read last so that it includes that.
  const lru = lruTotals()
  const pools = poolTotals()
  const nativeStats = native.nativeStats()
  return {
    externalBytes: nativeStats.externalBytes,
    lru,
    pools,
    registries: registryTotals(),
    // Stores every thread shares: the same list in every thread.
    shared: sharedStores(),
  }
}

/** `process.memoryUsage()` plus `leakless`: the native bytes V8 was told about. */
function memoryUsage() {
  return { ...process.memoryUsage(), leakless: native.nativeStats().externalBytes }
}

module.exports = { stats, memoryUsage }
