// Characters: one Actor per member of the joined server, kept in
// `users.actors` (uid -> Actor) like the d-zone client does. Offline members
// stay known (so they can come back without a username) but have no body on
// the island; a presence with `delete` forgets them and fades them out.
//
// Behaviour is driven by timestamps checked every frame, never by timers, so
// removing an actor leaves nothing behind.

import { characterSheet } from './sprites.js';
import { label } from './font.js';

const STATUSES = new Set(['online', 'idle', 'dnd', 'offline']);
const DIRS = [[1, 0], [0, 1], [-1, 0], [0, -1]];
// Facing per direction: front-right, front-left, back, back.
const FACING = [0, 1, 2, 2];
/** How long a leaving character takes to fade away. */
export const FADE_MS = 900;

export class Actor {
  constructor(uid, username, status, roleColor) {
    this.uid = uid;
    this.username = username;
    this.presence = STATUSES.has(status) ? status : 'online';
    this.roleColor = roleColor || '';
    this.x = 0; // tile the actor stands on, or is landing on
    this.y = 0;
    this.fromX = 0;
    this.fromY = 0;
    this.hopStart = 0;
    this.hopMs = 0; // 0 when standing
    this.dir = Math.floor(Math.random() * 4);
    this.nextMoveAt = 0;
    this.landedAt = -1e9;
    this.appearedAt = 0;
    this.onIsland = false;
    this.bubble = null; // the bubble currently shown, if any
    this.message = null; // its text, for inspection
    this.seed = Math.random() * 10000;
    this.nameLabel = null;
    this.sx = 0; // last located position, see locate()
    this.sy = 0;
    this.lift = 0;
    this.sheet = null;
    this.sheetDim = null;
  }

  get status() {
    return this.presence;
  }

  frames() {
    if (this.presence === 'idle') return (this.sheetDim ||= characterSheet(this.roleColor, true));
    return (this.sheet ||= characterSheet(this.roleColor));
  }

  label() {
    return (this.nameLabel ||= label(this.username || this.uid));
  }

  repaint() {
    this.sheet = null;
    this.sheetDim = null;
    this.nameLabel = null;
  }

  /**
   * Sets sx, sy (foot position in island screen space, elevation included)
   * and lift (height of the hop) for time `now`. Fields, not a returned
   * array: this runs for every character every frame.
   */
  locate(island, now) {
    const tx = (this.x - this.y) * 8;
    const ty = (this.x + this.y) * 4;
    const ez = island.elevation(this.x, this.y);
    if (!this.hopMs) {
      this.sx = tx;
      this.sy = ty - ez;
      this.lift = 0;
      return;
    }
    const t = Math.min(1, (now - this.hopStart) / this.hopMs);
    const fx = (this.fromX - this.fromY) * 8;
    const fy = (this.fromX + this.fromY) * 4;
    const fz = island.elevation(this.fromX, this.fromY);
    this.sx = Math.round(fx + (tx - fx) * t);
    this.sy = Math.round(fy + (ty - fy) * t - (fz + (ez - fz) * t));
    this.lift = Math.round(Math.sin(Math.PI * t) * (this.presence === 'idle' ? 3 : 6));
  }

  /** Advances hops and decides the next one. */
  update(island, now) {
    if (!this.onIsland) return;
    if (this.hopMs && now - this.hopStart >= this.hopMs) {
      this.hopMs = 0;
      this.landedAt = now;
      island.release(this.fromX, this.fromY);
    }
    if (this.hopMs || now < this.nextMoveAt) return;
    if (this.presence === 'dnd' || this.bubble) {
      this.nextMoveAt = now + 1000;
      return;
    }
    // Mostly keep going the same way, sometimes turn.
    if (Math.random() < 0.45) this.dir = Math.floor(Math.random() * 4);
    const [dx, dy] = DIRS[this.dir];
    const nx = this.x + dx;
    const ny = this.y + dy;
    const idle = this.presence === 'idle';
    if (island.isFree(nx, ny)) {
      island.occupy(nx, ny);
      this.fromX = this.x;
      this.fromY = this.y;
      this.x = nx;
      this.y = ny;
      this.hopStart = now;
      this.hopMs = idle ? 750 : 380;
      this.nextMoveAt = now + this.hopMs + (idle ? 6000 + Math.random() * 9000 : chainDelay());
    } else {
      this.dir = (this.dir + 1 + Math.floor(Math.random() * 3)) % 4;
      this.nextMoveAt = now + 300 + Math.random() * 900;
    }
  }

