'use strict'

/** An `onEvict`-style callback (`(value, key, reason)`) that records `[key, value, reason]` into `events`. */
function recorder() {
  const events = []
  const onEvict = (value, key, reason) => events.push([key, value, reason])
  return { events, onEvict }
}

module.exports = { recorder }
