'use strict'

// `Symbol.dispose` (for `using`) exists in recent Node releases only; older
// ones know it as Symbol.for('nodejs.dispose'). Every disposable object
// defines its method under this one key.
const kDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')

module.exports = { kDispose }
