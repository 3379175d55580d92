'use strict'

const test = require('ava')
const http = require('node:http')
const path = require('node:path')
const { EventEmitter, getEventListeners } = require('node:events')
const { setImmediate: immediate } = require('node:timers/promises')
const express = require('express')

const { ListenerRegistry, stats } = require('..')
const { resetWarnings } = require('../lib/common/warnings')

const kDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')
const THIS_FILE = path.basename(__filename)

/** Line number of the caller. */
function callerLine() {
  const frame = new Error().stack.split('\n')[2]
  return Number(/:(\d+):\d+\)?$/.exec(frame)[1])
}

/** Collects LeaklessWarnings emitted while `fn` runs (and one turn after). */
async function captureWarnings(fn) {
  const seen = []
  const onWarning = (w) => {
    if (w.name === 'LeaklessWarning') seen.push(w)
  }
  process.on('warning', onWarning)
  try {
    await fn()
    await immediate()
    await immediate()
  } finally {
    process.off('warning', onWarning)
  }
  return seen
}

/** Forces collection until `ref` empties (WeakRefs hold their target until the end of a turn). */
async function collected(ref) {
  for (let i = 0; i < 30 && ref.deref() !== undefined; i++) {
    await immediate()
    global.gc()
  }
  return ref.deref() === undefined
}

async function settledHeap() {
  for (let i = 0; i < 4; i++) {
    await immediate()
    global.gc()
  }
  return process.memoryUsage().heapUsed
}

// ---------------------------------------------------------------- targets

test('EventEmitter: on returns a disposer that removes the listener once', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const got = []
  const off = reg.on(bus, 'data', (a, b) => got.push([a, b]))
  t.is(typeof off, 'function')
  t.is(typeof off[kDispose], 'function')
  t.is(bus.listenerCount('data'), 1)
  t.is(reg.count(), 1)
  bus.emit('data', 1, 2)
  t.deepEqual(got, [[1, 2]])
  t.true(off())
  t.false(off())
  t.is(bus.listenerCount('data'), 0)
  t.is(reg.count(), 0)
  bus.emit('data', 3, 4)
  t.deepEqual(got, [[1, 2]])
})

test('EventEmitter: listeners run with the emitter as this, and the raw listener is what is attached', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  let self
  const fn = function () {
    self = this
  }
  reg.on(bus, 'x', fn)
  t.deepEqual(bus.rawListeners('x'), [fn])
  bus.emit('x')
  t.is(self, bus)
})

// One counting listener registered twice for `event` on `target`, through a
// new registry; `counter.calls` counts its calls.
function registeredTwice(target, event) {
  const reg = new ListenerRegistry()
  const counter = { calls: 0 }
  const fn = () => counter.calls++
  return { reg, counter, offs: [reg.on(target, event, fn), reg.on(target, event, fn)] }
}

test('EventEmitter: the same listener twice is two registrations, each removed by its own disposer', (t) => {
  const bus = new EventEmitter()
  const { reg, counter, offs } = registeredTwice(bus, 'x')
  const [off1, off2] = offs
  bus.emit('x')
  t.is(counter.calls, 2)
  t.true(off1())
  t.is(bus.listenerCount('x'), 1)
  t.true(off2())
  t.is(bus.listenerCount('x'), 0)
  t.is(reg.count(), 0)
})

test('EventTarget: attached through addEventListener and removed by the disposer', (t) => {
  const reg = new ListenerRegistry()
  const target = new EventTarget()
  const got = []
  const off = reg.on(target, 'ping', (event) => got.push(event.type))
  t.is(getEventListeners(target, 'ping').length, 1)
  target.dispatchEvent(new Event('ping'))
  t.deepEqual(got, ['ping'])
  t.true(off())
  t.is(getEventListeners(target, 'ping').length, 0)
  target.dispatchEvent(new Event('ping'))
  t.deepEqual(got, ['ping'])
})

test('EventTarget: one listener registered twice is attached twice and removed one at a time', (t) => {
  const target = new EventTarget()
  const { counter, offs } = registeredTwice(target, 'ping')
  const [off1, off2] = offs
  t.is(getEventListeners(target, 'ping').length, 2)
  off1()
  target.dispatchEvent(new Event('ping'))
  t.is(counter.calls, 1)
  off2()
  t.is(getEventListeners(target, 'ping').length, 0)
})

