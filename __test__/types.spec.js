'use strict'

// index.d.ts is written by hand: these tests hold it to the code. For each
// public class (and the Monitor interface, whose objects monitor() makes),
// the members index.d.ts declares are compared with what the objects really
// have (prototype chain, own properties, statics), in both directions, so
// that a method added, renamed or dropped on one side fails here.

const fs = require('node:fs')
const path = require('node:path')
const test = require('ava')
const ts = require('typescript')
const { LRU, ListenerRegistry, BufferPool, monitor } = require('..')

const DTS = path.join(__dirname, '..', 'index.d.ts')

// The well-known symbols index.d.ts may name as `[Symbol.x]`. Module-private
// symbols on the prototypes (internal hooks) are not part of the surface.
const WELL_KNOWN = new Map(
  Object.getOwnPropertyNames(Symbol)
    .filter((name) => typeof Symbol[name] === 'symbol')
    .map((name) => [Symbol[name], `Symbol.${name}`]),
)

function memberName(node, source) {
  const name = node.name
  if (name === undefined) return null
  if (ts.isComputedPropertyName(name)) return name.expression.getText(source)
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isPrivateIdentifier(name)) return name.text
  return name.getText(source)
}

/** `{ instance, statics }` member names of each class and interface declared in index.d.ts. */
function declared() {
  const source = ts.createSourceFile(DTS, fs.readFileSync(DTS, 'utf8'), ts.ScriptTarget.Latest, true)
  const types = new Map()
  for (const statement of source.statements) {
    if (!ts.isClassDeclaration(statement) && !ts.isInterfaceDeclaration(statement)) continue
    if (statement.name === undefined) continue
    const instance = new Set()
    const statics = new Set()
    for (const member of statement.members) {
      if (ts.isConstructorDeclaration(member) || ts.isIndexSignatureDeclaration(member)) continue
      const name = memberName(member, source)
      if (name === null) continue
      const isStatic = ts.getCombinedModifierFlags(member) & ts.ModifierFlags.Static
      ;(isStatic ? statics : instance).add(name)
    }
    types.set(statement.name.text, { instance, statics })
  }
  return types
}

function keyName(key) {
  if (typeof key === 'string') return key
  return WELL_KNOWN.get(key) ?? null
}

/** The public member names an object really has: its prototype chain below Object.prototype, and its own keys. */
function actualInstance(object) {
  const names = new Set()
  const add = (o) => {
    for (const key of Reflect.ownKeys(o)) {
      const name = keyName(key)
      if (name !== null && name !== 'constructor') names.add(name)
    }
  }
  add(object)
  for (let p = Object.getPrototypeOf(object); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) add(p)
  return names
}

function actualStatics(Class) {
  const names = new Set()
  for (const key of Reflect.ownKeys(Class)) {
    const name = keyName(key)
    if (name !== null && !['length', 'name', 'prototype'].includes(name)) names.add(name)
  }
  return names
}

function compare(t, label, declaredNames, actualNames) {
  const sorted = (set) => [...set].sort()
  t.deepEqual(
    sorted([...declaredNames].filter((n) => !actualNames.has(n))),
    [],
    `${label}: declared in index.d.ts but missing from the code`,
  )
  t.deepEqual(
    sorted([...actualNames].filter((n) => !declaredNames.has(n))),
    [],
    `${label}: in the code but not declared in index.d.ts`,
  )
}

const types = declared()

// One object of each kind, made as users make them.
const subjects = {
  LRU: { Class: LRU, make: () => new LRU({ max: 10 }) },
  'LRU (storage: offheap)': { type: 'LRU', Class: LRU, make: () => new LRU({ max: 10, storage: 'offheap' }) },
  'LRU (storage: shared)': {
    type: 'LRU',
    Class: LRU,
    make: () => new LRU({ max: 10, storage: 'shared', name: 'types.spec' }),
  },
  ListenerRegistry: { Class: ListenerRegistry, make: () => new ListenerRegistry() },
  'ListenerRegistry scope': { type: 'ListenerRegistry', make: () => new ListenerRegistry().scope() },
  BufferPool: { Class: BufferPool, make: () => new BufferPool({ bufferSize: 1024, maxBytes: 4096 }) },
  Monitor: { make: () => monitor({ intervalMs: 2 ** 31 - 1 }) },
}

for (const [label, { type = label, Class, make }] of Object.entries(subjects)) {
  test(`${label}: the members index.d.ts declares are the real ones`, (t) => {
    const decl = types.get(type)
    t.truthy(decl, `index.d.ts declares ${type}`)
    const object = make()
    t.teardown(() => {
      if (typeof object.stop === 'function') object.stop()
      else if (typeof object.close === 'function') object.close()
      else if (typeof object.dispose === 'function') object.dispose()
    })
    compare(t, `${label} instance`, decl.instance, actualInstance(object))
    if (Class !== undefined) compare(t, `${type} statics`, decl.statics, actualStatics(Class))
  })
}

test('the comparison sees a difference in either direction', (t) => {
  class Sample {
    static make() {}
    get size() {
      return 0
    }
    run() {}
    [Symbol.iterator]() {}
    [Symbol('internal')]() {}
  }
  const names = actualInstance(new Sample())
  t.deepEqual([...names].sort(), ['Symbol.iterator', 'run', 'size'])
  t.deepEqual([...actualStatics(Sample)], ['make'])
  const source = ts.createSourceFile(
    'x.d.ts',
    'export declare class Sample { static make(): void; readonly size: number; run(): void; [Symbol.iterator](): void; extra(): void }',
    ts.ScriptTarget.Latest,
    true,
  )
  const members = source.statements[0].members.map((m) => memberName(m, source))
  t.deepEqual(members, ['make', 'size', 'run', 'Symbol.iterator', 'extra'])
  const missing = members.filter((n) => n !== 'make' && !names.has(n))
  t.deepEqual(missing, ['extra'])
})

test('the test hooks of lib/lru/hooks.js cannot be reached through Symbol.for', (t) => {
  const hooks = require('../lib/lru/hooks')
  t.true(Object.keys(hooks).length > 0)
  for (const [name, symbol] of Object.entries(hooks)) {
    t.is(typeof symbol, 'symbol', name)
    t.is(Symbol.keyFor(symbol), undefined, `${name} is not in the global symbol registry`)
    t.not(Symbol.for(symbol.description), symbol, name)
  }
  // lib/ registers no symbol of its own: the only Symbol.for keys it reads are Node's.
  const keys = new Set()
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(file)
      else if (entry.name.endsWith('.js')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/Symbol\.for\('([^']*)'\)/g)) keys.add(m[1])
      }
    }
  }
  walk(path.join(__dirname, '..', 'lib'))
  t.deepEqual([...keys].sort(), ['nodejs.dispose', 'nodejs.util.inspect.custom'])
})
