'use strict'

// One storage, one process: `node single.js <offheap|shared>`. Prints one
// JSON line: ns per operation for each operation, best of several runs.

const { LRU } = require('../..')
const { indexes, bestNsPerOp: best } = require('../lib/measure')

const storage = process.argv[2]
const KEY_SPACE = 100_000
const MAX = 50_000
const keys = Array.from({ length: KEY_SPACE }, (_, i) => `user:${i}:session`)
const value = 'v'.repeat(100)
let stores = 0

function make() {
  const options = { max: MAX, storage }
  if (storage === 'shared') options.name = `bench:${stores++}`
  return new LRU(options)
}

const OPS = 200_000
const hitIdx = indexes(OPS, MAX, 7)
const mixedIdx = indexes(OPS, KEY_SPACE, 11)
const evictIdx = indexes(OPS, KEY_SPACE, 13)

function filled() {
  const c = make()
  for (let i = 0; i < MAX; i++) c.set(keys[i], value)
  return c
}

// Check answers before timing.
{
  const c = filled()
  if (c.get(keys[1]) !== value || c.get(keys[MAX + 1]) !== undefined || c.size !== MAX) {
    throw new Error(`${storage}: wrong answers`)
  }
}

const shared = filled()
const out = {
  setEmpty: best(
    make,
    (c) => {
      for (let i = 0; i < MAX; i++) c.set(keys[i], value)
    },
    MAX,
  ),
  getHit: best(
    () => shared,
    (c) => {
      let n = 0
      for (let i = 0; i < OPS; i++) if (c.get(keys[hitIdx[i]]) !== undefined) n++
      if (n !== OPS) throw new Error('misses among hits')
    },
    OPS,
  ),
  getMixed: best(
    () => shared,
    (c) => {
      for (let i = 0; i < OPS; i++) c.get(keys[mixedIdx[i]])
    },
    OPS,
  ),
  setEvict: best(
    filled,
    (c) => {
      for (let i = 0; i < OPS; i++) c.set(keys[evictIdx[i]], value)
    },
    OPS,
    3,
  ),
}
console.log(JSON.stringify(out))