test('AbortSignal as a target', (t) => {
  const reg = new ListenerRegistry()
  const ac = new AbortController()
  let aborted = 0
  const off = reg.on(ac.signal, 'abort', () => aborted++)
  t.is(getEventListeners(ac.signal, 'abort').length, 1)
  ac.abort()
  t.is(aborted, 1)
  t.true(off())
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
})

test('MessagePort: Node-style on/off, so the listener gets the message value', async (t) => {
  const reg = new ListenerRegistry()
  const { port1, port2 } = new MessageChannel()
  try {
    const got = new Promise((resolve) => reg.on(port1, 'message', resolve))
    port2.postMessage({ hello: 'world' })
    t.deepEqual(await got, { hello: 'world' })
    t.is(getEventListeners(port1, 'message').length, 1)
    t.is(reg.dispose(), 1)
    t.is(getEventListeners(port1, 'message').length, 0)
  } finally {
    port1.close()
    port2.close()
  }
})

// A target with only the two methods named, which records its calls as
// [method, event, listener].
function recordingTarget(add, remove) {
  const calls = []
  const target = {
    [add]: (event, fn) => calls.push([add, event, fn]),
    [remove]: (event, fn) => calls.push([remove, event, fn]),
  }
  return { target, calls }
}

test('any object with on/off', (t) => {
  const { target, calls } = recordingTarget('on', 'off')
  const reg = new ListenerRegistry()
  const fn = () => {}
  const off = reg.on(target, 'e', fn)
  off()
  t.deepEqual(calls, [
    ['on', 'e', fn],
    ['off', 'e', fn],
  ])
})

test('any object with addListener/removeListener', (t) => {
  const { target, calls } = recordingTarget('addListener', 'removeListener')
  const reg = new ListenerRegistry()
  const fn = () => {}
  reg.on(target, 'e', fn)
  t.is(reg.dispose(), 1)
  t.deepEqual(calls, [
    ['addListener', 'e', fn],
    ['removeListener', 'e', fn],
  ])
})

test('symbol event names on an EventEmitter', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const sym = Symbol('evt')
  let calls = 0
  reg.on(bus, sym, () => calls++)
  bus.emit(sym)
  t.is(calls, 1)
  t.is(reg.count(bus, sym), 1)
  t.is(reg.removeAll(bus, sym), 1)
  t.is(bus.listenerCount(sym), 0)
})

// ------------------------------------------------------------------ once

test('once: fires once and is forgotten by the registry', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const got = []
  const fn = (v) => got.push(v)
  const off = reg.once(bus, 'x', fn)
  t.deepEqual(bus.listeners('x'), [fn], 'listeners() sees through the wrapper, as with emitter.once')
  bus.emit('x', 1)
  bus.emit('x', 2)
  t.deepEqual(got, [1])
  t.is(reg.count(), 0)
  t.is(bus.listenerCount('x'), 0)
  t.false(off(), 'a fired once listener is already gone')
})

test('once through the on option, on an EventTarget', (t) => {
  const reg = new ListenerRegistry()
  const target = new EventTarget()
  let calls = 0
  reg.on(target, 'ping', () => calls++, { once: true })
  target.dispatchEvent(new Event('ping'))
  target.dispatchEvent(new Event('ping'))
  t.is(calls, 1)
  t.is(reg.count(), 0)
  t.is(getEventListeners(target, 'ping').length, 0)
})

test('once: disposed before it fires', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const off = reg.once(bus, 'x', () => t.fail())
  t.true(off())
  bus.emit('x')
  t.is(bus.listenerCount('x'), 0)
})

test('a listener that throws behaves as without the registry', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const boom = new Error('boom')
  reg.on(bus, 'x', () => {
    throw boom
  })
  t.is(
    t.throws(() => bus.emit('x')),
    boom,
  )
  t.is(reg.count(), 1, 'a plain listener stays, as with emitter.on')

  reg.once(bus, 'y', () => {
    throw boom
  })
  t.is(
    t.throws(() => bus.emit('y')),
    boom,
  )
  t.is(reg.count(bus, 'y'), 0, 'a once listener is forgotten even when it throws')
  t.is(bus.listenerCount('y'), 0)
})

