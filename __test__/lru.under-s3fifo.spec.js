'use strict'

// lru.spec.js again, with policy: 's3fifo' as the default policy; the tests
// about the LRU order itself are left out of this rerun (titles below; they
// run under 'lru' in the spec file itself).

const { leaveOutOrderTests } = require('./helpers/s3fifo-default')

leaveOutOrderTests(
  new Set([
    'iteration is most recently used first',
    'evicts the least recently used entry',
    'eviction order stays exact over many operations',
    'pop removes and returns the least recently used entry',
    'resize evicts down at once',
    'a slot freed by delete is reused',
    'onEvict may call back into the cache',
    'a throwing onEvict does not corrupt the cache',
    'maxSize and max together',
    'expired entries are evicted before live ones',
    'recency and hit counts survive the stamp counter wrapping around',
    'dump and load round-trip entries, order, ttl and size',
  ]),
)
require('./lru.spec.js')
