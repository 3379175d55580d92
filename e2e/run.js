'use strict'

// npm run test:e2e: leakless as a registry user gets it.
//
// Packs the package the way it is published (the main package with
// `npm pack`, and the linux-x64-gnu platform package from npm/linux-x64-gnu/
// with the built binary in it), installs both tarballs into a fresh Express
// project in a temporary folder, with express, jest, ava@7, typescript and
// @types/node from the npm registry, and there checks:
//
// - the binary comes from the platform package (the main tarball has none);
// - `require('leakless').LRU` in an Express route under load on 127.0.0.1;
// - a Jest test and an AVA test using LRU, BufferPool and ListenerRegistry;
// - `import { LRU } from 'leakless'` in an ES module;
// - `require('leakless/redis')` and `import { NearCache } from 'leakless/redis'`
//   (the subpath export), with no Redis client installed;
// - examples/piscina: one shared store for a Piscina pool's workers;
// - the public types, with `tsc --noEmit --strict`, including LRU<string, User>.
//
// The project is e2e/project/ copied as it is. The temporary folder is
// removed at the end (--keep leaves it, and says where).
//
// Nothing is reached but the npm registry and 127.0.0.1.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const autocannon = require('autocannon')
const { get } = require('../examples/demo/load')

const ROOT = path.join(__dirname, '..')
const PLATFORM = 'linux-x64-gnu'
const pkg = require(path.join(ROOT, 'package.json'))
const BINARY = `${pkg.napi.binaryName}.${PLATFORM}.node`
// What the project installs besides the two tarballs: the majors users run.
const DEPENDENCIES = [
  'express@5',
  'jest@30',
  'ava@7',
  'typescript@5',
  '@types/node@20',
  '@types/express@5',
  'piscina@5',
]
const LOAD_REQUESTS = 5000
const CACHE_MAX = 100 // the `max` of e2e/project/app.js

// Run in the project: the subpath loads without ioredis or redis installed,
// refuses a missing client with its code, and package.json stays reachable.
const REDIS_SUBPATH_CHECK = `
const { NearCache } = require('leakless/redis')
let code
try { new NearCache({ maxSize: 1024 }) } catch (err) { code = err.code }
console.log(typeof NearCache, code, require('leakless/package.json').version)
`

const keep = process.argv.includes('--keep')
const results = []

function run(command, args, { cwd, timeoutMs = 120_000, capture = false } = {}) {
  const shown = [command === process.execPath ? 'node' : command, ...args].join(' ')
  console.log(`$ ${shown}  (in ${cwd})`)
  const result = spawnSync(command, args, {
    cwd,
    stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, npm_config_update_notifier: 'false', FORCE_COLOR: '0' },
  })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`${shown} exited with ${result.signal ?? result.status}`)
  return result.stdout
}

async function step(name, fn) {
  const started = Date.now()
  console.log(`\n== ${name}`)
  try {
    await fn()
    results.push({ name, ok: true, ms: Date.now() - started })
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - started })
    console.error(`FAILED: ${name}\n${err.stack ?? err}`)
  }
}

function npmPack(dir, destination) {
  const out = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination], {
    cwd: dir,
    capture: true,
  })
  const [info] = JSON.parse(out)
  return { file: path.join(destination, info.filename), files: info.files.map((f) => f.path) }
}

// Starts e2e/project/app.js, drives LOAD_REQUESTS requests at it over 1,000
// ids with a cache of 100, and checks every answer and the cache's bound.
async function expressUnderLoad(project) {
  const child = spawn(process.execPath, ['app.js'], { cwd: project, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  try {
    const port = await new Promise((resolve, reject) => {
      let out = ''
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk) => {
        out += chunk
        const line = out.split('\n').find((l) => l.startsWith('{'))
        if (line) resolve(JSON.parse(line).port)
      })
      exited.then((code) => reject(new Error(`app.js exited early (${code})`)))
    })
    let n = 0
    const result = await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 10,
      amount: LOAD_REQUESTS,
      timeout: 10,
      requests: [{ setupRequest: (req) => ({ ...req, path: `/users/${n++ % 1000}` }) }],
    })
    console.log(`${result.requests.total} requests, ${result['2xx']} 2xx, p99 ${result.latency.p99} ms`)
    assert.equal(result.errors, 0, 'request errors')
    assert.equal(result.timeouts, 0, 'timeouts')
    assert.equal(result.non2xx, 0, 'non-2xx answers')
    assert.equal(result['2xx'], LOAD_REQUESTS)
    const user = await get(port, '/users/7')
    assert.deepEqual(JSON.parse(user.body), { id: '7', name: 'user 7' })
    const cache = JSON.parse((await get(port, '/cache')).body)
    console.log('cache:', JSON.stringify(cache))
    assert.ok(cache.size <= CACHE_MAX, `the cache holds ${cache.size} entries, more than its max`)
    assert.ok(cache.evictions > 0, 'the cache never evicted')
    assert.equal(cache.hits + cache.misses, LOAD_REQUESTS + 1)
  } finally {
    child.kill('SIGTERM')
  }
  assert.equal(await exited, 0, 'app.js exit code after SIGTERM')
}