// ---------------------------------------------------------------- signal

test('signal: aborting removes the listener and the abort hook', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const ac = new AbortController()
  const off = reg.on(bus, 'x', () => {}, { signal: ac.signal })
  t.is(bus.listenerCount('x'), 1)
  t.is(getEventListeners(ac.signal, 'abort').length, 1)
  ac.abort()
  t.is(bus.listenerCount('x'), 0)
  t.is(reg.count(), 0)
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  t.false(off())
})

test('signal: removing the listener removes the abort hook from a long-lived signal', (t) => {
  const reg = new ListenerRegistry()
  const target = new EventTarget()
  const ac = new AbortController()
  for (let i = 0; i < 50; i++) reg.on(target, 'ping', () => {}, { signal: ac.signal })()
  const off = reg.once(new EventEmitter(), 'x', () => {}, { signal: ac.signal })
  t.is(getEventListeners(ac.signal, 'abort').length, 1)
  off()
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  reg.on(target, 'ping', () => {}, { signal: ac.signal })
  t.is(reg.dispose(), 1)
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  t.is(getEventListeners(target, 'ping').length, 0)
})

test('signal: a once listener that fires takes its abort hook with it', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const ac = new AbortController()
  reg.once(bus, 'x', () => {}, { signal: ac.signal })
  bus.emit('x')
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
})

test('signal: an already aborted signal adds nothing', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const off = reg.on(bus, 'x', () => {}, { signal: AbortSignal.abort() })
  t.is(bus.listenerCount('x'), 0)
  t.is(reg.count(), 0)
  t.is(typeof off, 'function')
  t.is(typeof off[kDispose], 'function')
  t.false(off())
})

// ---------------------------------------------------------------- scopes

test('scopes nested three deep: disposing one disposes its descendants only', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const a = reg.scope()
  const b = a.scope()
  const c = b.scope()
  reg.on(bus, 'x', () => {})
  a.on(bus, 'x', () => {})
  b.on(bus, 'x', () => {})
  b.on(bus, 'y', () => {})
  c.on(bus, 'x', () => {})
  t.is(reg.count(), 5)
  t.is(a.count(), 4)
  t.is(b.count(), 3)
  t.is(c.count(), 1)
  t.is(reg.count(bus, 'x'), 4)

  t.is(a.dispose(), 4)
  t.is(bus.listenerCount('x'), 1)
  t.is(bus.listenerCount('y'), 0)
  t.is(reg.count(), 1)
  t.true(a.disposed)
  t.true(b.disposed)
  t.true(c.disposed)
  t.false(reg.disposed)
  t.is(c.dispose(), 0)
  t.is(a.dispose(), 0)
  for (const r of [a, b, c]) {
    const err = t.throws(() => r.on(bus, 'x', () => {}))
    t.is(err.code, 'ERR_LEAKLESS_DISPOSED')
    t.is(t.throws(() => r.scope()).code, 'ERR_LEAKLESS_DISPOSED')
  }
  t.is(bus.listenerCount('x'), 1)
  t.is(reg.dispose(), 1)
  t.is(bus.listenerCount('x'), 0)
})

test('an empty scope learns that its parent was disposed', (t) => {
  const reg = new ListenerRegistry()
  const a = reg.scope()
  const b = a.scope()
  reg.dispose()
  t.true(b.disposed)
  t.is(t.throws(() => b.on(new EventEmitter(), 'x', () => {})).code, 'ERR_LEAKLESS_DISPOSED')
  t.is(t.throws(() => reg.on(new EventEmitter(), 'x', () => {})).code, 'ERR_LEAKLESS_DISPOSED')
})

test('a scope emptied and reused keeps working, and a later parent dispose still reaches it', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const s = reg.scope()
  for (let i = 0; i < 100; i++) s.on(bus, 'x', () => {})()
  s.on(bus, 'x', () => {})
  t.is(reg.dispose(), 1)
  t.true(s.disposed)
  t.is(bus.listenerCount('x'), 0)
})

