'use strict'

// What both LRU storages share at run time: the live set behind
// `leakless.stats()` and the onEvict calls.

const { LiveSet } = require('../common/tracker')
const { settleAll } = require('../common/settle')

// Every LRU, heap or off-heap, is tracked through a cell
// `{ entries, bytes() }` that the cache keeps up to date.
const liveCaches = new LiveSet()

// On a callback made by options.js from dispose and disposeAfter: takes a
// whole queue, to call every dispose before every disposeAfter.
const kBatch = Symbol('leakless.onEvictBatch')

/**
 * Calls `onEvict(value, key, reason)` for each triple of the flat `queue`,
 * all of them even if some throw; then rethrows the first error.
 */
function callOnEvict(onEvict, queue) {
  // dispose and disposeAfter given: every dispose call, then every
  // disposeAfter call, in lru-cache's order (see options.js).
  if (onEvict[kBatch] !== undefined) return onEvict[kBatch](queue)
  settleAll(queue.length / 3, (i) => onEvict(queue[3 * i], queue[3 * i + 1], queue[3 * i + 2]))
}

/** Totals over the live LRUs of this thread, for `leakless.stats()`. */
function lruTotals() {
  const totals = { instances: 0, entries: 0, bytes: 0 }
  liveCaches.forEach((cell) => {
    totals.instances++
    totals.entries += cell.entries
    totals.bytes += cell.bytes()
  })
  return totals
}

module.exports = { liveCaches, callOnEvict, lruTotals, kBatch }