async function main() {
  const binary = path.join(ROOT, BINARY)
  if (!fs.existsSync(binary)) {
    console.error(`e2e: ${BINARY} is missing; build it first (npm run build)`)
    process.exit(1)
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'leakless-e2e-'))
  const packs = path.join(work, 'packs')
  const project = path.join(work, 'project')
  fs.mkdirSync(packs)
  console.log(`e2e in ${work}`)
  let main
  let platform

  try {
    await step('pack the main package and the linux-x64-gnu package', () => {
      main = npmPack(ROOT, packs)
      const binaries = main.files.filter((f) => f.endsWith('.node'))
      assert.deepEqual(binaries, [], 'the main package must not ship a binary')
      // The platform package as napi-rs publishes it: its folder under npm/ with the binary in it.
      const staged = path.join(work, PLATFORM)
      fs.cpSync(path.join(ROOT, 'npm', PLATFORM), staged, { recursive: true })
      fs.copyFileSync(binary, path.join(staged, BINARY))
      const platformPkg = require(path.join(staged, 'package.json'))
      assert.equal(platformPkg.version, pkg.version, `npm/${PLATFORM}/package.json version`)
      platform = npmPack(staged, packs)
      assert.ok(platform.files.includes(BINARY), `the ${PLATFORM} package must ship ${BINARY}`)
      console.log(`${path.basename(main.file)} (${main.files.length} files), ${path.basename(platform.file)}`)
    })
    if (!results.at(-1).ok) return

    await step('install the tarballs into a fresh Express project', () => {
      fs.cpSync(path.join(__dirname, 'project'), project, { recursive: true })
      // The Piscina example runs there as it is, against the installed package.
      fs.cpSync(path.join(ROOT, 'examples', 'piscina'), path.join(project, 'piscina'), { recursive: true })
      const manifest = {
        name: 'leakless-e2e-app',
        version: '1.0.0',
        private: true,
        jest: { testMatch: ['<rootDir>/jest/**/*.test.js'], testEnvironment: 'node' },
        ava: { files: ['ava/**/*.spec.js'] },
      }
      fs.writeFileSync(path.join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      run('npm', ['install', '--no-audit', '--no-fund', main.file, platform.file, ...DEPENDENCIES], {
        cwd: project,
        timeoutMs: 10 * 60_000,
      })
      const installed = path.join(project, 'node_modules', 'leakless')
      assert.deepEqual(
        fs.readdirSync(installed).filter((f) => f.endsWith('.node')),
        [],
        'no binary in node_modules/leakless',
      )
      const loadedFrom = run(
        process.execPath,
        ['-e', `require('leakless'); console.log(require.resolve('leakless-${PLATFORM}'))`],
        { cwd: project, capture: true },
      ).trim()
      assert.ok(loadedFrom.startsWith(path.join(project, 'node_modules')), loadedFrom)
      console.log(`binary: ${loadedFrom}`)
    })
    if (!results.at(-1).ok) return

    await step(`require('leakless').LRU in an Express route, ${LOAD_REQUESTS} requests`, () =>
      expressUnderLoad(project),
    )
    await step('Jest test: LRU, BufferPool, ListenerRegistry', () =>
      run(process.execPath, ['node_modules/jest/bin/jest.js', '--ci'], { cwd: project }),
    )
    await step('AVA test: LRU, BufferPool, ListenerRegistry', () =>
      run(process.execPath, ['node_modules/ava/entrypoints/cli.mjs'], { cwd: project }),
    )
    await step("storage: 'shared' in a Piscina pool: examples/piscina", () =>
      run(process.execPath, ['piscina/run.js'], { cwd: project }),
    )
    await step("ESM: import { LRU } from 'leakless'", () => run(process.execPath, ['esm.mjs'], { cwd: project }))
    await step("subpath: require('leakless/redis')", () => {
      const out = run(process.execPath, ['-e', REDIS_SUBPATH_CHECK], { cwd: project, capture: true }).trim()
      assert.equal(out, `function ERR_INVALID_ARG_TYPE ${pkg.version}`)
    })
    await step('TypeScript: tsc --noEmit --strict', () =>
      run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.', '--noEmit', '--strict'], { cwd: project }),
    )
  } finally {
    if (keep) console.log(`\nkept ${work}`)
    else fs.rmSync(work, { recursive: true, force: true })
  }
}

main()
  .catch((err) => {
    results.push({ name: 'e2e runner', ok: false, ms: 0 })
    console.error(err.stack ?? err)
  })
  .finally(() => {
    console.log('\n== e2e summary')
    for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}  (${(r.ms / 1000).toFixed(1)} s)`)
    const failed = results.filter((r) => !r.ok).length
    console.log(`e2e: ${results.length - failed} passed, ${failed} failed`)
    process.exitCode = failed > 0 ? 1 : 0
  })
