'use strict'

// Adding and removing registrations: attaching to the target, the linked
// list of a bucket, once wrappers, disposers.

const { invalidArgType } = require('../common/errors')
const { settleAll } = require('../common/settle')
const { kDispose } = require('../common/dispose')
const {
  KIND_ON,
  KIND_ADD_LISTENER,
  KIND_EVENT_TARGET,
  TargetRecord,
  Slot,
  Bucket,
  Entry,
  Extra,
  eventState,
} = require('./model')
const { attach, isDisposed, disposedError, sweep, scheduleSweep, forEachNode } = require('./tree')
const { joinHub, leaveHub } = require('./signals')
const { nearLimit, dropStack } = require('./leaks')

const TARGET_EXPECTED =
  'an EventEmitter, an EventTarget, or an object with on/off or addListener/removeListener methods'

function kindOf(target) {
  if (typeof target.on === 'function' && typeof target.off === 'function') return KIND_ON
  if (typeof target.addListener === 'function' && typeof target.removeListener === 'function') {
    return KIND_ADD_LISTENER
  }
  if (typeof target.addEventListener === 'function' && typeof target.removeEventListener === 'function') {
    return KIND_EVENT_TARGET
  }
  return -1
}

function validateTarget(target) {
  if (target === null || (typeof target !== 'object' && typeof target !== 'function') || kindOf(target) === -1) {
    throw invalidArgType('target', TARGET_EXPECTED, target)
  }
}

function wrapsOf(target) {
  return typeof target.addEventListener === 'function'
}

function recordOf(root, target) {
  let record = root.records.get(target)
  if (record === undefined) {
    record = new TargetRecord(new WeakRef(target), kindOf(target), wrapsOf(target))
    root.records.set(target, record)
    if (root.finalizer === null) {
      root.finalizer = new FinalizationRegistry((tomb) => {
        if (tomb.hooks !== null) for (const hub of tomb.hooks) hub.signal.removeEventListener('abort', hub.hook)
        scheduleSweep(root)
      })
    }
    root.finalizer.register(target, record.tomb)
  }
  return record
}

function newBucket(node, target) {
  if (node.slots.length >= node.sweepAt) sweep(node, true)
  const record = recordOf(node.root, target)
  const slot = new Slot(record.ref)
  node.slots.push(slot)
  const bucket = new Bucket(node, record, slot)
  node.buckets.set(target, bucket)
  return bucket
}

function attachTo(kind, target, event, fn) {
  if (kind === KIND_ON) target.on(event, fn)
  else if (kind === KIND_ADD_LISTENER) target.addListener(event, fn)
  else target.addEventListener(event, fn)
}

function detachFrom(kind, target, event, fn) {
  if (kind === KIND_ON) target.off(event, fn)
  else if (kind === KIND_ADD_LISTENER) target.removeListener(event, fn)
  else target.removeEventListener(event, fn)
}

/** Removes one registration from its target and from the registry. True if it was still attached. */
function removeEntry(entry) {
  const bucket = entry.bucket
  if (bucket === null) return false
  entry.bucket = null // a re-entrant removal (from a 'removeListener' handler) sees it gone
  const slot = bucket.slot
  const target = slot.ref.deref()
  if (target !== undefined) {
    try {
      detachFrom(bucket.record.kind, target, entry.ev.event, entry.fn)
    } catch (err) {
      entry.bucket = bucket // still attached: the registry keeps it
      throw err
    }
  }
  const prev = entry.prev
  const next = entry.next
  if (prev === null) bucket.head = next
  else prev.next = next
  if (next === null) bucket.tail = prev
  else next.prev = prev
  entry.prev = null
  entry.next = null
  const x = entry.x
  if (!slot.dead) {
    slot.size--
    const ev = entry.ev
    ev.count--
    if (x !== null && x.stack !== null) dropStack(ev, x.stack)
    if (ev.count === 0 && bucket.record.map !== null) bucket.record.map.delete(ev.event)
    bucket.node.size--
  }
  if (x !== null && x.hub !== null) leaveHub(bucket, x.hub)
  // A collected target took its listeners with it: nothing was removed here.
  return target !== undefined
}

function makeDisposer(entry) {
  const dispose = () => removeEntry(entry)
  dispose[kDispose] = dispose
  return dispose
}

const NOOP_DISPOSER = () => false
NOOP_DISPOSER[kDispose] = NOOP_DISPOSER
Object.freeze(NOOP_DISPOSER)

