'use strict'

// In your app: require('leakless'). Here the example runs from a checkout of
// leakless itself (node examples/piscina/run.js) or from a project that installed
// it (the e2e test), so it takes whichever is there.
module.exports = (() => {
  try {
    return require('leakless')
  } catch {
    return require('../..')
  }
})()
