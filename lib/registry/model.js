'use strict'

// The records a ListenerRegistry is made of (see index.js for the layout):
// per root and target a TargetRecord with one EventState per event, per
// node and target a Slot and a Bucket of Entries.

const KIND_ON = 0 // on / off (EventEmitter and look-alikes, Node's MessagePort)
const KIND_ADD_LISTENER = 1 // addListener / removeListener
const KIND_EVENT_TARGET = 2 // addEventListener / removeEventListener

const EVENT_LIST_MAX = 16 // events per target kept in an array before a Map takes over
const MIN_SWEEP = 16

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

module.exports = {
  KIND_ON,
  KIND_ADD_LISTENER,
  KIND_EVENT_TARGET,
  MIN_SWEEP,
  TargetRecord,
  Slot,
  Bucket,
  Entry,
  Extra,
  RegistryNode,
  eventState,
}
