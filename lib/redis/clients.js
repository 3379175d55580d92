'use strict'

// What the near cache needs from a Redis client, for the two clients it
// supports: ioredis (5 and 6) and node-redis (5). Neither is required here:
// the caller passes a client, and the adapter is picked by its shape.
//
// The near cache opens its own connections with the caller's `duplicate()`,
// so they reach the same server with the same credentials and database, and
// changes them in three ways:
// - RESP2, so that invalidations redirected to the tracking connection arrive
//   as Pub/Sub messages on `__redis__:invalidate` (a RESP3 connection gets
//   them as `invalidate` pushes, which ioredis drops);
// - no automatic reconnection and no offline queue: tracking belongs to one
//   connection, so a lost connection is a lost tracking state, and the near
//   cache rebuilds both connections itself;
// - a connection name, so that `CLIENT LIST` shows what they are.

const { invalidArgType, invalidArgValue } = require('../common/errors')

const STRING = 36 // RESP_TYPES.BLOB_STRING in node-redis

/** Connects `conn`, a duplicate() of either client, with an 'error' listener (its errors are handled by the near cache). */
async function connected(conn) {
  conn.on('error', () => {})
  await conn.connect()
  return conn
}

const ioredis = {
  kind: 'ioredis',
  isReady: (client) => client.status === 'ready',
  keyPrefix: (client) =>
    client.options && typeof client.options.keyPrefix === 'string' ? client.options.keyPrefix : '',
  async open(client, name) {
    const conn = client.duplicate({
      lazyConnect: true,
      protocol: 2,
      retryStrategy: () => null,
      reconnectOnError: () => false,
      enableOfflineQueue: false,
      autoResubscribe: false,
      enableAutoPipelining: false,
      connectionName: name,
    })
    // Connection errors also arrive as 'close'; the listener connected() adds
    // keeps ioredis from printing them as unhandled.
    return connected(conn)
  },
  call: (conn, args) => conn.call(...args),
  callBuffer: (conn, args) => conn.callBuffer(...args),
  async subscribe(conn, channel, onMessage) {
    conn.on('messageBuffer', (ch, message) => {
      if (String(ch) === channel) onMessage(message)
    })
    await conn.subscribe(channel)
  },
  onLost(conn, fn) {
    conn.once('close', fn)
  },
  close(conn) {
    conn.disconnect()
  },
}

const nodeRedis = {
  kind: 'node-redis',
  isReady: (client) => client.isReady === true,
  keyPrefix: () => '',
  async open(client, name) {
    const socket = { ...(client.options && client.options.socket), reconnectStrategy: false }
    const conn = client.duplicate({
      socket,
      RESP: 2,
      name,
      disableOfflineQueue: true,
      clientSideCache: undefined,
      commandOptions: undefined,
      pingInterval: undefined,
    })
    return connected(conn)
  },
  call: (conn, args) => conn.sendCommand(args, { typeMapping: { [STRING]: String } }),
  callBuffer: (conn, args) => conn.sendCommand(args, { typeMapping: { [STRING]: Buffer } }),
  async subscribe(conn, channel, onMessage) {
    // `true`: the listener gets Buffers, so that an invalidation is never lost
    // to decoding; null (a flush) arrives as null.
    await conn.subscribe(channel, (message) => onMessage(message), true)
  },
  onLost(conn, fn) {
    let done = false
    const once = () => {
      if (!done) {
        done = true
        fn()
      }
    }
    // With reconnection off, a dropped socket shows as an 'error' ("Socket
    // closed unexpectedly") and the client stays closed.
    conn.on('error', once)
    conn.on('end', once)
  },
  close(conn) {
    if (typeof conn.destroy === 'function') conn.destroy()
    else conn.disconnect()
  },
}

/** The adapter for `client`, or an ERR_INVALID_ARG_TYPE (ERR_INVALID_ARG_VALUE for a cluster) naming `options.client`. */
function adapterFor(client) {
  if (client !== null && typeof client === 'object' && client.isCluster === true) {
    // Tracking and its redirection are per node; a cluster client spreads keys over many.
    throw invalidArgValue('options.client', 'is an ioredis Cluster, which the near cache does not support', client)
  }
  if (client !== null && typeof client === 'object' && typeof client.duplicate === 'function') {
    if (typeof client.callBuffer === 'function' && typeof client.status === 'string') return ioredis
    if (typeof client.sendCommand === 'function' && 'isReady' in client) return nodeRedis
  }
  throw invalidArgType('options.client', 'a connected ioredis or node-redis 5 client', client)
}

module.exports = { adapterFor }
