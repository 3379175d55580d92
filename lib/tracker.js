'use strict'

// Live instances of one kind of structure, held weakly, so that
// `leakless.stats()` can sum what the living ones hold without keeping any
// of them alive. Collected instances drop out when their WeakRef empties;
// the FinalizationRegistry only prunes the set, it is never needed for a
// correct answer.

class LiveSet {
  #refs = new Set()
  #registry = new FinalizationRegistry((ref) => this.#refs.delete(ref))

  add(instance) {
    const ref = new WeakRef(instance)
    this.#refs.add(ref)
    this.#registry.register(instance, ref, ref)
    return ref
  }

  delete(ref) {
    this.#refs.delete(ref)
    this.#registry.unregister(ref)
  }

  /** Calls `fn(instance)` for each instance still alive. */
  forEach(fn) {
    for (const ref of this.#refs) {
      const instance = ref.deref()
      if (instance === undefined) this.#refs.delete(ref)
      else fn(instance)
    }
  }
}

module.exports = { LiveSet }
