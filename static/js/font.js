// A small hand-drawn bitmap font for speech bubbles and name labels.
// Cap height is 6 px, descenders add 2; every glyph is a list of rows where
// '#' is ink. Characters outside the table are rasterised once from the
// system font and thresholded, so emoji and accents still show up crisply.

const ROWS = {
  A: ['.##.', '#..#', '#..#', '####', '#..#', '#..#'],
  B: ['###.', '#..#', '###.', '#..#', '#..#', '###.'],
  C: ['.###', '#...', '#...', '#...', '#...', '.###'],
  D: ['###.', '#..#', '#..#', '#..#', '#..#', '###.'],
  E: ['####', '#...', '###.', '#...', '#...', '####'],
  F: ['####', '#...', '###.', '#...', '#...', '#...'],
  G: ['.###', '#...', '#.##', '#..#', '#..#', '.###'],
  H: ['#..#', '#..#', '####', '#..#', '#..#', '#..#'],
  I: ['###', '.#.', '.#.', '.#.', '.#.', '###'],
  J: ['..##', '...#', '...#', '...#', '#..#', '.##.'],
  K: ['#..#', '#.#.', '##..', '#.#.', '#..#', '#..#'],
  L: ['#...', '#...', '#...', '#...', '#...', '####'],
  M: ['#...#', '##.##', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#..#', '##.#', '#.##', '#..#', '#..#', '#..#'],
  O: ['.##.', '#..#', '#..#', '#..#', '#..#', '.##.'],
  P: ['###.', '#..#', '#..#', '###.', '#...', '#...'],
  Q: ['.##.', '#..#', '#..#', '#..#', '#.#.', '.#.#'],
  R: ['###.', '#..#', '#..#', '###.', '#.#.', '#..#'],
  S: ['.###', '#...', '.##.', '...#', '...#', '###.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#..#', '#..#', '#..#', '#..#', '#..#', '.##.'],
  V: ['#...#', '#...#', '#...#', '.#.#.', '.#.#.', '..#..'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '##.##', '#...#'],
  X: ['#..#', '#..#', '.##.', '.##.', '#..#', '#..#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..'],
  Z: ['####', '...#', '..#.', '.#..', '#...', '####'],
  a: ['', '', '.###', '#..#', '#..#', '.###'],
  b: ['#...', '#...', '###.', '#..#', '#..#', '###.'],
  c: ['', '', '.###', '#...', '#...', '.###'],
  d: ['...#', '...#', '.###', '#..#', '#..#', '.###'],
  e: ['', '', '.##.', '####', '#...', '.###'],
  f: ['.##', '#..', '###', '#..', '#..', '#..'],
  g: ['', '', '.###', '#..#', '#..#', '.###', '...#', '.##.'],
  h: ['#...', '#...', '###.', '#..#', '#..#', '#..#'],
  i: ['#', '', '#', '#', '#', '#'],
  j: ['.#', '', '.#', '.#', '.#', '.#', '.#', '#.'],
  k: ['#...', '#...', '#..#', '###.', '#.#.', '#..#'],
  l: ['#.', '#.', '#.', '#.', '#.', '.#'],
  m: ['', '', '####.', '#.#.#', '#.#.#', '#.#.#'],
  n: ['', '', '###.', '#..#', '#..#', '#..#'],
  o: ['', '', '.##.', '#..#', '#..#', '.##.'],
  p: ['', '', '###.', '#..#', '#..#', '###.', '#...', '#...'],
  q: ['', '', '.###', '#..#', '#..#', '.###', '...#', '...#'],
  r: ['', '', '#.##', '##..', '#...', '#...'],
  s: ['', '', '.###', '##..', '..##', '###.'],
  t: ['.#.', '.#.', '###', '.#.', '.#.', '..#'],
  u: ['', '', '#..#', '#..#', '#..#', '.###'],
  v: ['', '', '#.#', '#.#', '#.#', '.#.'],
  w: ['', '', '#...#', '#.#.#', '#.#.#', '.#.#.'],
  x: ['', '', '#..#', '.##.', '.##.', '#..#'],
  y: ['', '', '#..#', '#..#', '#..#', '.###', '...#', '.##.'],
  z: ['', '', '####', '..#.', '.#..', '####'],
  0: ['.##.', '#..#', '#.##', '##.#', '#..#', '.##.'],
  1: ['.#.', '##.', '.#.', '.#.', '.#.', '###'],
  2: ['.##.', '#..#', '..#.', '.#..', '#...', '####'],
  3: ['###.', '...#', '.##.', '...#', '...#', '###.'],
  4: ['#..#', '#..#', '####', '...#', '...#', '...#'],
  5: ['####', '#...', '###.', '...#', '...#', '###.'],
  6: ['.##.', '#...', '###.', '#..#', '#..#', '.##.'],
  7: ['####', '...#', '..#.', '.#..', '.#..', '.#..'],
  8: ['.##.', '#..#', '.##.', '#..#', '#..#', '.##.'],
  9: ['.##.', '#..#', '#..#', '.###', '...#', '.##.'],
  ' ': ['..'],
  '.': ['', '', '', '', '', '#'],
  ',': ['', '', '', '', '', '.#', '#.'],
  '!': ['#', '#', '#', '#', '', '#'],
  '?': ['.##.', '#..#', '..#.', '.#..', '', '.#..'],
  ':': ['', '', '#', '', '', '#'],
  ';': ['', '', '.#', '', '', '.#', '#.'],
  "'": ['#', '#'],
  '"': ['#.#', '#.#'],
  '`': ['#.', '.#'],
  '-': ['', '', '', '###'],
  '+': ['', '', '.#.', '###', '.#.'],
  '=': ['', '', '###', '', '###'],
  '_': ['', '', '', '', '', '', '', '####'],
  '(': ['.#', '#.', '#.', '#.', '#.', '.#'],
  ')': ['#.', '.#', '.#', '.#', '.#', '#.'],
  '[': ['##', '#.', '#.', '#.', '#.', '##'],
  ']': ['##', '.#', '.#', '.#', '.#', '##'],
  '{': ['.##', '.#.', '#..', '.#.', '.#.', '.##'],
  '}': ['##.', '.#.', '..#', '.#.', '.#.', '##.'],
  '/': ['...#', '..#.', '..#.', '.#..', '.#..', '#...'],
  '\\': ['#...', '.#..', '.#..', '..#.', '..#.', '...#'],
  '|': ['#', '#', '#', '#', '#', '#', '#'],
  '<': ['', '..#', '.#.', '#..', '.#.', '..#'],
  '>': ['', '#..', '.#.', '..#', '.#.', '#..'],
  '*': ['', '#.#', '.#.', '#.#'],
  '^': ['.#.', '#.#'],
  '~': ['', '', '.#.#', '#.#.'],
  '#': ['', '.#.#.', '#####', '.#.#.', '#####', '.#.#.'],
  '%': ['#..#', '...#', '..#.', '.#..', '#...', '#..#'],
  '&': ['.#..', '#.#.', '.#..', '#.##', '#..#', '.###'],
  '@': ['.###.', '#...#', '#.###', '#.#.#', '#.##.', '.###.'],
  $: ['..#..', '.####', '#.#..', '.###.', '..#.#', '####.', '..#..'],
};

/** Height of one text line in pixels (glyph cell plus leading). */
export const LINE_HEIGHT = 10;
const LETTER_SPACING = 1;

// char -> { w, px: Int8Array of x,y pairs }
const glyphs = new Map();
for (const [ch, rows] of Object.entries(ROWS)) {
  const px = [];
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) if (row[x] === '#') px.push(x, y);
  });
  glyphs.set(ch, { w: Math.max(...rows.map((r) => r.length)), px });
}

