'use strict'

// ListenerRegistry: listeners that cannot outlive their scope, and leak
// warnings that point at the line that registered them.
//
// Why JavaScript and not Rust: the target is at most 3x the cost of a raw
// `emitter.on` + `emitter.off` pair (about 68 ns), and a single N-API
// crossing costs 35-330 ns. So every per-registration step (bookkeeping,
// counting, leak checks) stays in JS; nothing here calls the addon.
//
// Layout. A registry is a tree: `new ListenerRegistry()` is a root and
// `scope()` makes a child. Each node keeps, per target, a bucket holding a
// doubly linked list of its entries (O(1) removal, no Set per listener).
// Targets are never held strongly:
// - a node finds its bucket through a WeakMap keyed by the target, so the
//   bucket (and the listeners in it, which often close over the target) is
//   reachable only while the target is;
// - to enumerate its targets (for dispose, count, report), a node keeps a
//   small strong `Slot` per target: a WeakRef to the target and a count.
//   Slots of collected targets are swept lazily (amortised on growth, on
//   count/report/stats, and soon after a collection thanks to a
//   FinalizationRegistry, which only reclaims: no answer depends on it).
// The root keeps one `TargetRecord` per target (WeakMap again): how to
// attach to it, and per event the count over the whole tree, the registration
// stacks once the count is near the limit, and when to warn next.
//
// A parent holds a scope strongly only from the scope's first listener on,
// and prunes empty scopes whenever its set of children doubles, so a
// forgotten empty scope is garbage, not a leak. A scope whose ancestor was
// disposed finds out (and refuses) the next time it would attach.

const path = require('node:path')
const { LiveSet } = require('./tracker')
const { emitWarning } = require('./warnings')
const {
  describe,
  invalidArgType,
  leaklessError,
  outOfRange,
  validateFunction,
  validateInteger,
  validateObject,
  validateOptionalFunction,
} = require('./errors')

// Node 20.x defines Symbol.dispose in recent releases (as Symbol.for('nodejs.dispose')).
const kDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')
const kNode = Symbol('leakless.registryNode')

const KIND_ON = 0 // on / off (EventEmitter and look-alikes, Node's MessagePort)
const KIND_ADD_LISTENER = 1 // addListener / removeListener
const KIND_EVENT_TARGET = 2 // addEventListener / removeEventListener

const DEFAULT_MAX_LISTENERS = 10
const EVENT_LIST_MAX = 16 // events per target kept in an array before a Map takes over
const MIN_SWEEP = 16
const STACK_FRAMES = 10 // user frames kept per registration stack
const LIB_DIR = __dirname + path.sep
const WARNING_CODE = 'LEAKLESS_LISTENER_LEAK'
const TARGET_EXPECTED =
  'an EventEmitter, an EventTarget, or an object with on/off or addListener/removeListener methods'
