'use strict'

// The caches compared by lru.bench.js, behind one small interface:
// create(max) -> { get, set, delete }. Each is checked for correct answers
// before it is timed (see check()).

const { LRU } = require('../..')

const contenders = {
  leakless: {
    label: 'leakless LRU',
    create: (max) => new LRU({ max }),
  },
  'lru-cache': {
    label: 'lru-cache 11',
    create: (max) => {
      const { LRUCache } = require('lru-cache')
      return new LRUCache({ max })
    },
  },
  'lru.min': {
    label: 'lru.min',
    create: (max) => require('lru.min').createLRU({ max }),
  },
  'quick-lru': {
    label: 'quick-lru',
    note: 'keeps up to 2x maxSize entries in two generations: not an exact LRU',
    exact: false,
    create: (max) => {
      const QuickLRU = require('quick-lru').default
      return new QuickLRU({ maxSize: max })
    },
  },
  mnemonist: {
    label: 'mnemonist LRUMap',
    create: (max) => {
      // LRUMap has no delete; the delete row uses LRUMapWithDelete.
      const LRUMap = require('mnemonist/lru-map')
      return new LRUMap(max)
    },
    createForDelete: (max) => {
      const LRUMapWithDelete = require('mnemonist/lru-map-with-delete')
      const map = new LRUMapWithDelete(max)
      return map
    },
  },
  'mnemonist-delete': {
    label: 'mnemonist LRUMapWithDelete',
    create: (max) => {
      const LRUMapWithDelete = require('mnemonist/lru-map-with-delete')
      return new LRUMapWithDelete(max)
    },
  },
  'tiny-lru': {
    label: 'tiny-lru',
    create: (max) => require('tiny-lru').lru(max),
  },
  map: {
    label: 'Map (unbounded)',
    note: 'no eviction: the baseline users replace',
    exact: false,
    bounded: false,
    create: () => new Map(),
  },
}

/** Throws unless `name` answers like a bounded LRU of its kind; returns notes on what it gets wrong otherwise. */
function check(name) {
  const c = contenders[name]
  const cache = c.create(3)
  cache.set('a', 1)
  cache.set('b', 2)
  cache.set('c', 3)
  const expect = (cond, what) => {
    if (!cond) throw new Error(`${name} failed its answer check: ${what}`)
  }
  expect(cache.get('a') === 1, 'get a')
  expect(cache.get('zzz') === undefined, 'get missing')
  if (c.bounded !== false && c.exact !== false) {
    cache.set('d', 4)
    expect(cache.get('b') === undefined, 'b evicted as least recently used')
    expect(cache.get('a') === 1 && cache.get('c') === 3 && cache.get('d') === 4, 'a, c, d kept')
  }
  const del = c.createForDelete ? c.createForDelete(3) : c.create(3)
  del.set(1, 'one')
  del.set(2, 'two')
  del.delete(1)
  expect(del.get(1) === undefined && del.get(2) === 'two', 'delete')
  // Each run uses one key type, so a cache that confuses 1 and '1' still
  // answers right there; it is said in the notes, not refused.
  const keys = c.create(4)
  keys.set(1, 'number')
  keys.set('1', 'string')
  return keys.get(1) === 'number' && keys.get('1') === 'string' ? [] : ["treats 1 and '1' as the same key"]
}

module.exports = { contenders, check }
