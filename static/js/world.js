// The island: a tile grid grown from seeded noise, with the paint of one
// tile block; terrain.js paints those into cached chunks as they come into
// view, so a frame only blits them.
//
// Tiles are 16x8 pixel isometric diamonds; tile (x, y) has its centre at
// screen ((x - y) * 8, (x + y) * 4) relative to the island centre. Each land
// tile is a block whose top sits `elevation` pixels above the water.

import { fractalNoise, hash2, seeded } from './random.js';

export const WATER = 0;
export const SAND = 1;
export const GRASS = 2;
export const PLAZA = 3;

export const ELEVATION = [0, 2, 5, 5];
export const UNDERWATER = 3; // how far cliffs reach below the surface

/** Tile centre in island screen space. */
export function tileToScreen(x, y) {
  return [(x - y) * 8, (x + y) * 4];
}

/** Island radius (in tiles) with room for `users` characters to roam. */
export function radiusFor(users) {
  return Math.max(7, Math.ceil(Math.sqrt((users * 2.4 + 40) / 2.1)));
}

export class Island {
  constructor(seed, radius) {
    this.seed = seed;
    this.radius = radius;
    this.R = Math.ceil(radius * 1.3) + 4; // grid half-size, with sea margin
    this.N = this.R * 2 + 1;
    const cells = this.N * this.N;
    this.type = new Uint8Array(cells);
    this.blocked = new Uint8Array(cells); // trees, rocks, the beacon
    this.occupied = new Uint8Array(cells); // characters standing or landing here
    this.claimed = new Set(); // tiles some walker is on its way to (see paths.js)
    this.decorations = []; // {x, y, kind, variant}
    this.walkable = []; // [x, y] of every tile a character may stand on
    this.generate();
  }

  index(x, y) {
    return (y + this.R) * this.N + (x + this.R);
  }

  inside(x, y) {
    return x >= -this.R && x <= this.R && y >= -this.R && y <= this.R;
  }

  typeAt(x, y) {
    return this.inside(x, y) ? this.type[this.index(x, y)] : WATER;
  }

  elevation(x, y) {
    return ELEVATION[this.typeAt(x, y)];
  }

  canStand(x, y) {
    if (!this.inside(x, y)) return false;
    const i = this.index(x, y);
    return this.type[i] !== WATER && !this.blocked[i];
  }

  isFree(x, y) {
    return this.canStand(x, y) && !this.occupied[this.index(x, y)];
  }

  occupy(x, y) {
    if (this.inside(x, y)) this.occupied[this.index(x, y)] = 1;
  }

  release(x, y) {
    if (this.inside(x, y)) this.occupied[this.index(x, y)] = 0;
  }

  /** A random unoccupied tile, or any walkable one when the island is full. */
  randomFreeTile(rand = Math.random) {
    const list = this.walkable;
    for (let tries = 0; tries < 60; tries++) {
      const [x, y] = list[Math.floor(rand() * list.length)];
      if (!this.occupied[this.index(x, y)]) return [x, y];
    }
    for (const [x, y] of list) if (!this.occupied[this.index(x, y)]) return [x, y];
    return list[Math.floor(rand() * list.length)];
  }