const ONCE = { once: true }
const NODE_INTERNAL = /\(node:|at node:/

const live = new LiveSet()

// ------------------------------------------------------------------ records

/** Per root and event: the count over the whole tree, and leak-detection state. */
class EventState {
  constructor(event, warnAt) {
    this.event = event
    this.count = 0
    this.warnAt = warnAt
    this.stacks = null // Map<stack, registrations> once near the limit
  }
}

/** Per root and target: how to attach, and the per-event states. */
class TargetRecord {
  constructor(ref, kind, wraps) {
    this.ref = ref // WeakRef to the target, shared by every slot of the tree
    this.kind = kind
    // EventTargets (including Node's MessagePort) ignore a second add of the
    // same function; each registration gets its own function there, so that
    // every registration is attached and removed independently.
    this.wraps = wraps
    this.events = []
    this.map = null
    // What to undo if the target is collected while listeners with a signal
    // are registered on it: held by the FinalizationRegistry, so it holds
    // neither the target nor any listener.
    this.tomb = new Tomb()
  }
}

class Tomb {
  constructor() {
    this.hooks = null // SignalHub[]
  }
}

/** Strongly held by a node: which target (weakly) and how many of its listeners. */
class Slot {
  constructor(ref) {
    this.ref = ref
    this.size = 0
    this.dead = false
  }
}

/** A node's listeners on one target; reachable only while the target lives. */
class Bucket {
  constructor(node, record, slot) {
    this.node = node
    this.record = record
    this.slot = slot
    this.head = null
    this.tail = null
    this.hubs = null // Map<AbortSignal, SignalHub>
  }
}

/** One registration. `fn` is what was attached: the listener or a wrapper. */
class Entry {
  constructor(bucket, ev, listener) {
    this.bucket = bucket // null once removed
    this.ev = ev
    this.listener = listener
    this.fn = listener
    this.prev = null
    this.next = null
    this.x = null // Extra, only for registrations with a stack or a signal
  }
}

class Extra {
  constructor(stack) {
    this.stack = stack
    this.hub = null
  }
}

/** The state behind one ListenerRegistry (root or scope). */
class RegistryNode {
  constructor(parent, config) {
    this.parent = parent
    this.root = parent === null ? this : parent.root
    this.config = config // shared by the whole tree
    this.children = null // Set of the child nodes that hold (or lately held) listeners
    this.attached = false // in parent.children
    this.pruneAt = MIN_SWEEP
    this.disposed = false
    this.buckets = new WeakMap()
    this.slots = []
    this.sweepAt = MIN_SWEEP
    this.size = 0 // listeners held by this node itself
    this.liveRef = null
    // Root only.
    this.records = parent === null ? new WeakMap() : null
    this.finalizer = null
    this.sweepPending = false
  }
}

/** Whether `node` or a descendant holds a listener. */
function isHolding(node) {
  if (node.size > 0) return true
  if (node.children !== null) for (const child of node.children) if (isHolding(child)) return true
  return false
}

/**
 * Puts `node` (about to hold a listener) into its parent, and so on up.
 * Empty children are not taken out at once (a scope reused in a loop would
 * pay for it every time) but when the parent's set has doubled since the
 * last pruning, so forgotten empty scopes cost a bounded amount of memory.
 */
function attach(node) {
  for (let n = node; n.parent !== null && !n.attached; n = n.parent) {
    const parent = n.parent
    if (parent.children === null) parent.children = new Set()
    else if (parent.children.size >= parent.pruneAt) pruneChildren(parent)
    n.attached = true
    parent.children.add(n)
  }
}

function pruneChildren(node) {
  for (const child of node.children) {
    if (!isHolding(child)) {
      child.attached = false
      node.children.delete(child)
    }
  }
  node.pruneAt = Math.max(MIN_SWEEP, node.children.size * 2)
}

/**
 * Whether `node` or an ancestor was disposed. An attached node's ancestors
 * are alive (disposing a node disposes its attached descendants), so the
 * walk stops at the first attached node.
 */
function isDisposed(node) {
  for (let n = node; n !== null; n = n.parent) {
    if (n.disposed) {
      for (let m = node; m !== n; m = m.parent) markDisposed(m)
      return true
    }
    if (n.attached) return false
  }
  return false
}

function markDisposed(node) {
  node.disposed = true
  node.attached = false
  node.children = null
  node.buckets = new WeakMap()
  node.slots = []
  if (node.liveRef !== null) {
    live.delete(node.liveRef)
    node.liveRef = null
  }
}

function disposedError() {
  return leaklessError(Error, 'ERR_LEAKLESS_DISPOSED', 'This ListenerRegistry was disposed: it cannot add listeners')
}

// ------------------------------------------------------------------ targets

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

/**
 * Forgets the slots of collected targets (their listeners went with them)
 * and, when `dropEmpty`, the buckets of live targets that hold nothing.
 */
function sweep(node, dropEmpty) {
  const slots = node.slots
  let kept = 0
  let lost = 0
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]
    const target = slot.ref.deref()
    if (target === undefined) {
      slot.dead = true
      lost += slot.size
      continue
    }
    if (dropEmpty && slot.size === 0) {
      node.buckets.delete(target)
      continue
    }
    slots[kept++] = slot
  }
  slots.length = kept
  node.sweepAt = Math.max(MIN_SWEEP, kept * 2)
  node.size -= lost
}

function scheduleSweep(root) {
  if (root.sweepPending) return
  root.sweepPending = true
  queueMicrotask(() => {
    root.sweepPending = false
    forEachNode(root, (n) => sweep(n, false))
  })
}

/** Calls `fn(node)` for `node` and every attached descendant (those holding, or lately holding, listeners). */
function forEachNode(node, fn) {
  fn(node)
  if (node.children !== null) for (const child of [...node.children]) forEachNode(child, fn)
}

// ----------------------------------------------------------------- entries