test('dispose, removeAll and count return counts', (t) => {
  const reg = new ListenerRegistry()
  const a = new EventEmitter()
  const b = new EventTarget()
  for (let i = 0; i < 3; i++) reg.on(a, 'x', () => {})
  for (let i = 0; i < 2; i++) reg.on(a, 'y', () => {})
  for (let i = 0; i < 4; i++) reg.on(b, 'z', () => {})
  t.is(reg.count(), 9)
  t.is(reg.count(a), 5)
  t.is(reg.count(a, 'x'), 3)
  t.is(reg.count(undefined, 'z'), 4)
  t.is(reg.count(b, 'x'), 0)
  t.is(reg.removeAll(a, 'y'), 2)
  t.is(a.listenerCount('y'), 0)
  t.is(reg.removeAll(b), 4)
  t.is(getEventListeners(b, 'z').length, 0)
  t.is(reg.removeAll(), 3)
  t.is(reg.count(), 0)
  t.false(reg.disposed, 'removeAll does not dispose')
  reg.on(a, 'x', () => {})
  reg.on(a, 'x', () => {})
  t.is(reg.dispose(), 2)
  t.is(reg.dispose(), 0)
  t.is(a.listenerCount('x'), 0)
})

test('off removes the most recent registration of a listener', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const order = []
  const fn = () => order.push('fn')
  const other = () => order.push('other')
  reg.on(bus, 'x', fn)
  reg.on(bus, 'x', other)
  reg.on(bus, 'x', fn)
  t.true(reg.off(bus, 'x', fn))
  bus.emit('x')
  t.deepEqual(order, ['fn', 'other'])
  t.true(reg.off(bus, 'x', fn))
  t.false(reg.off(bus, 'x', fn))
  t.false(reg.off(bus, 'y', other))
  t.is(reg.count(), 1)
  const s = reg.scope()
  s.on(bus, 'y', fn)
  t.true(reg.off(bus, 'y', fn), 'reaches into scopes')
})

test('using-style disposal through Symbol.dispose', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  // What `using off = reg.on(...)` compiles to.
  {
    const off = reg.on(bus, 'x', () => {})
    try {
      t.is(bus.listenerCount('x'), 1)
    } finally {
      off[kDispose]()
    }
  }
  t.is(bus.listenerCount('x'), 0)
  {
    const scope = reg.scope()
    try {
      scope.on(bus, 'x', () => {})
      scope.on(bus, 'y', () => {})
    } finally {
      scope[kDispose]()
    }
    t.true(scope.disposed)
  }
  t.is(bus.listenerCount('x') + bus.listenerCount('y'), 0)
  t.is(reg.count(), 0)
})

test('report: per target and event, most numerous first', (t) => {
  const reg = new ListenerRegistry({ maxListeners: 4, onLeak: () => {} })
  const a = new EventEmitter()
  const b = new EventEmitter()
  reg.on(a, 'x', () => {})
  for (let i = 0; i < 3; i++) reg.scope().on(b, 'y', () => {})
  const { total, entries } = reg.report()
  t.is(total, 4)
  t.is(entries.length, 2)
  t.is(entries[0].target, b)
  t.is(entries[0].event, 'y')
  t.is(entries[0].count, 3)
  t.true(entries[0].topStack.includes(THIS_FILE), 'stacks are recorded past half the limit')
  t.is(entries[1].target, a)
  t.is(entries[1].count, 1)
  t.is(entries[1].topStack, null, 'no stack is captured far below the limit')
})

test('stats(): live registries and the listeners they hold', (t) => {
  const before = stats().registries
  const reg = new ListenerRegistry()
  const scope = reg.scope()
  const bus = new EventEmitter()
  reg.on(bus, 'x', () => {})
  scope.on(bus, 'x', () => {})
  scope.on(bus, 'y', () => {})
  let now = stats().registries
  t.is(now.instances - before.instances, 2)
  t.is(now.listeners - before.listeners, 3)
  scope.dispose()
  now = stats().registries
  t.is(now.instances - before.instances, 1)
  t.is(now.listeners - before.listeners, 1)
  reg.dispose()
  t.deepEqual(stats().registries, before)
})

// ------------------------------------------------------------ leak warnings

