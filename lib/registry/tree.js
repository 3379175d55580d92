'use strict'

// The scope tree: which scopes a parent holds, disposal reaching down the
// tree, sweeping the slots of collected targets, and the live set behind
// `leakless.stats()`.

const { LiveSet } = require('../common/tracker')
const { leaklessError } = require('../common/errors')
const { MIN_SWEEP } = require('./model')

const live = new LiveSet()

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

module.exports = {
  live,
  attach,
  isDisposed,
  markDisposed,
  disposedError,
  sweep,
  scheduleSweep,
  forEachNode,
  registryTotals,
}
