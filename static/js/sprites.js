// Procedural pixel sprites: characters tinted per role colour, trees, rocks,
// the beacon and small overlays. Each sprite is a canvas with an anchor
// (ax, ay): the pixel that stands on the tile centre.

import { hash2 } from './random.js';
import { diamond } from './world.js';

function canvas(w, h) {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  return c;
}

function sprite(w, h, ax, ay, paint) {
  const c = canvas(w, h);
  const ctx = c.getContext('2d');
  paint((x, y, color) => {
    ctx.fillStyle = color;
    ctx.fillRect(x, y, 1, 1);
  }, ctx);
  return { img: c, w, h, ax, ay };
}

export function parseColor(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(String(hex || '').trim());
  if (!m) return null;
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const css = ([r, g, b], a = 1) => `rgba(${Math.round(r)},${Math.round(g)},${Math.round(b)},${a})`;
const shade = (c, f) => c.map((v) => Math.max(0, Math.min(255, f < 0 ? v * (1 + f) : v + (255 - v) * f)));

// Discord's "no role colour" is black (#000000): draw those as soft white.
const DEFAULT_COLOR = [226, 228, 240];

/*
 * Character body, 9x9: a soft rounded blob. 'o' outline, 'b' body, 'h'
 * highlight, 's' shade, 'f' feet. Eyes are added per facing.
 */
const BODY = [
  '..ooooo..',
  '.ohhhbbo.',
  'ohhbbbbbo',
  'ohbbbbbbo',
  'obbbbbbso',
  'obbbbbsso',
  '.obbbsso.',
  '..ooooo..',
  '..f...f..',
];
const SQUASH = [
  '.........',
  '.........',
  '.ooooooo.',
  'ohhhbbbbo',
  'ohbbbbbbo',
  'obbbbbsso',
  'obbbbssso',
  '.ooooooo.',
  '.f.....f.',
];

const sheets = new Map();

/**
 * Frames for one role colour: sheet.ground and sheet.air, each indexed by
 * [pose][facing]; pose 0 standing, 1 squashed; facing 0 front-right,
 * 1 front-left, 2 back. `dim` gives the dozing (idle) variant.
 */
export function characterSheet(color, dim = false) {
  const key = `${color}|${dim}`;
  let sheet = sheets.get(key);
  if (sheet) return sheet;
  let base = parseColor(color);
  if (!base || (base[0] + base[1] + base[2] === 0)) base = DEFAULT_COLOR;
  if (dim) base = base.map((v) => v * 0.6 + 120 * 0.4 - 20);
  const palette = {
    o: css(shade(base, -0.62)),
    b: css(base),
    h: css(shade(base, 0.35)),
    s: css(shade(base, -0.22)),
    f: css(shade(base, -0.5)),
  };
  const paintBody = (set, rows, pose, facing) => {
    rows.forEach((row, y) => {
      for (let x = 0; x < 9; x++) if (palette[row[x]]) set(x, y, palette[row[x]]);
    });
    if (facing === 2) return;
    const eyeY = pose === 0 ? 3 : 4;
    const ex = facing === 0 ? 4 : 2;
    const eye = '#1d1626';
    if (dim) {
      // Closed eyes: short lids.
      set(ex, eyeY + 1, eye);
      set(ex + 3, eyeY + 1, eye);
    } else {
      set(ex, eyeY + 1, eye);
      set(ex + 3, eyeY + 1, eye);
      set(ex, eyeY, '#ffffff');
      set(ex + 3, eyeY, '#ffffff');
    }
    // A blush on the cheek makes them friendlier.
    set(facing === 0 ? ex + 4 : ex - 1, eyeY + 2, 'rgba(255,120,140,0.55)');
  };
  // `air` frames are the body alone (drawn over a separate shadow while
  // hopping); `ground` frames have the shadow baked in, one blit per character.
  const make = (withShadow) =>
    [BODY, SQUASH].map((rows, pose) =>
      [0, 1, 2].map((facing) =>
        sprite(9, 10, 4, 8, (set, ctx) => {
          if (withShadow) ctx.drawImage(shadow.img, 0, 7);
          paintBody(set, rows, pose, facing);
        }),
      ),
    );
  sheet = { air: make(false), ground: make(true) };
  if (sheets.size > 4000) sheets.clear(); // colours are bounded in practice; stay safe
  sheets.set(key, sheet);
  return sheet;
}

export const shadow = sprite(9, 3, 4, 1, (set) => {
  for (let x = 1; x < 8; x++) set(x, 1, 'rgba(20,40,30,0.28)');
  for (let x = 2; x < 7; x++) {
    set(x, 0, 'rgba(20,40,30,0.18)');
    set(x, 2, 'rgba(20,40,30,0.18)');
  }
});

export const dndMark = sprite(5, 5, 2, 4, (set) => {
  const ring = ['.rrr.', 'rrrrr', 'rwwwr', 'rrrrr', '.rrr.'];
  ring.forEach((row, y) => {
    for (let x = 0; x < 5; x++) {
      if (row[x] === 'r') set(x, y, '#e8394a');
      if (row[x] === 'w') set(x, y, '#ffffff');
    }
  });
});

export const sleepZ = sprite(5, 5, 0, 0, (set) => {
  ['#####', '...#.', '..#..', '.#...', '#####'].forEach((row, y) => {
    for (let x = 0; x < 5; x++) if (row[x] === '#') set(x, y, '#f4f8ff');
  });
});

function tree(variant) {
  const pine = variant === 2;
  return sprite(15, 22, 7, 20, (set) => {
    // Trunk
    for (let y = 15; y < 21; y++) {
      set(6, y, '#7a4f2c');
      set(7, y, '#8f5e35');
      set(8, y, '#6a4426');
    }
    const greens = pine
      ? ['#2f7a4a', '#3b9157', '#4fa868', '#1f5c37']
      : ['#3f9a3c', '#55b347', '#74cc5c', '#2b7a32'];
    for (let y = 0; y < 18; y++) {
      for (let x = 0; x < 15; x++) {
        let inside;
        if (pine) {
          const layer = y % 6;
          const half = 1.5 + layer * 0.9 + Math.floor(y / 6) * 1.2;
          inside = y < 17 && Math.abs(x - 7) <= half;
        } else {
          const dx = x - 7;
          const dy = y - 8.5 + (variant === 1 ? 1 : 0);
          inside = dx * dx + dy * dy * 1.15 < 44 - hash2(x, y, variant) * 7;
        }
        if (!inside) continue;
        const light = -(x - 7) * 0.08 - (y - 8) * 0.09 + (hash2(x, y, 77 + variant) - 0.5) * 0.5;
        const c = light > 0.45 ? greens[2] : light > -0.15 ? greens[1] : light > -0.6 ? greens[0] : greens[3];
        set(x, y, c);
      }
    }
    if (!pine && variant === 1) {
      set(5, 6, '#e94b4b');
      set(9, 9, '#e94b4b');
      set(6, 12, '#e94b4b');
    }
  });
}

function rock(variant) {
  return sprite(10, 7, 5, 5, (set) => {
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 10; x++) {
        const dx = (x - 4.5) / (variant === 1 ? 3.5 : 4.5);
        const dy = (y - 3.5) / 3.2;
        if (dx * dx + dy * dy > 1) continue;
        const light = -dx * 0.5 - dy * 0.7 + (hash2(x, y, 5 + variant) - 0.5) * 0.4;
        set(x, y, light > 0.4 ? '#d6d8e0' : light > -0.2 ? '#a9abb8' : '#7c7e8e');
      }
    }
  });
}

