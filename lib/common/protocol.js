'use strict'

// The numbers lib/ and the addon must agree on (recency log opcodes, pool
// mailbox slots and statuses, off-heap stats indexes, widths of flat
// records), read once from Rust (src/protocol.rs) so they are defined in one
// place only.

const native = require('./native')

const raw = native.protocol()

function group(name) {
  const fields = raw[name]
  if (fields === null || typeof fields !== 'object') {
    throw new Error(`leakless: the addon's protocol has no "${name}" group (mismatched binary?)`)
  }
  return Object.freeze({ ...fields })
}

module.exports = Object.freeze({
  recency: group('recency'),
  offheap: group('offheap'),
  pool: group('pool'),
})
