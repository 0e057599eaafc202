// Speech bubbles. Messages of one channel are shown one after another, each
// split into pages of a few wrapped lines; other channels talk in parallel.
// Queues are bounded so a busy server cannot grow memory without limit.

import { LINE_HEIGHT, draw, measure, wrap } from './font.js';
import { parseColor } from './sprites.js';

const MAX_QUEUE = 20; // waiting messages per channel
const MAX_CHANNELS = 100; // channels with something queued
const MAX_CHARS = 600;
const TEXT_WIDTH = 120;
const LINES_PER_PAGE = 4;

/** Makes Discord markup readable: custom emoji, mentions, links. */
export function tidy(text) {
  return String(text)
    .replace(/<a?:(\w+):\d+>/g, ':$1:')
    .replace(/<@[!&]?\d+>/g, '@someone')
    .replace(/<#\d+>/g, '#channel')
    .replace(/https?:\/\/\S+/g, (url) => (url.length > 40 ? `${url.slice(0, 37)}...` : url))
    .replace(/\r/g, '')
    .slice(0, MAX_CHARS)
    .trim();
}

export class Chat {
  constructor() {
    this.channels = new Map(); // channel -> {queue: [{uid, text}], current: Bubble|null}
  }

  clear(users) {
    for (const ch of this.channels.values()) if (ch.current) ch.current.detach(users);
    this.channels.clear();
  }

  push(uid, text, channel) {
    const clean = tidy(text);
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
        b.detach(users);
        ch.current = null;
      } else if (b && now >= b.pageEnd) {
        if (b.page + 1 < b.pages.length) b.turn(now);
        else {
          b.detach(users);
          ch.current = null;
        }
      }
      while (!ch.current && ch.queue.length) {
        const next = ch.queue.shift();
        const actor = users.actors[next.uid];
        if (!actor || !actor.onIsland) continue; // nobody there to say it
        if (actor.bubble) actor.bubble.detach(users); // one bubble per speaker
        ch.current = new Bubble(actor, next.text, next.channel, now);
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
    const chars = lines.join(' ').length;
    this.shownAt = now;
    this.pageEnd = now + Math.min(8000, Math.max(2600, 1200 + chars * 65));
    this.image = null; // rendered lazily
  }

  detach() {
    this.gone = true;
    if (this.actor.bubble === this) {
      this.actor.bubble = null;
      this.actor.message = null;
    }
  }

  /** The current page as a canvas: name, lines, a tail at the bottom centre. */
  render() {
    if (this.image) return this.image;
    const lines = this.pages[this.page];
    const name = this.actor.username || this.uid;
    const pager = this.pages.length > 1 ? `${this.page + 1}/${this.pages.length}` : '';
    const textW = Math.max(measure(name) + (pager ? measure(pager) + 6 : 0), ...lines.map(measure));
    const w = textW + 8;
    const bodyH = (lines.length + 1) * LINE_HEIGHT + 4;
    const h = bodyH + 4;
    const c = document.createElement('canvas');
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
    lines.forEach((line, i) => draw(ctx, line, 4, 3 + (i + 1) * LINE_HEIGHT, '#2a2438'));
    if (pager) draw(ctx, pager, w - 4 - measure(pager), 3, '#9a94b0');
    this.image = c;
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
