// The scene and the protocol state behind it. `window.game` is an instance:
// servers (last server-list data), server (id as requested), users.actors,
// bubbles, fps and connected are there for inspection and tests.
//
// Everything is drawn at pixel-art resolution into a small buffer which is
// then scaled by a whole number onto the screen canvas; names and bubbles
// are drawn over it at their own scale. What keeps a 20,000-member island
// smooth:
// - the world is drawn as pixels in JavaScript (pixels.js) and handed to the
//   canvas once a frame, not one drawImage per sprite;
// - the ground is painted once into chunks (terrain.js), and the chunks in
//   view are composed into two buffer-sized layers only when the view moves;
// - characters live in depth rows (depth.js) that change only when a hop
//   starts or ends, and a frame draws only the rows and columns on screen;
// - logic runs at a fixed step, path finding within a budget per frame
//   (paths.js), and a frame is drawn only when something on it may have
//   changed: a hop, a bubble, a fade, the view, or the slow ambient tick of
//   sea glints, clouds and surf.

import { FADE_MS } from './actors.js';
import { Users, DEFAULT_MAX_ACTORS } from './users.js';
import { Chat } from './chat.js';
import { Gathering } from './gather.js';
import { Paths } from './paths.js';
import { Terrain, CHUNK_W, CHUNK_H } from './terrain.js';
import { Island, WATER, radiusFor, tileToScreen } from './world.js';
import { beacon, cloud, decorations, dndMark, outline, ring, shadow, sleepZ } from './sprites.js';
import { hashString, hash2 } from './random.js';
import { Frame, over } from './pixels.js';

const PULSE_MS = 1400;
const PREVIEW_RADIUS = 7;
/** Logic step (ms): hops, bubbles and walks advance at this pace whatever the frame rate. */
const STEP_MS = 1000 / 30;
/** Sea glints, clouds, surf and dozing "z"s change this often; a still scene draws no more. */
const AMBIENT_MS = 100;
/** How long a zoom step eases from the old scale to the new. */
const ZOOM_EASE_MS = 140;
/** Time spent per frame painting ground chunks that scrolled into view. */
const PAINT_BUDGET_MS = 10;
/** Whole-number scales the view may take, and zoom steps beyond the fitted one. */
export const MIN_SCALE = 1;
export const MAX_SCALE = 10;
export const MIN_ZOOM = -8;
export const MAX_ZOOM = 8;

export class Game {
  constructor(canvas, ui, { maxActors = DEFAULT_MAX_ACTORS } = {}) {
    this.canvas = canvas;
    this.ui = ui;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.buffer = document.createElement('canvas');
    this.bctx = this.buffer.getContext('2d');
    this.servers = null; // last server-list data, snowflake -> {id, name, passworded, default?}
    this.server = null; // id of the server we asked for, e.g. "dworld"
    this.serverKey = null; // its snowflake, to filter broadcasts
    this.serverName = '';
    this.clientId = null;
    this.joined = false; // server-join received for `server`
    this.connected = false;
    this.maxActors = maxActors; // the most bodies drawn (?maxActors=)
    this.users = new Users(maxActors);
    this.gathering = new Gathering();
    this.chat = new Chat({
      // Those who spoke there before walk over; then this one counts among them.
      onSpeak: (actor, channel, now) => {
        this.gathering.call(actor, channel, this.users, this.paths, now);
        this.gathering.spoke(actor.uid, channel, now);
      },
      nameOf: (uid) => this.users.actors[uid]?.username || null,
    });
    this.island = null;
    this.terrain = null;
    this.paths = null;
    this.decorRows = []; // per depth row (offset by 2R): static sprites {s, x, y}
    this.pulses = []; // start times of beacon pulses, newest last
    this.fps = 0;
    this.frameCount = 0;
    this.fpsSince = performance.now();
    this.draws = 0; // frames actually drawn, for inspection
    this.logicAt = 0; // time of the last logic step
    this.scale = 1;
    this.fit = 1; // the scale that frames the whole island
    this.zoom = 0; // user zoom steps added to the fitted scale
    this.pan = [0, 0];
    this.pointer = null; // [bufferX, bufferY] or null
    this.pointerClient = null; // [clientX, clientY] it came from
    this.hovered = null;
    this.outlined = null; // uid drawn with the hover outline in the last frame
    this.drawn = []; // actors drawn in the last frame, in draw order
    this.background = null; // sky and sea pixels, buffer-sized
    this.statics = null; // [two composed static layers, pixel words], see compose()
    this.picture = null; // the Frame the world is drawn into
    this.dirty = true; // the static layers must be composed again
    this.redraw = true; // something changed that the next frame must show
    this.ambient = -1; // last ambient tick drawn
    this.painting = false; // some chunk in view is not painted yet
    this.joinedAt = 0; // performance.now() of the last server-join
    this.readyAt = 0; // first complete frame after it
    this.uiScale = 2;
    this.ox = 0;
    this.oy = 0;
    this.glints = Array.from({ length: 90 }, () => [Math.random(), Math.random(), Math.random() * 6000, 1 + Math.floor(Math.random() * 3)]);
    // [sprite, start offset 0..1, height 0..1, pixels per second]
    this.clouds = [0, 1, 2, 1].map((v, i) => [cloud(v), Math.random(), i / 4 + Math.random() * 0.2, 2 + Math.random() * 3]);
    this.frame = this.frame.bind(this);
  }

