'use strict'

// The three primitives under AVA (which runs each file in its own process).

const test = require('ava')
const { EventEmitter } = require('node:events')
const leakless = require('leakless')
const { LRU, BufferPool, ListenerRegistry } = leakless

test('LRU evicts the least recently used', (t) => {
  const cache = new LRU({ max: 2 })
  cache.set('a', 1).set('b', 2)
  cache.get('a')
  cache.set('c', 3)
  t.deepEqual([...cache.keys()], ['c', 'a'])
  t.is(cache.stats().evictions, 1)
})

test('BufferPool: acquire, release, using', async (t) => {
  const pool = new BufferPool({ bufferSize: 4096, maxBytes: 1024 * 1024 })
  const buf = pool.acquire()
  t.is(buf.length, 4096)
  buf.fill(7)
  pool.release(buf)
  t.is(buf.length, 0)
  const again = pool.acquire()
  t.true(
    again.every((b) => b === 0),
    'a reused Buffer is zero-filled',
  )
  pool.release(again)
  await pool.using(100, async (b) => t.is(b.length, 100))
  t.is(pool.stats().inUse, 0)
  t.true(pool.stats().acquired >= 3)
  pool.close()
})

test('ListenerRegistry: disposers, once, and leakless.stats()', (t) => {
  const bus = new EventEmitter()
  const reg = new ListenerRegistry({ maxListeners: 5 })
  let calls = 0
  const off = reg.on(bus, 'tick', () => calls++)
  reg.once(bus, 'tick', () => calls++)
  bus.emit('tick')
  bus.emit('tick')
  t.is(calls, 3)
  t.is(reg.count(), 1)
  t.true(leakless.stats().registries.listeners >= 1)
  t.true(off())
  t.false(off())
  t.is(bus.listenerCount('tick'), 0)
})
