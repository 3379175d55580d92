'use strict'

// A TCP proxy in front of a Redis server that can hold back the replies of
// one connection. The tests use it to put a reply in flight on purpose: the
// near cache's GET has been answered by Redis, but the answer has not reached
// the near cache yet, while an invalidation on its other connection has.
//
// Connections are recognised by the name the near cache gives them
// (`CLIENT SETNAME leakless-near-cache-data` or `-tracking`), which passes
// through the proxy on connect.

const net = require('node:net')

class Link {
  constructor(client, upstream) {
    this.client = client
    this.upstream = upstream
    this.name = ''
    this.sent = '' // client -> server, as text
    this.received = '' // server -> client, as text (held bytes included)
    this.holding = false
    this.held = []
  }
}

class RedisProxy {
  constructor(targetPort) {
    this.targetPort = targetPort
    this.links = []
    this._hold = new Set()
    this._server = net.createServer((client) => this._accept(client))
  }

  async listen() {
    await new Promise((resolve) => this._server.listen(0, '127.0.0.1', resolve))
    this.port = this._server.address().port
    return this.port
  }

  _accept(client) {
    const upstream = net.connect(this.targetPort, '127.0.0.1')
    // Without this, a small write can wait for a delayed ACK (40 ms on Linux loopback).
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    const link = new Link(client, upstream)
    this.links.push(link)
    client.on('data', (chunk) => {
      link.sent += chunk.toString('latin1')
      const named = /leakless-near-cache-(data|tracking)/.exec(link.sent)
      if (named && link.name === '') {
        link.name = named[0]
        if (this._hold.has(link.name)) link.holding = true
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      link.received += chunk.toString('latin1')
      if (link.holding) link.held.push(chunk)
      else client.write(chunk)
    })
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end)
    upstream.on('close', end)
    client.on('error', end)
    upstream.on('error', end)
  }

  /** The open connection named `name` (the latest one). */
  link(name) {
    const open = this.links.filter((l) => l.name === name && !l.client.destroyed)
    if (open.length === 0) throw new Error(`no open ${name} connection through the proxy`)
    return open.at(-1)
  }

  /** From now on, replies to the `name` connection stay in the proxy until release(). */
  hold(name) {
    this._hold.add(name)
    for (const l of this.links) if (l.name === name) l.holding = true
  }

  release(name) {
    this._hold.delete(name)
    for (const l of this.links) {
      if (l.name !== name) continue
      l.holding = false
      for (const chunk of l.held.splice(0)) l.client.write(chunk)
    }
  }

  /** Resolves once Redis sent `text` to the `name` connection (held or not), counting from `from`. */
  async waitForReply(name, text, from = 0) {
    while (!this.link(name).received.includes(text, from)) await new Promise((resolve) => setTimeout(resolve, 1))
  }

  close() {
    for (const l of this.links) {
      l.client.destroy()
      l.upstream.destroy()
    }
    return new Promise((resolve) => this._server.close(resolve))
  }
}

module.exports = { RedisProxy }
