// The frame as plain pixels: the scene is copied sprite by sprite into one
// Uint32Array and handed to the canvas with a single putImageData. On
// Chromium's software canvas each drawImage of a 9 x 10 sprite costs a few
// microseconds of fixed overhead, so 5,000 characters took 35 ms a frame;
// the same pixels copied in JavaScript take about one. Sprites are read
// back from their canvases once (pixelsOf) and the look is unchanged:
// the same pixels, with the same alpha blending.
//
// Words are little-endian RGBA bytes: 0xAABBGGRR.

/** A sprite's pixels: {w, h, data: Uint32Array}, read once and kept on the sprite. */
export function pixelsOf(sprite) {
  if (sprite.px) return sprite.px;
  const img = sprite.img;
  const data = new Uint32Array(img.getContext('2d').getImageData(0, 0, img.width, img.height).data.buffer);
  sprite.px = { w: img.width, h: img.height, data };
  return sprite.px;
}

/** An opaque w x h picture being drawn; `image` goes to putImageData. */
export class Frame {
  constructor(w, h, words = null) {
    this.w = w;
    this.h = h;
    this.image = words ? null : new ImageData(w, h);
    this.words = words || new Uint32Array(this.image.data.buffer);
  }

  /** A Frame drawing into existing words (no ImageData of its own). */
  static of(words, w, h) {
    return new Frame(w, h, words);
  }

  /** Draws a sprite with its anchor at (x, y), faded by `alpha` (0..1). */
  sprite(s, x, y, alpha = 1) {
    const p = s.px || pixelsOf(s);
    this.blit(p.data, p.w, p.h, x - s.ax, y - s.ay, alpha);
  }

  /** Copies a w x h block of words with its top-left at (dx, dy), blending by alpha. */
  blit(src, w, h, dx, dy, alpha = 1) {
    const W = this.w;
    const x0 = dx < 0 ? 0 : dx;
    const y0 = dy < 0 ? 0 : dy;
    const x1 = dx + w > W ? W : dx + w;
    const y1 = dy + h > this.h ? this.h : dy + h;
    if (x0 >= x1 || y0 >= y1) return;
    const dst = this.words;
    const k = alpha >= 1 ? 1 : alpha <= 0 ? 0 : alpha;
    if (!k) return;
    for (let y = y0; y < y1; y++) {
      const s = (y - dy) * w - dx;
      const d = y * W;
      for (let x = x0; x < x1; x++) {
        const v = src[s + x];
        if (v === 0) continue;
        const a = v >>> 24;
        if (a === 255 && k === 1) {
          dst[d + x] = v;
          continue;
        }
        if (a === 0) continue;
        const f = (a * k) / 255;
        const g = 1 - f;
        const o = dst[d + x];
        const r = ((v & 255) * f + (o & 255) * g) | 0;
        const gr = (((v >>> 8) & 255) * f + ((o >>> 8) & 255) * g) | 0;
        const b = (((v >>> 16) & 255) * f + ((o >>> 16) & 255) * g) | 0;
        dst[d + x] = (0xff000000 | (b << 16) | (gr << 8) | r) >>> 0;
      }
    }
  }
}

/** Pixel word `v` blended over the opaque word `o`. */
export function over(o, v) {
  const a = v >>> 24;
  if (a === 255) return v;
  if (a === 0) return o;
  const f = a / 255;
  const g = 1 - f;
  const r = ((v & 255) * f + (o & 255) * g) | 0;
  const gr = (((v >>> 8) & 255) * f + ((o >>> 8) & 255) * g) | 0;
  const b = (((v >>> 16) & 255) * f + ((o >>> 16) & 255) * g) | 0;
  return (0xff000000 | (b << 16) | (gr << 8) | r) >>> 0;
}
