'use strict'

// Makes policy: 's3fifo' the default of `require('..').LRU`, so that a spec
// file required after this runs its tests under S3-FIFO. Tests whose
// subject is the LRU order are left out of that rerun through
// `leaveOutOrderTests`: they assert LRU's order, and they run, under 'lru',
// in the spec file itself.

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

/** Wraps ava's `test` so that the titles in `orderTests` are not registered. */
function leaveOutOrderTests(orderTests) {
  const ava = require('ava')
  const wrapped = (title, ...rest) => (orderTests.has(title) ? undefined : ava(title, ...rest))
  Object.assign(wrapped, ava)
  require.cache[require.resolve('ava')].exports = wrapped
}

module.exports = { leaveOutOrderTests }
