'use strict'

// Clocks for tests that drive time themselves.

/**
 * Holds Date.now() still until the returned function (or the end of the
 * test) restores it. dump() and load() turn start times into epoch ms
 * through Date.now(): without this, real time spent between the two (a
 * loaded machine) shows in the TTL, which a fake `perf` clock alone cannot
 * prevent.
 */
function freezeDateNow(t) {
  const realDateNow = Date.now
  const frozenNow = realDateNow()
  Date.now = () => frozenNow
  const thaw = () => {
    Date.now = realDateNow
  }
  t.teardown(thaw)
  return thaw
}

/** A `perf` clock for the LRU options: `now()` reads `t`, which only `advance(ms)` moves. */
function fakeClock(start = 1000) {
  const clock = {
    t: start,
    now: () => clock.t,
    advance(ms) {
      clock.t += ms
    },
  }
  return clock
}

module.exports = { fakeClock, freezeDateNow }
