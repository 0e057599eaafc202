// The page benchmark: the built-in frontend before and after a change, in
// headless Chromium at 1280 x 720 (software rendering), with 1,000 / 10,000 /
// 20,000 members online and 10,000 with 80% offline. Not a timed test: it
// prints a table of frames per second, the 99th percentile frame time, the
// JS heap after a garbage collection (V8's used heap, and apart from it the
// memory of array buffers: pixel buffers live there) and how long after the
// server-join the scene was drawn.
//
//   node bench/page.mjs                       # before = main's static/, after = this tree's
//   node bench/page.mjs --before-ref 33f703b  # before = static/ at that commit (the results file's)
//   node bench/page.mjs --before DIR --after DIR --rounds 2 --seconds 6
//   node bench/page.mjs --versions after --only 10,000 --shots /tmp  # one version, matching scenarios, screenshots
//   (--no-wait: measure even while a Rust build runs)
//
// The page is served by a small server in this script that speaks the d-back
// protocol (docs/PROTOCOL.md): one server in the list, a server-join with N
// synthetic members, and a chat line every 700 ms from a random online
// member in one of three channels, the same for both versions. (d-back
// itself has no way to serve N members without a Discord bot or providers;
// the page cannot tell the difference.) Runs alternate between the versions,
// each in a fresh browser. Dependencies: playwright-core and ws from
// tests/browser/node_modules (`npm ci` there), Chromium at /usr/bin/chromium.

import { createServer } from 'node:http';
import { execFileSync, execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const require = createRequire(resolve(ROOT, 'tests/browser/package.json'));
const { chromium } = require('playwright-core');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(opt('rounds', 2));
const SECONDS = Number(opt('seconds', 6));
const SETTLE_MS = Number(opt('settle', 3)) * 1000;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ONLY = opt('only', '');
const SHOTS = opt('shots', ''); // a directory for a screenshot of each run

const SCENARIOS = [
  { name: '1,000 online', members: 1000, offline: 0 },
  { name: '10,000 online', members: 10000, offline: 0 },
  { name: '20,000 online', members: 20000, offline: 0 },
  { name: '10,000, 80% offline', members: 10000, offline: 0.8 },
].filter((s) => !ONLY || s.name.startsWith(ONLY));

/** static/ as of git revision `ref` (default main), unpacked into a temporary directory. */
function staticAt(ref) {
  if (!/^[\w./^~-]+$/.test(ref)) throw new Error(`not a git revision: ${ref}`);
  const dir = mkdtempSync(resolve(tmpdir(), 'page-before-'));
  execSync(`git -C ${JSON.stringify(ROOT)} archive ${ref} static | tar -x -C ${JSON.stringify(dir)}`);
  return resolve(dir, 'static');
}

const WANTED = opt('versions', 'before,after').split(',');
const VERSIONS = [
  { name: 'before', dir: WANTED.includes('before') ? resolve(opt('before', '') || staticAt(opt('before-ref', 'main'))) : '' },
  { name: 'after', dir: resolve(opt('after', resolve(ROOT, 'static'))) },
].filter((v) => WANTED.includes(v.name));

// ---- the server: static files and the protocol -------------------------------

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const SNOWFLAKE = '100000000000000001';

function hslHex(h) {
  const f = (n) => {
    const k = (n + h / 30) % 12;
    const v = 0.6 - 0.28 * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

function members(n, offline) {
  const users = {};
  for (let i = 0; i < n; i++) {
    const uid = String(200000000000000000n + BigInt(i));
    // Deterministic: the same members are offline in both versions.
    const off = ((i * 7919) % 1000) / 1000 < offline;
    users[uid] = { uid, username: `member${i}`, status: off ? 'offline' : 'online', roleColor: hslHex((i % 24) * 15) };
  }
  return users;
}

class BenchServer {
  constructor() {
    this.dir = null;
    this.join = '';
    this.online = [];
  }

  scenario(dir, s) {
    this.dir = dir;
    const users = members(s.members, s.offline);
    this.online = Object.values(users).filter((u) => u.status !== 'offline').map((u) => u.uid);
    this.join = JSON.stringify({ type: 'server-join', data: { users, request: { server: 'bench' }, serverName: 'Bench' } });
  }

  async start() {
    this.http = createServer((req, res) => this.serve(req, res));
    this.wss = new WebSocketServer({ server: this.http });
    this.wss.on('connection', (ws) => this.session(ws));
    await new Promise((ok) => this.http.listen(0, '127.0.0.1', ok));
    this.base = `http://127.0.0.1:${this.http.address().port}`;
  }

  serve(req, res) {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/api/version') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"version":"bench"}');
      return;
    }
    const file = normalize(join(this.dir, path === '/' ? 'index.html' : path));
    try {
      if (!file.startsWith(this.dir) || !statSync(file).isFile()) throw new Error('no');
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(readFileSync(file));
    } catch {
      res.writeHead(404);
      res.end();
    }
  }

  session(ws) {
    ws.send(JSON.stringify({ type: 'server-list', data: { [SNOWFLAKE]: { id: 'bench', name: 'Bench', passworded: false, default: true } } }));
    let chat = null;
    let n = 0;
    ws.on('message', (raw) => {
      let msg;
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (msg.type !== 'connect') return;
      ws.send(this.join);
      clearInterval(chat);
      chat = setInterval(() => {
        const uid = this.online[(n * 7727) % this.online.length];
        ws.send(JSON.stringify({ type: 'message', server: SNOWFLAKE, data: { uid, message: `bench chat line ${n}, a few words long like most`, channel: `c${n % 3}` } }));
        n++;
      }, 700);
    });
    ws.on('close', () => clearInterval(chat));
  }

  async stop() {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise((ok) => this.wss.close(ok));
    await new Promise((ok) => this.http.close(ok));
  }
}

// ---- one run ------------------------------------------------------------------

// In the page before any of its scripts: the time the server-join arrives,
// and the time of the second animation frame after the game has joined (the
// first one drew it).
const PROBE = () => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        if (!window.__joinAt && typeof e.data === 'string' && e.data.startsWith('{"type":"server-join"')) window.__joinAt = performance.now();
      });
    }
  };
  let seen = false;
  const watch = () => {
    if (window.__readyAt) return;
    if (seen) window.__readyAt = performance.now();
    else if (window.__joinAt && window.game && window.game.joined) seen = true;
    requestAnimationFrame(watch);
  };
  requestAnimationFrame(watch);
};