function eventState(record, event, config) {
  if (record.map === null) {
    const events = record.events
    for (let i = 0; i < events.length; i++) if (events[i].event === event) return events[i]
    if (events.length >= EVENT_LIST_MAX) {
      // Many event names on one target (e.g. one per request id): forget idle
      // ones, and past the limit switch to a Map that forgets them at zero.
      record.events = events.filter((ev) => ev.count > 0)
      if (record.events.length >= EVENT_LIST_MAX) {
        record.map = new Map(record.events.map((ev) => [ev.event, ev]))
        record.events = []
        return eventState(record, event, config)
      }
    }
    const ev = new EventState(event, config.warnAt)
    record.events.push(ev)
    return ev
  }
  let ev = record.map.get(event)
  if (ev === undefined) {
    ev = new EventState(event, config.warnAt)
    record.map.set(event, ev)
  }
  return ev
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

// ------------------------------------------------------------------- signals

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
  constructor(node, record, signal) {
    this.count = 0 // registrations sharing the hook
    this.signal = signal
    this.hook = () => abortHub(node, record.ref, signal)
    this.index = -1 // in the record's tomb
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

function joinHub(bucket, signal) {
  if (bucket.hubs === null) bucket.hubs = new Map()
  let hub = bucket.hubs.get(signal)
  if (hub === undefined) {
    hub = new SignalHub(bucket.node, bucket.record, signal)
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

function validateSignal(signal) {
  if (
    signal === null ||
    typeof signal !== 'object' ||
    typeof signal.aborted !== 'boolean' ||
    typeof signal.addEventListener !== 'function'
  ) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal)
  }
}

// ------------------------------------------------------------ leak detection

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

// ----------------------------------------------------------------- add/remove

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
        x.hub = joinHub(bucket, signal)
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
  let removed = 0
  let error
  let failed = false
  for (const entry of entries) {
    try {
      if (removeEntry(entry)) removed++
    } catch (err) {
      if (!failed) error = err
      failed = true
    }
  }
  if (failed) throw error
  return removed
}

function validateOptionalTarget(target) {
  if (target !== undefined) validateTarget(target)
}

function validateOptionalEvent(event) {
  if (event !== undefined && typeof event !== 'string' && typeof event !== 'symbol') {
    throw invalidArgType('event', 'of type string or symbol', event)
  }
}

function defaultRefuseAt(maxListeners) {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(maxListeners ** 2, maxListeners + 1))
}

function parseOptions(options) {
  if (options === undefined) return { maxListeners: DEFAULT_MAX_LISTENERS, refuseAt: DEFAULT_MAX_LISTENERS ** 2 }
  validateObject(options, 'options')
  const { maxListeners = DEFAULT_MAX_LISTENERS, onLeak } = options
  if (maxListeners !== Infinity) validateInteger(maxListeners, 'options.maxListeners', 1)
  // The default stays a safe integer: a large maxListeners squared is not one.
  const { refuseAt = maxListeners === Infinity ? Infinity : defaultRefuseAt(maxListeners) } = options
  if (refuseAt !== Infinity) {
    validateInteger(refuseAt, 'options.refuseAt', 1)
    if (refuseAt < maxListeners) throw outOfRange('options.refuseAt', `>= maxListeners (${maxListeners})`, refuseAt)
  }
  validateOptionalFunction(onLeak, 'options.onLeak')
  return { maxListeners, refuseAt, onLeak }
}

function makeConfig({ maxListeners, refuseAt, onLeak }) {
  const step = maxListeners === Infinity ? Infinity : Math.max(1, Math.ceil(maxListeners / 2))
  return {
    maxListeners,
    refuseAt,
    onLeak,
    step,
    warnAt: maxListeners + 1,
    // Stacks are captured only past half the limit (and always before a
    // refusal), so the common path never pays for one.
    stackFrom: Math.min(Math.floor(maxListeners / 2), refuseAt),
  }
}

// ------------------------------------------------------------------ public

/**
 * Listeners attached through a registry can be removed all at once, never
 * keep their target alive, and warn (with the registering file:line) when
 * they pile up. See index.d.ts for the API.
 */
class ListenerRegistry {
  #node

  constructor(options) {
    if (options !== null && typeof options === 'object' && options[kNode] !== undefined) {
      this.#node = options[kNode]
    } else {
      this.#node = new RegistryNode(null, makeConfig(parseOptions(options)))
    }
    // The set holds the node (never this wrapper); it is dropped when the
    // wrapper is collected or the registry disposed.
    this.#node.liveRef = live.add(this, this.#node)
  }

  /** Adds `listener` for `event` on `target`; returns its disposer. */
  on(target, event, listener, options) {
    let once = false
    let signal = null
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
      const o = options.once
      if (o !== undefined) {
        if (typeof o !== 'boolean') throw invalidArgType('options.once', 'of type boolean', o)
        once = o
      }
      const s = options.signal
      if (s !== undefined) {
        validateSignal(s)
        signal = s
      }
    }
    return add(this.#node, target, event, listener, once, signal)
  }

  /** `on` with `once: true`. */
  once(target, event, listener, options) {
    let signal = null
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
      if (options.once !== undefined && typeof options.once !== 'boolean') {
        throw invalidArgType('options.once', 'of type boolean', options.once)
      }
      if (options.signal !== undefined) {
        validateSignal(options.signal)
        signal = options.signal
      }
    }
    return add(this.#node, target, event, listener, true, signal)
  }

