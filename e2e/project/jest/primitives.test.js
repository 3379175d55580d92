'use strict'

// The three primitives under Jest. Jest loads the addon through Node's own
// require, so errors come from another realm: assert on name and code.

const { EventEmitter } = require('node:events')
const leakless = require('leakless')
const { LRU, BufferPool, ListenerRegistry } = leakless

test('LRU is a bounded Map', () => {
  const cache = new LRU({ max: 2 })
  cache.set('a', 1).set('b', 2).set('c', 3)
  expect([...cache.keys()]).toEqual(['c', 'b'])
  expect(() => new LRU({})).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_LEAKLESS_UNBOUNDED' }))
})

test('off-heap LRU accounts its bytes and gives them back', () => {
  const before = leakless.stats().externalBytes
  const cache = new LRU({ maxSize: 2 ** 20, storage: 'offheap' })
  cache.set('k', Buffer.alloc(1000, 1))
  expect(leakless.stats().externalBytes).toBeGreaterThan(before)
  expect(cache.get('k').length).toBe(1000)
  cache.clear()
  expect(leakless.stats().externalBytes).toBe(before)
})

test('BufferPool lends Buffers and empties released ones', async () => {
  const pool = new BufferPool({ bufferSize: 1024, maxBytes: 64 * 1024 })
  const buf = pool.acquire(100)
  expect(buf.length).toBe(100)
  expect(buf.every((b) => b === 0)).toBe(true)
  pool.release(buf)
  expect(buf.length).toBe(0)
  expect(() => pool.release(buf)).toThrow(expect.objectContaining({ name: 'TypeError' }))
  const seen = await pool.using(512, async (b) => b.length)
  expect(seen).toBe(512)
  expect(pool.stats().inUse).toBe(0)
  pool.close()
})

test('ListenerRegistry removes what a scope added', () => {
  const bus = new EventEmitter()
  const reg = new ListenerRegistry()
  const scope = reg.scope()
  scope.on(bus, 'x', () => {})
  scope.on(bus, 'x', () => {})
  expect(bus.listenerCount('x')).toBe(2)
  expect(scope.dispose()).toBe(2)
  expect(bus.listenerCount('x')).toBe(0)
})
