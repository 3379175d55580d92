'use strict'

// The protocol between lib/ and the addon: every number the JS takes from
// lib/common/protocol.js is defined by Rust and is an integer, and the
// layouts it describes are the ones the native calls really produce (record
// widths of offDump, offTakeRemoved and poolTakeLeaks, the stats indexes,
// the mailbox, the recency log opcodes), checked on real structures.

const fs = require('node:fs')
const path = require('node:path')
const test = require('ava')
const native = require('../lib/common/native')
const protocol = require('../lib/common/protocol')

const turn = () => new Promise((resolve) => setImmediate(resolve))

/** Every `{ A, B: b } = require('…common/protocol').group` in lib/, as [file, group, name]. */
function usedConstants() {
  const used = []
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(file)
      else if (entry.name.endsWith('.js')) {
        const text = fs.readFileSync(file, 'utf8')
        const re = /const\s*\{([^}]*)\}\s*=\s*require\(['"][./]*common\/protocol['"]\)\.(\w+)/g
        for (const m of text.matchAll(re)) {
          for (const field of m[1].split(',')) {
            const name = field.split(':')[0].trim()
            if (name !== '') used.push([path.relative(path.join(__dirname, '..'), file), m[2], name])
          }
        }
      }
    }
  }
  walk(path.join(__dirname, '..', 'lib'))
  return used
}

test('every constant lib/ takes from the protocol is defined by Rust and an integer', (t) => {
  const used = usedConstants()
  t.true(used.length >= 25, `found ${used.length} uses`)
  for (const [file, group, name] of used) {
    t.true(Object.hasOwn(protocol, group), `${file}: no protocol group ${group}`)
    const value = protocol[group]?.[name]
    t.true(Number.isSafeInteger(value) && value >= 0, `${file}: ${group}.${name} is ${value}`)
  }
})

test('the protocol is frozen and has no duplicate indexes within a layout', (t) => {
  t.true(Object.isFrozen(protocol))
  for (const group of Object.values(protocol)) t.true(Object.isFrozen(group))
  t.throws(() => {
    'use strict'
    protocol.pool.MB_POOL = 3
  })
  const { offheap, pool } = protocol
  const stats = Object.keys(offheap).filter((k) => k.startsWith('STAT_'))
  t.deepEqual(
    stats.map((k) => offheap[k]).sort((a, b) => a - b),
    Array.from({ length: offheap.STATS_LEN }, (_, i) => i),
  )
  const slots = ['MB_POOL', 'MB_ARG', 'MB_STATUS', 'MB_SLOT', 'MB_SERIAL', 'MB_LEAKS'].map((k) => pool[k])
  t.is(new Set(slots).size, slots.length)
  t.true(slots.every((s) => s < pool.MB_LEN))
  const statuses = Object.keys(pool).filter((k) => k.startsWith('ST_'))
  t.is(new Set(statuses.map((k) => pool[k])).size, statuses.length)
})

test('offDump and offTakeRemoved return records of the declared widths', (t) => {
  const { DUMP_RECORD, REMOVED_RECORD, REMOVED_PENDING } = protocol.offheap
  const [id, owner] = native.offCreate(2, Infinity, false, false, true)
  t.is(native.offSet(id, 'a', 'one', 0, 0), 0)
  t.is(native.offSet(id, 'b', Buffer.from('two'), 1000, 0), 0)
  const flat = native.offDump(id, 1)
  t.is(flat.length, 2 * DUMP_RECORD)
  t.deepEqual(flat.slice(0, DUMP_RECORD), ['a', 'one', 0, Infinity])
  t.deepEqual(flat.slice(DUMP_RECORD), ['b', Buffer.from('two'), 1000, 1000])

  t.is(native.offSet(id, 'c', 'three', 0, 2), REMOVED_PENDING, 'the LRU entry was evicted')
  const removed = native.offTakeRemoved(id)
  t.is(removed.length, REMOVED_RECORD)
  t.deepEqual(removed, ['one', 'a', 'evict'])
  t.deepEqual(native.offTakeRemoved(id), [])
  t.truthy(owner)
})

test('offStats fills the indexes the protocol names', (t) => {
  const o = protocol.offheap
  const [id] = native.offCreate(1, Infinity, false, false, false)
  native.offSet(id, 'a', 'x', 0, 0)
  native.offSet(id, 'a', 'y', 0, 0)
  native.offSet(id, 'b', 'z', 5, 0) // evicts a
  native.offGet(id, 'b', 1)
  native.offGet(id, 'nope', 1)
  native.offGet(id, 'nope', 1)
  native.offGet(id, 'b', 10) // expired
  const out = new Float64Array(o.STATS_LEN)
  native.offStats(id, out)
  t.is(out[o.STAT_HITS], 1)
  t.is(out[o.STAT_MISSES], 3)
  t.is(out[o.STAT_SETS], 3)
  t.is(out[o.STAT_EVICTIONS], 1)
  t.is(out[o.STAT_EXPIRATIONS], 1)
  t.is(out[o.STAT_SIZE], 0)
  t.is(out[o.STAT_CALCULATED_SIZE], 0)
  t.is(out[o.STAT_NATIVE_BYTES], native.offNativeBytes(id))
  t.throws(() => native.offStats(id, new Float64Array(o.STATS_LEN - 1)))
})

