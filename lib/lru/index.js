'use strict'

// The LRU primitive: `heap.js` (the default storage, the LRU class itself),
// `offheap.js` (storage: 'offheap'), `options.js` (options and load()
// entries), `fetch.js` (fetch() with one load per key in flight), `live.js`
// (the live set for stats() and the onEvict calls both storages make).

const { LRU } = require('./heap')
const { lruTotals } = require('./live')

module.exports = { LRU, lruTotals }
