'use strict'

// A representative subset under Jest. Errors are checked by `code` and
// `name`: under Jest the package may come from another realm than the test.

const { EventEmitter, getEventListeners } = require('node:events')
const { ListenerRegistry, stats } = require('../..')

const { thrown, kDispose } = require('../helpers/thrown')

test('on returns a disposer; dispose removes the listener once', () => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const got = []
  const off = reg.on(bus, 'data', (v) => got.push(v))
  bus.emit('data', 1)
  expect(got).toEqual([1])
  expect(typeof off[kDispose]).toBe('function')
  expect(off()).toBe(true)
  expect(off()).toBe(false)
  expect(bus.listenerCount('data')).toBe(0)
})

test('once fires once and is forgotten', () => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const fn = jest.fn()
  reg.once(bus, 'x', fn)
  bus.emit('x')
  bus.emit('x')
  expect(fn).toHaveBeenCalledTimes(1)
  expect(reg.count()).toBe(0)
})

test('EventTarget with a signal: abort removes the listener and the hook', () => {
  const reg = new ListenerRegistry()
  const target = new EventTarget()
  const ac = new AbortController()
  reg.on(target, 'ping', () => {}, { signal: ac.signal })
  expect(getEventListeners(target, 'ping')).toHaveLength(1)
  ac.abort()
  expect(getEventListeners(target, 'ping')).toHaveLength(0)
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
  expect(reg.on(target, 'ping', () => {}, { signal: ac.signal })()).toBe(false)
})

test('scopes nested three deep dispose together', () => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const a = reg.scope()
  const b = a.scope()
  const c = b.scope()
  for (const r of [reg, a, b, c]) r.on(bus, 'x', () => {})
  expect(a.dispose()).toBe(3)
  expect(bus.listenerCount('x')).toBe(1)
  const err = thrown(() => c.on(bus, 'x', () => {}))
  expect(err.code).toBe('ERR_LEAKLESS_DISPOSED')
  expect(reg.dispose()).toBe(1)
})

test('onLeak reports the count and the registering file; refusal past refuseAt', () => {
  const reports = []
  const reg = new ListenerRegistry({ maxListeners: 2, refuseAt: 4, onLeak: (r) => reports.push(r) })
  const bus = new EventEmitter()
  const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})
  try {
    for (let i = 0; i < 4; i++) reg.on(bus, 'x', () => {})
    const err = thrown(() => reg.on(bus, 'x', () => {}))
    expect(err.name).toBe('RangeError')
    expect(err.code).toBe('ERR_LEAKLESS_TOO_MANY_LISTENERS')
    expect(warn).toHaveBeenCalled()
    expect(warn.mock.calls[0][1]).toEqual({ type: 'LeaklessWarning', code: 'LEAKLESS_LISTENER_LEAK' })
  } finally {
    warn.mockRestore()
  }
  expect(reports.map((r) => r.count)).toEqual([3, 4])
  expect(reports[0].target).toBe(bus)
  expect(reports[0].topStack).toContain('registry.test.js')
  expect(reg.count()).toBe(4)
  reg.dispose()
})

test.each([
  ['listener', (reg, bus) => reg.on(bus, 'x', 'nope'), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
  ['event', (reg, bus) => reg.on(bus, 1, () => {}), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
  ['target', (reg) => reg.on({}, 'x', () => {}), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
  ['options', (reg, bus) => reg.on(bus, 'x', () => {}, { once: 'yes' }), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
  ['maxListeners', () => new ListenerRegistry({ maxListeners: 0 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
  ['refuseAt', () => new ListenerRegistry({ maxListeners: 3, refuseAt: 2 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
])('bad %s', (_, fn, name, code) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const err = thrown(() => fn(reg, bus))
  expect(err.name).toBe(name)
  expect(err.code).toBe(code)
  expect(reg.count()).toBe(0)
})

test('stats() counts live registries and their listeners', () => {
  const before = stats().registries
  const reg = new ListenerRegistry()
  reg.on(new EventEmitter(), 'x', () => {})
  expect(stats().registries.listeners - before.listeners).toBe(1)
  reg.dispose()
  expect(stats().registries).toEqual(before)
})