function bush() {
  return sprite(11, 8, 5, 6, (set) => {
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 11; x++) {
        const dx = (x - 5) / 5.2;
        const dy = (y - 4) / 3.6;
        if (dx * dx + dy * dy > 1 - hash2(x, y, 2) * 0.2) continue;
        const light = -dx * 0.5 - dy * 0.6 + (hash2(x, y, 31) - 0.5) * 0.5;
        set(x, y, light > 0.35 ? '#7fd060' : light > -0.25 ? '#55b347' : '#3a8a38');
      }
    }
    set(3, 3, '#ffffff');
    set(7, 2, '#ffd24a');
    set(6, 5, '#ffffff');
  });
}

export const decorations = {
  tree: [0, 1, 2].map(tree),
  rock: [0, 1, 2].map(rock),
  bush: [0, 1, 2].map(bush),
};

const beacons = [];
/** The beacon: a stone obelisk on a plinth, its crystal lit by `glow` (0..1). */
export function beacon(glow) {
  const level = Math.round(Math.max(0, Math.min(1, glow)) * 7);
  if (beacons[level]) return beacons[level];
  const k = level / 7;
  beacons[level] = sprite(16, 34, 8, 29, (set) => {
    for (let e = 0; e <= 4; e++) {
      diamond(8, 29 - e, (x, y) => {
        const n = hash2(x, y, 12) < 0.15;
        if (e === 4) set(x, y, n ? '#c4c6d2' : '#d8dae4');
        else set(x, y, x < 8 ? (n ? '#a2a4b2' : '#b2b4c2') : n ? '#7c7e8e' : '#8e90a0');
      });
    }
    for (let y = 8; y < 26; y++) {
      const half = y < 11 ? y - 8 : 3;
      for (let x = 8 - half; x < 8 + half; x++) set(x, y, x < 8 ? '#eceef6' : '#b8bacb');
    }
    const mid = [255, 226 + 29 * k, 120 + 130 * k].map(Math.round);
    const edge = [200 + 55 * k, 150 + 80 * k, 40 + 60 * k].map(Math.round);
    const rows = ['..#..', '.###.', '#####', '#####', '.###.', '..#..'];
    rows.forEach((row, y) => {
      for (let x = 0; x < 5; x++) {
        if (row[x] !== '#') continue;
        const rim = x === 0 || x === 4 || row[x - 1] !== '#' || row[x + 1] !== '#' || y === 0 || y === 5;
        set(6 + x - 1, y + 5, `rgb(${(rim ? edge : mid).join(',')})`);
      }
    });
  });
  return beacons[level];
}

