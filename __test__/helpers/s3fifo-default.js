'use strict'

// Makes policy: 's3fifo' the default of `require('..').LRU`, so that a spec
// file required after this runs its tests under S3-FIFO. Tests whose
// subject is the LRU order are skipped through `skipOrderTests`.

const leakless = require('../..')

const Base = leakless.LRU
function withPolicy(options) {
  if (typeof options === 'number') return { max: options, policy: 's3fifo' }
  if (options === null || typeof options !== 'object' || Array.isArray(options) || 'policy' in options) return options
  return { policy: 's3fifo', ...options }
}
class S3FifoByDefault extends Base {
  constructor(options) {
    super(withPolicy(options))
  }

  static [Symbol.hasInstance](value) {
    return value instanceof Base
  }
}
leakless.LRU = S3FifoByDefault

/** Wraps ava's `test` so that titles in `skip` are registered as skipped. */
function skipOrderTests(skip) {
  const ava = require('ava')
  const wrapped = (title, ...rest) => (skip.has(title) ? ava.skip(title, ...rest) : ava(title, ...rest))
  Object.assign(wrapped, ava)
  require.cache[require.resolve('ava')].exports = wrapped
}

module.exports = { skipOrderTests }