/** How many compiler processes (a Rust build) are running now. */
function busy() {
  let n = 0;
  for (const name of ['rustc', 'cargo', 'cc1', 'ld']) {
    try {
      n += execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
    } catch {
      // none
    }
  }
  return n;
}

/** Resident memory (MB) of the browser's renderer processes: the page's whole footprint, canvases included. */
async function rendererRss(browser) {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  await cdp.detach();
  let kb = 0;
  for (const p of processInfo) {
    if (p.type !== 'renderer') continue;
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.id}/status`, 'utf8'))[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

async function run(server, version, s) {
  server.scenario(version.dir, s);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => console.log(`# ${version.name}: page error: ${err.message}`));
    await page.addInitScript(PROBE);
    await page.goto(`${server.base}/?s=bench`);
    await page.waitForFunction(() => window.__readyAt, null, { timeout: 180000, polling: 50 });
    const ready = await page.evaluate(() => window.__readyAt - window.__joinAt);
    await page.waitForTimeout(SETTLE_MS);
    const frames = await page.evaluate(
      (ms) =>
        new Promise((ok) => {
          const gaps = [];
          let last = performance.now();
          const t0 = last;
          const tick = (now) => {
            gaps.push(now - last);
            last = now;
            if (now - t0 < ms) requestAnimationFrame(tick);
            else ok({ gaps, ms: now - t0 });
          };
          requestAnimationFrame(tick);
        }),
      SECONDS * 1000,
    );
    if (SHOTS) await page.screenshot({ path: resolve(SHOTS, `${version.name}-${s.members}-${Math.round(s.offline * 100)}.png`) });
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    const rss = await rendererRss(browser);
    const drawn = await page.evaluate(() => {
      const u = window.game.users;
      return u.list ? u.list.length : Object.values(u.actors).filter((a) => a.onIsland).length;
    });
    const gaps = frames.gaps.slice(1).sort((a, b) => a - b);
    return {
      fps: (frames.gaps.length * 1000) / frames.ms,
      p99: gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.99))],
      heap: heap.usedSize / 1048576,
      buffers: (heap.backingStorageSize || 0) / 1048576,
      rss,
      ready: ready / 1000,
      drawn,
    };
  } finally {
    await browser.close();
  }
}

// ---- main ---------------------------------------------------------------------

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

async function main() {
  for (let waited = 0; !args.includes('--no-wait') && busy() && waited < 600; waited += 10) {
    if (!waited) console.log('# waiting for a build (rustc/cargo) to finish before measuring');
    await new Promise((ok) => setTimeout(ok, 10000));
  }
  const server = new BenchServer();
  await server.start();
  console.log(`# ${new Date().toISOString()}  Chromium ${CHROMIUM}, 1280x720, ${ROUNDS} rounds, ${SECONDS} s measured after ${SETTLE_MS / 1000} s settling`);
  for (const v of VERSIONS) console.log(`# ${v.name}: ${v.dir}`);
  console.log('| round | members | version | drawn | fps | frame p99 ms | JS heap MB | + array buffers MB | renderer RSS MB | scene ready s | build running |');
  console.log('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const results = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of SCENARIOS) {
      const order = round % 2 ? VERSIONS : [...VERSIONS].reverse();
      for (const v of order) {
        const before = busy();
        const r = await run(server, v, s);
        const overlap = before || busy() ? 'yes' : 'no';
        results.push({ s: s.name, v: v.name, ...r, total: r.heap + r.buffers });
        console.log(`| ${round} | ${s.name} | ${v.name} | ${r.drawn} | ${r.fps.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.heap.toFixed(1)} | ${r.buffers.toFixed(1)} | ${r.rss.toFixed(0)} | ${r.ready.toFixed(2)} | ${overlap} |`);
      }
    }
  }
  await server.stop();
  console.log('\nMedians over the rounds:\n');
  console.log('| members | fps before | fps after | p99 ms before | p99 ms after | heap MB before | heap MB after | heap + buffers MB before | heap + buffers MB after | renderer RSS MB before | renderer RSS MB after | ready s before | ready s after |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of SCENARIOS) {
    const pick = (v, k) => median(results.filter((r) => r.s === s.name && r.v === v).map((r) => r[k]));
    const cell = (k, d) => `${pick('before', k).toFixed(d)} | ${pick('after', k).toFixed(d)}`;
    console.log(`| ${s.name} | ${cell('fps', 1)} | ${cell('p99', 1)} | ${cell('heap', 1)} | ${cell('total', 1)} | ${cell('rss', 0)} | ${cell('ready', 2)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
