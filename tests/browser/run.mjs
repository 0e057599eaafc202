// Browser tests for the built-in d-zone frontend, driven through headless
// Chromium against a real d-back binary.
//
//   D_BACK_BIN=target/debug/d-back node tests/browser/run.mjs
//
// The script starts the server itself on a free port, injects broadcasts
// through POST /api/broadcast (the bot side for other languages) and asserts
// on the page's `window.game` state and on canvas pixels. A second socket
// server inside this script (StrangeServer) stands in for servers that are
// not d-back: one fishing for logins, ones that close at once. Screenshots go to
// target/browser-artifacts/. A real nginx (NGINX, default /usr/sbin/nginx) in
// front of a second d-back started with --base-path /dzone stands in for a
// proxy that serves d-zone under a sub-path. The binary serves the frontend compiled into it:
// after editing static/, rebuild (`cargo build`, or run via `cargo test
// --test browser`, which does) before running this script directly, or pass
// D_BACK_EXTRA_ARGS="--static-dir static" to serve the files as they are.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const BIN = process.env.D_BACK_BIN || resolve(ROOT, 'target/debug/d-back');
// Further options for every server started, e.g. "--static-dir static" to
// test edited page files without rebuilding the binary.
const EXTRA_ARGS = (process.env.D_BACK_EXTRA_ARGS || '').split(/\s+/).filter(Boolean);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const ARTIFACTS = process.env.BROWSER_ARTIFACTS || resolve(ROOT, 'target/browser-artifacts');
const TOKEN = randomBytes(16).toString('hex');
const WAIT_MS = 20000;

const DWORLD = '232769614004748288';
const VIEWPORT = { width: 1280, height: 720 };

// ---- the server under test ---------------------------------------------

class Server {
  /** @param {string[]} args further command-line options (e.g. --base-path) */
  constructor(args = []) {
    this.args = args;
    this.child = null;
    this.base = null;
    this.port = 0;
    this.log = []; // last lines of stderr, shown when something fails
  }

  /** Spawns the binary and waits for its one "listening" line. */
  async start(port = 0) {
    const child = spawn(BIN, ['--host', '127.0.0.1', '--port', String(port), '--publish-token', TOKEN, ...EXTRA_ARGS, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      this.log.push(...chunk.split('\n').filter(Boolean));
      if (this.log.length > 80) this.log.splice(0, this.log.length - 80);
    });
    const base = await new Promise((ok, fail) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`d-back printed no "listening" line in 15 s; stdout: ${out}`)), 15000);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const m = /^d-back listening on (http:\/\/127\.0\.0\.1:(\d+))$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          ok(m[1]);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        fail(new Error(`d-back exited early (${code ?? signal}): ${this.log.slice(-10).join('\n')}`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        fail(err);
      });
    });
    this.base = base;
    this.port = Number(new URL(base).port);
    return base;
  }

  /** SIGTERM, then SIGKILL if it has not gone after a while. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((ok) => child.once('exit', ok));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    await gone;
    clearTimeout(timer);
  }

  /** Injects one broadcast frame; returns the HTTP status and body. */
  async broadcast(frame) {
    const res = await fetch(`${this.base}/api/broadcast`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(frame),
    });
    const text = await res.text();
    assert.equal(res.status, 202, `POST /api/broadcast ${JSON.stringify(frame)} answered ${res.status}: ${text}`);
    return JSON.parse(text);
  }
}

// ---- a socket server that is not d-back ------------------------------------

// What `?socketURL=` can point the page at: a server somebody else runs. Each
// path behaves differently: /close-NNNN accepts and at once closes with code
// NNNN; any other path offers one protected server and refuses every join, as
// a server fishing for the visitor's Discord login would. Connections and the
// frames received on them are kept for the tests to inspect.
class StrangeServer {
  constructor() {
    this.wss = null;
    this.port = 0;
    this.connections = []; // {path, at (Date.now()), frames: [parsed JSON]}
  }

  async start() {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(this.wss, 'listening');
    this.port = this.wss.address().port;
    this.wss.on('connection', (ws, req) => this.accept(ws, req));
  }

  url(path) {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  on(path) {
    return this.connections.filter((c) => c.path === path);
  }

  accept(ws, req) {
    const path = new URL(req.url, 'ws://strange').pathname;
    const conn = { path, at: Date.now(), frames: [] };
    this.connections.push(conn);
    const code = /^\/close-(\d{4})$/.exec(path);
    if (code) {
      ws.close(Number(code[1]), 'closed by the test');
      return;
    }
    ws.on('message', (raw) => {
      let msg;
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return;
      }
      conn.frames.push(msg);
      if (msg.type === 'connect') {
        ws.send(JSON.stringify({ type: 'error', data: { message: 'This server requires Discord authentication. Please login with Discord.' } }));
      }
    });
    ws.send(JSON.stringify({ type: 'server-list', data: { '999000999000999000': { id: 'bait', name: 'Bait', passworded: true, default: true } } }));
  }

  async stop() {
    if (!this.wss) return;
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise((ok) => this.wss.close(ok));
  }
}

// ---- nginx in front of a d-back under /dzone ------------------------------------

/** A port nothing listens on right now (nginx cannot take port 0 and say which). */
async function freePort() {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  return port;
}

/**
 * nginx with `location /dzone/` proxied to `backendPort` unchanged, as the
 * README tells operators; any other path is nginx's own 404. Runs in the
 * foreground from a temporary prefix, so it needs no root and leaves nothing.
 */
class Nginx {
  constructor() {
    this.child = null;
    this.dir = null;
    this.base = null;
    this.log = [];
  }

