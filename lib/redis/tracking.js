'use strict'

// The two connections behind a near cache, and the one state that matters:
// whether every key the data connection reads is being tracked right now.
//
// - The tracking connection subscribes to `__redis__:invalidate`.
// - The data connection runs `CLIENT TRACKING on REDIRECT <tracking id>
//   NOLOOP`: from then on, Redis sends the name of every key that
//   connection read to the tracking connection as soon as anyone changes it
//   (NOLOOP: except the writes the data connection makes itself, whose
//   results the near cache already knows).
//
// Tracking lives and dies with a connection: when either drops (Redis
// restarted, `CLIENT KILL`, a network fault), invalidations may have been
// lost, so `onLost` runs once and the tracker reopens both connections from
// scratch with a growing delay, until `close()`.
//
// A connection can also die without closing (a host gone, a network cut: no
// FIN ever arrives). The tracking connection is therefore PINGed every
// `heartbeatMs`; a PING still unanswered at the next beat counts as a loss.

const CHANNEL = '__redis__:invalidate'
const RETRY_MIN_MS = 25
const RETRY_MAX_MS = 2000

class Tracker {
  /**
   * @param {object} adapter from clients.js
   * @param {object} client the caller's connected client (never closed here)
   * @param {{ onInvalidate(keys: Buffer[] | null): void, onLost(): void, onActive(): void }} handlers
   */
  constructor(adapter, client, handlers, heartbeatMs) {
    this.adapter = adapter
    this.heartbeatMs = heartbeatMs
    this.client = client
    this.handlers = handlers
    this.data = null
    this.active = false
    this.closed = false
    this.lastError = null
    this._tracking = null
    this._round = 0
    this._retryMs = RETRY_MIN_MS
    this._timer = null
    this._heartbeat = null
    this._firstOpen = null
  }

  /** Opens the connections; resolves once the first attempt settled (tracking or not). */
  start() {
    this._firstOpen = this._open()
    return this._firstOpen
  }

  async _open() {
    const round = ++this._round
    const { adapter, client } = this
    let tracking = null
    let data = null
    const lost = () => this._lost(round)
    try {
      tracking = await adapter.open(client, 'leakless-near-cache-tracking')
      adapter.onLost(tracking, lost)
      if (this._stale(round, tracking)) return
      const id = await adapter.call(tracking, ['CLIENT', 'ID'])
      await adapter.subscribe(tracking, CHANNEL, (message) => {
        if (round === this._round && this.active) this.handlers.onInvalidate(message)
      })
      data = await adapter.open(client, 'leakless-near-cache-data')
      adapter.onLost(data, lost)
      if (this._stale(round, tracking, data)) return
      await adapter.call(data, ['CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'NOLOOP'])
      if (this._stale(round, tracking, data)) return
    } catch (err) {
      this.lastError = err
      if (round === this._round) {
        this._closeConnections(tracking, data)
        this._retry()
      }
      return
    }
    this._tracking = tracking
    this.data = data
    this.active = true
    this.lastError = null
    this._retryMs = RETRY_MIN_MS
    this._beat(round, tracking)
    this.handlers.onActive()
  }

  /** PINGs `tracking` every heartbeatMs; no answer by the next beat is a lost connection. */
  _beat(round, tracking) {
    let waiting = false
    this._heartbeat = setInterval(() => {
      if (round !== this._round) return
      if (waiting) {
        this.lastError = new Error(`the tracking connection did not answer PING within ${this.heartbeatMs} ms`)
        this._lost(round)
        return
      }
      waiting = true
      this.adapter.call(tracking, ['PING']).then(
        () => (waiting = false),
        () => this._lost(round),
      )
    }, this.heartbeatMs)
    this._heartbeat.unref()
  }

  _stopBeat() {
    if (this._heartbeat !== null) clearInterval(this._heartbeat)
    this._heartbeat = null
  }

  /** True (and the connections closed) when this opening was overtaken by close() or a loss. */
  _stale(round, ...conns) {
    if (round === this._round && !this.closed) return false
    this._closeConnections(...conns)
    return true
  }

  _lost(round) {
    if (round !== this._round || this.closed) return
    // Invalidate everything first: from this instant no reply may be stored.
    this._round++
    this._stopBeat()
    const wasActive = this.active
    this.active = false
    const { _tracking: tracking, data } = this
    this._tracking = null
    this.data = null
    this._closeConnections(tracking, data)
    if (wasActive) this.handlers.onLost()
    this._retry()
  }

  _retry() {
    if (this.closed || this._timer !== null) return
    const delay = this._retryMs
    this._retryMs = Math.min(this._retryMs * 2, RETRY_MAX_MS)
    this._timer = setTimeout(() => {
      this._timer = null
      if (!this.closed) this._open()
    }, delay)
    // A near cache waiting to reconnect never keeps the process alive.
    this._timer.unref()
  }

  _closeConnections(...conns) {
    for (const conn of conns) {
      if (conn === null) continue
      try {
        this.adapter.close(conn)
      } catch {
        // Already closed: nothing left to release.
      }
    }
  }

  /** Closes the near cache's own connections; the caller's client is left alone. */
  close() {
    if (this.closed) return
    this.closed = true
    this._round++
    this._stopBeat()
    this.active = false
    if (this._timer !== null) clearTimeout(this._timer)
    this._timer = null
    this._closeConnections(this._tracking, this.data)
    this._tracking = null
    this.data = null
  }
}

module.exports = { Tracker, CHANNEL }
