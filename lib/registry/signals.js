'use strict'

// `signal` option: registrations removed when an AbortSignal aborts, without
// the signal keeping the target alive.

const { hasShape, invalidArgType } = require('../common/errors')

const ONCE = { once: true }

/**
 * Registrations on one target (in one node) with one signal share one abort
 * hook. The hook reaches its hub only through the target's WeakRef and the
 * node's WeakMap: a long-lived signal must not keep a target alive through
 * listeners that close over it (and a WeakRef per hook would pin every hook
 * until the end of the current job). If the target is collected first, the
 * finalizer takes the hook off the signal (the record's tomb lists it). The
 * last registration to go takes the hook off at once.
 */
class SignalHub {
  constructor(node, record, signal, onAbort) {
    this.count = 0 // registrations sharing the hook
    this.signal = signal
    this.hook = () => onAbort(node, record.ref, signal)
    this.index = -1 // in the record's tomb
  }
}

/** Joins the bucket's hub for `signal` (made on first use); `onAbort(node, targetRef, signal)` runs on abort. */
function joinHub(bucket, signal, onAbort) {
  if (bucket.hubs === null) bucket.hubs = new Map()
  let hub = bucket.hubs.get(signal)
  if (hub === undefined) {
    hub = new SignalHub(bucket.node, bucket.record, signal, onAbort)
    signal.addEventListener('abort', hub.hook, ONCE)
    bucket.hubs.set(signal, hub)
    const tomb = bucket.record.tomb
    if (tomb.hooks === null) tomb.hooks = []
    hub.index = tomb.hooks.length
    tomb.hooks.push(hub)
  }
  hub.count++
  return hub
}

function leaveHub(bucket, hub) {
  if (--hub.count > 0) return
  hub.signal.removeEventListener('abort', hub.hook)
  bucket.hubs.delete(hub.signal)
  const hooks = bucket.record.tomb.hooks
  const last = hooks.pop()
  if (last !== hub) {
    hooks[hub.index] = last
    last.index = hub.index
  }
}

const SIGNAL_SHAPE = { aborted: 'boolean', addEventListener: 'function' }

function validateSignal(signal) {
  if (!hasShape(signal, SIGNAL_SHAPE)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal)
  }
}

module.exports = { joinHub, leaveHub, validateSignal }
