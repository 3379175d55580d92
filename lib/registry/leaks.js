'use strict'

// Leak detection: past half the limit each registration's stack is
// recorded; past maxListeners a warning names the most frequent one; past
// refuseAt the registration is refused.

const path = require('node:path')
const { emitWarning } = require('../common/warnings')
const { describe, leaklessError } = require('../common/errors')

const STACK_FRAMES = 10 // user frames kept per registration stack
// Frames from anywhere in leakless's lib/ are not the user's.
const LIB_DIR = path.dirname(__dirname) + path.sep
const WARNING_CODE = 'LEAKLESS_LISTENER_LEAK'
const NODE_INTERNAL = /\(node:|at node:/

/** Captures the registration stack, without leakless's own frames. */
function captureStack() {
  const holder = {}
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = STACK_FRAMES + 10
    Error.captureStackTrace(holder, captureStack)
  } finally {
    Error.stackTraceLimit = limit
  }
  const lines = String(holder.stack).split('\n')
  const kept = []
  for (const line of lines) {
    // Neither leakless's own frames nor Node's internals say where the leak is.
    if (!line.startsWith('    at ') || line.includes(LIB_DIR) || NODE_INTERNAL.test(line)) continue
    kept.push(line)
    if (kept.length === STACK_FRAMES) break
  }
  return kept.length > 0 ? kept.join('\n') : '    at <unknown>'
}

function addStack(ev, stack) {
  if (ev.stacks === null) ev.stacks = new Map()
  ev.stacks.set(stack, (ev.stacks.get(stack) ?? 0) + 1)
}

function dropStack(ev, stack) {
  const n = ev.stacks.get(stack)
  if (n === undefined) return
  if (n <= 1) ev.stacks.delete(stack)
  else ev.stacks.set(stack, n - 1)
}

/** `[stack, registrations]` of the most frequent recorded stack, or `[null, 0]`. */
function topStackOf(ev) {
  let top = null
  let topCount = 0
  if (ev.stacks !== null) {
    for (const [stack, n] of ev.stacks) {
      if (n > topCount) {
        top = stack
        topCount = n
      }
    }
  }
  return [top, topCount]
}

/** `file:line:column` of the first frame of a stack. */
function locationOf(stack) {
  const first = stack.split('\n', 1)[0].trim().slice(3)
  const m = /\(([^()]*)\)$/.exec(first)
  return m ? m[1] : first
}

function times(n) {
  return n === 1 ? '1 time' : `${n} times`
}

function eventName(event) {
  return typeof event === 'symbol' ? String(event) : JSON.stringify(event)
}

/**
 * Called when a target+event is past half the limit: refuses past
 * `refuseAt`, records the stack, warns at the thresholds. Returns the stack.
 */
function nearLimit(config, target, ev, n) {
  if (n > config.refuseAt) {
    const [top, topCount] = topStackOf(ev)
    throw leaklessError(
      RangeError,
      'ERR_LEAKLESS_TOO_MANY_LISTENERS',
      `Refused to add listener ${n} for ${eventName(ev.event)} on ${describe(target)}: ` +
        `refuseAt is ${config.refuseAt} (maxListeners ${config.maxListeners})` +
        (top === null ? '' : `. Most frequent registration (${times(topCount)}) at ${locationOf(top)}\n${top}`),
    )
  }
  const stack = captureStack()
  addStack(ev, stack)
  if (n >= ev.warnAt) {
    ev.warnAt = n + config.step
    try {
      warnLeak(config, target, ev, n)
    } catch (err) {
      dropStack(ev, stack)
      throw err
    }
  }
  return stack
}

function warnLeak(config, target, ev, n) {
  const [top, topCount] = topStackOf(ev)
  const what = describe(target)
  const message =
    `Possible listener leak: ${n} listeners for ${eventName(ev.event)} on ${what} ` +
    `(maxListeners is ${config.maxListeners}, refuseAt is ${config.refuseAt}). ` +
    `Most frequent registration (${times(topCount)}) at ${locationOf(top)}\n${top}`
  // One rate-limit key per kind of target, event and threshold: a thousand
  // sockets leaking alike make one warning, while further growth still shows.
  emitWarning(message, WARNING_CODE, { key: `${WARNING_CODE} ${what} ${eventName(ev.event)} ${n}` })
  if (config.onLeak !== undefined) {
    config.onLeak({
      target,
      event: ev.event,
      count: n,
      maxListeners: config.maxListeners,
      topStack: top,
      topStackCount: topCount,
      message,
    })
  }
}

module.exports = { WARNING_CODE, nearLimit, dropStack, topStackOf }
