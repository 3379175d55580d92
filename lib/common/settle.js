'use strict'

// Calling a batch of user callbacks (onEvict, a listener removal, a store
// during load) must not stop at the first one that throws: the rest still
// run, then the first error is rethrown.

/**
 * Calls `call(i)` for every `i` below `count`, all of them even if some
 * throw; then rethrows the first error. Returns how many calls returned a
 * truthy value.
 */
function settleAll(count, call) {
  let done = 0
  let failed = false
  let failure
  for (let i = 0; i < count; i++) {
    try {
      if (call(i)) done++
    } catch (err) {
      if (!failed) failure = err
      failed = true
    }
  }
  if (failed) throw failure
  return done
}

module.exports = { settleAll }
