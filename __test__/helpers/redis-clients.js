'use strict'

// Connected clients of both kinds the near cache supports, for the tests and
// the bench. `options.offlineQueue: false` makes commands fail at once while
// the server is down instead of waiting for it.

const Redis = require('ioredis')
const { createClient } = require('redis')

const KINDS = ['ioredis', 'node-redis']

async function connectClient(kind, port, { offlineQueue = true, ...rest } = {}) {
  if (kind === 'ioredis') {
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      enableOfflineQueue: offlineQueue,
      maxRetriesPerRequest: offlineQueue ? 20 : 0,
      retryStrategy: () => 20,
      ...rest,
    })
    client.on('error', () => {})
    await client.connect()
    return { client, close: () => client.disconnect() }
  }
  if (kind === 'node-redis') {
    const client = createClient({
      socket: { host: '127.0.0.1', port, reconnectStrategy: () => 20 },
      disableOfflineQueue: !offlineQueue,
      ...rest,
    })
    client.on('error', () => {})
    await client.connect()
    return { client, close: () => client.destroy() }
  }
  throw new Error(`unknown client kind ${kind}`)
}

module.exports = { KINDS, connectClient }