  get bubbles() {
    const now = performance.now();
    return this.chat.active().map((b) => ({ uid: b.uid, message: b.text, channel: b.channel, shown: b.shown(now), phase: b.phase(now), page: b.page }));
  }

  /** Snowflake and entry for a short server id, or null. */
  lookup(id) {
    for (const [key, s] of Object.entries(this.servers || {})) if (s && s.id === id) return [key, s];
    return null;
  }

  /** The id to join when nothing was chosen: the default server, else the first. */
  defaultServer() {
    const list = Object.values(this.servers || {});
    const d = list.find((s) => s && s.default) || list[0];
    return d ? d.id : 'default';
  }

  // ---- protocol ----------------------------------------------------------

  handle(msg) {
    this.pulse();
    const data = msg.data && typeof msg.data === 'object' ? msg.data : {};
    switch (msg.type) {
      case 'server-list':
        this.servers = data;
        this.ui.serversChanged();
        return;
      case 'server-join':
        this.onJoin(data);
        return;
      case 'error':
        this.ui.error(String(data.message || 'Unknown error'));
        return;
      default:
    }
    // Broadcasts: only for the server we joined.
    if (!this.joined || (msg.server && this.serverKey && String(msg.server) !== this.serverKey)) return;
    const now = performance.now();
    if (msg.type === 'message') {
      if (data.uid == null || data.message == null) return;
      const uid = String(data.uid);
      const channel = String(data.channel ?? '');
      if (this.users.touch(uid, this.island, now)) this.maybeGrow(now);
      this.chat.push(uid, data.message, channel);
    } else if (msg.type === 'presence') {
      if (this.users.presence(data, this.island, now)) this.maybeGrow(now);
    } else if (msg.type === 'update-clientid') {
      this.clientId = data.clientId ? String(data.clientId) : null;
      this.ui.clientIdChanged();
    }
  }

  /** Switches the scene to `id` and asks the server to join it. */
  request(id, send) {
    const found = this.lookup(id);
    this.server = id;
    this.serverKey = found ? found[0] : null;
    this.serverName = found ? found[1].name : id;
    this.joined = false;
    this.clientId = null;
    this.chat.clear();
    this.gathering.clear();
    this.users.clear();
    this.pan = [0, 0];
    this.zoom = 0;
    this.setIsland(new Island(hashString(this.serverKey || id), PREVIEW_RADIUS));
    send();
  }

  onJoin(data) {
    const asked = data.request && data.request.server != null ? String(data.request.server) : null;
    if (asked && this.server && asked !== this.server) return; // a stale answer to an earlier switch
    const now = performance.now();
    this.joinedAt = now;
    this.readyAt = 0;
    const users = data.users && typeof data.users === 'object' ? data.users : {};
    if (!this.serverKey) {
      const found = this.lookup(asked || this.server);
      if (found) this.serverKey = found[0];
    }
    this.chat.clear();
    this.gathering.clear();
    // Sized from the members drawn: offline ones have no body to make room for.
    const drawn = Users.drawnOf(users, this.maxActors);
    this.setIsland(new Island(hashString(this.serverKey || this.server || ''), radiusFor(drawn)));
    this.users.load(users, this.island, now);
    this.serverName = String(data.serverName || this.serverName || '');
    this.clientId = data.clientId ? String(data.clientId) : null;
    this.joined = true;
    this.ui.joined();
  }