  generate() {
    const { R, radius, seed } = this;
    // The land noise, worked out once per cell: the beaches read it again.
    const noise = new Float64Array(this.N * this.N);
    const noiseAt = (x, y) => noise[this.index(x, y)];
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) {
        const d = Math.hypot(x, y) / radius;
        const n = fractalNoise(x * 0.11 + 50, y * 0.11 + 50, seed);
        noise[this.index(x, y)] = n;
        const v = 1 - d + (n - 0.5) * 0.8;
        if (v > 0.05 || d < 0.4) this.type[this.index(x, y)] = GRASS;
      }
    }
    this.keepMainland();
    // Beaches: land touching the sea, widened where the noise runs low.
    const beach = [];
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) {
        if (this.typeAt(x, y) === WATER) continue;
        const nearSea = NEIGHBOURS.some(([dx, dy]) => this.typeAt(x + dx, y + dy) === WATER);
        const d = Math.hypot(x, y) / radius;
        const low = 1 - d + (noiseAt(x, y) - 0.5) * 0.8 < 0.11 && d > 0.6;
        if (nearSea || low) beach.push(this.index(x, y));
      }
    }
    for (const i of beach) this.type[i] = SAND;
    for (let y = -1; y <= 1; y++) for (let x = -1; x <= 1; x++) this.type[this.index(x, y)] = PLAZA;
    this.blocked[this.index(0, 0)] = 1; // the beacon

    const rand = seeded(seed ^ 0x5eed);
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) {
        const t = this.typeAt(x, y);
        if (t === WATER || t === PLAZA || Math.max(Math.abs(x), Math.abs(y)) <= 2) continue;
        const forest = fractalNoise(x * 0.2 + 9, y * 0.2 + 9, seed + 7);
        const r = rand();
        let kind = null;
        if (t === GRASS && r < (forest > 0.58 ? 0.22 : 0.02)) kind = 'tree';
        else if (t === GRASS && r > 0.985) kind = 'bush';
        else if (r > 0.975 - (t === SAND ? 0.02 : 0)) kind = 'rock';
        if (kind) {
          this.decorations.push({ x, y, kind, variant: Math.floor(rand() * 3) });
          this.blocked[this.index(x, y)] = 1;
        }
      }
    }
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) if (this.canStand(x, y)) this.walkable.push([x, y]);
    }
  }

  // Keeps the land connected to the centre and fills inland lakes.
  keepMainland() {
    const { N, R } = this;
    const land = new Uint8Array(N * N);
    const stack = [[0, 0]];
    land[this.index(0, 0)] = 1;
    while (stack.length) {
      const [x, y] = stack.pop();
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const nx = x + dx;
        const ny = y + dy;
        if (!this.inside(nx, ny)) continue;
        const i = this.index(nx, ny);
        if (!land[i] && this.type[i] !== WATER) {
          land[i] = 1;
          stack.push([nx, ny]);
        }
      }
    }
    const sea = new Uint8Array(N * N);
    const open = [];
    for (let k = -R; k <= R; k++) open.push([k, -R], [k, R], [-R, k], [R, k]);
    while (open.length) {
      const [x, y] = open.pop();
      if (!this.inside(x, y)) continue;
      const i = this.index(x, y);
      if (sea[i] || land[i]) continue;
      sea[i] = 1;
      open.push([x + 1, y], [x - 1, y], [x, y + 1], [x, y - 1]);
    }
    for (let i = 0; i < N * N; i++) this.type[i] = sea[i] ? WATER : GRASS;
  }

  /** Screen-space box around all land, in island coordinates. */
  bounds() {
    let minX = 0;
    let maxX = 0;
    let minY = 0;
    let maxY = 0;
    for (let y = -this.R; y <= this.R; y++) {
      for (let x = -this.R; x <= this.R; x++) {
        const t = this.typeAt(x, y);
        if (t === WATER) continue;
        const [sx, sy] = tileToScreen(x, y);
        minX = Math.min(minX, sx - 8);
        maxX = Math.max(maxX, sx + 8);
        minY = Math.min(minY, sy - 4 - ELEVATION[t]);
        maxY = Math.max(maxY, sy + 4 + UNDERWATER);
      }
    }
    return { minX, maxX, minY, maxY };
  }

  /**
   * Paints tile (x, y) of type t as a block centred at (cx, cy) of `pc`: its
   * sides a slice at a time from under the water up, then its top. A slice
   * shows only where the one above does not cover it, so only those pixels
   * are worked out, and only those inside `pc`.
   */
  paintBlock(pc, cx, cy, x, y, t) {
    const top = ELEVATION[t];
    const tileShade = fractalNoise(x * 0.3, y * 0.3, this.seed + 3) - 0.5;
    const { w, h } = pc;
    for (let e = -UNDERWATER; e <= top; e++) {
      const isTop = e === top;
      const sy = cy - e;
      diamond(cx, sy, (px, py) => {
        if (px < 0 || py < 0 || px >= w || py >= h) return;
        if (isTop) pc.set(px, py, topColor(t, px, py, cx, sy, tileShade));
        else if (!inDiamond(px - cx, py - sy + 1)) pc.set(px, py, faceColor(t, top - e, e, px < cx, px, py));
      });
    }
  }

  /** Flowers and grass tufts painted straight onto the top of grass tile (x, y) centred at (cx, cy). */
  paintDecal(pc, x, y, cx, cy) {
    if (this.typeAt(x, y) !== GRASS || !this.canStand(x, y)) return;
    const r = hash2(x, y, this.seed + 11);
    cy -= ELEVATION[GRASS];
    if (r < 0.16) {
      const [fr, fg, fb] = FLOWERS[Math.floor(hash2(x, y, 5) * FLOWERS.length)];
      for (let k = 0; k < 3; k++) {
        const dx = Math.floor(hash2(x, y, 20 + k) * 9) - 4;
        const dy = Math.floor(hash2(x, y, 30 + k) * 5) - 2;
        pc.set(cx + dx, cy + dy, rgb(fr, fg, fb));
        pc.set(cx + dx, cy + dy + 1, rgb(70, 140, 50));
      }
    } else if (r < 0.4) {
      const dx = Math.floor(hash2(x, y, 40) * 7) - 3;
      const dy = Math.floor(hash2(x, y, 41) * 3) - 1;
      const dark = rgb(84, 156, 52);
      pc.set(cx + dx, cy + dy, dark);
      pc.set(cx + dx + 2, cy + dy, dark);
      pc.set(cx + dx + 1, cy + dy + 1, dark);
    }
  }
}

