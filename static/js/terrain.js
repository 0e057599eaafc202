// The island's ground as cached chunks: fixed 512 x 256 rectangles of island
// screen space, each painted once (terrain blocks, flowers, and the two
// frames of shallows and surf around the coast) the first time it comes into
// view, and kept while there is room. A 20,000-member island is some
// 6,000 x 3,000 pixels; painting it whole took seconds and hundreds of
// megabytes, while a screen needs a dozen chunks.
//
// Chunk (i, j) covers island pixels [i * W, (i + 1) * W) x [j * H, (j + 1) * H),
// where tile (0, 0)'s centre is island pixel (0, 0) (see world.js).

import { ELEVATION, PixelCanvas, WATER, diamond, rgb, tileToScreen } from './world.js';
import { hash2 } from './random.js';

export const CHUNK_W = 512;
export const CHUNK_H = 256;
/** How far (weighted pixels, a row counting 2) the shallows reach from the coast. */
const REACH = 24;
/** Region painted around a chunk for the surf's distance, so its edges match. */
const MARGIN_X = REACH + 2;
const MARGIN_Y = REACH / 2 + 2;
/** Chunks kept painted; the least recently shown go first. */
const KEEP = 60;

const FOAM = rgb(236, 250, 255, 230);
const RIPPLE = rgb(200, 240, 250, 120);
const SHALLOW = Array.from({ length: REACH + 1 }, (_, d) => rgb(120, 220, 230, Math.max(0, 130 - d * 5)));

export class Terrain {
  constructor(island) {
    this.island = island;
    this.chunks = new Map(); // "i,j" -> {base, at, words}, or null for open sea; in use order
  }

  /**
   * The chunk: {base, at, words}, its first surf frame as CHUNK_W x CHUNK_H
   * pixel words and the pixels (indices `at`, values `words`) where the
   * second differs; null when it is open sea, undefined when not painted yet.
   */
  get(i, j) {
    const key = `${i},${j}`;
    const c = this.chunks.get(key);
    if (c !== undefined) {
      this.chunks.delete(key); // keep use order: the first entry is the oldest
      this.chunks.set(key, c);
    }
    return c;
  }

  /** Paints chunk (i, j) now. */
  paint(i, j) {
    const c = this.render(i * CHUNK_W, j * CHUNK_H);
    this.chunks.set(`${i},${j}`, c);
    if (this.chunks.size > KEEP) {
      for (const [key, v] of this.chunks) {
        if (this.chunks.size <= KEEP) break;
        if (v) this.chunks.delete(key);
      }
    }
    return c;
  }

  /**
   * Paints the chunk whose top-left is island pixel (x0, y0): the surf
   * into both frames, then the terrain over it, opaque where it is land.
   */
  render(x0, y0) {
    const island = this.island;
    const rw = CHUNK_W + 2 * MARGIN_X;
    const rh = CHUNK_H + 2 * MARGIN_Y;
    const rx = x0 - MARGIN_X;
    const ry = y0 - MARGIN_Y;
    // Tiles whose block or footprint may reach the region, back rows first.
    const tiles = [];
    const sMin = Math.floor((ry - 12) / 4);
    const sMax = Math.ceil((ry + rh + 12) / 4);
    const dMin = Math.floor((rx - 16) / 8);
    const dMax = Math.ceil((rx + rw + 16) / 8);
    for (let s = sMin; s <= sMax; s++) {
      for (let d = dMin; d <= dMax; d++) {
        if ((s + d) & 1) continue;
        const x = (s + d) / 2;
        const y = (s - d) / 2;
        const t = island.typeAt(x, y);
        if (t !== WATER) tiles.push(x, y, t);
      }
    }
    if (!tiles.length) return null;

    // Distance from the island's footprint (tile diamonds at sea level).
    const dist = new Uint8Array(rw * rh).fill(255);
    for (let k = 0; k < tiles.length; k += 3) {
      const [sx, sy] = tileToScreen(tiles[k], tiles[k + 1]);
      diamond(sx - rx, sy - ry, (px, py) => {
        if (px >= 0 && py >= 0 && px < rw && py < rh) dist[py * rw + px] = 0;
      });
    }
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        const i = y * rw + x;
        if (x > 0 && dist[i - 1] + 1 < dist[i]) dist[i] = dist[i - 1] + 1;
        if (y > 0 && dist[i - rw] + 2 < dist[i]) dist[i] = dist[i - rw] + 2;
      }
    }
    for (let y = rh - 1; y >= 0; y--) {
      for (let x = rw - 1; x >= 0; x--) {
        const i = y * rw + x;
        if (x < rw - 1 && dist[i + 1] + 1 < dist[i]) dist[i] = dist[i + 1] + 1;
        if (y < rh - 1 && dist[i + rw] + 2 < dist[i]) dist[i] = dist[i + rw] + 2;
      }
    }

    const ground = new PixelCanvas(CHUNK_W, CHUNK_H);
    for (let k = 0; k < tiles.length; k += 3) {
      const x = tiles[k];
      const y = tiles[k + 1];
      const [sx, sy] = tileToScreen(x, y);
      if (sx + 9 < x0 || sx - 9 > x0 + CHUNK_W || sy + 8 < y0 || sy - 4 - ELEVATION[tiles[k + 2]] > y0 + CHUNK_H) continue;
      island.paintBlock(ground, sx - x0, sy - y0, x, y, tiles[k + 2]);
      island.paintDecal(ground, x, y, sx - x0, sy - y0);
    }

    const frames = [0, 1].map((frame) => {
      const words = new Uint32Array(CHUNK_W * CHUNK_H);
      const land = ground.words;
      for (let y = 0; y < CHUNK_H; y++) {
        const gy = y0 + y;
        const row = (y + MARGIN_Y) * rw + MARGIN_X;
        for (let x = 0; x < CHUNK_W; x++) {
          const i = y * CHUNK_W + x;
          if (land[i]) {
            words[i] = land[i];
            continue;
          }
          const d = dist[row + x];
          if (d === 0 || d > REACH) continue;
          const gx = x0 + x;
          const surfBand = frame === 0 ? d <= 2 : d >= 2 && d <= 3;
          if (surfBand && hash2(gx, gy, frame + 90) < 0.75) words[i] = FOAM;
          else if ((d === 9 + frame * 3 || d === 10 + frame * 3) && hash2(gx >> 2, gy, frame) < 0.5) words[i] = RIPPLE;
          else words[i] = SHALLOW[d];
        }
      }
      return words;
    });
    // The second surf frame differs from the first only along the coast:
    // kept as the pixels that differ, which halves a chunk's memory and
    // lets the second layer be the first plus a few pixels.
    const [base, other] = frames;
    let n = 0;
    for (let i = 0; i < base.length; i++) if (base[i] !== other[i]) n++;
    const at = new Uint32Array(n);
    const words = new Uint32Array(n);
    n = 0;
    for (let i = 0; i < base.length; i++) {
      if (base[i] !== other[i]) {
        at[n] = i;
        words[n++] = other[i];
      }
    }
    return { base, at, words };
  }
}
