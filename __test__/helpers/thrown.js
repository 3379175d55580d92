'use strict'

// For the Jest tests, which check errors by `code` and `name`: under Jest
// the package may come from another realm than the test, so `instanceof`
// and toThrow(Class) cannot be trusted.

/** What `fn` throws; fails the test when it returns. */
function thrown(fn) {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

/** The dispose symbol leakless uses: Symbol.dispose, or Node 20's stand-in. */
const kDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')

module.exports = { thrown, kDispose }
