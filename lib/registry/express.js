'use strict'

// ListenerRegistry.express(): a scope per request, disposed once when the
// response finishes or closes, and reached with ListenerRegistry.of(req).
// Nothing is set on `req`, whose own `listeners()` method stays.

const { leaklessError } = require('../common/errors')

// Request -> its scope, for ListenerRegistry.of(req).
const requestScopes = new WeakMap()

/** The middleware for `registry`: each request gets a scope of it. */
function expressMiddleware(registry) {
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

/** The scope the middleware gave `req`. */
function scopeOf(req) {
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

module.exports = { expressMiddleware, scopeOf }
