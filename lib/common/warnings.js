'use strict'

// Every LeaklessWarning goes through here, so that a leak reported a million
// times does not become a second leak of log lines.

const DEFAULT_INTERVAL_MS = 10_000
const lastEmitted = new Map() // code -> { at, suppressed }

/**
 * Emits `message` as a `LeaklessWarning` with `code`, at most once per
 * `intervalMs` per `key` (default: the code). Returns true when emitted.
 * Suppressed repeats are counted and mentioned in the next emitted warning.
 * `fields` (optional) are set as properties of the emitted warning, so a
 * `process.on('warning')` listener can read them without parsing the text.
 */
function emitWarning(message, code, { key = code, intervalMs = DEFAULT_INTERVAL_MS, fields } = {}) {
  const now = Date.now()
  const state = lastEmitted.get(key)
  if (state !== undefined && now - state.at < intervalMs) {
    state.suppressed++
    return false
  }
  let text = message
  if (state !== undefined && state.suppressed > 0) {
    text += ` (${state.suppressed} similar warning${state.suppressed === 1 ? '' : 's'} suppressed)`
  }
  if (lastEmitted.size > 1000) lastEmitted.clear()
  lastEmitted.set(key, { at: now, suppressed: 0 })
  if (fields === undefined) {
    process.emitWarning(text, { type: 'LeaklessWarning', code })
  } else {
    const warning = new Error(text)
    warning.name = 'LeaklessWarning'
    warning.code = code
    Object.assign(warning, fields)
    Error.captureStackTrace(warning, emitWarning)
    process.emitWarning(warning)
  }
  return true
}

/** Forgets the rate-limit state (tests use it to see every warning). */
function resetWarnings() {
  lastEmitted.clear()
}

module.exports = { emitWarning, resetWarnings }