  async start(backendPort) {
    this.dir = mkdtempSync(resolve(tmpdir(), 'd-back-nginx-'));
    const port = await freePort();
    const conf = `
worker_processes 1;
pid ${this.dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${this.dir}/body;
  proxy_temp_path ${this.dir}/proxy;
  fastcgi_temp_path ${this.dir}/fastcgi;
  uwsgi_temp_path ${this.dir}/uwsgi;
  scgi_temp_path ${this.dir}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }
  server {
    listen 127.0.0.1:${port};
    location /dzone/ {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location / {
      return 404 "not d-zone\n";
    }
  }
}
`;
    writeFileSync(resolve(this.dir, 'nginx.conf'), conf);
    const child = spawn(NGINX, ['-p', this.dir, '-c', resolve(this.dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off; master_process off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => this.log.push(...chunk.split('\n').filter(Boolean)));
    this.base = `http://127.0.0.1:${port}`;
    const end = Date.now() + 10000;
    for (;;) {
      assert.equal(child.exitCode, null, `nginx exited: ${this.log.join(' | ')}`);
      try {
        const res = await fetch(`${this.base}/`);
        if (res.status === 404) break;
      } catch {
        // not listening yet
      }
      assert.ok(Date.now() < end, `nginx did not answer within 10 s: ${this.log.join(' | ')}`);
      await sleep(50);
    }
  }

  async stop() {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

const underDzone = new Server(['--base-path', '/dzone']);
const nginx = new Nginx();

// ---- browser helpers -------------------------------------------------------

const server = new Server();
const strange = new StrangeServer();
let browser;
let page;
const pageErrors = [];

function watch(p) {
  p.on('pageerror', (err) => pageErrors.push(err.message));
  p.on('console', (msg) => {
    if (msg.type() === 'error' && !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(msg.text())) {
      pageErrors.push(`console: ${msg.text()}`);
    }
  });
  return p;
}

/** A short summary of the page state, for failure messages. */
async function snapshot(p) {
  return p
    .evaluate(() => {
      const g = window.game;
      if (!g) return 'window.game is missing';
      return JSON.stringify({
        server: g.server,
        joined: g.joined,
        connected: g.connected,
        servers: g.servers && Object.keys(g.servers).length,
        actors: Object.keys(g.users.actors).length,
        bubbles: g.bubbles,
        fps: g.fps,
      });
    })
    .catch((err) => `page not readable: ${err.message}`);
}

/** Waits until fn(arg) is truthy in the page; fails with what the page looked like. */
async function until(p, what, fn, arg) {
  try {
    await p.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 });
  } catch (err) {
    throw new Error(`timed out waiting for ${what}; page: ${await snapshot(p)}; server log: ${server.log.slice(-5).join(' | ')}`, { cause: err });
  }
}

const actorCount = () => Object.keys(window.game.users.actors).length;

function joinedWith(p, id, count) {
  return until(
    p,
    `server "${id}" joined with ${count} characters`,
    ([sid, n]) => {
      const g = window.game;
      return g && g.joined && g.server === sid && Object.keys(g.users.actors).length === n;
    },
    [id, count],
  );
}

/** How varied the canvas is: distinct colours in a coarse sample grid. */
function canvasVariety(p) {
  return p.evaluate(() => {
    const c = document.getElementById('scene');
    const probe = document.createElement('canvas');
    probe.width = 64;
    probe.height = 36;
    const ctx = probe.getContext('2d');
    ctx.drawImage(c, 0, 0, 64, 36);
    const data = ctx.getImageData(0, 0, 64, 36).data;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return colours.size;
  });
}

/** Polls fn() in this process until it is truthy. */
async function eventually(what, fn) {
  const end = Date.now() + WAIT_MS;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** The socket URL the page uses when no ?socketURL= is given. */
const ownSocket = () => `${server.base.replace(/^http/, 'ws')}/ws`;

/** A fresh browser context and page, so nothing stored by other tests leaks in. */
async function freshPage() {
  const context = await browser.newContext({ viewport: VIEWPORT });
  return [context, watch(await context.newPage())];
}

/**
 * Logs in with Discord the way a visitor does, from whatever page `p` shows:
 * the login button, Discord's consent (faked), the callback page and back.
 */
async function discordLogin(p, user, token) {
  let authorize = null;
  const consent = /^https:\/\/discord\.com\/oauth2\//;
  await p.route(consent, (route) => {
    authorize = new URL(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>discord</p>' });
  });
  await p.click('#help-button');
  await p.click('#login-button');
  await p.waitForURL(/discord\.com/);
  await p.unroute(consent);
  await p.route('https://discord.com/api/users/@me', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'Authorization' },
      body: JSON.stringify(user),
    }),
  );
  const answer = new URLSearchParams({ token_type: 'Bearer', access_token: token, expires_in: '604800', scope: 'identify guilds', state: authorize.searchParams.get('state') });
  await p.goto(`${authorize.searchParams.get('redirect_uri')}#${answer}`);
  try {
    await p.waitForURL((url) => !url.pathname.endsWith('/discord-callback.html'), { timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`the callback page did not return: ${await p.textContent('#status').catch(() => '?')}`, { cause: err });
  }
  await p.unroute('https://discord.com/api/users/@me');
}

async function chooseServer(p, id) {
  await p.click('#server-button');
  await p.waitForSelector('#server-menu:not([hidden])');
  await p.click(`.server-item[data-id="${id}"]`);
}

// ---- the tests ---------------------------------------------------------------

before(async () => {
  assert.ok(existsSync(BIN), `d-back binary not found at ${BIN} (set D_BACK_BIN)`);
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) to run the browser tests`);
  assert.ok(existsSync(NGINX), `nginx not found at ${NGINX}: install it (apt-get install nginx) to run the sub-path test`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await server.start();
  await strange.start();
  await underDzone.start();
  await nginx.start(underDzone.port);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = watch(await (await browser.newContext({ viewport: VIEWPORT })).newPage());
});

after(async () => {
  if (browser) await browser.close();
  await strange.stop();
  await server.stop();
  await nginx.stop();
  await underDzone.stop();
});

test('the server list arrives with the 4 mock servers', async () => {
  await page.goto(`${server.base}/`);
  await until(page, 'a server-list', () => window.game && window.game.servers && Object.keys(window.game.servers).length === 4);
  const ids = await page.evaluate(() => Object.values(window.game.servers).map((s) => s.id));
  assert.deepEqual(ids, ['dworld', 'docs', 'oauth', 'repos']);
});

test('the default server D-World is joined with exactly its 4 characters, drawn', async () => {
  await joinedWith(page, 'dworld', 4);
  for (const a of await page.evaluate(() => Object.values(window.game.users.actors))) {
    assert.ok(a.uid && a.username && a.presence, `actor lacks uid/username/presence: ${JSON.stringify(a)}`);
  }
  await page.waitForTimeout(500);
  const variety = await canvasVariety(page);
  assert.ok(variety > 40, `canvas looks blank: only ${variety} distinct colours`);
  assert.equal(await page.title(), 'D-World · d-zone');
});

test('Chromium negotiates permessage-deflate and the compressed join still shows the scene', async () => {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const p = watch(await context.newPage());
  const cdp = await context.newCDPSession(p);
  await cdp.send('Network.enable');
  const seen = { offer: null, answer: null };
  const get = (headers, name) => Object.entries(headers || {}).find(([k]) => k.toLowerCase() === name)?.[1] ?? null;
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => { seen.offer = get(e.request.headers, 'sec-websocket-extensions'); });
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => { seen.answer = get(e.response.headers, 'sec-websocket-extensions'); });
  await p.goto(`${server.base}/?s=repos`);
  await joinedWith(p, 'repos', 21);
  assert.match(seen.offer ?? '', /^permessage-deflate/, `Chromium's offer: ${seen.offer}`);
  assert.equal(seen.answer, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  await p.waitForTimeout(300);
  const variety = await canvasVariety(p);
  assert.ok(variety > 40, `canvas looks blank: only ${variety} distinct colours`);
  await context.close();
});

test('a presence for an unknown user with a username adds a character', async () => {
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'browser-test-1', status: 'online', username: 'Tester', roleColor: '#ff9900' } });
  await until(page, 'the new character', () => window.game.users.actors['browser-test-1']?.presence === 'online');
  assert.equal(await page.evaluate(actorCount), 5);
});

