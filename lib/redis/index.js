'use strict'

// `require('leakless/redis')`: a near cache over Redis or Valkey for an
// ioredis or node-redis 5 client the caller owns. Neither client is a
// dependency of leakless.

const { NearCache } = require('./near-cache')

module.exports = { NearCache }