test.serial('a leak warning names the registering file and line, and warns again after growth', async (t) => {
  resetWarnings()
  const reports = []
  const reg = new ListenerRegistry({ maxListeners: 10, onLeak: (r) => reports.push(r) })
  const bus = new EventEmitter()
  bus.setMaxListeners(0) // Node's own warning is not what is tested here
  let line
  const first = await captureWarnings(() => {
    line = callerLine() + 1
    for (let i = 0; i < 11; i++) reg.on(bus, 'data', () => {})
  })
  t.is(first.length, 1)
  const w = first[0]
  t.is(w.name, 'LeaklessWarning')
  t.is(w.code, 'LEAKLESS_LISTENER_LEAK')
  t.true(w.message.includes('11 listeners for "data"'), w.message)
  t.true(w.message.includes('EventEmitter'), w.message)
  t.true(w.message.includes(`${THIS_FILE}:${line}:`), w.message)
  t.false(w.message.includes(path.join('lib', 'registry', 'index.js')), 'leakless frames are stripped')
  t.is(reports.length, 1)
  t.is(reports[0].target, bus)
  t.is(reports[0].event, 'data')
  t.is(reports[0].count, 11)
  t.true(reports[0].topStack.includes(`${THIS_FILE}:${line}:`))

  // Below the next threshold (10 + 5): silent. At it: a second warning.
  const quiet = await captureWarnings(() => {
    for (let i = 0; i < 4; i++) reg.on(bus, 'data', () => {})
  })
  t.is(quiet.length, 0)
  const second = await captureWarnings(() => reg.on(bus, 'data', () => {}))
  t.is(second.length, 1)
  t.true(second[0].message.includes('16 listeners for "data"'), second[0].message)
  t.is(reports.length, 2)
  t.is(reports[1].count, 16)
  reg.dispose()
})

test.serial('the warning names the most frequent registration stack', async (t) => {
  resetWarnings()
  const reg = new ListenerRegistry({ maxListeners: 6 })
  const bus = new EventEmitter()
  let hot
  const warnings = await captureWarnings(() => {
    for (let i = 0; i < 2; i++) reg.on(bus, 'e', () => {})
    hot = callerLine() + 1
    for (let i = 0; i < 5; i++) reg.on(bus, 'e', () => {})
  })
  t.is(warnings.length, 1)
  t.true(warnings[0].message.includes(`at ${__filename}:${hot}:`), warnings[0].message)
  reg.dispose()
})

test.serial('counts a target+event over the whole tree of scopes', async (t) => {
  resetWarnings()
  const reg = new ListenerRegistry({ maxListeners: 5 })
  const bus = new EventEmitter()
  const warnings = await captureWarnings(() => {
    for (let i = 0; i < 6; i++) reg.scope().on(bus, 'req', () => {})
  })
  t.is(warnings.length, 1)
  t.true(warnings[0].message.includes('6 listeners for "req"'))
  reg.dispose()
})

test.serial('past refuseAt, on throws and changes nothing', async (t) => {
  resetWarnings()
  const reg = new ListenerRegistry({ maxListeners: 3, onLeak: () => {} })
  const bus = new EventEmitter()
  await captureWarnings(() => {
    for (let i = 0; i < 9; i++) reg.on(bus, 'x', () => {})
  })
  const err = t.throws(() => reg.on(bus, 'x', () => {}))
  t.is(err.name, 'RangeError')
  t.is(err.code, 'ERR_LEAKLESS_TOO_MANY_LISTENERS')
  t.true(err.message.includes(THIS_FILE), err.message)
  t.is(reg.count(), 9)
  t.is(bus.listenerCount('x'), 9)
  reg.on(bus, 'other', () => {})
  t.is(reg.count(), 10, 'other events are not refused')
  reg.removeAll(bus, 'x')
  reg.on(bus, 'x', () => {})
  t.is(reg.count(bus, 'x'), 1, 'accepted again once the count went down')
  reg.dispose()
})