const NEIGHBOURS = [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]];
const FLOWERS = [[255, 236, 110], [255, 160, 200], [250, 250, 255], [190, 160, 255]];

/** Whether offset (dx, dy) from a diamond's centre is one of its pixels (see diamond()). */
function inDiamond(dx, dy) {
  const r = dy + 4;
  if (r < 0 || r > 7) return false;
  const k = r < 4 ? r : 7 - r;
  return dx >= -1 - 2 * k && dx <= 2 * k;
}

/** Calls fn(px, py) for every pixel of the 16x8 diamond centred at (cx, cy). */
export function diamond(cx, cy, fn) {
  for (let r = 0; r < 8; r++) {
    const k = r < 4 ? r : 7 - r;
    const py = cy - 4 + r;
    for (let px = cx - 1 - 2 * k; px <= cx + 2 * k; px++) fn(px, py);
  }
}

function topColor(t, px, py, cx, cy, tileShade) {
  const n = hash2(px, py, 7);
  const edgeRow = py - (cy - 4); // 0..7
  if (t === GRASS) {
    const base = 0.5 + tileShade * 0.9;
    if (n < 0.06) return rgb(92, 168, 60);
    if (n > 0.97) return rgb(166, 228, 120);
    return mix3([110, 196, 76], [134, 212, 92], base);
  }
  if (t === SAND) {
    if (n < 0.08) return rgb(222, 192, 124);
    if (n > 0.95) return rgb(255, 244, 200);
    return mix3([240, 214, 150], [246, 224, 164], 0.5 + tileShade);
  }
  // Plaza stones: pale slabs with darker joints along the tile border.
  const dx = Math.abs(px + 0.5 - cx);
  const border = dx / 8 + Math.abs(py + 0.5 - cy) / 4 > 0.78;
  if (border && edgeRow >= 4) return rgb(150, 152, 166);
  if (border) return rgb(214, 216, 226);
  return n < 0.1 ? rgb(184, 186, 198) : rgb(198, 200, 212);
}

function faceColor(t, depth, e, left, px, py) {
  const n = (hash2(px, py, 3) - 0.5) * 16;
  let c;
  if (t === SAND) c = left ? [222, 192, 122] : [192, 160, 98];
  else if (depth === 1) c = left ? [92, 166, 58] : [72, 140, 48];
  else if (depth <= 3) c = left ? [156, 108, 66] : [120, 82, 52];
  else c = left ? [168, 170, 182] : [128, 130, 146];
  if (e < 0) c = [c[0] * 0.4 + 40 * 0.6, c[1] * 0.4 + 130 * 0.6, c[2] * 0.4 + 180 * 0.6];
  return rgb(c[0] + n, c[1] + n, c[2] + n);
}

function mix3(a, b, f) {
  const k = Math.max(0, Math.min(1, f));
  return rgb(a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k, a[2] + (b[2] - a[2]) * k);
}

/** Packs a colour for a little-endian Uint32 view of RGBA bytes. */
export function rgb(r, g, b, a = 255) {
  return ((byte(a) << 24) | (byte(b) << 16) | (byte(g) << 8) | byte(r)) >>> 0;
}

function byte(v) {
  const n = Math.round(v);
  return n < 0 ? 0 : n > 255 ? 255 : n;
}

/** A pixel buffer written as 32-bit words (see rgb), for painting ground chunks. */
export class PixelCanvas {
  constructor(w, h) {
    this.w = w;
    this.h = h;
    this.words = new Uint32Array(w * h);
  }

  set(x, y, color) {
    if (x >= 0 && y >= 0 && x < this.w && y < this.h) this.words[y * this.w + x] = color;
  }
}
