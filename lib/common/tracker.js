'use strict'

// Live instances of one kind of structure, for `leakless.stats()`.
//
// Each instance owns a small plain "cell" object holding the figures stats
// needs (entry counts, native ids); the set holds the cells, never the
// instances, so it keeps nothing alive and never has to `deref()` a WeakRef
// (a deref keeps its target alive until the current job ends, which under
// some test runners is much later). When an instance is collected, a
// FinalizationRegistry drops its cell; until then its figures still count.

class LiveSet {
  #cells = new Set()
  #registry = new FinalizationRegistry((cell) => {
    this.#cells.delete(cell)
    if (typeof cell.onCollected === 'function') cell.onCollected()
  })

  /** Tracks `instance` through `cell`, which must not reference the instance. */
  add(instance, cell) {
    this.#cells.add(cell)
    this.#registry.register(instance, cell, cell)
    return cell
  }

  /** Stops tracking (for structures closed explicitly). */
  delete(cell) {
    this.#cells.delete(cell)
    this.#registry.unregister(cell)
  }

  get size() {
    return this.#cells.size
  }

  /** Calls `fn(cell)` for each tracked instance not yet collected. */
  forEach(fn) {
    for (const cell of this.#cells) fn(cell)
  }
}

module.exports = { LiveSet }