test.serial('refuseAt and maxListeners options', async (t) => {
  resetWarnings()
  const bus = new EventEmitter()
  bus.setMaxListeners(0)
  const unbounded = new ListenerRegistry({ maxListeners: Infinity })
  const none = await captureWarnings(() => {
    for (let i = 0; i < 500; i++) unbounded.on(bus, 'x', () => {})
  })
  t.is(none.length, 0)
  t.is(unbounded.dispose(), 500)

  const strict = new ListenerRegistry({ maxListeners: 2, refuseAt: 4, onLeak: () => {} })
  await captureWarnings(() => {
    for (let i = 0; i < 4; i++) strict.on(bus, 'x', () => {})
  })
  t.is(t.throws(() => strict.on(bus, 'x', () => {})).code, 'ERR_LEAKLESS_TOO_MANY_LISTENERS')
  strict.dispose()
})

test.serial('onLeak that throws refuses the registration that crossed the threshold', async (t) => {
  resetWarnings()
  const boom = new Error('leak!')
  const reg = new ListenerRegistry({
    maxListeners: 2,
    onLeak: () => {
      throw boom
    },
  })
  const bus = new EventEmitter()
  await captureWarnings(() => {
    reg.on(bus, 'x', () => {})
    reg.on(bus, 'x', () => {})
    t.is(
      t.throws(() => reg.on(bus, 'x', () => {})),
      boom,
    )
  })
  t.is(bus.listenerCount('x'), 2)
  t.is(reg.count(), 2)
  reg.dispose()
})

// ------------------------------------------------------------- bad input