test('a broadcast chat message shows a speech bubble over its speaker', async () => {
  const res = await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'browser-test-1', message: 'hello from the browser test', channel: 'c1' } });
  assert.ok(res.delivered >= 1, `broadcast reached no session: ${JSON.stringify(res)}`);
  await until(page, 'a bubble for browser-test-1', () =>
    window.game.bubbles.some((b) => b.uid === 'browser-test-1' && b.message === 'hello from the browser test'),
  );
  assert.equal(await page.evaluate(() => window.game.users.actors['browser-test-1'].message), 'hello from the browser test');
  await page.screenshot({ path: resolve(ARTIFACTS, 'scene.png') });
});

test('a changed roleColor repaints the character', async () => {
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'browser-test-1', status: 'dnd', roleColor: '#3366ff' } });
  await until(page, 'the new colour and status', () => {
    const a = window.game.users.actors['browser-test-1'];
    return a && a.roleColor === '#3366ff' && a.presence === 'dnd';
  });
});

test('a presence with delete removes the character', async () => {
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'browser-test-1', status: 'offline', delete: true } });
  await until(page, 'the character to go', () => !('browser-test-1' in window.game.users.actors));
  assert.equal(await page.evaluate(actorCount), 4);
});

test('a chat flood and presence churn stay bounded', async () => {
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'flooder', status: 'online', username: 'Flooder' } });
  await until(page, 'the flooder', () => window.game.users.actors.flooder?.onIsland);
  const flood = [];
  for (let i = 0; i < 60; i++) flood.push(server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'flooder', message: `spam ${i}`, channel: 'flood' } }));
  for (let i = 0; i < 150; i++) flood.push(server.broadcast({ type: 'presence', server: DWORLD, data: { uid: `churn-${i}`, status: 'online', username: `Churn ${i}` } }));
  await Promise.all(flood);
  await until(page, 'the churners', () => Object.keys(window.game.users.actors).length >= 155);
  const queued = await page.evaluate(() => window.game.chat.channels.get('flood')?.queue.length ?? 0);
  assert.ok(queued <= 20, `${queued} messages queued in one channel`);
  await Promise.all([
    ...Array.from({ length: 150 }, (_, i) => server.broadcast({ type: 'presence', server: DWORLD, data: { uid: `churn-${i}`, status: 'offline', delete: true } })),
    server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'flooder', status: 'offline', delete: true } }),
  ]);
  await until(page, 'the churners to go', () => Object.keys(window.game.users.actors).length === 4);
  // Fade-outs end, and the flooder's queue goes with it.
  await until(page, 'fades and queues to drain', () => window.game.users.fading.length === 0 && !window.game.chat.channels.has('flood'));
});

test('the Server button switches to My Repos with its 21 characters', async () => {
  await chooseServer(page, 'repos');
  await joinedWith(page, 'repos', 21);
  assert.match(page.url(), /[?&]s=repos\b/);
  assert.equal(await page.evaluate(() => localStorage.getItem('dzone.server')), 'repos');
});

test('browser back and forward switch servers', async () => {
  await page.goBack();
  await joinedWith(page, 'dworld', 4);
  await page.goForward();
  await joinedWith(page, 'repos', 21);
});

test('?s=repos and the stored choice are restored on reload', async () => {
  await page.goto(`${server.base}/?s=repos`);
  await joinedWith(page, 'repos', 21);
  await page.goto(`${server.base}/`);
  await joinedWith(page, 'repos', 21); // from localStorage
  await page.goto(`${server.base}/?s=dworld`);
  await joinedWith(page, 'dworld', 4);
});

test('the protected server asks for a Discord login', async () => {
  await chooseServer(page, 'oauth');
  await until(page, 'the login prompt', () => {
    const btn = document.getElementById('login-button');
    return window.game.server === 'oauth' && btn && btn.offsetParent !== null;
  });
  const banner = await page.textContent('#banners');
  assert.match(banner, /requires Discord authentication/);
  assert.equal(await page.evaluate(actorCount), 0, 'a refused join must show nobody');
  // The prompt is one banner, not a stream of them.
  await page.waitForTimeout(300);
  assert.equal(await page.locator('.banner').count(), 1);
  await page.keyboard.press('Escape');
});

test('a stored Discord login is sent in connect and opens the protected server', async () => {
  await page.evaluate((socket) => {
    localStorage.setItem('dzone.discordToken', 'browser-test-token');
    localStorage.setItem('dzone.discordUser', JSON.stringify({ id: '4242', username: 'tester' }));
    localStorage.setItem('dzone.discordSocket', socket); // made for this page's own socket
  }, ownSocket());
  await chooseServer(page, 'oauth'); // a retry of the refused server, now with credentials
  await until(page, 'the protected server joined', () => window.game.server === 'oauth' && window.game.joined);
  assert.ok((await page.evaluate(actorCount)) >= 1);
  assert.equal(await page.locator('.banner').count(), 0, 'the login banner should go once joined');
});