let scratch = null;
// Draws an unknown character with the system font at a small size and keeps
// only the pixels that are mostly covered, so it matches the crisp style.
function rasterise(ch) {
  if (!scratch) {
    scratch = document.createElement('canvas');
    scratch.width = 16;
    scratch.height = 12;
  }
  const c = scratch.getContext('2d', { willReadFrequently: true });
  c.clearRect(0, 0, 16, 12);
  c.font = '9px sans-serif';
  c.textBaseline = 'alphabetic';
  c.fillStyle = '#000';
  c.fillText(ch, 0, 7);
  const data = c.getImageData(0, 0, 16, 12).data;
  const px = [];
  let w = 0;
  for (let y = 0; y < 12; y++) {
    for (let x = 0; x < 16; x++) {
      if (data[(y * 16 + x) * 4 + 3] > 110) {
        px.push(x, y - 1);
        w = Math.max(w, x + 1);
      }
    }
  }
  return { w: Math.max(w, 3), px };
}

function glyph(ch) {
  let g = glyphs.get(ch);
  if (!g) {
    g = rasterise(ch);
    if (glyphs.size < 2000) glyphs.set(ch, g); // bound the cache
  }
  return g;
}

/** Width in pixels of a single line of text. */
export function measure(text) {
  let w = 0;
  for (const ch of text) w += glyph(ch).w + LETTER_SPACING;
  return Math.max(0, w - LETTER_SPACING);
}

/** Splits text into lines no wider than maxWidth, breaking long words. */
export function wrap(text, maxWidth) {
  const lines = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      const candidate = line ? `${line} ${word}` : word;
      if (measure(candidate) <= maxWidth) {
        line = candidate;
        continue;
      }
      if (line) lines.push(line);
      line = '';
      // A word wider than a whole line is cut into pieces.
      let piece = '';
      for (const ch of word) {
        if (measure(piece + ch) > maxWidth && piece) {
          lines.push(piece);
          piece = '';
        }
        piece += ch;
      }
      line = piece;
    }
    if (line || !lines.length) lines.push(line);
  }
  return lines;
}

/** Paints text with its top-left corner at (x, y) using fillRect per pixel. */
export function draw(ctx, text, x, y, color) {
  ctx.fillStyle = color;
  let cx = x;
  for (const ch of text) {
    const g = glyph(ch);
    for (let i = 0; i < g.px.length; i += 2) ctx.fillRect(cx + g.px[i], y + g.px[i + 1], 1, 1);
    cx += g.w + LETTER_SPACING;
  }
}

/** Renders a one-line label with a dark backing into its own small canvas. */
export function label(text, color = '#fff', backing = 'rgba(20,24,40,0.78)') {
  const w = measure(text) + 4;
  const c = document.createElement('canvas');
  c.width = w;
  c.height = LINE_HEIGHT + 1;
  const ctx = c.getContext('2d');
  ctx.fillStyle = backing;
  ctx.fillRect(1, 0, w - 2, c.height);
  ctx.fillRect(0, 1, w, c.height - 2);
  draw(ctx, text, 2, 2, color);
  return c;
}
