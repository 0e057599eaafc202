// The scene and the protocol state behind it. `window.game` is an instance:
// servers (last server-list data), server (id as requested), users.actors,
// bubbles, fps and connected are there for inspection and tests.
//
// Everything is drawn at pixel-art resolution into a small buffer which is
// then scaled by a whole number onto the screen canvas.

import { FADE_MS, Users } from './actors.js';
import { Chat } from './chat.js';
import { Island, radiusFor, tileToScreen } from './world.js';
import { beacon, cloud, decorations, dndMark, ring, shadow, sleepZ } from './sprites.js';
import { hashString, hash2 } from './random.js';

const PULSE_MS = 1400;
const PREVIEW_RADIUS = 7;

export class Game {
  constructor(canvas, ui) {
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
    this.users = new Users();
    this.chat = new Chat();
    this.island = null;
    this.baked = null;
    this.decor = []; // static sprites sorted by depth: {img, x, y, key}
    this.pulses = []; // start times of beacon pulses, newest last
    this.fps = 0;
    this.frameCount = 0;
    this.fpsSince = performance.now();
    this.scale = 1;
    this.zoom = 0; // user zoom steps added to the fitted scale
    this.pan = [0, 0];
    this.pointer = null; // [bufferX, bufferY] or null
    this.hovered = null;
    this.drawn = []; // actors in draw order, reused each frame
    this.background = null;
    this.statics = null; // [two composed static layers], see compose()
    this.land = null; // 1 where the island covers the buffer
    this.dirty = true;
    this.uiScale = 2;
    this.ox = 0;
    this.oy = 0;
    this.glints = Array.from({ length: 90 }, () => [Math.random(), Math.random(), Math.random() * 6000, 1 + Math.floor(Math.random() * 3)]);
    // [sprite, start offset 0..1, height 0..1, pixels per second]
    this.clouds = [0, 1, 2, 1].map((v, i) => [cloud(v), Math.random(), i / 4 + Math.random() * 0.2, 2 + Math.random() * 3]);
    this.frame = this.frame.bind(this);
  }

  get bubbles() {
    return this.chat.active().map((b) => ({ uid: b.uid, message: b.text, channel: b.channel }));
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
      if (data.uid != null && data.message != null) this.chat.push(data.uid, data.message, data.channel);
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
    this.chat.clear(this.users);
    this.users.clear();
    this.pan = [0, 0];
    this.setIsland(new Island(hashString(this.serverKey || id), PREVIEW_RADIUS));
    send();
  }

  onJoin(data) {
    const asked = data.request && data.request.server != null ? String(data.request.server) : null;
    if (asked && this.server && asked !== this.server) return; // a stale answer to an earlier switch
    const now = performance.now();
    const users = data.users && typeof data.users === 'object' ? data.users : {};
    const count = Object.keys(users).length;
    if (!this.serverKey) {
      const found = this.lookup(asked || this.server);
      if (found) this.serverKey = found[0];
    }
    this.chat.clear(this.users);
    this.setIsland(new Island(hashString(this.serverKey || this.server || ''), radiusFor(count)));
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
    for (const actor of Object.values(this.users.actors)) {
      if (actor.onIsland) actor.place(this.island, now - 400);
    }
  }

  setIsland(island) {
    this.island = island;
    this.baked = island.bake();
    this.islandBounds = island.bounds();
    this.decor = island.decorations
      .map((d) => {
        const s = decorations[d.kind][d.variant];
        const [sx, sy] = tileToScreen(d.x, d.y);
        return { s, x: sx, y: sy - island.elevation(d.x, d.y), key: sy };
      })
      .sort((a, b) => a.key - b.key);
    this.layout();
  }

  pulse() {
    this.pulses.push(performance.now());
    if (this.pulses.length > 8) this.pulses.shift();
  }

  // ---- view ----------------------------------------------------------------

