// The members of the joined server, kept in `users.actors` (uid -> Actor)
// like the d-zone client does, and which of them have a body on the island.
//
// Offline members stay known (so they can come back without a username) but
// have no body; a presence with `delete` forgets them and fades them out.
// At most `max` bodies are drawn (the page's maxActors): past it, the member
// least recently active (spoke, changed presence, arrived) leaves the island
// and comes back when it speaks or its presence changes. `recency` holds the
// bodies in that order, least recent first, so the choice costs nothing.

import { Actor, FADE_MS, STATUSES } from './actors.js';
import { Depth } from './depth.js';

export const DEFAULT_MAX_ACTORS = 20000;

export class Users {
  constructor(max = DEFAULT_MAX_ACTORS) {
    this.max = max;
    this.actors = {}; // uid -> Actor, every member the client knows
    this.list = []; // the actors on the island, in no order
    this.recency = new Map(); // uid -> Actor on the island, least recently active first
    this.fading = []; // {actor, sx, sy, start}: bodies on their way out, short-lived
    this.depth = new Depth(1);
    this.onIsland = 0;
    this.animUntil = 0; // until when some body is sure to move
  }

  clear() {
    this.actors = {};
    this.list = [];
    this.recency.clear();
    this.fading = [];
    this.depth = new Depth(1);
    this.onIsland = 0;
  }

  count() {
    return Object.keys(this.actors).length;
  }

  /** Members not offline, drawn or not. */
  online() {
    let n = 0;
    for (const uid in this.actors) if (this.actors[uid].presence !== 'offline') n++;
    return n;
  }

  /** How many of a server-join's users would be drawn. */
  static drawnOf(users, max) {
    let n = 0;
    for (const u of Object.values(users || {})) if (u && typeof u === 'object' && u.status !== 'offline') n++;
    return Math.min(n, max);
  }

  /** Replaces everyone with the users of a server-join. */
  load(users, island, now) {
    this.clear();
    this.depth = new Depth(island.R);
    for (const [key, u] of Object.entries(users || {})) {
      if (!u || typeof u !== 'object') continue;
      const uid = String(u.uid ?? key);
      const actor = new Actor(uid, u.username ?? uid, u.status, u.roleColor);
      this.actors[uid] = actor;
      if (actor.presence !== 'offline' && this.onIsland < this.max) this.put(actor, island, now);
    }
  }

  /** Scatters everyone over a new island (it grew). */
  rescatter(island, now) {
    this.depth = new Depth(island.R);
    for (const a of this.list) {
      a.place(island, now);
      this.depth.add(a, a.depthRow());
    }
  }

  put(actor, island, now, tile = null) {
    actor.place(island, now, tile);
    actor.slot = this.list.length;
    this.list.push(actor);
    this.recency.set(actor.uid, actor);
    this.depth.add(actor, actor.depthRow());
    this.onIsland++;
    this.animUntil = Math.max(this.animUntil, now + 400);
  }

  take(actor, island) {
    actor.leave(island);
    const last = this.list.pop();
    if (last !== actor) {
      this.list[actor.slot] = last;
      last.slot = actor.slot;
    }
    actor.slot = -1;
    this.recency.delete(actor.uid);
    this.depth.remove(actor);
    this.onIsland--;
  }

  /** The member on the island least recently active: the next to leave. */
  leastRecent() {
    const first = this.recency.values().next();
    return first.done ? null : first.value;
  }

  /**
   * `uid` did something (spoke): it becomes the most recently active, and
   * comes back to the island if the bound had sent it away. Returns true
   * when it came back (the island may need to grow).
   */
  touch(uid, island, now) {
    const actor = this.actors[uid];
    if (!actor) return false;
    if (actor.onIsland) {
      this.recency.delete(uid);
      this.recency.set(uid, actor);
      return false;
    }
    if (actor.presence === 'offline') return false;
    this.arrive(actor, island, now);
    return true;
  }

  arrive(actor, island, now) {
    this.put(actor, island, now);
    while (this.onIsland > this.max) {
      const old = this.leastRecent();
      if (!old || old === actor) break;
      this.fadeOut(old, island, now);
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
    if (status === 'offline') {
      if (actor.onIsland) this.fadeOut(actor, island, now);
      return false;
    }
    if (!actor.onIsland) {
      this.arrive(actor, island, now);
      return true;
    }
    this.touch(uid, island, now);
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
    if (actor.bubble) actor.bubble.detach();
    this.take(actor, island);
    this.fading.push({ actor, sx, sy, start: now });
    if (this.fading.length > 200) this.fading.shift();
    this.animUntil = Math.max(this.animUntil, now + FADE_MS);
  }

  /**
   * One logic step: hops end and start, and bodies change depth row when
   * they do. Returns the number of hops started or ended.
   */
  step(island, now) {
    const list = this.list;
    const depth = this.depth;
    let changes = 0;
    for (let i = 0; i < list.length; i++) {
      const a = list[i];
      if (now < a.nextMoveAt && (!a.hopMs || now - a.hopStart < a.hopMs)) continue;
      if (!a.update(island, now)) continue;
      changes++;
      const row = a.depthRow();
      if (row !== a.row) depth.move(a, row);
      if (a.hopMs) this.animUntil = Math.max(this.animUntil, a.hopStart + a.hopMs + 200);
    }
    if (this.fading.length && now - this.fading[0].start > FADE_MS) {
      this.fading = this.fading.filter((f) => now - f.start <= FADE_MS);
    }
    return changes;
  }
}
