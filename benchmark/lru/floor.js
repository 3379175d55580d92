'use strict'

// The floor of a Map-indexed cache, phase by phase: stripped-down caches that
// do only part of the work, timed as lru.bench.js times the real ones (same
// keys, same sizes, best of runs), each in its own process with the same
// --hash-seed. What a stripped-down cache costs no design over the same Map
// can save; what leakless costs above it is its own.
//
//   node benchmark/lru/floor.js [--rounds N]

const { indexes, bestNsPerOp, runJson, median } = require('../lib/measure')
const { printTable } = require('../lib/report')

const KEY_SPACE = 100_000
const MAX = 50_000
const EVICT_OPS = 500_000

/** Map and slot arrays; `grow` picks how the arrays get their room. */
class Stripped {
  constructor(grow) {
    this.grow = grow
    this.map = new Map()
    this.keys = grow === 'prealloc' ? new Array(MAX) : []
    this.vals = grow === 'prealloc' ? new Array(MAX) : []
    this.stamps = new Uint32Array(MAX)
    this.used = 0
    this.ring = 0
    this.tick = 0
  }

  /** Insert or evicting set; the victim is the oldest insert (a ring). */
  set(key, value) {
    let slot = this.map.get(key)
    if (slot !== undefined) {
      this.vals[slot] = value
      return
    }
    if (this.used < MAX) {
      slot = this.used++
      if (this.grow === 'doubling' && slot >= this.keys.length) {
        const capacity = Math.min(Math.max(16, this.keys.length * 2), MAX)
        this.keys.length = capacity
        this.vals.length = capacity
      }
    } else {
      slot = this.ring
      this.ring = slot + 1 === MAX ? 0 : slot + 1
      this.map.delete(this.keys[slot])
    }
    this.keys[slot] = key
    this.vals[slot] = value
    this.map.set(key, slot)
    this.stamps[slot] = ++this.tick
  }

  delete(key) {
    const slot = this.map.get(key)
    if (slot === undefined) return false
    this.map.delete(key)
    this.keys[slot] = undefined
    this.vals[slot] = undefined
    this.stamps[slot] = 0
    return true
  }
}

/** Map only: no slot, no order. */
class MapOnly {
  constructor() {
    this.map = new Map()
  }

  set(key, value) {
    this.map.set(key, value)
  }

  delete(key) {
    return this.map.delete(key)
  }
}

const variants = {
  setEmpty: {
    'Map.set alone': () => new MapOnly(),
    'Map + slot arrays allocated for max up front': () => new Stripped('prealloc'),
    'Map + slot arrays doubled as they fill': () => new Stripped('doubling'),
  },
  setEvict: {
    'Map + slot arrays, victim for free (FIFO ring)': () => new Stripped('prealloc'),
  },
  delete: {
    'Map get + delete alone': () => new MapOnly(),
    'Map + clearing the slot (key, value, stamp)': () => new Stripped('prealloc'),
  },
}

// The time leakless spends inside its calls into Rust (replaying the log of
// inserts, picking victims), per operation: the calls are timed one by one.
const RUST = 'leakless LRU, inside its calls into Rust'
const rust = { ns: 0 }

function timeRustCalls() {
  const native = require('../../lib/common/native')
  for (const name of ['lruApply', 'lruRefill', 'lruRenumber', 'lruOrder']) {
    const call = native[name]
    native[name] = (...args) => {
      const t0 = process.hrtime.bigint()
      try {
        return call(...args)
      } finally {
        rust.ns += Number(process.hrtime.bigint() - t0)
      }
    }
  }
}

function caches() {
  const { contenders } = require('./contenders')
  return {
    'leakless LRU': (max) => contenders.leakless.create(max),
    [RUST]: (max) => contenders.leakless.create(max),
    'mnemonist LRUMapWithDelete': (max) => contenders['mnemonist-delete'].create(max),
    'lru-cache 11': (max) => contenders['lru-cache'].create(max),
  }
}

function run(phase, name, keyType) {
  if (name === RUST) return runRust(phase, keyType)
  return time(phase, name, keyType, bestNsPerOp)
}

/** Nanoseconds per operation spent inside Rust, in the run that spent the least. */
function runRust(phase, keyType) {
  timeRustCalls()
  return time(phase, RUST, keyType, (setup, body, ops) => {
    let best = Infinity
    for (let r = 0; r < 6; r++) {
      const state = setup()
      rust.ns = 0
      body(state)
      if (r > 0) best = Math.min(best, rust.ns / ops)
    }
    return best
  })
}

function time(phase, name, keyType, measure) {
  const create =
    variants[phase][name] ??
    (
      (real) => () =>
        real(MAX)
    )(caches()[name])
  const keys = new Array(KEY_SPACE)
  for (let i = 0; i < KEY_SPACE; i++) keys[i] = keyType === 'int' ? i : `user:${i}:session`
  const filled = () => {
    const cache = create()
    for (let i = 0; i < MAX; i++) cache.set(keys[i], i)
    return cache
  }
  if (phase === 'setEmpty') {
    return measure(
      create,
      (cache) => {
        for (let i = 0; i < MAX; i++) cache.set(keys[i], i)
      },
      MAX,
    )
  }
  if (phase === 'setEvict') {
    return measure(
      filled,
      (cache) => {
        for (let i = 0; i < EVICT_OPS; i++) cache.set(keys[(MAX + i) % KEY_SPACE], i)
      },
      EVICT_OPS,
    )
  }
  const delIdx = indexes(MAX, MAX, 999)
  return measure(
    filled,
    (cache) => {
      for (let i = 0; i < delIdx.length; i++) cache.delete(keys[delIdx[i]])
    },
    delIdx.length,
  )
}

if (process.argv[2] === '--run') {
  const [phase, name, keyType] = process.argv.slice(3)
  process.stdout.write(`${JSON.stringify({ ns: run(phase, name, keyType) })}\n`)
} else {
  const i = process.argv.indexOf('--rounds')
  const rounds = i >= 0 ? Number(process.argv[i + 1]) : 3
  const labels = { setEmpty: 'set into empty', setEvict: 'set with eviction', delete: 'delete' }
  console.log(`ns per operation, best of runs, median of ${rounds} rounds; 100,000-key space, max 50,000.\n`)
  for (const phase of Object.keys(variants)) {
    const names = [...Object.keys(variants[phase]), ...Object.keys(caches())]
    const ns = {}
    for (const keyType of ['string', 'int']) {
      const samples = Object.fromEntries(names.map((n) => [n, []]))
      for (let r = 0; r < rounds; r++) {
        for (const name of r % 2 === 0 ? names : [...names].reverse()) {
          const out = runJson(__filename, ['--run', phase, name, keyType], ['--hash-seed=1337'])
          samples[name].push(out.ns)
        }
      }
      ns[keyType] = Object.fromEntries(names.map((n) => [n, median(samples[n])]))
    }
    console.log(`### ${labels[phase]}\n`)
    printTable(
      ['', 'string keys', 'int keys'],
      names.map((n) => [n, ns.string[n].toFixed(1), ns.int[n].toFixed(1)]),
    )
    console.log()
  }
}
