'use strict'

// The layout of lib/: one folder per primitive, shared code in lib/common,
// and no require cycle anywhere (a cycle hands a module a half-built
// exports object, which is how the LRU once needed a lazy require).

const fs = require('node:fs')
const path = require('node:path')
const test = require('ava')
const { requireGraph, findCycle } = require('./helpers/requires')

const LIB = path.join(__dirname, '..', 'lib')

test('every file of lib/ sits in a primitive folder or lib/common', (t) => {
  const top = fs.readdirSync(LIB, { withFileTypes: true })
  t.deepEqual(
    top.filter((d) => !d.isDirectory()).map((d) => d.name),
    [],
    'no loose files in lib/',
  )
  t.deepEqual(top.map((d) => d.name).sort(), ['common', 'lru', 'monitor', 'pool', 'redis', 'registry'])
})

test('lib/common requires nothing from the primitive folders', (t) => {
  const common = path.join(LIB, 'common') + path.sep
  const outward = []
  for (const [file, deps] of requireGraph(LIB)) {
    if (!file.startsWith(common)) continue
    for (const dep of deps)
      if (!dep.startsWith(common)) outward.push(`${path.relative(LIB, file)} -> ${path.relative(LIB, dep)}`)
  }
  t.deepEqual(outward, [])
})

test('no require cycle in lib/', (t) => {
  const graph = requireGraph(LIB)
  t.true(graph.size >= 15, `read ${graph.size} files`)
  const cycle = findCycle(graph)
  t.is(cycle && cycle.map((f) => path.relative(LIB, f)).join(' -> '), null)
})

test('the cycle finder finds a cycle, lazy requires included', (t) => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'leakless-structure-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'x'))
  fs.writeFileSync(path.join(dir, 'a.js'), "const b = require('./x')\nmodule.exports = {}\n")
  fs.writeFileSync(path.join(dir, 'x', 'index.js'), "require('node:fs')\nrequire('./c.js')\n")
  fs.writeFileSync(path.join(dir, 'x', 'c.js'), "function f() {\n  return require('../a').x\n}\n")
  fs.writeFileSync(path.join(dir, 'd.js'), "require('./a')\n")
  const graph = requireGraph(dir)
  t.deepEqual(graph.get(path.join(dir, 'x', 'index.js')), [path.join(dir, 'x', 'c.js')])
  const cycle = findCycle(graph).map((f) => path.relative(dir, f))
  t.deepEqual(cycle, ['a.js', path.join('x', 'index.js'), path.join('x', 'c.js'), 'a.js'])
  fs.writeFileSync(path.join(dir, 'x', 'c.js'), 'module.exports = 1\n')
  t.is(findCycle(requireGraph(dir)), null)
})