test('the login button goes to Discord with the client id from update-clientid', async () => {
  await page.goto(`${server.base}/?s=dworld`);
  await joinedWith(page, 'dworld', 4);
  await server.broadcast({ type: 'update-clientid', server: DWORLD, data: { clientId: '555000111' } });
  await until(page, 'the new client id', () => window.game.clientId === '555000111');
  let authorize = null;
  await page.route('https://discord.com/**', (route) => {
    authorize = new URL(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>discord</p>' });
  });
  await page.click('#help-button');
  await page.click('#login-button');
  await page.waitForURL(/discord\.com/);
  await page.unroute('https://discord.com/**');
  assert.equal(authorize.pathname, '/oauth2/authorize');
  assert.equal(authorize.searchParams.get('response_type'), 'token');
  assert.equal(authorize.searchParams.get('client_id'), '555000111');
  assert.equal(authorize.searchParams.get('scope'), 'identify guilds');
  assert.equal(authorize.searchParams.get('redirect_uri'), `${server.base}/discord-callback.html`);
});

test('the Discord callback page keeps the token and user and returns', async () => {
  await page.goto(`${server.base}/?s=dworld`);
  await page.evaluate(([back, socket]) => {
    localStorage.setItem('dzone.oauthState', 'st4te');
    localStorage.setItem('dzone.oauthSocket', socket);
    localStorage.setItem('dzone.oauthReturn', back);
  }, [`${server.base}/?s=dworld`, ownSocket()]);
  await page.route('https://discord.com/api/users/@me', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'Authorization' },
      body: JSON.stringify({ id: '7777', username: 'callback-user', global_name: 'Callback User' }),
    }),
  );
  await page.goto(`${server.base}/discord-callback.html#token_type=Bearer&access_token=cb-token&expires_in=604800&scope=identify+guilds&state=st4te`);
  await page.waitForURL(`${server.base}/?s=dworld`);
  await page.unroute('https://discord.com/api/users/@me');
  const stored = await page.evaluate(() => [localStorage.getItem('dzone.discordToken'), JSON.parse(localStorage.getItem('dzone.discordUser'))]);
  assert.equal(stored[0], 'cb-token');
  assert.equal(stored[1].id, '7777');
  assert.equal(stored[1].username, 'callback-user');
  assert.equal(await page.evaluate(() => localStorage.getItem('dzone.discordSocket')), ownSocket());
  await joinedWith(page, 'dworld', 4);
});

test('a restarted server is survived: reconnects and rejoins the same server', async () => {
  await page.goto(`${server.base}/?s=repos`);
  await joinedWith(page, 'repos', 21);
  const port = server.port;
  await server.stop();
  await until(page, 'the disconnect to be noticed', () => window.game.connected === false);
  assert.ok(await page.isVisible('#reconnecting'), 'the reconnecting indicator should show');
  await server.start(port);
  await until(page, 'a reconnection', () => window.game.connected === true);
  await joinedWith(page, 'repos', 21);
  assert.ok(!(await page.isVisible('#reconnecting')));
});

test('1,000 characters on one server stay smooth', async () => {
  const p = watch(await (await browser.newContext({ viewport: VIEWPORT })).newPage());
  await p.goto(`${server.base}/`);
  await joinedWith(p, 'dworld', 4);
  const started = Date.now();
  const ids = Array.from({ length: 1000 }, (_, i) => i);
  const workers = Array.from({ length: 16 }, async (_, w) => {
    for (let i = w; i < ids.length; i += 16) {
      const hue = (i * 47) % 360;
      await server.broadcast({
        type: 'presence',
        server: DWORLD,
        data: { uid: `crowd-${i}`, status: ['online', 'online', 'online', 'idle', 'dnd'][i % 5], username: `Crowd ${i}`, roleColor: hslHex(hue) },
      });
    }
  });
  await Promise.all(workers);
  await until(p, '1,004 characters', () => Object.keys(window.game.users.actors).length >= 1004);
  const injectMs = Date.now() - started;
  // A few chats in the crowd, then let it settle and count frames.
  for (let i = 0; i < 6; i++) {
    await server.broadcast({ type: 'message', server: DWORLD, data: { uid: `crowd-${i * 5}`, message: `crowd chat number ${i}: the island is busy today!`, channel: `perf-${i}` } });
  }
  await p.waitForTimeout(800);
  await p.screenshot({ path: resolve(ARTIFACTS, 'scene-1000.png') });
  await p.waitForTimeout(700);
  const fps = await p.evaluate(
    () =>
      new Promise((ok) => {
        let frames = 0;
        const t0 = performance.now();
        const tick = (now) => {
          frames++;
          if (now - t0 < 4000) requestAnimationFrame(tick);
          else ok((frames * 1000) / (now - t0));
        };
        requestAnimationFrame(tick);
      }),
  );
  console.log(`# fps with ${await p.evaluate(actorCount)} characters: ${fps.toFixed(1)} (game.fps=${await p.evaluate(() => window.game.fps)}); injected 1,000 presences in ${injectMs} ms`);
  assert.ok(fps >= 10, `only ${fps.toFixed(1)} fps with 1,000 characters`);
  await p.close();
});

test('a stored Discord login is sent only to the socket it was obtained for', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  await server.broadcast({ type: 'update-clientid', server: DWORLD, data: { clientId: '555000111' } });
  await until(p, 'a client id', () => window.game.clientId === '555000111');
  await discordLogin(p, { id: '8888', username: 'visitor' }, 'visitor-token');
  await joinedWith(p, 'dworld', 4);
  // A link that points our page at somebody else's socket, which claims its
  // server is protected to be handed the login.
  await p.goto(`${server.base}/?s=bait&socketURL=${encodeURIComponent(strange.url('/fishing'))}`);
  await eventually('a connect at the strange socket', () => strange.on('/fishing').some((c) => c.frames.some((f) => f.type === 'connect')));
  const connects = strange.on('/fishing').flatMap((c) => c.frames).filter((f) => f.type === 'connect');
  for (const f of connects) {
    assert.deepEqual(Object.keys(f.data), ['server'], `the strange socket was sent ${JSON.stringify(f.data)}`);
  }
  // There the visitor is asked to log in again, not told they are logged in.
  await until(p, 'the login prompt', () => {
    const btn = document.getElementById('login-button');
    return btn.offsetParent !== null && /requires Discord authentication/.test(document.getElementById('banners').textContent);
  });
  assert.doesNotMatch(await p.textContent('#login-status'), /Logged in as/);
  // Back on d-back's own socket the login still opens the protected server.
  await p.goto(`${server.base}/?s=oauth`);
  await until(p, 'the protected server joined', () => window.game.server === 'oauth' && window.game.joined);
  await context.close();
});

test('the Discord callback refuses an answer to a login it did not start', async () => {
  const [context, p] = await freshPage();
  // Discord would accept the planted token; only the missing state can stop it.
  await p.route('https://discord.com/api/users/@me', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'Authorization' },
      body: JSON.stringify({ id: '6666', username: 'planted' }),
    }),
  );
  await p.goto(`${server.base}/discord-callback.html#token_type=Bearer&access_token=planted-token&expires_in=604800&scope=identify&state=guessed`);
  await p
    .waitForFunction(() => !/Finishing/.test(document.getElementById('status')?.textContent ?? 'left the page'), null, { timeout: WAIT_MS, polling: 50 })
    .catch(() => {}); // a page that navigated away is judged below
  await p.waitForLoadState();
  assert.equal(new URL(p.url()).pathname, '/discord-callback.html', 'the callback accepted the answer and returned');
  assert.equal(await p.evaluate(() => localStorage.getItem('dzone.discordToken')), null);
  assert.match(await p.textContent('#status'), /Login failed/);
  await context.close();
});