test('recency opcodes insert, re-time and delete slots', (t) => {
  const { OP_INSERT, OP_EXPIRY, OP_DELETE, MAX_SLOT, STAMP_LIMIT } = protocol.recency
  t.is(MAX_SLOT & (OP_INSERT | OP_EXPIRY | OP_DELETE), 0, 'slots and opcodes share no bits')
  t.true(STAMP_LIMIT < 2 ** 32)
  const [id] = native.lruCreate()
  const stamps = new Uint32Array([1, 2, 3])
  const expires = new Float64Array([Infinity, Infinity, Infinity])
  const log = new Uint32Array([OP_INSERT | 0, 1, OP_INSERT | 1, 2, OP_INSERT | 2, 3, OP_DELETE | 1, 0])
  stamps[1] = 0 // as lib/lru.js does when it deletes
  native.lruApply(id, log, log.length, stamps, expires)
  const out = new Uint32Array(3)
  t.is(native.lruOrder(id, log, 0, stamps, expires, out), 2)
  t.deepEqual([...out.subarray(0, 2)], [2, 0])
  expires[0] = 5
  const retime = new Uint32Array([OP_EXPIRY | 0, 0])
  native.lruApply(id, retime, retime.length, stamps, expires)
  const victims = new Uint32Array(4)
  const meta = new Float64Array(2)
  const n = native.lruRefill(id, log, 0, stamps, expires, victims, new Uint32Array(4), 10, meta)
  t.true(n >= 1)
  t.is(meta[0], 1, 'slot 0 expired at 5')
  t.is(victims[0], 0)
})

test('recency files slots handed out since the last replay without a log, from `used`', (t) => {
  const { OP_INSERT } = protocol.recency
  const [id] = native.lruCreate()
  // Slots 0..2 stamped in order, slot 1 read since; slot 3 not handed out.
  const stamps = new Uint32Array([1, 4, 3, 0])
  const out = new Uint32Array(4)
  t.is(native.lruOrder(id, new Uint32Array(0), 0, stamps, undefined, out, 3), 3)
  t.deepEqual([...out.subarray(0, 3)], [1, 2, 0])
  // Slot 3 handed out, slot 0 freed and given to a logged insert.
  stamps[3] = 5
  stamps[0] = 6
  const log = Uint32Array.of(OP_INSERT | 0, 6)
  const victims = new Uint32Array(4)
  const n = native.lruRefill(id, log, 2, stamps, undefined, victims, new Uint32Array(4), 0, new Float64Array(2), 4)
  t.is(n, 4)
  t.deepEqual([...victims], [2, 1, 3, 0])
})

test('poolTakeLeaks returns records of the declared width', async (t) => {
  const { MB_POOL, MB_ARG, MB_STATUS, MB_LEN, ST_OK, LEAK_RECORD } = protocol.pool
  const [mailbox, acquire] = native.poolInit(() => {})
  t.is(mailbox.length, MB_LEN)
  const [id, owner] = native.poolCreate(4096, 1 << 20, false)
  const sizes = [100, 2000, 4096]
  ;(() => {
    for (const size of sizes) {
      mailbox[MB_POOL] = id
      mailbox[MB_ARG] = size
      t.is(acquire().length, size)
      t.is(mailbox[MB_STATUS], ST_OK)
    }
  })()
  let flat = []
  for (let i = 0; i < 50 && flat.length < sizes.length * LEAK_RECORD; i++) {
    global.gc()
    await turn()
    flat = flat.concat(native.poolTakeLeaks(id))
  }
  t.is(flat.length, sizes.length * LEAK_RECORD)
  const seen = []
  for (let i = 0; i < flat.length; i += LEAK_RECORD) {
    const [serial, slot, size, ageMs] = flat.slice(i, i + LEAK_RECORD)
    t.true(Number.isInteger(serial) && Number.isInteger(slot))
    t.true(ageMs >= 0 && Number.isFinite(ageMs))
    seen.push(size)
  }
  t.deepEqual(
    seen.sort((a, b) => a - b),
    sizes,
  )
  native.poolClose(id)
  t.truthy(owner)
})