const rings = new Map();
/** An isometric ring (2:1 ellipse) of the given radius, for beacon pulses. */
export function ring(radius) {
  let s = rings.get(radius);
  if (s) return s;
  const w = radius * 2 + 2;
  const h = radius + 2;
  s = sprite(w, h, radius + 1, Math.floor(h / 2), (set) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const dx = (x + 0.5 - (radius + 1)) / radius;
        const dy = (y + 0.5 - h / 2) / (radius / 2);
        const d = Math.sqrt(dx * dx + dy * dy);
        if (Math.abs(d - 1) < 1 / radius + 0.02) set(x, y, 'rgba(255,250,200,1)');
      }
    }
  });
  rings.set(radius, s);
  return s;
}

/** A fluffy pixel cloud: a few overlapping puffs, lit from above. */
export function cloud(variant) {
  const puffs = [
    [[8, 9, 6], [16, 6, 8], [26, 8, 7], [34, 10, 5]],
    [[7, 8, 5], [15, 6, 7], [23, 8, 5]],
    [[9, 9, 7], [19, 5, 9], [30, 7, 8], [40, 10, 5], [47, 11, 3]],
  ][variant % 3];
  const w = Math.max(...puffs.map(([x, , r]) => x + r)) + 2;
  const h = 18;
  return sprite(w, h, 0, 0, (set) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let best = -1;
        for (const [px, py, r] of puffs) {
          const d = Math.hypot((x - px) / r, (y - py) / r);
          if (d < 1) best = Math.max(best, 1 - d);
        }
        if (best < 0 || y > 14) continue;
        const underside = y > 11 || (y > 9 && best < 0.35);
        set(x, y, underside ? 'rgba(214,232,246,0.92)' : best > 0.55 && y < 8 ? 'rgba(255,255,255,0.98)' : 'rgba(244,250,255,0.95)');
      }
    }
  });
}

const outlines = new WeakMap();
/**
 * A one-pixel outline around a sprite's silhouette (drawn behind it), for
 * the character under the pointer. Made once per frame sprite.
 */
export function outline(s, color = '#fff8d0') {
  let o = outlines.get(s);
  if (o) return o;
  o = sprite(s.w + 2, s.h + 2, s.ax + 1, s.ay + 1, (set, ctx) => {
    for (const [dx, dy] of [[0, 1], [2, 1], [1, 0], [1, 2]]) ctx.drawImage(s.img, dx, dy);
    ctx.globalCompositeOperation = 'source-in';
    ctx.fillStyle = color;
    ctx.fillRect(0, 0, s.w + 2, s.h + 2);
  });
  outlines.set(s, o);
  return o;
}