/** A page pointed at the strange socket `path`, recording each delay it shows as [Date.now(), seconds]. */
async function strangePage(path) {
  const [context, p] = await freshPage();
  await context.addInitScript(() => {
    window.shownDelays = [];
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('reconnect-delay');
      new MutationObserver(() => window.shownDelays.push([Date.now(), parseFloat(el.textContent)])).observe(el, { childList: true, characterData: true, subtree: true });
    });
  });
  await p.goto(`${server.base}/?socketURL=${encodeURIComponent(strange.url(path))}`);
  return [context, p];
}

test('a server that closes each connection at once is retried with a growing delay, shown as it really is', async () => {
  const [context, p] = await strangePage('/close-1011');
  await eventually('5 connections', () => strange.on('/close-1011').length >= 5);
  const at = strange.on('/close-1011').map((c) => c.at);
  const shown = await p.evaluate(() => window.shownDelays);
  await context.close();
  const gaps = at.slice(1, 5).map((t, i) => t - at[i]);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] > gaps[i - 1], `the delay did not grow: gaps ${gaps.join(', ')} ms`);
  assert.ok(gaps[3] > 3000, `the 4th retry came after only ${gaps[3]} ms (gaps ${gaps.join(', ')} ms)`);
  // Each shown delay is the time until the next try, jitter included.
  let compared = 0;
  for (let i = 1; i < 5; i++) {
    const before = shown.filter(([t]) => t >= at[i - 1] && t < at[i]).pop();
    if (!before) continue;
    const waited = at[i] - before[0];
    assert.ok(Math.abs(waited - before[1] * 1000) < 200, `showed ${before[1]} s, the next try came after ${waited} ms`);
    compared++;
  }
  assert.ok(compared >= 3, `only ${compared} shown delays to compare: ${JSON.stringify(shown)}`);
});

test('a close with 1008 (policy) or 1001 (going away) waits longer before the next try', async () => {
  const [policyContext, policy] = await strangePage('/close-1008');
  await eventually('the first connection', () => strange.on('/close-1008').length >= 1);
  await sleep(4000);
  assert.equal(strange.on('/close-1008').length, 1, 'a policy close was retried within 4 s');
  assert.ok(await policy.isVisible('#reconnecting'));
  const shown = parseFloat(await policy.textContent('#reconnect-delay'));
  assert.ok(shown >= 20, `after a policy close the page shows a next try in ${shown} s`);
  await policyContext.close();

  const [awayContext] = await strangePage('/close-1001');
  await eventually('a second connection', () => strange.on('/close-1001').length >= 2);
  await awayContext.close();
  const [first, second] = strange.on('/close-1001').map((c) => c.at);
  assert.ok(second - first >= 1500, `a going-away close was retried after ${second - first} ms`);
});

test('a bubble dropped with its channel gives its speaker back the hover label', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'talker', status: 'online', username: 'Talker' } });
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'chorus', status: 'online', username: 'Chorus' } });
  await until(p, 'the two speakers', () => window.game.users.actors.talker?.onIsland && window.game.users.actors.chorus?.onIsland);
  const long = 'a long story that takes a while to read, told slowly so the bubble stays up while every other channel fills up with chatter around it';
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'talker', message: long, channel: 'story' } });
  await until(p, "talker's bubble", () => window.game.bubbles.some((b) => b.uid === 'talker'));
  // More channels, each showing something, until the chat is at its channel
  // limit with none idle: then every new channel drops the oldest busy one.
  // The mock's own chat may hold one of the oldest, so keep adding until the
  // story goes.
  await Promise.all(
    Array.from({ length: 99 }, (_, i) =>
      server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'chorus', message: `chatter in channel ${i}, long enough to stay a while`, channel: `busy-${i}` } }),
    ),
  );
  await until(p, '100 channels, all showing', () => {
    const chs = [...window.game.chat.channels.values()];
    return chs.length === 100 && chs.every((ch) => ch.current);
  });
  for (let k = 0; await p.evaluate(() => window.game.chat.channels.has('story')); k++) {
    assert.ok(k < 5, `${k} new channels did not push the story out: ${JSON.stringify(await p.evaluate(() => [...window.game.chat.channels.keys()].slice(0, 5)))}`);
    await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'chorus', message: 'one channel too many', channel: `extra-${k}` } });
    await until(p, `channel extra-${k} showing`, (key) => !!window.game.chat.channels.get(key)?.current, `extra-${k}`);
  }
  const talker = await p.evaluate(() => {
    const a = window.game.users.actors.talker;
    return { bubble: !!a.bubble, message: a.message };
  });
  assert.deepEqual(talker, { bubble: false, message: null }, 'the dropped bubble still holds its speaker');
  // Pointing at the talker now shows its name (drawOverlays labels a hovered actor without a bubble).
  await until(p, 'the talker hovered with its label', () => {
    const g = window.game;
    const a = g.users.actors.talker;
    const dpr = window.devicePixelRatio || 1;
    g.setPointer(((g.ox + a.sx) * g.scale) / dpr, ((g.oy + a.sy - a.lift - 4) * g.scale) / dpr);
    return g.hovered === a && !a.bubble;
  });
  await context.close();
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'talker', status: 'offline', delete: true } });
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'chorus', status: 'offline', delete: true } });
});

