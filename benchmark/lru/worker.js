'use strict'

// One contender, one key type, one process: `node worker.js <name> <string|int> <speed|memory>`.
// Prints one JSON line on stdout.

const { contenders, check } = require('./contenders')
const { indexes, bestNsPerOp: measure } = require('../lib/measure')

const [name, keyType, mode] = process.argv.slice(2)
const KEY_SPACE = 100_000
const MAX = 50_000

function makeKeys(n) {
  const keys = new Array(n)
  for (let i = 0; i < n; i++) keys[i] = keyType === 'int' ? i : `user:${i}:session`
  return keys
}

function speed() {
  const c = contenders[name]
  const keys = makeKeys(KEY_SPACE)
  const filled = () => {
    const cache = c.create(MAX)
    for (let i = 0; i < MAX; i++) cache.set(keys[i], i)
    return cache
  }
  const hitIdx = indexes(1_000_000, MAX, 12345)
  const mixedIdx = indexes(1_000_000, KEY_SPACE, 54321)
  const delIdx = indexes(MAX, MAX, 999)
  let sink = 0
  const results = {}

  results.setEmpty = measure(
    () => c.create(MAX),
    (cache) => {
      for (let i = 0; i < MAX; i++) cache.set(keys[i], i)
    },
    MAX,
  )

  results.getHit = measure(
    filled,
    (cache) => {
      for (let i = 0; i < hitIdx.length; i++) sink += cache.get(keys[hitIdx[i]])
    },
    hitIdx.length,
  )

  results.getMixed = measure(
    filled,
    (cache) => {
      for (let i = 0; i < mixedIdx.length; i++) {
        const v = cache.get(keys[mixedIdx[i]])
        if (v !== undefined) sink += v
      }
    },
    mixedIdx.length,
  )

  // Every set is a new key: the cache holds the 50,000 most recent keys of a
  // cycle through the 100,000-key space, so each set evicts one entry.
  const EVICT_OPS = 500_000
  results.setEvict = measure(
    filled,
    (cache) => {
      for (let i = 0; i < EVICT_OPS; i++) cache.set(keys[(MAX + i) % KEY_SPACE], i)
    },
    EVICT_OPS,
  )

  const delCreate = c.createForDelete ?? c.create
  results.delete = measure(
    () => {
      const cache = delCreate(MAX)
      for (let i = 0; i < MAX; i++) cache.set(keys[i], i)
      return cache
    },
    (cache) => {
      for (let i = 0; i < delIdx.length; i++) cache.delete(keys[delIdx[i]])
    },
    delIdx.length,
  )
  return { ...results, sink: sink > 0 }
}

function memory() {
  const gc = global.gc
  const c = contenders[name]
  const N = 1_000_000
  const keys = makeKeys(N)
  const total = () => {
    for (let i = 0; i < 4; i++) gc()
    const m = process.memoryUsage()
    const native = name === 'leakless' ? require('../..').stats().externalBytes : 0
    return m.heapUsed + m.external + native
  }
  const before = total()
  let cache = c.create(N)
  const empty = total() - before
  for (let i = 0; i < N; i++) cache.set(keys[i], i)
  // Touch a few so that any lazily replayed state is materialised.
  for (let i = 0; i < 1000; i++) cache.get(keys[i])
  if (typeof cache.stats === 'function') cache.stats()
  const full = total() - before
  const size = cache.size
  cache = null
  return { emptyBytes: empty, bytesPerEntry: full / N, size }
}

const notes = check(name)
const result = mode === 'memory' ? memory() : speed()
process.stdout.write(`${JSON.stringify({ name, keyType, mode, notes, ...result })}\n`)