  // Makes the island bigger when its meadows get crowded.
  maybeGrow(now) {
    if (this.users.onIsland < this.island.walkable.length * 0.4) return;
    const old = this.island;
    this.setIsland(new Island(old.seed, radiusFor(Math.ceil(this.users.onIsland * 2))));
    // Everyone scatters over the new land instead of staying bunched up.
    this.users.rescatter(this.island, now - 400);
  }

  setIsland(island) {
    this.island = island;
    this.terrain = new Terrain(island);
    if (this.paths) this.paths.cancel();
    this.paths = new Paths(island);
    this.islandBounds = island.bounds();
    const R = island.R;
    this.decorRows = Array.from({ length: 4 * R + 1 }, () => []);
    for (const d of island.decorations) {
      const s = decorations[d.kind][d.variant];
      const [sx, sy] = tileToScreen(d.x, d.y);
      this.decorRows[d.x + d.y + 2 * R].push({ s, x: sx, y: sy - island.elevation(d.x, d.y) });
    }
    this.drawn.length = 0;
    this.hovered = null;
    this.layout();
  }

  pulse() {
    this.pulses.push(performance.now());
    if (this.pulses.length > 8) this.pulses.shift();
  }

  // ---- view ----------------------------------------------------------------

  /** Fits the island into the window with a whole-number scale, plus the user's zoom steps. */
  layout() {
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.round(window.innerWidth * dpr));
    const H = Math.max(1, Math.round(window.innerHeight * dpr));
    if (this.canvas.width !== W || this.canvas.height !== H) {
      this.canvas.width = W;
      this.canvas.height = H;
    }
    const b = this.islandBounds || { minX: -120, maxX: 120, minY: -60, maxY: 60 };
    const fit = Math.floor(Math.min(W / (b.maxX - b.minX + 24), H / (b.maxY - b.minY + 80)));
    this.fit = Math.max(MIN_SCALE, Math.min(MAX_SCALE, fit));
    this.scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.fit + this.zoom));
    // Bubbles and names are drawn at their own, gentler scale so a close-up
    // island is not covered in giant text, and a far one stays readable.
    this.uiScale = this.scale <= 2 ? 2 : Math.max(2, Math.floor(this.scale * 0.6));
    const bw = Math.ceil(W / this.scale);
    const bh = Math.ceil(H / this.scale);
    if (this.buffer.width !== bw || this.buffer.height !== bh || !this.picture) {
      this.buffer.width = bw;
      this.buffer.height = bh;
      this.background = paintBackground(bw, bh);
      this.picture = new Frame(bw, bh);
      this.statics = null;
    }
    this.origin = [
      Math.floor(bw / 2 - (b.minX + b.maxX) / 2),
      Math.floor(bh / 2 - (b.minY + b.maxY) / 2 + 14),
    ];
    if (this.pointerClient) this.setPointer(...this.pointerClient);
    this.dirty = true;
  }

  /** The zoom steps allowed now: those that give a scale within the limits. */
  zoomRange() {
    return [Math.max(MIN_ZOOM, MIN_SCALE - this.fit), Math.min(MAX_ZOOM, MAX_SCALE - this.fit)];
  }

  /** The island pixel under a point of the page (CSS pixels), e.g. the pointer. */
  worldAt(clientX, clientY) {
    const dpr = window.devicePixelRatio || 1;
    return [(clientX * dpr) / this.scale - (this.origin[0] + this.pan[0]), (clientY * dpr) / this.scale - (this.origin[1] + this.pan[1])];
  }

  /**
   * Zooms to `zoom` steps keeping the island pixel `world` (by default the
   * one under the point) at (clientX, clientY): the wheel zooms about the
   * pointer, a pinch about where it began.
   */
  zoomAt(zoom, clientX, clientY, world = this.worldAt(clientX, clientY)) {
    const [lo, hi] = this.zoomRange();
    zoom = Math.max(lo, Math.min(hi, zoom));
    if (zoom === this.zoom) return;
    const dpr = window.devicePixelRatio || 1;
    const was = this.scale;
    this.zoom = zoom;
    this.layout();
    this.setPan(
      Math.round((clientX * dpr) / this.scale - this.origin[0] - world[0]),
      Math.round((clientY * dpr) / this.scale - this.origin[1] - world[1]),
    );
    this.ease(was / this.scale, clientX, clientY);
  }

  /**
   * Makes a zoom step smooth: the canvas, already drawn at the new scale,
   * starts at the old size about the same point and eases to the new one.
   * Only the element's style moves, so it costs no drawing.
   */
  ease(from, clientX, clientY) {
    const style = this.canvas.style;
    if (from === 1 || !style) return;
    style.transition = 'none';
    style.transformOrigin = `${clientX}px ${clientY}px`;
    style.transform = `scale(${from})`;
    void this.canvas.offsetWidth; // starts the transition from there
    style.transition = `transform ${ZOOM_EASE_MS}ms ease-out`;
    style.transform = 'none';
  }

  /** Back to the first view: the whole island at the largest scale that fits. */
  resetView() {
    this.pan = [0, 0];
    this.zoom = 0;
    this.layout();
  }

  setPan(x, y) {
    this.pan = [x, y];
    this.dirty = true;
  }

  setPointer(clientX, clientY) {
    this.redraw = true;
    if (clientX == null) {
      this.pointer = null;
      this.pointerClient = null;
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    this.pointerClient = [clientX, clientY];
    this.pointer = [Math.floor((clientX * dpr) / this.scale), Math.floor((clientY * dpr) / this.scale)];
  }

  /**
   * Composes what does not move (sky and sea, then the two surf frames of
   * the ground chunks in view) into two buffer-sized layers of pixels.
   * Chunks not painted yet are painted within a time budget, all at once
   * for a new island, so its first frame is whole; the rest follow in later
   * frames.
   */
  compose(now) {
    const w = this.buffer.width;
    const h = this.buffer.height;
    if (!this.statics || this.statics[0].length !== w * h) this.statics = [new Uint32Array(w * h), new Uint32Array(w * h)];
    const [first, second] = this.statics;
    first.set(this.background);
    const layer = Frame.of(first, w, h);
    this.dirty = false;
    this.painting = false;
    if (!this.island) {
      second.set(first);
      return;
    }
    const ox = this.origin[0] + this.pan[0];
    const oy = this.origin[1] + this.pan[1];
    const unlimited = !this.readyAt;
    const started = performance.now();
    const shown = [];
    for (let j = Math.floor(-oy / CHUNK_H); j <= Math.floor((h - oy - 1) / CHUNK_H); j++) {
      for (let i = Math.floor(-ox / CHUNK_W); i <= Math.floor((w - ox - 1) / CHUNK_W); i++) {
        let c = this.terrain.get(i, j);
        if (c === undefined) {
          if (!unlimited && performance.now() - started > PAINT_BUDGET_MS) {
            this.painting = true;
            continue;
          }
          c = this.terrain.paint(i, j);
        }
        if (!c) continue;
        layer.blit(c.base, CHUNK_W, CHUNK_H, ox + i * CHUNK_W, oy + j * CHUNK_H);
        shown.push(c, ox + i * CHUNK_W, oy + j * CHUNK_H);
      }
    }
    // The second surf frame: the first, with the coast pixels that differ.
    second.set(first);
    const bg = this.background;
    for (let k = 0; k < shown.length; k += 3) {
      const { at, words } = shown[k];
      const cx = shown[k + 1];
      const cy = shown[k + 2];
      for (let n = 0; n < at.length; n++) {
        const x = cx + (at[n] % CHUNK_W);
        const y = cy + ((at[n] / CHUNK_W) | 0);
        if (x < 0 || y < 0 || x >= w || y >= h) continue;
        const i = y * w + x;
        second[i] = over(bg[i], words[n]);
      }
    }
    if (this.painting) this.dirty = true;
    else if (this.joined && !this.readyAt) this.readyAt = now;
  }

  // ---- frame ---------------------------------------------------------------

  start() {
    requestAnimationFrame(this.frame);
  }

  frame(now) {
    requestAnimationFrame(this.frame);
    this.frameCount++;
    if (now - this.fpsSince >= 500) {
      this.fps = Math.round((this.frameCount * 1000) / (now - this.fpsSince));
      this.frameCount = 0;
      this.fpsSince = now;
    }
    const island = this.island;
    if (island) {
      // A fixed logic step; after a stall (a hidden tab) it does not replay the gap.
      if (now - this.logicAt > 250) this.logicAt = now - STEP_MS;
      while (this.logicAt + STEP_MS <= now) {
        this.logicAt += STEP_MS;
        this.users.step(island, this.logicAt);
        this.chat.update(this.users, this.logicAt);
      }
      this.paths.run();
    }
    if (this.needsDraw(now)) this.draw(now);
  }

  /** Whether the next frame can look different from the last one drawn. */
  needsDraw(now) {
    const tick = Math.floor(now / AMBIENT_MS);
    if (this.dirty || this.redraw || tick !== this.ambient) return true;
    if (now < this.users.animUntil || this.users.fading.length) return true;
    if (this.pulses.length && now - this.pulses[this.pulses.length - 1] < PULSE_MS) return true;
    return this.chat.channels.size > 0;
  }

  draw(now) {
    this.draws++;
    this.redraw = false;
    this.ambient = Math.floor(now / AMBIENT_MS);
    if (this.dirty || !this.statics) this.compose(now);
    const ctx = this.ctx;
    const pic = this.picture;
    pic.words.set(this.statics[Math.floor(now / 700) % 2]);
    this.ox = this.origin[0] + this.pan[0];
    this.oy = this.origin[1] + this.pan[1];
    if (this.island) {
      this.hovered = this.pick(this.ox, this.oy);
      this.drawWorld(pic, now);
    }
    // At scale 1 the buffer would be a plain copy: draw straight to the screen.
    const direct = this.scale === 1;
    const b = direct ? ctx : this.bctx;
    b.putImageData(pic.image, 0, 0);
    b.imageSmoothingEnabled = false;
    // Glints keep to open water and clouds to the sky: nothing of the world is over them.
    const ambient = this.ambient * AMBIENT_MS;
    this.drawGlints(b, this.buffer.width, this.buffer.height, ambient);
    this.drawClouds(b, ambient);
    ctx.imageSmoothingEnabled = false;
    if (!direct) ctx.drawImage(this.buffer, 0, 0, this.buffer.width * this.scale, this.buffer.height * this.scale);
    if (this.island) this.drawOverlays(ctx, now);
  }

  /** Whether buffer pixel (x, y) is near land (glints stay in open water). */
  nearLand(x, y) {
    const ix = x - this.ox;
    const iy = y - this.oy;
    const u = ix / 8;
    const v = iy / 4;
    const tx = Math.round((u + v) / 2);
    const ty = Math.round((v - u) / 2);
    const island = this.island;
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if (island.typeAt(tx + dx, ty + dy) !== WATER) return true;
    return false;
  }

  drawGlints(b, W, H, now) {
    for (const g of this.glints) {
      const t = ((now + g[2]) % 6000) / 6000;
      const a = Math.sin(t * Math.PI);
      if (a < 0.25) continue;
      // Each glint drifts slowly and reappears elsewhere every cycle.
      const cycle = Math.floor((now + g[2]) / 6000);
      const x = Math.floor((g[0] + hash2(cycle, g[3], 1) * 0.3) * W + t * 6) % W;
      const y = Math.floor((g[1] + hash2(cycle, g[3], 2) * 0.3) * H) % H;
      const len = g[3] + (a > 0.8 ? 1 : 0);
      if (this.island && (this.nearLand(x, y) || this.nearLand(x + len, y))) continue;
      b.fillStyle = `rgba(235,250,255,${(a * 0.55 * (0.4 + y / H)).toFixed(2)})`;
      b.fillRect(x, y, len, 1);
    }
  }

  // Clouds drift through the band of sky above the island, never over it.
  drawClouds(b, now) {
    const W = this.buffer.width;
    const top = this.island ? this.origin[1] + this.pan[1] + this.islandBounds.minY - 24 : this.buffer.height / 3;
    for (const [s, start, height, speed] of this.clouds) {
      const room = top - s.h - 4;
      if (room < 2) continue;
      const span = W + s.w;
      const x = Math.floor((start * span + (now / 1000) * speed) % span) - s.w;
      const y = 3 + Math.floor(height * room);
      b.drawImage(s.img, x, y);
    }
  }

  drawWorld(b, now) {
    const island = this.island;
    const { ox, oy } = this;
    const W = this.buffer.width;
    const H = this.buffer.height;

    // Beacon pulses spread over the plaza as rings.
    const plazaY = oy - island.elevation(0, 0);
    let glow = 0;
    for (const start of this.pulses) {
      const age = now - start;
      if (age > PULSE_MS) continue;
      const t = age / PULSE_MS;
      glow = Math.max(glow, 1 - t * 2.5);
      b.sprite(ring(6 + Math.round(t * 34)), ox, plazaY, (1 - t) * 0.8);
    }

    // Characters and scenery, back to front, the rows and columns on screen only.
    const R = island.R;
    const left = -ox - 16;
    const right = W - ox + 16;
    const sMin = Math.max(-2 * R, Math.floor((-oy - 12) / 4));
    const sMax = Math.min(2 * R, Math.ceil((H - oy + 40) / 4));
    const drawn = this.drawn;
    drawn.length = 0;
    this.outlined = null;
    const depth = this.users.depth;
    for (let s = sMin; s <= sMax; s++) {
      for (const d of this.decorRows[s + 2 * R]) {
        if (d.x < left - 8 || d.x > right + 8) continue;
        b.sprite(d.s, ox + d.x, oy + d.y);
      }
      if (s === 0) {
        b.sprite(beacon(glow), ox, plazaY);
      }
      for (const a of depth.at(s)) {
        const tx = (a.x - a.y) * 8;
        if (tx < left || tx > right) continue;
        a.locate(island, now);
        this.drawActor(b, a, ox, oy, now);
        drawn.push(a);
      }
    }

    for (const f of this.users.fading) {
      const t = (now - f.start) / FADE_MS;
      if (t >= 1 || f.sx < left || f.sx > right) continue;
      const frame = f.actor.frames().air[0][f.actor.facing()];
      b.sprite(frame, ox + f.sx, oy + f.sy - Math.round(t * 8), 1 - t);
    }
  }

  drawActor(b, a, ox, oy, now) {
    const x = ox + a.sx;
    const y = oy + a.sy;
    const sheet = a.frames();
    const pose = a.squashed(now) ? 1 : 0;
    const facing = a.facing();
    const appear = now - a.appearedAt;
    if (appear < 400) {
      // Newcomers drop in from above.
      const t = appear / 400;
      b.sprite(shadow, x, y, t);
      b.sprite(sheet.air[pose][facing], x, y - Math.round((1 - t) * 14), t);
    } else if (a.lift || a === this.hovered) {
      const frame = sheet.air[pose][facing];
      b.sprite(shadow, x, y);
      if (a === this.hovered) {
        b.sprite(outline(frame), x, y - a.lift);
        this.outlined = a.uid;
      }
      b.sprite(frame, x, y - a.lift);
    } else {
      b.sprite(sheet.ground[pose][facing], x, y);
    }
    if (a.presence === 'dnd') {
      b.sprite(dndMark, x, y - 11);
    } else if (a.presence === 'idle') {
      const t = ((this.ambient * AMBIENT_MS + a.seed) % 2600) / 2600;
      b.sprite(sleepZ, x + 1 + Math.round(t * 4), y - 15 - Math.round(t * 6), Math.min(1, 2 - 2 * t));
    }
  }

  // Names and bubbles, drawn on the screen canvas at the UI scale. A bubble
  // that would cover one already placed is lifted above it.
  drawOverlays(ctx, now) {
    const { ox, oy, scale, uiScale } = this;
    const W = this.canvas.width;
    const H = this.canvas.height;
    const placed = this.placed || (this.placed = []);
    placed.length = 0;
    const place = (img, footX, footY, gap, avoid, size = 1) => {
      const fw = img.width * uiScale;
      const fh = img.height * uiScale;
      const w = Math.max(1, Math.round(fw * size));
      const h = Math.max(1, Math.round(fh * size));
      // The bubble grows from (and shrinks into) its tail, at the bottom centre.
      let x = Math.max(4, Math.min(W - fw - 4, Math.round((ox + footX) * scale - fw / 2)));
      let y = Math.max(4, Math.min(H - fh - 4, Math.round((oy + footY) * scale - gap * scale - fh)));
      for (let tries = 0; avoid && tries < 8; tries++) {
        const hit = placed.find((r) => x < r[0] + r[2] && r[0] < x + fw && y < r[1] + r[3] && r[1] < y + fh);
        if (!hit || hit[1] - fh - 2 < 4) break;
        y = hit[1] - fh - 2;
      }
      placed.push([x, y, fw, fh]);
      ctx.drawImage(img, x + Math.round((fw - w) / 2), y + fh - h, w, h);
    };
    // Front-most speakers first, so the bubbles behind them move up. Only
    // speakers on screen: the others' bubbles cannot be seen.
    const bw = this.buffer.width;
    const bh = this.buffer.height;
    const bubbles = this.chat.active().filter((bb) => {
      const a = bb.actor;
      a.locate(this.island, now);
      return ox + a.sx > -40 && ox + a.sx < bw + 40 && oy + a.sy > -10 && oy + a.sy < bh + 80;
    });
    bubbles.sort((p, q) => q.actor.sy - p.actor.sy);
    for (const bubble of bubbles) {
      const s = bubble.actor;
      place(bubble.render(now), s.sx, s.sy - s.lift, 11, true, bubble.size(now));
    }
    const a = this.hovered;
    if (a && !a.bubble) place(a.label(), a.sx, a.sy - a.lift, 13, false);
  }

  /** The front-most character under the pointer, if any, among those drawn last frame. */
  pick(ox, oy) {
    if (!this.pointer) return null;
    const [px, py] = this.pointer;
    for (let i = this.drawn.length - 1; i >= 0; i--) {
      const a = this.drawn[i];
      if (!a.onIsland) continue;
      const x = ox + a.sx;
      const y = oy + a.sy - a.lift;
      if (px >= x - 5 && px <= x + 5 && py >= y - 10 && py <= y + 1) return a;
    }
    return null;
  }
}

