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
//
// Files: model.js (the records), tree.js (scopes, disposal, sweeping, the
// live set), listeners.js (add and remove), signals.js (the signal option),
// leaks.js (stacks, warnings, refusals), express.js (the middleware).

const {
  invalidArgType,
  outOfRange,
  validateFunction,
  validateInteger,
  validateObject,
  validateOptionalFunction,
} = require('../common/errors')
const { kDispose } = require('../common/dispose')
const { RegistryNode } = require('./model')
const { live, isDisposed, markDisposed, disposedError, sweep, forEachNode, registryTotals } = require('./tree')
const { add, collect, removeEntry, removeEntries, validateTarget, validateFilter } = require('./listeners')
const { validateSignal } = require('./signals')
const { WARNING_CODE, topStackOf } = require('./leaks')
const { expressMiddleware, scopeOf } = require('./express')

const kNode = Symbol('leakless.registryNode')
const DEFAULT_MAX_LISTENERS = 10

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
    validateFilter(target, event)
    return removeEntries(collect(this.#node, target, event))
  }

  /** How many listeners (of `target`, of `event`) this registry and its scopes hold. */
  count(target, event) {
    validateFilter(target, event)
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
    return expressMiddleware(new ListenerRegistry(options))
  }

  /** The scope `ListenerRegistry.express()` gave `req`. */
  static of(req) {
    return scopeOf(req)
  }
}

module.exports = { ListenerRegistry, registryTotals, WARNING_CODE }
