'use strict'

// The LRU primitive: `heap.js` (the default storage, the LRU class itself),
// `offheap.js` (storage: 'offheap'), `options.js` (options and load()
// entries), `shared.js` (storage: 'shared', one store for every thread),
// `fetch.js` (fetch() with one load per key in flight), `live.js`
// (the live set for stats() and the onEvict calls both storages make).

const { LRU } = require('./heap')
const { lruTotals } = require('./live')
const { sharedStores } = require('./shared')

module.exports = { LRU, lruTotals, sharedStores }