// Sky haze fading into a deep, calm sea, with a gentle ordered dither: pixel words.
function paintBackground(w, h) {
  const img = new ImageData(w, h);
  const stops = [
    [0, [178, 226, 246]],
    [0.14, [120, 200, 236]],
    [0.45, [62, 160, 214]],
    [1, [30, 98, 170]],
  ];
  const bayer = [0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5];
  for (let y = 0; y < h; y++) {
    const t = y / Math.max(1, h - 1);
    let i = 0;
    while (i < stops.length - 2 && t > stops[i + 1][0]) i++;
    const [t0, c0] = stops[i];
    const [t1, c1] = stops[i + 1];
    const f = Math.max(0, Math.min(1, (t - t0) / (t1 - t0)));
    for (let x = 0; x < w; x++) {
      const d = (bayer[(y & 3) * 4 + (x & 3)] / 16 - 0.5) * 6;
      const o = (y * w + x) * 4;
      img.data[o] = c0[0] + (c1[0] - c0[0]) * f + d;
      img.data[o + 1] = c0[1] + (c1[1] - c0[1]) * f + d;
      img.data[o + 2] = c0[2] + (c1[2] - c0[2]) * f + d;
      img.data[o + 3] = 255;
    }
  }
  // Long, faint swell lines.
  for (let k = 0; k < (w * h) / 900; k++) {
    const x = Math.floor(hash2(k, 1, 3) * w);
    const y = Math.floor(hash2(k, 2, 3) * h);
    if (y < h * 0.18) continue;
    const len = 4 + Math.floor(hash2(k, 3, 3) * 12);
    for (let i = 0; i < len && x + i < w; i++) {
      const o = (y * w + x + i) * 4;
      img.data[o] += 14;
      img.data[o + 1] += 16;
      img.data[o + 2] += 14;
    }
  }
  return new Uint32Array(img.data.buffer);
}

