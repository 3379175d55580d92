'use strict'

// Reads valgrind's XML output (scripts/valgrind.sh) and decides: an invalid
// access with a frame of the addon in any of its stacks, or an uninitialised
// value used by the addon's own code, fails the run. Prints a summary of
// every error kind either way.

const fs = require('node:fs')

const ADDON = /\/leakless\.[^/]*\.node$/
const ACCESS = new Set([
  'InvalidRead',
  'InvalidWrite',
  'InvalidFree',
  'MismatchedFree',
  'InvalidJump',
  'InvalidMemPool',
  'Overlap',
  'FishyValue',
  'SyscallParam',
])
const UNINIT = new Set(['UninitValue', 'UninitCondition'])

const decode = (s) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')

function frames(stack) {
  return [...stack.matchAll(/<frame>([\s\S]*?)<\/frame>/g)].map(([, f]) => ({
    obj: decode(/<obj>([\s\S]*?)<\/obj>/.exec(f)?.[1] ?? '?'),
    fn: decode(/<fn>([\s\S]*?)<\/fn>/.exec(f)?.[1] ?? '?'),
  }))
}

function main(file) {
  const xml = fs.readFileSync(file, 'utf8')
  const errors = [...xml.matchAll(/<error>([\s\S]*?)<\/error>/g)].map(([, e]) => {
    const kind = /<kind>([\s\S]*?)<\/kind>/.exec(e)[1]
    const what = decode((/<what>([\s\S]*?)<\/what>/.exec(e) ?? /<text>([\s\S]*?)<\/text>/.exec(e))?.[1] ?? '?')
    const stacks = [...e.matchAll(/<stack>([\s\S]*?)<\/stack>/g)].map(([, s]) => frames(s))
    const inAddon = stacks.some((s) => s.some((f) => ADDON.test(f.obj)))
    const topInAddon = stacks.length > 0 && stacks[0].length > 0 && ADDON.test(stacks[0][0].obj)
    return { kind, what, stacks, inAddon, topInAddon }
  })
  const byKind = new Map()
  for (const e of errors) byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1)
  const fatal = errors.filter((e) => (ACCESS.has(e.kind) && e.inAddon) || (UNINIT.has(e.kind) && e.topInAddon))
  const access = errors.filter((e) => ACCESS.has(e.kind))
  console.log(
    `== valgrind summary: ${errors.length} error(s) reported` +
      (byKind.size > 0 ? ` (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')})` : '') +
      `; invalid accesses ${access.length}, of which with an addon frame ${access.filter((e) => e.inAddon).length}` +
      `; failing: ${fatal.length}`,
  )
  for (const e of errors) {
    const mark = fatal.includes(e) ? '!!' : '  '
    const top =
      e.stacks[0]
        ?.slice(0, 4)
        .map((f) => `${f.fn} (${f.obj.split('/').pop()})`)
        .join(' <- ') ?? ''
    console.log(`${mark} ${e.kind}: ${e.what.trim().split('\n')[0]}\n     ${top}`)
  }
  if (fatal.length > 0) {
    console.error(`!! valgrind: ${fatal.length} error(s) in or through the addon; full stacks in ${file}`)
    process.exitCode = 1
  }
}

main(process.argv[2] ?? 'target/valgrind.xml')
