'use strict'

// 32-bit hashes of keys for the S3-FIFO ghost queue (core/src/s3fifo.rs),
// which remembers recently evicted keys by hash only. Computed when a key is
// inserted, never on a hit. Strings hash by content (FNV-1a), numbers by
// value (SameValueZero: -0 is 0, every NaN one key), objects and functions
// by identity (a number given on first sight, held weakly).

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const identities = new WeakMap()
let nextIdentity = 1

function mix(h) {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** A 32-bit hash of `key`, equal for keys a Map finds equal. */
function keyHash(key) {
  switch (typeof key) {
    case 'string': {
      let h = 0x811c9dc5
      for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
      return mix(h ^ key.length)
    }
    case 'number':
      if ((key | 0) === key) return mix(key ^ 0x5bd1e995)
      f64[0] = key === 0 || key !== key ? (key === 0 ? 0 : NaN) : key
      return mix(u32[0] ^ Math.imul(u32[1], 0x9e3779b1))
    case 'object':
    case 'function': {
      if (key === null) return 0x6e756c6c
      let id = identities.get(key)
      if (id === undefined) {
        id = nextIdentity++
        identities.set(key, id)
      }
      return mix(Math.imul(id, 0x9e3779b1) ^ 0x27d4eb2f)
    }
    default:
      // Booleans, undefined, bigints, symbols: few enough to share hashes.
      return mix(typeof key === 'symbol' ? 0x73796d62 : String(key).length ^ 0x1b873593)
  }
}

module.exports = { keyHash }