test('behind nginx at /dzone/ the scene shows, its socket is /dzone/ws on the same origin, and /dzone/healthz answers', async () => {
  const [context, p] = await freshPage();
  const sockets = [];
  p.on('websocket', (ws) => sockets.push(ws.url()));
  await p.goto(`${nginx.base}/dzone/`);
  await joinedWith(p, 'dworld', 4);
  assert.deepEqual(sockets, [`${nginx.base.replace(/^http/, 'ws')}/dzone/ws`]);
  assert.ok((await canvasVariety(p)) > 8, 'the scene behind nginx is not drawn');
  await until(p, 'the version from /dzone/api/version', () => /^v\d/.test(document.getElementById('version').textContent));
  await p.screenshot({ path: resolve(ARTIFACTS, 'behind-nginx.png') });
  await context.close();
  const health = await fetch(`${nginx.base}/dzone/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  // Outside the prefix nginx answers, not d-back; and d-back itself serves nothing outside it.
  assert.equal(await (await fetch(`${nginx.base}/healthz`)).text(), 'not d-zone\n');
  assert.equal((await fetch(`${underDzone.base}/healthz`)).status, 404);
});

test('a page opened as a file says in one sentence to open it from d-back instead', async () => {
  // Not watched: the browser's own refusal of file:// modules is the point here.
  const context = await browser.newContext({ viewport: VIEWPORT });
  const p = await context.newPage();
  await p.goto(`file://${resolve(ROOT, 'static/index.html')}`);
  assert.equal(
    await p.textContent('#opened-as-file'),
    'This page was opened as a file, so it cannot reach d-back: start d-back and open the address it prints (e.g. http://localhost:3000/) instead.',
  );
  await context.close();
});

test('a ?socketURL= that is not ws:// says how to fix it and opens no socket', async () => {
  const [context, p] = await freshPage();
  const sockets = [];
  p.on('websocket', (ws) => sockets.push(ws.url()));
  await p.goto(`${server.base}/?socketURL=${encodeURIComponent('http://127.0.0.1:3000/ws')}`);
  await p.waitForSelector('#banners .banner');
  assert.equal(
    await p.textContent('#banners .banner span'),
    'The socket address "http://127.0.0.1:3000/ws" is not a ws:// or wss:// URL: fix ?socketURL= in this page\'s address (e.g. ?socketURL=ws://localhost:3000/ws), or remove it to use the server that served this page.',
  );
  await sleep(1000);
  assert.deepEqual(sockets, []);
  await context.close();
});

test('a ?socketURL= where nothing listens says so after three tries, and the sentence goes once a socket opens', async () => {
  const [context, p] = await freshPage();
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}/ws`;
  await p.goto(`${server.base}/?socketURL=${encodeURIComponent(url)}`);
  await p.waitForSelector('#banners .banner', { timeout: WAIT_MS });
  assert.equal(
    await p.textContent('#banners .banner span'),
    `Cannot reach d-back at ${url}: check that d-back is running there, or fix ?socketURL= in this page's address.`,
  );
  // d-back appears on that port: the page connects and the sentence goes.
  const late = new Server();
  await late.start(port);
  try {
    await until(p, 'the late server joined', () => window.game.joined);
    await until(p, 'the banner gone', () => document.querySelectorAll('#banners .banner').length === 0);
  } finally {
    await context.close();
    await late.stop();
  }
});

/** The page-space rectangles of `selectors` (visible ones only). */
function rects(p, selectors) {
  return p.evaluate((sels) => {
    const out = {};
    for (const sel of sels) {
      const el = document.querySelector(sel);
      if (!el || el.hidden || el.getClientRects().length === 0) continue;
      const r = el.getBoundingClientRect();
      out[sel] = { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
    }
    return out;
  }, selectors);
}

function assertApart(boxes) {
  const names = Object.keys(boxes);
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const [a, b] = [boxes[names[i]], boxes[names[j]]];
      const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
      assert.ok(apart, `${names[i]} ${JSON.stringify(a)} overlaps ${names[j]} ${JSON.stringify(b)}`);
    }
  }
}

/** Touches through Chromium's own input pipeline (CDP), as a phone's screen would. */
async function touch(cdp, type, points) {
  await cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
}

async function swipe(cdp, from, to, steps = 8) {
  await touch(cdp, 'touchStart', from);
  for (let i = 1; i <= steps; i++) {
    await touch(cdp, 'touchMove', from.map(([x, y], k) => [x + ((to[k][0] - x) * i) / steps, y + ((to[k][1] - y) * i) / steps]));
  }
  await touch(cdp, 'touchEnd', []);
}

test('on a phone (390 x 844, touch, scale 3): the scene fills the screen, one finger pans, two pinch, a tap names a character, the controls sit under the thumb and nothing overlaps', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  const p = watch(await context.newPage());
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  const cdp = await context.newCDPSession(p);

  const scene = await p.evaluate(() => {
    const c = document.getElementById('scene');
    const r = c.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height, pixels: [c.width, c.height], dpr: devicePixelRatio };
  });
  assert.deepEqual(scene, { x: 0, y: 0, width: 390, height: 844, pixels: [1170, 2532], dpr: 3 });

  // The controls: in the bottom third, 44 px or more, on screen, apart from the HUD.
  const boxes = await rects(p, ['#hud', '#server-button', '#help-button']);
  for (const sel of ['#server-button', '#help-button']) {
    const b = boxes[sel];
    assert.ok(b.top >= (844 * 2) / 3 && b.bottom <= 844 && b.right <= 390 && b.left >= 0, `${sel} is not under the thumb: ${JSON.stringify(b)}`);
    assert.ok(b.width >= 44 && b.height >= 44, `${sel} is smaller than 44 px: ${JSON.stringify(b)}`);
  }
  assert.ok(boxes['#hud'].right <= 390 && boxes['#hud'].top >= 0);
  assertApart(boxes);

  // One finger pans by the distance moved, in scene pixels.
  const before = await p.evaluate(() => ({ pan: [...window.game.pan], scale: window.game.scale }));
  await swipe(cdp, [[150, 500]], [[210, 560]]);
  const panned = await p.evaluate(() => [...window.game.pan]);
  assert.deepEqual(panned, [before.pan[0] + Math.round((60 * 3) / before.scale), before.pan[1] + Math.round((60 * 3) / before.scale)]);

  // Two fingers apart to twice their distance: twice the scale (the game's
  // ceiling is 10); together again to half: half; meanwhile the scene point
  // between the fingers stays between them.
  const s0 = await p.evaluate(() => window.game.scale);
  const centre = await worldAt(p, 195, 420);
  await swipe(cdp, [[145, 420], [245, 420]], [[95, 420], [295, 420]]);
  const zoomed = await p.evaluate(() => ({ scale: window.game.scale, pan: [...window.game.pan] }));
  assert.equal(zoomed.scale, Math.min(10, s0 * 2));
  assertSamePoint(await worldAt(p, 195, 420), centre, 'the pinch centre moved while zooming in');
  await swipe(cdp, [[95, 420], [295, 420]], [[145, 420], [245, 420]]);
  assert.equal(await p.evaluate(() => window.game.scale), Math.max(1, Math.round(zoomed.scale / 2)));
  assertSamePoint(await worldAt(p, 195, 420), centre, 'the pinch centre moved while zooming out');

  // A tap on a character names it (its label is drawn while it is the
  // hovered one); the creatures hop, so aim again if one moved away.
  let named = null;
  for (let i = 0; i < 20 && !named; i++) {
    const aim = await p.evaluate(() => {
      const g = window.game;
      const a = Object.values(g.users.actors).find((x) => x.onIsland && !x.bubble);
      if (!a) return null;
      const dpr = window.devicePixelRatio;
      return { uid: a.uid, x: ((g.ox + a.sx) * g.scale) / dpr, y: ((g.oy + a.sy - a.lift - 4) * g.scale) / dpr };
    });
    if (aim) {
      await p.touchscreen.tap(aim.x, aim.y);
      await sleep(50);
      named = await p.evaluate((uid) => (window.game.hovered?.uid === uid ? uid : null), aim.uid);
    }
  }
  assert.ok(named, 'no tap named a character');
  // The name stays after the finger lifts (touch has no hover to keep it).
  await sleep(300);
  assert.ok(await p.evaluate(() => window.game.pointer !== null));
  await p.screenshot({ path: resolve(ARTIFACTS, 'phone.png') });

  // The server menu and the help open above the controls, on screen, clear of the HUD.
  await p.tap('#server-button');
  await p.waitForSelector('#server-menu:not([hidden])');
  const menu = await rects(p, ['#hud', '#server-menu', '#help-button']);
  assert.ok(menu['#server-menu'].top >= 0 && menu['#server-menu'].left >= 0 && menu['#server-menu'].right <= 390);
  assertApart(menu);
  await p.tap('.server-item[data-id="repos"]');
  await joinedWith(p, 'repos', 21);
  await p.tap('#help-button');
  await p.waitForSelector('#help:not([hidden])');
  const help = await rects(p, ['#hud', '#help', '#server-button', '#help-button']);
  assert.ok(help['#help'].top >= 0 && help['#help'].right <= 390);
  assertApart(help);
  await p.screenshot({ path: resolve(ARTIFACTS, 'phone-help.png') });
  await context.close();
});

