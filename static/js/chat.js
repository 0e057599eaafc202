// Speech bubbles. Messages of one channel are shown one after another, each
// split into pages of a few wrapped lines; other channels talk in parallel.
// A bubble opens with a short pop, types its page out at a pace set by the
// page's length, holds, turns to the next page, and closes with the same
// pop reversed. Queues are bounded so a busy server cannot grow memory
// without limit.

import { LINE_HEIGHT, draw, measure, wrap } from './font.js';
import { parseColor } from './sprites.js';

const MAX_QUEUE = 20; // waiting messages per channel
const MAX_CHANNELS = 100; // channels with something queued
const MAX_CHARS = 600;
const TEXT_WIDTH = 120;
const LINES_PER_PAGE = 4;
/** The pop of a bubble opening and closing. */
export const OPEN_MS = 180;
export const CLOSE_MS = 160;

/**
 * Makes Discord markup readable: custom emoji, mentions (by name when
 * `nameOf(uid)` knows the member), roles, channels, links.
 */
export function tidy(text, nameOf = () => null) {
  return String(text)
    .replace(/<a?:(\w+):\d+>/g, ':$1:')
    .replace(/<@!?(\d+)>/g, (_, id) => {
      const name = nameOf(id);
      return name ? `@${name}` : '@someone';
    })
    .replace(/<@&\d+>/g, '@role')
    .replace(/<#\d+>/g, '#channel')
    .replace(/https?:\/\/\S+/g, (url) => (url.length > 40 ? `${url.slice(0, 37)}...` : url))
    .replace(/\r/g, '')
    .slice(0, MAX_CHARS)
    .trim();
}

export class Chat {
  /** `onSpeak(actor, channel, now)`: a bubble starts; `nameOf(uid)`: a member's name or null. */
  constructor({ onSpeak = () => {}, nameOf = () => null } = {}) {
    this.channels = new Map(); // channel -> {queue: [{uid, text}], current: Bubble|null}
    this.onSpeak = onSpeak;
    this.nameOf = nameOf;
  }

  clear() {
    for (const ch of this.channels.values()) if (ch.current) ch.current.detach();
    this.channels.clear();
  }

  push(uid, text, channel) {
    const clean = tidy(text, this.nameOf);
    if (!clean) return;
    const key = String(channel ?? '');
    let ch = this.channels.get(key);
    if (!ch) {
      if (this.channels.size >= MAX_CHANNELS) this.dropIdleChannel();
      ch = { queue: [], current: null };
      this.channels.set(key, ch);
    }
    ch.queue.push({ uid: String(uid), text: clean, channel: key });
    if (ch.queue.length > MAX_QUEUE) ch.queue.shift();
  }

  dropIdleChannel() {
    for (const [key, ch] of this.channels) {
      if (!ch.current) {
        this.channels.delete(key);
        return;
      }
    }
    // Every channel is showing something: the oldest goes. Its bubble must let
    // go of its speaker, or the speaker keeps a bubble nobody draws and never
    // shows its name on hover again.
    const [key, ch] = this.channels.entries().next().value;
    ch.current.detach();
    this.channels.delete(key);
  }

  update(users, now) {
    for (const [key, ch] of this.channels) {
      const b = ch.current;
      if (b && (!users.actors[b.uid] || !b.actor.onIsland || b.actor !== users.actors[b.uid])) {
        b.detach();
        ch.current = null;
      } else if (b && now >= b.pageEnd) {
        if (b.page + 1 < b.pages.length) b.turn(now);
        else if (!b.closeAt) b.closeAt = now;
        else if (now >= b.closeAt + CLOSE_MS) {
          b.detach();
          ch.current = null;
        }
      }
      while (!ch.current && ch.queue.length) {
        const next = ch.queue.shift();
        const actor = users.actors[next.uid];
        if (!actor || !actor.onIsland) continue; // nobody there to say it
        if (actor.bubble) actor.bubble.detach(); // one bubble per speaker
        ch.current = new Bubble(actor, next.text, next.channel, now);
        this.onSpeak(actor, next.channel, now);
      }
      if (!ch.current && !ch.queue.length) this.channels.delete(key);
    }
  }

  /** The bubbles on screen now, for drawing and inspection. */
  active() {
    const out = [];
    for (const ch of this.channels.values()) if (ch.current && !ch.current.gone) out.push(ch.current);
    return out;
  }
}

export class Bubble {
  constructor(actor, text, channel, now) {
    this.actor = actor;
    this.uid = actor.uid;
    this.text = text;
    this.channel = channel;
    this.gone = false;
    this.openedAt = now;
    this.closeAt = 0; // when closing began, 0 before
    const lines = wrap(text, TEXT_WIDTH);
    this.pages = [];
    for (let i = 0; i < lines.length; i += LINES_PER_PAGE) this.pages.push(lines.slice(i, i + LINES_PER_PAGE));
    this.page = -1;
    this.turn(now);
    actor.bubble = this;
    actor.message = text;
  }

  turn(now) {
    this.page++;
    const lines = this.pages[this.page];
    this.chars = lines.reduce((n, l) => n + l.length, 0);
    // Short lines type slowly, long pages quickly: typing takes 0.3 to 2.4 s.
    this.typeMs = Math.min(2400, 300 + this.chars * 22);
    this.shownAt = this.page === 0 ? now + OPEN_MS : now;
    const hold = Math.max(1800, Math.min(8000, 1200 + this.chars * 65) - this.typeMs);
    this.pageEnd = this.shownAt + this.typeMs + hold;
    this.image = null; // rendered lazily
    this.imageChars = -1;
  }

  /** Characters of the current page shown at `now`. */
  shownChars(now) {
    const t = (now - this.shownAt) / this.typeMs;
    return t <= 0 ? 0 : t >= 1 ? this.chars : Math.floor(t * this.chars);
  }

  typing(now) {
    return !this.closeAt && now < this.shownAt + this.typeMs;
  }

  phase(now) {
    if (this.closeAt) return 'closing';
    if (now < this.shownAt) return 'opening';
    return this.typing(now) ? 'typing' : 'holding';
  }

  /** The current page's visible text at `now`. */
  shown(now) {
    let left = this.shownChars(now);
    const out = [];
    for (const line of this.pages[this.page]) {
      if (left <= 0) break;
      out.push(line.slice(0, left));
      left -= line.length;
    }
    return out.join(' ');
  }

  /** The bubble's size (0..1) at `now`: it pops open and shut. */
  size(now) {
    if (this.closeAt) return Math.max(0, 1 - (now - this.closeAt) / CLOSE_MS);
    if (this.page === 0 && now < this.shownAt) return Math.max(0.15, (now - this.openedAt) / OPEN_MS);
    return 1;
  }

  detach() {
    this.gone = true;
    if (this.actor.bubble === this) {
      this.actor.bubble = null;
      this.actor.message = null;
    }
  }

  /**
   * The current page as a canvas, typed out to `now`: name, lines, a tail at
   * the bottom centre. Sized for the whole page, so it does not grow as it
   * types; drawn again only when another character shows.
   */
  render(now) {
    const n = this.shownChars(now);
    if (this.image && this.imageChars === n) return this.image;
    const lines = this.pages[this.page];
    const name = this.actor.username || this.uid;
    const pager = this.pages.length > 1 ? `${this.page + 1}/${this.pages.length}` : '';
    const textW = Math.max(measure(name) + (pager ? measure(pager) + 6 : 0), ...lines.map(measure));
    const w = textW + 8;
    const bodyH = (lines.length + 1) * LINE_HEIGHT + 4;
    const h = bodyH + 4;
    const c = this.image && this.image.width === w && this.image.height === h ? this.image : document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d');
    // Outline, then body, with cut corners for a rounded pixel look.
    ctx.fillStyle = '#2a2438';
    ctx.fillRect(1, 0, w - 2, bodyH);
    ctx.fillRect(0, 1, w, bodyH - 2);
    ctx.fillStyle = '#fffdf6';
    ctx.fillRect(1, 1, w - 2, bodyH - 2);
    ctx.fillStyle = '#e8e2d4';
    ctx.fillRect(1, bodyH - 2, w - 2, 1);
    // Tail
    const tx = Math.floor(w / 2);
    ctx.fillStyle = '#2a2438';
    ctx.fillRect(tx - 3, bodyH - 1, 6, 1);
    ctx.fillRect(tx - 2, bodyH, 4, 1);
    ctx.fillRect(tx - 1, bodyH + 1, 2, 2);
    ctx.fillStyle = '#fffdf6';
    ctx.fillRect(tx - 2, bodyH - 1, 4, 1);
    ctx.fillRect(tx - 1, bodyH, 2, 1);
    draw(ctx, name, 4, 3, nameColor(this.actor.roleColor));
    let left = n;
    lines.forEach((line, i) => {
      if (left > 0) draw(ctx, line.slice(0, left), 4, 3 + (i + 1) * LINE_HEIGHT, '#2a2438');
      left -= line.length;
    });
    if (pager) draw(ctx, pager, w - 4 - measure(pager), 3, '#9a94b0');
    this.image = c;
    this.imageChars = n;
    return c;
  }
}

// Role colours are often light; darken them until readable on white.
function nameColor(hex) {
  let c = parseColor(hex) || [90, 90, 110];
  const lum = (v) => 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
  for (let i = 0; i < 8 && lum(c) > 120; i++) c = c.map((v) => v * 0.8);
  if (c[0] + c[1] + c[2] === 0) c = [90, 90, 110];
  return `rgb(${c.map(Math.round).join(',')})`;
}
