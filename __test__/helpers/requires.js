'use strict'

// Reads the relative requires of every .js file under a folder, as text:
// lazy requires inside functions count as much as top-level ones.

const fs = require('node:fs')
const path = require('node:path')

const REQUIRE = /\brequire\(\s*(['"])(\.{1,2}\/[^'"]*)\1\s*\)/g

function jsFiles(dir) {
  const out = []
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, d.name)
    if (d.isDirectory()) out.push(...jsFiles(full))
    else if (d.name.endsWith('.js')) out.push(full)
  }
  return out
}

/** Map of file -> files it requires inside `dir` (resolved as Node does). */
function requireGraph(dir) {
  const graph = new Map()
  for (const file of jsFiles(dir)) {
    const deps = []
    for (const m of fs.readFileSync(file, 'utf8').matchAll(REQUIRE)) {
      const dep = require.resolve(path.resolve(path.dirname(file), m[2]))
      if (dep.startsWith(dir + path.sep)) deps.push(dep)
    }
    graph.set(file, deps)
  }
  return graph
}

/** A cycle `[a, b, ..., a]` of the graph, or null when it has none. */
function findCycle(graph) {
  const state = new Map() // file -> 1 on the current path, 2 done
  const stack = []
  const visit = (file) => {
    state.set(file, 1)
    stack.push(file)
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 1) return [...stack.slice(stack.indexOf(dep)), dep]
      if (state.get(dep) === undefined) {
        const found = visit(dep)
        if (found !== null) return found
      }
    }
    stack.pop()
    state.set(file, 2)
    return null
  }
  for (const file of [...graph.keys()].sort()) {
    if (state.get(file) !== undefined) continue
    const found = visit(file)
    if (found !== null) return found
  }
  return null
}

module.exports = { requireGraph, findCycle }
