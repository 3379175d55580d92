'use strict'

// Option keys that only the test suite passes. The symbols are created here
// and not registered (no Symbol.for), so user code cannot pass them by
// accident; the tests require this file by path.

// Starts an LRU's stamp counter at the given value, to exercise renumbering
// near the stamp limit.
const kTickStart = Symbol('leakless.tickStart')

module.exports = { kTickStart }
