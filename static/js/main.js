// Boot: wires the socket, the game and the DOM together, and keeps the
// chosen server in ?s=, localStorage and the browser history.

import { Connection, socketURL } from './net.js';
import { Game } from './game.js';
import { DEFAULT_MAX_ACTORS } from './users.js';
import { UI } from './ui.js';
import { credentials } from './auth.js';
import { touchControls } from './touch.js';
import { badSocketURL, unreachable, UNREACHABLE_AFTER } from './setup.js';

const STORED_SERVER = 'dzone.server';

const SOCKET = socketURL(location);
const OVERRIDDEN = new URLSearchParams(location.search).has('socketURL');
/** Shown once no connection has opened after a few tries; gone on the first open. */
const UNREACHABLE = unreachable(SOCKET, OVERRIDDEN);
let everOpened = false;

/** ?maxActors=N lowers how many members are drawn at most (never raises it). */
function maxActors() {
  const n = Number.parseInt(new URLSearchParams(location.search).get('maxActors'), 10);
  return n > 0 ? Math.min(n, DEFAULT_MAX_ACTORS) : DEFAULT_MAX_ACTORS;
}

const ui = new UI({ onSwitch: (id) => choose(id, true), socket: SOCKET });
const game = new Game(document.getElementById('scene'), ui, { maxActors: maxActors() });
ui.game = game;
window.game = game;

const conn = new Connection(SOCKET, {
  onOpen() {
    everOpened = true;
    ui.dismiss(UNREACHABLE);
    ui.connection(true);
  },
  onClose(attempt, delay) {
    ui.connection(false, delay);
    if (!everOpened && attempt >= UNREACHABLE_AFTER) ui.banner(UNREACHABLE, { sticky: true });
  },
  onMessage(msg) {
    const first = msg.type === 'server-list' && !game.servers;
    game.handle(msg);
    if (msg.type !== 'server-list') return;
    if (first || !game.server) {
      const id = fromURL() || localStorage.getItem(STORED_SERVER) || game.defaultServer();
      history.replaceState({ s: id }, '');
      choose(id, false);
    } else {
      join(); // a reconnect: back to the same server
    }
  },
});

function fromURL() {
  return new URLSearchParams(location.search).get('s');
}

/** Shows server `id` and joins it; `push` adds a history entry (a user's click). */
function choose(id, push) {
  if (push) {
    if (id === game.server && game.joined) return;
    const url = new URL(location.href);
    url.searchParams.set('s', id);
    if (id !== game.server) history.pushState({ s: id }, '', url);
  }
  try {
    localStorage.setItem(STORED_SERVER, id);
  } catch {
    // Private mode may refuse storage; the URL still remembers.
  }
  game.request(id, join);
  ui.switching();
}

function join() {
  const data = { server: game.server };
  const entry = game.lookup(game.server);
  const creds = credentials(SOCKET);
  // Credentials go only to servers that ask for them, on the socket they were made for.
  if (creds && entry && entry[1].passworded) {
    data.discordToken = creds.token;
    data.discordUser = creds.user;
  }
  conn.send({ type: 'connect', data });
}

window.addEventListener('popstate', (e) => {
  const id = fromURL() || (e.state && e.state.s) || game.defaultServer();
  if (id && id !== game.server) choose(id, false);
});

window.addEventListener('resize', () => game.layout());

const canvas = game.canvas;
// Touch has its own gestures (touch.js); these are the mouse's and pen's.
canvas.addEventListener('pointermove', (e) => {
  if (e.pointerType !== 'touch') game.setPointer(e.clientX, e.clientY);
});
canvas.addEventListener('pointerleave', (e) => {
  if (e.pointerType !== 'touch') game.setPointer(null);
});
// The wheel zooms about the pointer, one whole step per notch; a trackpad's
// many small deltas add up to a notch instead of each jumping a step.
const NOTCH = 50;
let wheel = 0;
canvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  wheel += e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY;
  if (Math.abs(wheel) < NOTCH) return;
  const step = wheel < 0 ? 1 : -1;
  wheel = 0;
  game.zoomAt(game.zoom + step, e.clientX, e.clientY);
}, { passive: false });

let drag = null;
canvas.addEventListener('pointerdown', (e) => {
  if (e.pointerType !== 'touch') drag = { x: e.clientX, y: e.clientY, pan: [...game.pan] };
});
window.addEventListener('pointerup', () => {
  drag = null;
});
window.addEventListener('pointermove', (e) => {
  if (!drag) return;
  const dpr = window.devicePixelRatio || 1;
  game.setPan(
    drag.pan[0] + Math.round(((e.clientX - drag.x) * dpr) / game.scale),
    drag.pan[1] + Math.round(((e.clientY - drag.y) * dpr) / game.scale),
  );
});
touchControls(canvas, game);
canvas.addEventListener('dblclick', () => game.resetView());

game.layout();
game.start();
ui.connection(false, 0);
document.getElementById('reconnecting').hidden = true; // first connect is not a reconnect
const badURL = badSocketURL(SOCKET, OVERRIDDEN);
if (badURL) ui.banner(badURL, { sticky: true });
else conn.connect();