function onceWrapper(entry, listener) {
  let fired = false
  const wrapper = function (...args) {
    // Like Node's own once: fires at most once, and is forgotten before the
    // listener runs, so a listener that throws leaves nothing behind.
    if (fired) return undefined
    fired = true
    removeEntry(entry)
    return Reflect.apply(listener, this, args)
  }
  // EventEmitter#listeners() and removeListener(event, listener) see through
  // it, as they do through Node's own once wrappers.
  wrapper.listener = listener
  return wrapper
}

function plainWrapper(listener) {
  return function (...args) {
    return Reflect.apply(listener, this, args)
  }
}

/** On abort: removes the registrations of one bucket that share this signal. */
function abortHub(node, ref, signal) {
  const target = ref.deref()
  const bucket = target === undefined ? undefined : node.buckets.get(target)
  const hub = bucket === undefined || bucket.hubs === null ? undefined : bucket.hubs.get(signal)
  if (hub === undefined) return
  const doomed = []
  for (let e = bucket.head; e !== null; e = e.next) if (e.x !== null && e.x.hub === hub) doomed.push(e)
  removeEntries(doomed)
}

function add(node, target, event, listener, once, signal) {
  let bucket = node.buckets.get(target)
  if (bucket === undefined) validateTarget(target)
  if (typeof event !== 'string' && typeof event !== 'symbol') {
    throw invalidArgType('event', 'of type string or symbol', event)
  }
  if (typeof listener !== 'function') throw invalidArgType('listener', 'of type function', listener)
  if (typeof event === 'symbol' && (bucket === undefined ? wrapsOf(target) : bucket.record.wraps)) {
    throw invalidArgType('event', 'of type string for an EventTarget', event)
  }
  if (node.disposed) throw disposedError()
  // An attached scope's ancestors are alive; a detached one checks before attaching.
  const detached = !node.attached && node.parent !== null
  if (detached && isDisposed(node)) throw disposedError()
  if (signal !== null && signal.aborted) return NOOP_DISPOSER

  if (bucket === undefined) bucket = newBucket(node, target)
  const record = bucket.record
  const config = node.config
  const ev = eventState(record, event, config)
  const n = ev.count + 1
  const stack = n > config.stackFrom ? nearLimit(config, target, ev, n) : null

  const entry = new Entry(bucket, ev, listener)
  if (once) entry.fn = onceWrapper(entry, listener)
  else if (record.wraps) entry.fn = plainWrapper(listener)
  try {
    attachTo(record.kind, target, event, entry.fn)
  } catch (err) {
    if (stack !== null) dropStack(ev, stack)
    throw err
  }

  const tail = bucket.tail
  entry.prev = tail
  if (tail === null) bucket.head = entry
  else tail.next = entry
  bucket.tail = entry
  bucket.slot.size++
  ev.count++
  node.size++
  if (detached) attach(node)
  if (stack !== null || signal !== null) {
    const x = (entry.x = new Extra(stack))
    if (signal !== null) {
      try {
        x.hub = joinHub(bucket, signal, abortHub)
      } catch (err) {
        removeEntry(entry)
        throw err
      }
    }
  }
  return makeDisposer(entry)
}

/** Entries of `node`'s own buckets (all targets, or one), optionally of one event. */
function collectOwn(node, target, event, out) {
  if (target !== undefined) {
    const bucket = node.buckets.get(target)
    if (bucket !== undefined) collectBucket(bucket, event, out)
    return
  }
  for (const slot of node.slots) {
    const t = slot.ref.deref()
    if (t === undefined) continue
    const bucket = node.buckets.get(t)
    if (bucket !== undefined) collectBucket(bucket, event, out)
  }
}

function collectBucket(bucket, event, out) {
  for (let e = bucket.head; e !== null; e = e.next) {
    if (event === undefined || e.ev.event === event) out.push(e)
  }
}

function collect(node, target, event) {
  const out = []
  forEachNode(node, (n) => collectOwn(n, target, event, out))
  return out
}

/** Removes every entry; keeps going when a target's removal throws, then rethrows the first error. */
function removeEntries(entries) {
  return settleAll(entries.length, (i) => removeEntry(entries[i]))
}

function validateOptionalTarget(target) {
  if (target !== undefined) validateTarget(target)
}

function validateOptionalEvent(event) {
  if (event !== undefined && typeof event !== 'string' && typeof event !== 'symbol') {
    throw invalidArgType('event', 'of type string or symbol', event)
  }
}

// The optional (target, event) filter of removeAll() and count().
function validateFilter(target, event) {
  validateOptionalTarget(target)
  validateOptionalEvent(event)
}

module.exports = { add, collect, removeEntry, removeEntries, validateTarget, validateFilter }
