'use strict'

// The load the demo and the soak drive at a server on 127.0.0.1, and a plain
// GET for checking answers. Every load is bounded in requests and in time.

const http = require('node:http')
const autocannon = require('autocannon')

// Bounds on every load: runs counted in requests stop after this long
// whatever the count, and timed runs (bounded by their duration) after this
// many requests.
const MAX_LOAD_MS = 10 * 60_000
const MAX_REQUESTS = 50_000_000

// GET /report/<id>?t=<n>: ids cycle through 500, and `t` is new on every
// request of the process (warm-up included), as a client's cache-busting
// parameter is.
let sent = 0

/** Drives `seconds` of load, or `requests` requests, over `connections`. */
function load(port, { seconds, requests, connections }) {
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    ...(requests === undefined ? { duration: seconds, maxOverallRequests: MAX_REQUESTS } : { amount: requests }),
    requests: [
      {
        method: 'GET',
        setupRequest(req) {
          sent++
          req.path = `/report/${sent % 500}?t=${sent}`
          return req
        },
      },
    ],
  })
  if (requests === undefined) return instance
  const bound = setTimeout(() => instance.stop(), MAX_LOAD_MS)
  return Promise.resolve(instance).finally(() => clearTimeout(bound))
}

/** One GET on 127.0.0.1: `{ status, body }`. */
function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)))
    req.on('error', reject)
  })
}

module.exports = { load, get }