test('bad input throws Node-style errors with codes and changes nothing', (t) => {
  const reg = new ListenerRegistry()
  const bus = new EventEmitter()
  const et = new EventTarget()
  reg.on(bus, 'x', () => {})
  const fn = () => {}
  const cases = [
    ['non-function listener', () => reg.on(bus, 'x', 'nope'), TypeError, 'ERR_INVALID_ARG_TYPE', /"listener"/],
    ['missing listener', () => reg.on(bus, 'x'), TypeError, 'ERR_INVALID_ARG_TYPE', /"listener"/],
    ['object listener', () => reg.on(et, 'x', { handleEvent() {} }), TypeError, 'ERR_INVALID_ARG_TYPE', /"listener"/],
    ['numeric event', () => reg.on(bus, 42, fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"event"/],
    ['missing event', () => reg.on(bus, undefined, fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"event"/],
    ['object event', () => reg.on(bus, {}, fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"event"/],
    ['null event', () => reg.on(bus, null, fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"event"/],
    ['symbol event on EventTarget', () => reg.on(et, Symbol('s'), fn), TypeError, 'ERR_INVALID_ARG_TYPE', /string/],
    ['null target', () => reg.on(null, 'x', fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"target"/],
    ['string target', () => reg.on('bus', 'x', fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"target"/],
    ['plain object target', () => reg.on({}, 'x', fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"target"/],
    ['on without off', () => reg.on({ on() {} }, 'x', fn), TypeError, 'ERR_INVALID_ARG_TYPE', /"target"/],
    ['options null', () => reg.on(bus, 'x', fn, null), TypeError, 'ERR_INVALID_ARG_TYPE', /"options"/],
    ['options number', () => reg.on(bus, 'x', fn, 1), TypeError, 'ERR_INVALID_ARG_TYPE', /"options"/],
    ['once not boolean', () => reg.on(bus, 'x', fn, { once: 1 }), TypeError, 'ERR_INVALID_ARG_TYPE', /once/],
    ['bad signal', () => reg.on(bus, 'x', fn, { signal: {} }), TypeError, 'ERR_INVALID_ARG_TYPE', /signal/],
    ['once: bad signal', () => reg.once(bus, 'x', fn, { signal: 'x' }), TypeError, 'ERR_INVALID_ARG_TYPE', /signal/],
    ['off: bad listener', () => reg.off(bus, 'x', null), TypeError, 'ERR_INVALID_ARG_TYPE', /"listener"/],
    ['count: bad event', () => reg.count(bus, 1), TypeError, 'ERR_INVALID_ARG_TYPE', /"event"/],
    ['removeAll: bad target', () => reg.removeAll(5), TypeError, 'ERR_INVALID_ARG_TYPE', /"target"/],
    ['options not an object', () => new ListenerRegistry('10'), TypeError, 'ERR_INVALID_ARG_TYPE', /"options"/],
    ['maxListeners 0', () => new ListenerRegistry({ maxListeners: 0 }), RangeError, 'ERR_OUT_OF_RANGE', /maxListeners/],
    ['maxListeners -1', () => new ListenerRegistry({ maxListeners: -1 }), RangeError, 'ERR_OUT_OF_RANGE', /maxList/],
    ['maxListeners 1.5', () => new ListenerRegistry({ maxListeners: 1.5 }), RangeError, 'ERR_OUT_OF_RANGE', /maxList/],
    ['maxListeners NaN', () => new ListenerRegistry({ maxListeners: NaN }), RangeError, 'ERR_OUT_OF_RANGE', /maxList/],
    ['maxListeners "10"', () => new ListenerRegistry({ maxListeners: '10' }), TypeError, 'ERR_INVALID_ARG_TYPE', /max/],
    [
      'refuseAt < max',
      () => new ListenerRegistry({ maxListeners: 5, refuseAt: 4 }),
      RangeError,
      'ERR_OUT_OF_RANGE',
      /=/,
    ],
    ['refuseAt 0.5', () => new ListenerRegistry({ refuseAt: 0.5 }), RangeError, 'ERR_OUT_OF_RANGE', /refuseAt/],
    ['onLeak not a function', () => new ListenerRegistry({ onLeak: 1 }), TypeError, 'ERR_INVALID_ARG_TYPE', /onLeak/],
  ]
  for (const [name, fn, Ctor, code, message] of cases) {
    const err = t.throws(fn, { instanceOf: Ctor }, name)
    t.is(err.code, code, name)
    t.regex(err.message, message, name)
    t.regex(err.message, /Received/, name)
  }
  t.is(reg.count(), 1)
  t.is(bus.listenerCount('x'), 1)
  t.is(getEventListeners(et, 'x').length, 0)
  t.is(reg.dispose(), 1)
})

test('a target whose add throws leaves the registry unchanged', (t) => {
  const reg = new ListenerRegistry()
  const boom = new Error('no')
  const target = {
    on() {
      throw boom
    },
    off() {},
  }
  t.is(
    t.throws(() => reg.on(target, 'x', () => {})),
    boom,
  )
  t.is(reg.count(), 0)
  t.deepEqual(reg.report(), { total: 0, entries: [] })
})

// ------------------------------------------------------------ weak targets

test.serial('never keeps a target alive, and forgets the listeners of a collected target', async (t) => {
  const reg = new ListenerRegistry()
  const scope = reg.scope()
  const longLived = new AbortController()
  const before = stats().registries.listeners
  const refs = (() => {
    const bus = new EventEmitter()
    const et = new EventTarget()
    // Listeners that close over their target: the classic cycle.
    reg.on(bus, 'x', () => bus.emit('y'))
    reg.once(bus, 'z', () => bus)
    scope.on(et, 'ping', () => et)
    scope.on(bus, 'x', () => bus, { signal: longLived.signal })
    return [new WeakRef(bus), new WeakRef(et)]
  })()
  t.is(reg.count(), 4)
  t.is(stats().registries.listeners - before, 4)
  for (const ref of refs) t.true(await collected(ref))
  t.is(reg.count(), 0)
  t.is(scope.count(), 0)
  t.is(stats().registries.listeners, before)
  // The finalizer takes the registry's abort hook off the long-lived signal.
  for (let i = 0; i < 30 && getEventListeners(longLived.signal, 'abort').length > 0; i++) {
    await immediate()
    global.gc()
  }
  t.is(getEventListeners(longLived.signal, 'abort').length, 0)
  t.is(reg.dispose(), 0)
})

test.serial('a disposer kept by the user does not itself keep its target alive', async (t) => {
  // (It does keep its listener, and so whatever that listener closes over.)
  const reg = new ListenerRegistry()
  const [ref, off] = (() => {
    const bus = new EventEmitter()
    return [new WeakRef(bus), reg.on(bus, 'x', () => {})]
  })()
  t.true(await collected(ref))
  t.is(reg.count(), 0)
  t.false(off())
})

test.serial('a dropped registry and its scopes are collected', async (t) => {
  const bus = new EventEmitter()
  const ref = (() => {
    const reg = new ListenerRegistry()
    const s = reg.scope()
    s.on(bus, 'x', () => {})()
    return new WeakRef(reg)
  })()
  t.true(await collected(ref))
})

// ------------------------------------------------------------------ Express

function listen(app) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (err) => (err ? reject(err) : resolve(server)))
  })
}

function get(port, urlPath, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)))
    req.on('error', reject)
  })
}

