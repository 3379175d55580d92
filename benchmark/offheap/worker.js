'use strict'

// One contender, one process:
// `node worker.js <offheap|lru-cache|floor|native-map> [max]`.
// Prints one JSON line: ns per operation for each operation, best of
// several runs. 24-byte string keys, 100-byte string values.

const { LRU } = require('../..')
const native = require('../../lib/common/native')
const { indexes, bestNsPerOp: best } = require('../lib/measure')

const name = process.argv[2]
const MAX = Number(process.argv[3] ?? 50_000)
const KEY_SPACE = 2 * MAX
const OPS = 200_000
const keys = Array.from({ length: KEY_SPACE }, (_, i) => `key:${String(i).padStart(20, '0')}`)
const values = Array.from({ length: KEY_SPACE }, (_, i) => `${i}:`.padEnd(100, 'v'))
if (keys[0].length !== 24 || values[KEY_SPACE - 1].length !== 100) throw new Error('sizes')

// The floor: one Node-API call that reads the key (and the value) and
// answers a fresh 100-byte string, with no store behind it (src/floor.rs).
const floor = {
  get: (key) => native.floorGet(key),
  set: (key, value) => native.floorSet(key, value),
}

// The plainest store that keeps its entries in native memory: a Rust hash
// map of key to value bytes that evicts in insertion order, with no
// recency, expiry, accounting or checks (src/floor.rs). What any off-heap
// cache pays to find a value in native memory and copy it into a string.
const nativeMap = {
  get: (key) => native.floorMapGet(key),
  set: (key, value) => native.floorMapSet(key, value),
  get size() {
    return native.floorMapSize()
  },
}

const contenders = {
  offheap: () => new LRU({ max: MAX, storage: 'offheap' }),
  'lru-cache': () => {
    const { LRUCache } = require('lru-cache')
    return new LRUCache({ max: MAX })
  },
  floor: () => floor,
  'native-map': () => {
    native.floorMapReset(MAX)
    return nativeMap
  },
}
const make = contenders[name]

function filled() {
  const c = make()
  for (let i = 0; i < MAX; i++) c.set(keys[i], values[i])
  return c
}

// Answers are checked before anything is timed.
if (name === 'floor') {
  if (floor.get(keys[0]).length !== 100 || floor.set(keys[0], values[0]) !== undefined) {
    throw new Error('floor: wrong answers')
  }
} else {
  const c = filled()
  const ok =
    c.get(keys[1]) === values[1] &&
    c.get(keys[MAX + 1]) === undefined &&
    c.size === MAX &&
    c.get(keys[MAX - 1]) === values[MAX - 1]
  c.set(keys[MAX], values[MAX])
  if (!ok || c.get(keys[0]) !== undefined || c.get(keys[MAX]) !== values[MAX] || c.size !== MAX) {
    throw new Error(`${name}: wrong answers`)
  }
}

const hitIdx = indexes(OPS, MAX, 7)
const mixedIdx = indexes(OPS, KEY_SPACE, 11)
const cache = filled()
let sink = 0
const out = {
  getHit: best(
    () => cache,
    (c) => {
      let n = 0
      for (let i = 0; i < OPS; i++) if (c.get(keys[hitIdx[i]]) !== undefined) n++
      if (n !== OPS) throw new Error('misses among hits')
    },
    OPS,
  ),
  getMixed: best(
    () => cache,
    (c) => {
      for (let i = 0; i < OPS; i++) if (c.get(keys[mixedIdx[i]]) !== undefined) sink++
    },
    OPS,
  ),
  // Every set is a new key (a cycle through the key space from where the
  // fill stopped), so each one evicts.
  setEvict: best(
    filled,
    (c) => {
      for (let i = 0; i < OPS; i++) {
        const k = (MAX + i) % KEY_SPACE
        c.set(keys[k], values[k])
      }
    },
    OPS,
    3,
  ),
}
console.log(JSON.stringify({ ...out, sink: sink > 0 }))