/** The island pixel under page point (x, y) in CSS pixels. */
function worldAt(p, x, y) {
  return p.evaluate(([cx, cy]) => window.game.worldAt(cx, cy), [x, y]);
}

/** Two island points within one pixel of each other (the pan is whole pixels). */
function assertSamePoint(got, want, what) {
  assert.ok(Math.abs(got[0] - want[0]) <= 1 && Math.abs(got[1] - want[1]) <= 1, `${what}: ${JSON.stringify(want)} -> ${JSON.stringify(got)}`);
}

/** Adds a member through a presence broadcast and waits for its body. */
async function addMember(p, uid, username, status = 'online') {
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid, status, username, roleColor: '#ffaa33' } });
  await until(p, `${uid} on the island`, (id) => window.game.users.actors[id]?.onIsland, uid);
}

/** Manhattan distance in tiles between two members' bodies. */
function tilesApart(p, a, b) {
  return p.evaluate(([ua, ub]) => {
    const [x, y] = [window.game.users.actors[ua], window.game.users.actors[ub]];
    return Math.abs(x.x - y.x) + Math.abs(x.y - y.y);
  }, [a, b]);
}

test('conversations gather: the recent partners of a speaker in a channel walk over and end closer to it', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  // The speaker does not disturb, so it stays where it is put.
  for (const [uid, name, status] of [['gather-speaker', 'Speaker', 'dnd'], ['gather-a', 'Partner A'], ['gather-b', 'Partner B']]) await addMember(p, uid, name, status);
  // Speaker at one end of the island, partners at the other.
  await p.evaluate(() => {
    const g = window.game;
    const isl = g.island;
    const free = isl.walkable.filter(([x, y]) => !isl.occupied[isl.index(x, y)]);
    const far = (from) => free.reduce((best, t) => (Math.abs(t[0] - from[0]) + Math.abs(t[1] - from[1]) > Math.abs(best[0] - from[0]) + Math.abs(best[1] - from[1]) ? t : best));
    const corner = free.reduce((best, t) => (t[0] + t[1] < best[0] + best[1] ? t : best));
    const move = (uid, tile) => {
      const a = g.users.actors[uid];
      g.users.take(a, isl);
      g.users.put(a, isl, performance.now() - 1000, tile);
    };
    move('gather-speaker', corner);
    const end = far(corner);
    move('gather-a', end);
    move('gather-b', free.find((t) => Math.abs(t[0] - end[0]) + Math.abs(t[1] - end[1]) === 1 && !isl.occupied[isl.index(t[0], t[1])]) || far(end));
  });
  const start = { a: await tilesApart(p, 'gather-speaker', 'gather-a'), b: await tilesApart(p, 'gather-speaker', 'gather-b') };
  assert.ok(start.a > 4 && start.b > 4, `the partners start too close: ${JSON.stringify(start)}`);
  // Both talk in the channel, then the speaker does.
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'gather-a', message: 'hi', channel: 'gather' } });
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'gather-b', message: 'yo', channel: 'gather' } });
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'gather-speaker', message: 'come here, both of you', channel: 'gather' } });
  await until(p, "the speaker's bubble", () => window.game.bubbles.some((b) => b.uid === 'gather-speaker'));
  await until(p, 'both partners beside the speaker', () => {
    const { actors } = window.game.users;
    const s = actors['gather-speaker'];
    return ['gather-a', 'gather-b'].every((uid) => {
      const a = actors[uid];
      return !a.hopMs && !a.route && Math.abs(a.x - s.x) + Math.abs(a.y - s.y) <= 3;
    });
  });
  const end = { a: await tilesApart(p, 'gather-speaker', 'gather-a'), b: await tilesApart(p, 'gather-speaker', 'gather-b') };
  assert.ok(end.a < start.a && end.b < start.b, `not closer: from ${JSON.stringify(start)} to ${JSON.stringify(end)}`);
  assert.ok(end.a >= 1 && end.b >= 1, 'a partner stands on the speaker');
  await context.close();
  for (const uid of ['gather-speaker', 'gather-a', 'gather-b']) await server.broadcast({ type: 'presence', server: DWORLD, data: { uid, status: 'offline', delete: true } });
});

test('a bubble pops open, types its text out, holds and closes, while its speaker faces the viewer and bobs', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  await addMember(p, 'typist', 'Typist');
  const text = 'typing this out one letter at a time, as if somebody were saying it';
  // Samples the bubble every frame until it is gone.
  const sampled = p.evaluate(
    () =>
      new Promise((ok) => {
        const seen = [];
        const tick = () => {
          const g = window.game;
          const b = g.bubbles.find((x) => x.uid === 'typist');
          const a = g.users.actors.typist;
          if (b) seen.push({ shown: b.shown, phase: b.phase, facing: a.facing(), lift: a.lift });
          if (!b && seen.length) ok(seen);
          else requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      }),
  );
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'typist', message: text, channel: 'typing' } });
  const seen = await sampled;
  const phases = [...new Set(seen.map((s) => s.phase))];
  assert.deepEqual(phases, ['opening', 'typing', 'holding', 'closing']);
  const lengths = seen.map((s) => s.shown.length);
  for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] >= lengths[i - 1], `the text shrank: ${lengths.slice(i - 1, i + 1)}`);
  const typing = seen.filter((s) => s.phase === 'typing');
  assert.ok(new Set(typing.map((s) => s.shown.length)).size >= 5, `the text did not grow over time: ${typing.map((s) => s.shown.length)}`);
  assert.ok(text.startsWith(typing[0].shown) && typing[0].shown.length < text.length / 2, `typing began with ${JSON.stringify(typing[0].shown)}`);
  assert.equal(seen.find((s) => s.phase === 'holding').shown, text);
  // Facing the viewer (front-right or front-left) and bobbing while it types.
  assert.ok(typing.every((s) => s.facing === 0 || s.facing === 1), 'the speaker turned its back');
  assert.deepEqual([...new Set(typing.map((s) => s.lift))].sort(), [0, 1]);
  await context.close();
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'typist', status: 'offline', delete: true } });
});