  /** Removes the most recent registration of `listener` for `event` on `target`. */
  off(target, event, listener) {
    validateTarget(target)
    if (typeof event !== 'string' && typeof event !== 'symbol') {
      throw invalidArgType('event', 'of type string or symbol', event)
    }
    validateFunction(listener, 'listener')
    let found = null
    forEachNode(this.#node, (n) => {
      if (found !== null) return
      const bucket = n.buckets.get(target)
      if (bucket === undefined) return
      for (let e = bucket.tail; e !== null; e = e.prev) {
        if (e.ev.event === event && e.listener === listener) {
          found = e
          return
        }
      }
    })
    return found === null ? false : removeEntry(found)
  }

  /** Removes every listener (of `target`, of `event`) this registry and its scopes hold; returns how many. */
  removeAll(target, event) {
    validateOptionalTarget(target)
    validateOptionalEvent(event)
    return removeEntries(collect(this.#node, target, event))
  }

  /** How many listeners (of `target`, of `event`) this registry and its scopes hold. */
  count(target, event) {
    validateOptionalTarget(target)
    validateOptionalEvent(event)
    const node = this.#node
    if (target === undefined && event === undefined) {
      let total = 0
      forEachNode(node, (n) => {
        sweep(n, false)
        total += n.size
      })
      return total
    }
    return collect(node, target, event).length
  }

  /** Makes a child registry, disposed with this one. */
  scope() {
    const node = this.#node
    if (node.disposed || isDisposed(node)) throw disposedError()
    return new ListenerRegistry({ [kNode]: new RegistryNode(node, node.config) })
  }

  /** Removes every listener this registry and its scopes added, and refuses new ones. Returns how many. */
  dispose() {
    const node = this.#node
    if (node.disposed || isDisposed(node)) return 0
    const entries = collect(node, undefined, undefined)
    const nodes = []
    forEachNode(node, (n) => nodes.push(n))
    // Out of the tree first, so removals below do not walk it again.
    if (node.attached) node.parent.children.delete(node)
    // Disposed before the removals, so that a 'removeListener' handler
    // cannot add to a registry that is going away.
    for (const n of nodes) markDisposed(n)
    return removeEntries(entries)
  }

  [kDispose]() {
    this.dispose()
  }

  /** Whether this registry (or an ancestor) was disposed. */
  get disposed() {
    const node = this.#node
    return node.disposed || isDisposed(node)
  }

  /** Listeners per target and event, most numerous first. */
  report() {
    const groups = new Map() // EventState -> { target, event, count, topStack }
    for (const entry of collect(this.#node, undefined, undefined)) {
      let g = groups.get(entry.ev)
      if (g === undefined) {
        const target = entry.bucket.slot.ref.deref()
        if (target === undefined) continue
        g = { target, event: entry.ev.event, count: 0, topStack: topStackOf(entry.ev)[0] }
        groups.set(entry.ev, g)
      }
      g.count++
    }
    const entries = [...groups.values()].sort((a, b) => b.count - a.count)
    return { total: entries.reduce((sum, g) => sum + g.count, 0), entries }
  }

  get [Symbol.toStringTag]() {
    return 'ListenerRegistry'
  }

  /**
   * Express middleware: each request gets a scope of one registry, reached
   * with `ListenerRegistry.of(req)` (nothing is set on `req`, whose own
   * `listeners()` method stays), disposed once when the response finishes
   * or closes.
   */
  static express(options) {
    const registry = new ListenerRegistry(options)
    const middleware = function leaklessListeners(req, res, next) {
      let scope
      try {
        scope = registry.scope()
      } catch (err) {
        next(err)
        return
      }
      requestScopes.set(req, scope)
      let done = false
      const end = () => {
        if (done) return
        done = true
        res.removeListener('finish', end)
        res.removeListener('close', end)
        scope.dispose()
      }
      res.on('finish', end)
      res.on('close', end)
      next()
    }
    middleware.registry = registry
    return middleware
  }

  /** The scope `ListenerRegistry.express()` gave `req`. */
  static of(req) {
    const scope = req !== null && typeof req === 'object' ? requestScopes.get(req) : undefined
    if (scope === undefined) {
      throw leaklessError(
        TypeError,
        'ERR_LEAKLESS_NO_SCOPE',
        'ListenerRegistry.of(req): this request went through no ListenerRegistry.express() middleware',
      )
    }
    return scope
  }
}

// Request -> its scope, for ListenerRegistry.of(req).
const requestScopes = new WeakMap()

/** Totals over the live registries (roots and scopes) of this thread, for `leakless.stats()`. */
function registryTotals() {
  const totals = { instances: 0, listeners: 0 }
  live.forEach((node) => {
    if (node.disposed || isDisposed(node)) return
    sweep(node, false)
    totals.instances++
    totals.listeners += node.size
  })
  return totals
}

module.exports = { ListenerRegistry, registryTotals, WARNING_CODE }