  /** Fits the island into the window with a whole-number scale. */
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
    this.scale = Math.max(1, Math.min(10, Math.max(1, fit) + this.zoom));
    // Bubbles and names are drawn at their own, gentler scale so a close-up
    // island is not covered in giant text, and a far one stays readable.
    this.uiScale = this.scale <= 2 ? 2 : Math.max(2, Math.floor(this.scale * 0.6));
    const bw = Math.ceil(W / this.scale);
    const bh = Math.ceil(H / this.scale);
    if (this.buffer.width !== bw || this.buffer.height !== bh) {
      this.buffer.width = bw;
      this.buffer.height = bh;
      this.background = paintBackground(bw, bh);
    }
    this.origin = [
      Math.floor(bw / 2 - (b.minX + b.maxX) / 2),
      Math.floor(bh / 2 - (b.minY + b.maxY) / 2 + 14),
    ];
    this.dirty = true;
  }

  setPan(x, y) {
    this.pan = [x, y];
    this.dirty = true;
  }

  /**
   * Pre-composes what does not move (sky and sea, the two surf frames, the
   * terrain) into two buffer-sized layers, plus a mask of where land is so
   * sea glints stay in the water.
   */
  compose() {
    this.dirty = false;
    const w = this.buffer.width;
    const h = this.buffer.height;
    const layer = (frame) => {
      const c = this.statics && this.statics[frame] && this.statics[frame].width === w && this.statics[frame].height === h
        ? this.statics[frame]
        : Object.assign(document.createElement('canvas'), { width: w, height: h });
      const ctx = c.getContext('2d');
      ctx.drawImage(this.background, 0, 0);
      if (this.island) {
        const [x, y] = this.islandAt();
        ctx.drawImage(this.baked.surf[frame], x, y);
        ctx.drawImage(this.baked.terrain, x, y);
      }
      return c;
    };
    this.statics = [layer(0), layer(1)];
    this.land = new Uint8Array(w * h);
    if (!this.island) return;
    const probe = Object.assign(document.createElement('canvas'), { width: w, height: h });
    const pctx = probe.getContext('2d', { willReadFrequently: true });
    const [x, y] = this.islandAt();
    pctx.drawImage(this.baked.surf[0], x, y);
    pctx.drawImage(this.baked.terrain, x, y);
    const alpha = pctx.getImageData(0, 0, w, h).data;
    for (let i = 0; i < w * h; i++) this.land[i] = alpha[i * 4 + 3] > 40 ? 1 : 0;
  }

  /** Where the baked island canvases go in the buffer. */
  islandAt() {
    return [this.origin[0] + this.pan[0] - this.baked.ox, this.origin[1] + this.pan[1] - this.baked.oy];
  }

  setPointer(clientX, clientY) {
    if (clientX == null) {
      this.pointer = null;
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    this.pointer = [Math.floor((clientX * dpr) / this.scale), Math.floor((clientY * dpr) / this.scale)];
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
      for (const uid in this.users.actors) this.users.actors[uid].update(island, now);
      this.chat.update(this.users, now);
      this.users.prune(now);
    }
    this.draw(now);
  }

  draw(now) {
    if (this.dirty || !this.statics) this.compose();
    const ctx = this.ctx;
    // At scale 1 the buffer would be a plain copy: draw straight to the screen.
    const direct = this.scale === 1;
    const b = direct ? ctx : this.bctx;
    b.imageSmoothingEnabled = false;
    b.drawImage(this.statics[Math.floor(now / 700) % 2], 0, 0);
    this.drawGlints(b, this.buffer.width, this.buffer.height, now);
    this.drawClouds(b, now);
    if (this.island) this.drawWorld(b, now);
    ctx.imageSmoothingEnabled = false;
    if (!direct) ctx.drawImage(this.buffer, 0, 0, this.buffer.width * this.scale, this.buffer.height * this.scale);
    if (this.island) this.drawOverlays(ctx);
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
      if (this.land[y * W + x] || this.land[y * W + Math.min(W - 1, x + len)]) continue;
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
    const ox = this.origin[0] + this.pan[0];
    const oy = this.origin[1] + this.pan[1];
    this.ox = ox;
    this.oy = oy;

    // Beacon pulses spread over the plaza as rings.
    const plazaY = oy - island.elevation(0, 0);
    let glow = 0;
    for (const start of this.pulses) {
      const age = now - start;
      if (age > PULSE_MS) continue;
      const t = age / PULSE_MS;
      glow = Math.max(glow, 1 - t * 2.5);
      const r = ring(6 + Math.round(t * 34));
      b.globalAlpha = (1 - t) * 0.8;
      b.drawImage(r.img, ox - r.ax, plazaY - r.ay);
    }
    b.globalAlpha = 1;

    // Characters and scenery, back to front.
    const drawn = this.drawn;
    drawn.length = 0;
    const actors = this.users.actors;
    for (const uid in actors) {
      const a = actors[uid];
      if (!a.onIsland) continue;
      a.locate(island, now);
      // Depth: the ground row, with a tiny x term so ties stay stable.
      a.key = a.sy + island.elevation(a.x, a.y) + 0.001 * a.sx;
      drawn.push(a);
    }
    drawn.sort((p, q) => p.key - q.key);
    const decor = this.decor;
    let di = 0;
    let beaconDone = false;
    for (let i = 0; i <= drawn.length; i++) {
      const a = drawn[i];
      const key = a ? a.key : Infinity;
      while (di < decor.length && decor[di].key <= key) {
        const d = decor[di++];
        b.drawImage(d.s.img, ox + d.x - d.s.ax, oy + d.y - d.s.ay);
      }
      if (!beaconDone && key >= 0) {
        beaconDone = true;
        const s = beacon(glow);
        b.drawImage(s.img, ox - s.ax, plazaY - s.ay);
      }
      if (a) this.drawActor(b, a, ox, oy, now);
    }

    for (const f of this.users.fading) {
      const t = (now - f.start) / FADE_MS;
      if (t >= 1) continue;
      const frame = f.actor.frames().air[0][f.actor.facing()];
      b.globalAlpha = 1 - t;
      b.drawImage(frame.img, ox + f.sx - frame.ax, oy + f.sy - frame.ay - Math.round(t * 8));
    }
    b.globalAlpha = 1;
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
      const frame = sheet.air[pose][facing];
      b.globalAlpha = t;
      b.drawImage(shadow.img, x - shadow.ax, y - shadow.ay);
      b.drawImage(frame.img, x - frame.ax, y - frame.ay - Math.round((1 - t) * 14));
      b.globalAlpha = 1;
    } else if (a.lift) {
      const frame = sheet.air[pose][facing];
      b.drawImage(shadow.img, x - shadow.ax, y - shadow.ay);
      b.drawImage(frame.img, x - frame.ax, y - frame.ay - a.lift);
    } else {
      const frame = sheet.ground[pose][facing];
      b.drawImage(frame.img, x - frame.ax, y - frame.ay);
    }
    if (a.presence === 'dnd') {
      b.drawImage(dndMark.img, x - dndMark.ax, y - 11 - dndMark.ay);
    } else if (a.presence === 'idle') {
      const t = ((now + a.seed) % 2600) / 2600;
      b.globalAlpha = Math.min(1, 2 - 2 * t);
      b.drawImage(sleepZ, x + 1 + Math.round(t * 4), y - 15 - Math.round(t * 6));
      b.globalAlpha = 1;
    }
  }

  // Names and bubbles, drawn on the screen canvas at the UI scale. A bubble
  // that would cover one already placed is lifted above it.
  drawOverlays(ctx) {
    const { ox, oy, scale, uiScale } = this;
    const W = this.canvas.width;
    const H = this.canvas.height;
    const placed = this.placed || (this.placed = []);
    placed.length = 0;
    const place = (img, footX, footY, gap, avoid) => {
      const w = img.width * uiScale;
      const h = img.height * uiScale;
      let x = Math.max(4, Math.min(W - w - 4, Math.round((ox + footX) * scale - w / 2)));
      let y = Math.max(4, Math.min(H - h - 4, Math.round((oy + footY) * scale - gap * scale - h)));
      for (let tries = 0; avoid && tries < 8; tries++) {
        const hit = placed.find((r) => x < r[0] + r[2] && r[0] < x + w && y < r[1] + r[3] && r[1] < y + h);
        if (!hit || hit[1] - h - 2 < 4) break;
        y = hit[1] - h - 2;
      }
      placed.push([x, y, w, h]);
      ctx.drawImage(img, x, y, w, h);
    };
    // Front-most speakers first, so the bubbles behind them move up.
    const bubbles = this.chat.active().sort((p, q) => q.actor.sy - p.actor.sy);
    for (const bubble of bubbles) {
      const s = bubble.actor;
      place(bubble.render(), s.sx, s.sy - s.lift, 11, true);
    }
    const a = this.hovered = this.pick(ox, oy);
    if (a && !a.bubble) place(a.label(), a.sx, a.sy - a.lift, 13, false);
  }

  /** The front-most character under the pointer, if any. */
  pick(ox, oy) {
    if (!this.pointer) return null;
    const [px, py] = this.pointer;
    for (let i = this.drawn.length - 1; i >= 0; i--) {
      const a = this.drawn[i];
      const x = ox + a.sx;
      const y = oy + a.sy - a.lift;
      if (px >= x - 5 && px <= x + 5 && py >= y - 10 && py <= y + 1) return a;
    }
    return null;
  }
}

// Sky haze fading into a deep, calm sea, with a gentle ordered dither.
function paintBackground(w, h) {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(w, h);
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
  ctx.putImageData(img, 0, 0);
  return c;
}