async function run(total, concurrency, fn) {
  let next = 0
  const worker = async () => {
    while (next < total) await fn(next++)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

function closeServer(server) {
  server.closeAllConnections?.()
  return new Promise((resolve) => server.close(() => resolve()))
}

test.serial('Express: 2,000 requests leave no listener on a long-lived emitter, and the heap flat', async (t) => {
  t.timeout(120_000)
  const bus = new EventEmitter() // lives as long as the app
  const listeners = ListenerRegistry.express({ maxListeners: 64 })
  const app = express()
  app.use(listeners)
  let inHandler = 0
  app.get('/work/:n', async (req, res) => {
    t.true(ListenerRegistry.of(req) instanceof ListenerRegistry)
    // Node's own EventEmitter#listeners() is left alone on the request.
    t.is(typeof req.listeners, 'function')
    t.deepEqual(req.listeners('data'), [])
    // Something worth leaking if the listener stayed: ~8 KiB per request.
    const payload = new Array(1000).fill(Number(req.params.n))
    ListenerRegistry.of(req).on(bus, 'tick', () => payload.length)
    ListenerRegistry.of(req).once(bus, 'flush', () => payload[0])
    inHandler = Math.max(inHandler, bus.listenerCount('tick'))
    if (Number(req.params.n) % 2 === 0) await immediate() // some handlers are async
    res.send(String(bus.listenerCount('tick')))
  })
  const server = await listen(app)
  const { port } = server.address()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  let bad = 0
  try {
    const request = async (i) => {
      const { status, body } = await get(port, `/work/${i}`, agent)
      if (status !== 200 || !(Number(body) >= 1)) bad++
    }
    await run(200, 8, request) // warm up sockets, JIT and Express's caches
    const heapBefore = await settledHeap()
    await run(1800, 8, (i) => request(200 + i))
    await immediate()
    const heapAfter = await settledHeap()
    t.is(bad, 0)
    t.true(inHandler >= 1)
    t.is(bus.listenerCount('tick'), 0)
    t.is(bus.listenerCount('flush'), 0)
    t.is(listeners.registry.count(), 0)
    // 1,800 leaked requests would hold ~14 MiB; allow generous noise.
    const grown = heapAfter - heapBefore
    t.log(`heap after 1,800 more requests: ${grown >= 0 ? '+' : ''}${(grown / 1024).toFixed(0)} KiB`)
    t.true(grown < 4 * 2 ** 20, `heap grew by ${grown} bytes`)
  } finally {
    agent.destroy()
    await closeServer(server)
  }
})

test.serial('Express: a request the client abandons is cleaned up when the response closes', async (t) => {
  t.timeout(30_000)
  const bus = new EventEmitter()
  const listeners = ListenerRegistry.express()
  const app = express()
  app.use(listeners)
  let attached
  const seen = new Promise((resolve) => (attached = resolve))
  app.get('/hang', (req) => {
    ListenerRegistry.of(req).on(bus, 'tick', () => {})
    attached()
    // never responds
  })
  const server = await listen(app)
  try {
    const req = http.get({ host: '127.0.0.1', port: server.address().port, path: '/hang' })
    req.on('error', () => {})
    await seen
    t.is(bus.listenerCount('tick'), 1)
    req.destroy()
    for (let i = 0; i < 200 && bus.listenerCount('tick') > 0; i++) await new Promise((r) => setTimeout(r, 10))
    t.is(bus.listenerCount('tick'), 0)
    t.is(listeners.registry.count(), 0)
  } finally {
    await closeServer(server)
  }
})

test('ListenerRegistry.of(req) without the middleware: ERR_LEAKLESS_NO_SCOPE', (t) => {
  for (const req of [{}, null, undefined, 'req']) {
    const err = t.throws(() => ListenerRegistry.of(req), { instanceOf: TypeError })
    t.is(err.code, 'ERR_LEAKLESS_NO_SCOPE')
  }
})
