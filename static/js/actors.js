// A character: one member's body on the island. It hops from tile to tile
// in little runs, dozes when idle, stays put under a red mark when busy,
// faces the viewer and bobs while its speech bubble types, and can follow a
// route (a conversation calling it over, see gather.js) before it stands
// there a while and wanders off again.
//
// Behaviour is driven by timestamps checked at each logic step, never by
// timers, so removing an actor leaves nothing behind.

import { characterSheet } from './sprites.js';
import { label } from './font.js';

export const STATUSES = new Set(['online', 'idle', 'dnd', 'offline']);
const DIRS = [[1, 0], [0, 1], [-1, 0], [0, -1]];
// Facing per direction: front-right, front-left, back, back.
const FACING = [0, 1, 2, 2];
/** How long a leaving character takes to fade away. */
export const FADE_MS = 900;
/** How long a landing squashes the body. */
export const SQUASH_MS = 110;
/** A hop on the way to a conversation, and the pause between two of them. */
const WALK_HOP_MS = 300;
const WALK_PAUSE_MS = 90;
/** How long a walker waits for a blocked tile before giving the route up. */
const BLOCKED_MS = 1800;

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
    this.row = 0; // depth row it is drawn in, see depth.js
    this.rowIndex = -1;
    this.rowSlot = 0;
    this.slot = -1; // index in Users.list while on the island
    this.route = null; // flat [x, y, x, y, ...] tiles still to walk, or null
    this.routeAt = 0;
    this.goal = -1; // island index of the route's last tile, claimed while walking
    this.reroute = null; // asks for another route when the way stays blocked
    this.blockedSince = 0;
    this.stayUntil = 0; // arrived at a conversation: no wandering before this
    this.faceX = 0; // who to face on arrival
    this.faceY = 0;
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

  /** The depth row: a hopping actor is drawn with the nearer of its two tiles. */
  depthRow() {
    const to = this.x + this.y;
    return this.hopMs ? Math.max(to, this.fromX + this.fromY) : to;
  }

  /**
   * Sets sx, sy (foot position in island screen space, elevation included)
   * and lift (height of the hop, or of the bob while talking) for time
   * `now`. Fields, not a returned array: this runs for every character on
   * screen every frame.
   */
  locate(island, now) {
    const tx = (this.x - this.y) * 8;
    const ty = (this.x + this.y) * 4;
    const ez = island.elevation(this.x, this.y);
    if (!this.hopMs) {
      this.sx = tx;
      this.sy = ty - ez;
      this.lift = this.bubble && this.bubble.typing(now) ? bob(now + this.seed) : 0;
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

  /** Whether the body looks different at `now` than when it last stood still. */
  animating(now) {
    return this.hopMs > 0 || now - this.landedAt < SQUASH_MS || now - this.appearedAt < 400 || !!this.bubble;
  }

  /** Advances hops and decides the next one; returns true when a hop started or ended. */
  update(island, now) {
    let changed = false;
    if (this.hopMs && now - this.hopStart >= this.hopMs) {
      this.hopMs = 0;
      this.landedAt = now;
      island.release(this.fromX, this.fromY);
      changed = true;
    }
    if (this.hopMs || now < this.nextMoveAt) return changed;
    if (this.presence === 'dnd' || this.bubble) {
      this.nextMoveAt = now + 1000;
      return changed;
    }
    if (this.route) return this.walk(island, now) || changed;
    if (now < this.stayUntil) {
      this.nextMoveAt = this.stayUntil;
      return changed;
    }
    // Mostly keep going the same way, sometimes turn.
    if (Math.random() < 0.45) this.dir = Math.floor(Math.random() * 4);
    const [dx, dy] = DIRS[this.dir];
    const idle = this.presence === 'idle';
    if (this.hop(island, this.x + dx, this.y + dy, now, idle ? 750 : 380)) {
      this.nextMoveAt = now + this.hopMs + (idle ? 6000 + Math.random() * 9000 : chainDelay());
      return true;
    }
    this.dir = (this.dir + 1 + Math.floor(Math.random() * 3)) % 4;
    this.nextMoveAt = now + 300 + Math.random() * 900;
    return changed;
  }

  /** Starts a hop to the neighbouring tile (nx, ny) if it is free. */
  hop(island, nx, ny, now, ms) {
    if (!island.isFree(nx, ny)) return false;
    const dx = nx - this.x;
    const dy = ny - this.y;
    this.dir = dx === 1 ? 0 : dy === 1 ? 1 : dx === -1 ? 2 : 3;
    island.occupy(nx, ny);
    this.fromX = this.x;
    this.fromY = this.y;
    this.x = nx;
    this.y = ny;
    this.hopStart = now;
    this.hopMs = ms;
    return true;
  }

  /** One step along the route; on arrival, turns to the one it came for and stays a while. */
  walk(island, now) {
    const r = this.route;
    if (this.routeAt >= r.length) {
      this.stopWalking(island);
      this.stayUntil = now + 25000 + Math.random() * 35000;
      const dx = this.faceX - this.x;
      const dy = this.faceY - this.y;
      this.dir = Math.abs(dx) >= Math.abs(dy) ? (dx >= 0 ? 0 : 2) : dy >= 0 ? 1 : 3;
      this.nextMoveAt = this.stayUntil;
      return false;
    }
    if (this.hop(island, r[this.routeAt], r[this.routeAt + 1], now, WALK_HOP_MS)) {
      this.routeAt += 2;
      this.blockedSince = 0;
      this.nextMoveAt = now + WALK_HOP_MS + WALK_PAUSE_MS;
      return true;
    }
    // Someone stands in the way: wait for them a little, then find another
    // way (a few times), then give up and stay about here.
    if (!this.blockedSince) this.blockedSince = now;
    this.nextMoveAt = now + 200;
    if (now - this.blockedSince > BLOCKED_MS || !island.canStand(r[this.routeAt], r[this.routeAt + 1])) {
      const again = this.reroute;
      this.stopWalking(island);
      if (again) again();
      else this.stayUntil = now + 8000 + Math.random() * 8000;
    }
    return false;
  }

  /**
   * Sets a route (flat tile list, first step first) towards a speaker at
   * (fx, fy); `reroute()`, if given, is called when the way stays blocked.
   */
  follow(island, route, fx, fy, now, reroute = null) {
    this.stopWalking(island);
    this.route = route;
    this.routeAt = 0;
    this.blockedSince = 0;
    this.faceX = fx;
    this.faceY = fy;
    this.reroute = reroute;
    this.stayUntil = 0;
    this.goal = island.index(route[route.length - 2], route[route.length - 1]);
    island.claimed.add(this.goal);
    this.nextMoveAt = Math.min(this.nextMoveAt, now + 150 + Math.random() * 400);
  }

  /** Drops the route and the claim on its goal tile. */
  stopWalking(island) {
    if (this.goal >= 0) island.claimed.delete(this.goal);
    this.goal = -1;
    this.route = null;
    this.reroute = null;
  }

  facing() {
    // A speaker turns to the viewer, on the side it was already turned to.
    if (this.bubble) return this.dir === 1 || this.dir === 2 ? 1 : 0;
    return FACING[this.dir];
  }

  squashed(now) {
    return now - this.landedAt < SQUASH_MS;
  }

  /** Stands on a random free tile, or on `tile` ([x, y]) when given and free. */
  place(island, now, tile = null) {
    const [x, y] = tile && island.isFree(tile[0], tile[1]) ? tile : island.randomFreeTile();
    this.x = this.fromX = x;
    this.y = this.fromY = y;
    this.hopMs = 0;
    this.goal = -1;
    this.route = null;
    this.reroute = null;
    this.stayUntil = 0;
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
    this.stopWalking(island);
    this.onIsland = false;
  }
}

// Online characters hop in little runs with pauses between them.
function chainDelay() {
  return Math.random() < 0.6 ? 60 + Math.random() * 200 : 1200 + Math.random() * 4500;
}

// A talking character's bob: up one pixel and down again, twice a second.
function bob(t) {
  return (t % 480) < 240 ? 1 : 0;
}
