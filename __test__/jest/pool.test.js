'use strict'

// Jest loads the addon through Node's own require, so errors come from
// another realm: assert on `name` and `code`, not `instanceof`.

const { BufferPool, stats } = require('../..')

const expectCode = (fn, name, code) => expect(fn).toThrow(expect.objectContaining({ name, code }))

describe('BufferPool under Jest', () => {
  test('lends zero-filled Buffers of the exact size and empties them on release', () => {
    const pool = new BufferPool({ bufferSize: 16384, maxBytes: 1024 * 1024 })
    const buf = pool.acquire(1500)
    expect(Buffer.isBuffer(buf)).toBe(true)
    expect(buf.length).toBe(1500)
    expect(buf.buffer.byteLength).toBe(1500)
    expect(buf.every((b) => b === 0)).toBe(true)
    buf.write('secret')
    const view = buf.subarray(0, 6)
    pool.release(buf)
    expect(buf.length).toBe(0)
    expect(view.length).toBe(0)
    const next = pool.acquire(1500)
    expect(next.includes('secret')).toBe(false)
    pool.release(next)
    expect(pool.stats()).toMatchObject({ inUse: 0, acquired: 2, released: 2, mode: 'external' })
    expect(stats().pools.instances).toBeGreaterThanOrEqual(1)
    pool.close()
  })

  test('refuses misuse with codes and leaves the Buffer intact', () => {
    const pool = new BufferPool({ bufferSize: 4096 })
    const buf = pool.acquire(100)
    buf.write('intact')
    expectCode(() => pool.release(buf.subarray(1)), 'TypeError', 'ERR_LEAKLESS_NOT_POOLED')
    expectCode(() => pool.release(Buffer.alloc(100)), 'TypeError', 'ERR_LEAKLESS_NOT_POOLED')
    expectCode(() => pool.release('nope'), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    expectCode(() => pool.acquire(5000), 'RangeError', 'ERR_OUT_OF_RANGE')
    expect(buf.toString('utf8', 0, 6)).toBe('intact')
    pool.release(buf)
    expectCode(() => pool.release(buf), 'TypeError', 'ERR_LEAKLESS_DOUBLE_RELEASE')
    const kept = pool.acquire(10)
    pool.close()
    expectCode(() => pool.acquire(10), 'Error', 'ERR_LEAKLESS_POOL_CLOSED')
    expectCode(() => pool.release(kept), 'Error', 'ERR_LEAKLESS_POOL_CLOSED')
    expect(kept.length).toBe(10)
  })

  test('bad options are refused', () => {
    expectCode(() => new BufferPool({ bufferSize: 0 }), 'RangeError', 'ERR_OUT_OF_RANGE')
    expectCode(() => new BufferPool({ whenExhausted: 'wait' }), 'TypeError', 'ERR_INVALID_ARG_VALUE')
    expectCode(() => new BufferPool({ leakDetection: 1 }), 'TypeError', 'ERR_INVALID_ARG_VALUE')
  })

  test('exhaustion throws or overflows', () => {
    const strict = new BufferPool({ bufferSize: 1024, maxBytes: 2048, whenExhausted: 'throw' })
    const held = [strict.acquire(), strict.acquire()]
    expectCode(() => strict.acquire(), 'RangeError', 'ERR_LEAKLESS_POOL_EXHAUSTED')
    for (const b of held) strict.release(b)
    strict.close()
    const lenient = new BufferPool({ bufferSize: 1024, maxBytes: 1024 })
    const a = lenient.acquire()
    const b = lenient.acquire()
    expect(b.length).toBe(1024)
    expect(lenient.stats().overflow).toBe(1)
    lenient.release(b)
    expect(b.length).toBe(0)
    lenient.release(a)
    lenient.close()
  })

  test('using() releases on return, throw, resolve and reject', async () => {
    const pool = new BufferPool({ bufferSize: 1024 })
    let kept
    expect(pool.using(10, (b) => ((kept = b), 1))).toBe(1)
    expect(kept.length).toBe(0)
    expect(() =>
      pool.using(10, (b) => {
        kept = b
        throw new Error('x')
      }),
    ).toThrow('x')
    expect(kept.length).toBe(0)
    await expect(pool.using(10, async (b) => ((kept = b), 2))).resolves.toBe(2)
    expect(kept.length).toBe(0)
    await expect(
      pool.using(10, async (b) => {
        kept = b
        throw new Error('y')
      }),
    ).rejects.toThrow('y')
    expect(kept.length).toBe(0)
    expect(pool.stats()).toMatchObject({ inUse: 0, acquired: 4, released: 4 })
    pool.close()
  })

  test('trim and close return idle bytes', () => {
    const pool = new BufferPool({ bufferSize: 4096 })
    pool.release(pool.acquire(4096))
    pool.release(pool.acquire(100))
    expect(pool.trim()).toBe(4096 + 128)
    pool.release(pool.acquire(4096))
    expect(pool.close()).toBe(4096)
  })
})