test('mentions read as names: <@id> and <@!id> of a known member, @someone, @role and #channel otherwise', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  await addMember(p, '4242424242', 'Mentioned Member');
  await addMember(p, 'mentioner', 'Mentioner');
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: 'mentioner', message: 'hey <@4242424242> and <@!4242424242>, not <@999000999> <@&123456> in <#777888>', channel: 'mentions' } });
  await until(p, "the mentioner's bubble", () => window.game.bubbles.some((b) => b.uid === 'mentioner'));
  assert.equal(
    await p.evaluate(() => window.game.bubbles.find((b) => b.uid === 'mentioner').message),
    'hey @Mentioned Member and @Mentioned Member, not @someone @role in #channel',
  );
  await context.close();
  for (const uid of ['4242424242', 'mentioner']) await server.broadcast({ type: 'presence', server: DWORLD, data: { uid, status: 'offline', delete: true } });
});

test('the member under the pointer is outlined and named', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld`);
  await joinedWith(p, 'dworld', 4);
  // Do not disturb: it stays put while the mouse moves to it.
  await addMember(p, 'hovered', 'Hovered', 'dnd');
  await p.waitForTimeout(500); // its drop-in is over
  const at = await p.evaluate(() => {
    const g = window.game;
    const a = g.users.actors.hovered;
    const dpr = window.devicePixelRatio || 1;
    return { x: ((g.ox + a.sx) * g.scale) / dpr, y: ((g.oy + a.sy - 4) * g.scale) / dpr, scale: g.scale };
  });
  await p.mouse.move(at.x, at.y);
  await until(p, 'the outline drawn around it', () => window.game.hovered?.uid === 'hovered' && window.game.outlined === 'hovered');
  // The outline's colour is on screen around it, and its name label above it.
  const outlinePixels = await p.evaluate(({ x, y, scale }) => {
    const c = document.getElementById('scene');
    const probe = document.createElement('canvas');
    const size = 16 * scale;
    probe.width = size;
    probe.height = size;
    const ctx = probe.getContext('2d');
    ctx.drawImage(c, x - size / 2, y - size / 2, size, size, 0, 0, size, size);
    const d = ctx.getImageData(0, 0, size, size).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 0xff && d[i + 1] === 0xf8 && d[i + 2] === 0xd0) n++;
    return n;
  }, at);
  assert.ok(outlinePixels >= 10 * at.scale * at.scale, `only ${outlinePixels} outline pixels around the hovered member`);
  await p.mouse.move(5, 700);
  await until(p, 'the outline gone', () => window.game.hovered === null && window.game.outlined === null);
  await context.close();
  await server.broadcast({ type: 'presence', server: DWORLD, data: { uid: 'hovered', status: 'offline', delete: true } });
});

test('the wheel zooms one step about the pointer: the scene point under it stays there', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=repos`);
  await joinedWith(p, 'repos', 21);
  const s0 = await p.evaluate(() => window.game.scale);
  for (const [x, y] of [[400, 300], [900, 500]]) {
    await p.mouse.move(x, y);
    const before = await worldAt(p, x, y);
    await p.mouse.wheel(0, -100);
    await until(p, 'one step in', (s) => window.game.scale === s + 1, s0);
    assertSamePoint(await worldAt(p, x, y), before, `zooming in at ${x},${y}`);
    await p.mouse.wheel(0, 100);
    await until(p, 'one step out', (s) => window.game.scale === s, s0);
    assertSamePoint(await worldAt(p, x, y), before, `zooming out at ${x},${y}`);
  }
  await context.close();
});

test('at maxActors the least recently active member leaves the island, and comes back when it speaks', async () => {
  const [context, p] = await freshPage();
  await p.goto(`${server.base}/?s=dworld&maxActors=5`);
  await joinedWith(p, 'dworld', 4);
  assert.equal(await p.evaluate(() => window.game.maxActors), 5);
  for (let i = 0; (await p.evaluate(() => window.game.users.onIsland)) < 5; i++) await addMember(p, `filler-${i}`, `Filler ${i}`);
  const leaving = await p.evaluate(() => window.game.users.leastRecent().uid);
  await addMember(p, 'bound-new', 'Newcomer');
  await until(p, `${leaving} gone`, (uid) => !window.game.users.actors[uid].onIsland, leaving);
  assert.equal(await p.evaluate(() => window.game.users.onIsland), 5);
  assert.ok(await p.evaluate((uid) => uid in window.game.users.actors, leaving), 'the member left the page, not just the island');
  // The help panel says so.
  await p.click('#help-button');
  const online = await p.evaluate(() => window.game.users.online());
  assert.match(await p.textContent('#counts'), new RegExp(`^${online} online, 5 drawn`));
  await p.click('#help-close');
  // It speaks: back it comes, and the next least recently active goes.
  const next = await p.evaluate(() => window.game.users.leastRecent().uid);
  await server.broadcast({ type: 'message', server: DWORLD, data: { uid: leaving, message: 'I am back', channel: 'bound' } });
  await until(p, `${leaving} back`, (uid) => window.game.users.actors[uid].onIsland, leaving);
  await until(p, `${next} gone`, (uid) => !window.game.users.actors[uid].onIsland, next);
  assert.equal(await p.evaluate(() => window.game.users.onIsland), 5);
  await context.close();
  for (const uid of ['bound-new', ...Array.from({ length: 5 }, (_, i) => `filler-${i}`)]) await server.broadcast({ type: 'presence', server: DWORLD, data: { uid, status: 'offline', delete: true } });
});

test('no script errors on the page', () => {
  assert.deepEqual(pageErrors, []);
});

function hslHex(h) {
  const f = (n) => {
    const k = (n + h / 30) % 12;
    const v = 0.6 - 0.28 * Math.max(-1, Math.min(k - 3, 9 - k, 1)); // HSL with s=0.7, l=0.6
    return Math.round(v * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}
