'use strict'

// The benchmark floors of src/floor.rs (not public API): their answers must
// be right for the figures measured against them to mean anything.

const test = require('ava')
const native = require('../lib/common/native')

test('floorGet answers a fresh 100-byte string, floorSet undefined', (t) => {
  t.is(native.floorGet('key'), 'v'.repeat(100))
  t.is(native.floorSet('key', 'value'), undefined)
})

test('the plain native map stores, replaces and evicts in insertion order', (t) => {
  native.floorMapReset(2)
  t.is(native.floorMapGet('a'), undefined)
  native.floorMapSet('a', '1')
  native.floorMapSet('b', '2')
  native.floorMapSet('a', '3')
  t.is(native.floorMapSize(), 2)
  t.is(native.floorMapGet('a'), '3')
  // Full: the first key inserted goes, even though it was just replaced and read.
  native.floorMapSet('c', '4')
  t.is(native.floorMapSize(), 2)
  t.is(native.floorMapGet('a'), undefined)
  t.is(native.floorMapGet('b'), '2')
  t.is(native.floorMapGet('c'), '4')
  native.floorMapReset(1)
  t.is(native.floorMapSize(), 0)
  t.is(native.floorMapGet('b'), undefined)
})

test('the floors refuse what is not a string', (t) => {
  for (const f of [() => native.floorGet(1), () => native.floorMapGet({}), () => native.floorMapSet('k', 2)]) {
    t.throws(f, { code: 'ERR_LEAKLESS_NAPI', message: /StringExpected/ })
  }
})
