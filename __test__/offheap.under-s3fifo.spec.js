'use strict'

// offheap.spec.js again, with policy: 's3fifo' as the default policy; the tests
// about the LRU order itself are skipped (titles below).

const { skipOrderTests } = require('./helpers/s3fifo-default')

skipOrderTests(
  new Set([
    'an off-heap cache is an LRU with the Map interface',
    'onEvict sees values as they were stored, with every reason',
    'maxSize holds by bytes and answers agree with a model under random workloads',
    'dump and load round-trip entries, order and TTL',
  ]),
)
require('./offheap.spec.js')
