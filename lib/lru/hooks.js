'use strict'

// Option keys that only the test suite passes. The symbols are created here
// and not registered (no Symbol.for), so user code cannot pass them by
// accident; the tests require this file by path.

// Starts an LRU's stamp counter at the given value, to exercise renumbering
// near the stamp limit.
const kTickStart = Symbol('leakless.tickStart')

// Most victims an S3-FIFO LRU takes per batch; 1 makes every eviction
// exactly the sequential S3-FIFO's (the property test compares with a model).
const kS3Batch = Symbol('leakless.s3Batch')

module.exports = { kTickStart, kS3Batch }
