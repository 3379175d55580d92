'use strict'

// ListenerRegistry.express(): a scope per request, disposed once when the
// response finishes or closes.

/** The middleware for `registry`: `req.listeners` is a scope of it. */
function expressMiddleware(registry) {
  const middleware = function leaklessListeners(req, res, next) {
    let scope
    try {
      scope = registry.scope()
    } catch (err) {
      next(err)
      return
    }
    req.listeners = scope
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

module.exports = { expressMiddleware }