  facing() {
    return FACING[this.dir];
  }

  squashed(now) {
    return now - this.landedAt < 110;
  }

  place(island, now) {
    const [x, y] = island.randomFreeTile();
    this.x = this.fromX = x;
    this.y = this.fromY = y;
    this.hopMs = 0;
    island.occupy(x, y);
    this.onIsland = true;
    this.appearedAt = now;
    this.nextMoveAt = now + 500 + Math.random() * 4000;
  }

  leave(island) {
    if (!this.onIsland) return;
    island.release(this.x, this.y);
    if (this.hopMs) island.release(this.fromX, this.fromY);
    this.hopMs = 0;
    this.onIsland = false;
  }
}

// Online characters hop in little runs with pauses between them.
function chainDelay() {
  return Math.random() < 0.6 ? 60 + Math.random() * 200 : 1200 + Math.random() * 4500;
}

export class Users {
  constructor() {
    this.actors = {}; // uid -> Actor, every member the client knows
    this.fading = []; // {actor, x, y, start}: bodies on their way out, short-lived
    this.onIsland = 0;
  }

  clear() {
    this.actors = {};
    this.fading = [];
    this.onIsland = 0;
  }

  count() {
    return Object.keys(this.actors).length;
  }

  /** Replaces everyone with the users of a server-join. */
  load(users, island, now) {
    this.clear();
    for (const [key, u] of Object.entries(users || {})) {
      if (!u || typeof u !== 'object') continue;
      const uid = String(u.uid ?? key);
      const actor = new Actor(uid, u.username ?? uid, u.status, u.roleColor);
      this.actors[uid] = actor;
      if (actor.presence !== 'offline') {
        actor.place(island, now);
        this.onIsland++;
      }
    }
  }

  /**
   * Applies a presence broadcast. Returns true when the island may need to
   * grow (someone new stepped on it).
   */
  presence(data, island, now) {
    const uid = data && data.uid != null ? String(data.uid) : null;
    if (!uid) return false;
    let actor = this.actors[uid];
    if (data.delete) {
      if (actor) this.remove(actor, island, now);
      return false;
    }
    const status = STATUSES.has(data.status) ? data.status : actor ? actor.presence : 'online';
    if (!actor) {
      if (!data.username) return false; // nothing to draw it with
      actor = new Actor(uid, String(data.username), status, data.roleColor);
      this.actors[uid] = actor;
    } else {
      if (data.username && data.username !== actor.username) {
        actor.username = String(data.username);
        actor.nameLabel = null;
      }
      if (data.roleColor && data.roleColor !== actor.roleColor) {
        actor.roleColor = data.roleColor;
        actor.repaint();
      }
      actor.presence = status;
    }
    if (status === 'offline' && actor.onIsland) {
      this.fadeOut(actor, island, now);
    } else if (status !== 'offline' && !actor.onIsland) {
      actor.place(island, now);
      this.onIsland++;
      return true;
    }
    if (status === 'idle' || status === 'online') actor.nextMoveAt = Math.min(actor.nextMoveAt, now + 2000);
    return false;
  }

  remove(actor, island, now) {
    if (actor.onIsland) this.fadeOut(actor, island, now);
    delete this.actors[actor.uid];
  }

  fadeOut(actor, island, now) {
    actor.locate(island, now);
    const { sx, sy } = actor;
    actor.leave(island);
    this.onIsland--;
    this.fading.push({ actor, sx, sy, start: now });
    if (this.fading.length > 200) this.fading.shift();
  }

  /** Drops finished fade-outs. */
  prune(now) {
    if (this.fading.length && now - this.fading[0].start > FADE_MS) {
      this.fading = this.fading.filter((f) => now - f.start <= FADE_MS);
    }
  }
}
