'use strict'

// offheap.spec.js again, with policy: 's3fifo' as the default policy; the tests
// about the LRU order itself are left out of this rerun (titles below; they
// run under 'lru' in the spec file itself).

const { leaveOutOrderTests } = require('./helpers/s3fifo-default')

leaveOutOrderTests(
  new Set([
    'an off-heap cache is an LRU with the Map interface',
    'onEvict sees values as they were stored, with every reason',
    'maxSize holds by bytes and answers agree with a model under random workloads',
    'dump and load round-trip entries, order and TTL',
  ]),
)
require('./offheap.spec.js')
