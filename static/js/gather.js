// Conversations gather: whoever spoke in a channel in the last three minutes
// walks over to stand near the next one who speaks there, so the people of
// one conversation end up together, as in d-zone. Routes come from paths.js,
// spread over frames; the walking and the wandering off later are the
// actor's (Actor.follow, Actor.walk).

/** How long a speaker counts as part of its channel's conversation. */
export const RECENT_MS = 3 * 60 * 1000;
/** Speakers remembered per channel, and channels remembered. */
const PER_CHANNEL = 40;
const MAX_CHANNELS = 200;
/** Partners sent walking per message, nearest first. */
const MAX_WALKERS = 12;
/** Partners this close (hops) stay where they are. */
const NEAR = 2;

export class Gathering {
  constructor() {
    this.channels = new Map(); // channel -> Map(uid -> last spoke at), oldest first
  }

  clear() {
    this.channels.clear();
  }

  /** Remembers that `uid` spoke in `channel` at `now`. */
  spoke(uid, channel, now) {
    let ch = this.channels.get(channel);
    if (!ch) {
      if (this.channels.size >= MAX_CHANNELS) this.channels.delete(this.channels.keys().next().value);
      ch = new Map();
    } else {
      this.channels.delete(channel); // most recently used last
    }
    this.channels.set(channel, ch);
    ch.delete(uid);
    ch.set(uid, now);
    if (ch.size > PER_CHANNEL) ch.delete(ch.keys().next().value);
  }

  /** The uids that spoke in `channel` within RECENT_MS of `now`, most recent first. */
  partners(channel, now) {
    const ch = this.channels.get(channel);
    if (!ch) return [];
    const out = [];
    for (const [uid, at] of ch) {
      if (now - at > RECENT_MS) ch.delete(uid);
      else out.push(uid);
    }
    return out.reverse();
  }

  /**
   * `speaker` starts talking in `channel`: its recent partners there set
   * off towards it. `paths` finds the routes; `users` resolves uids.
   */
  call(speaker, channel, users, paths, now) {
    const walkers = [];
    for (const uid of this.partners(channel, now)) {
      const a = users.actors[uid];
      if (!a || a === speaker || !a.onIsland || a.presence === 'dnd' || a.bubble) continue;
      const d = Math.abs(a.x - speaker.x) + Math.abs(a.y - speaker.y);
      if (d <= NEAR) continue;
      walkers.push([d, a]);
    }
    walkers.sort((p, q) => p[0] - q[0]);
    for (const [, a] of walkers.slice(0, MAX_WALKERS)) this.send(a, [speaker.x, speaker.y], users, paths, 3);
  }

  /**
   * Asks a route for `a` to `target`; it waits where it lands while the
   * search runs, so the route starts where it stands. When the way stays
   * blocked it asks again, `tries` times in all.
   */
  send(a, target, users, paths, tries) {
    a.stopWalking(paths.island);
    a.nextMoveAt = Infinity;
    paths.request([a.x, a.y], target, NEAR, (route) => {
      const now = performance.now();
      a.nextMoveAt = now;
      if (!route || !route.length || !a.onIsland || a.bubble || users.actors[a.uid] !== a) return;
      // It may have left and come back elsewhere meanwhile: the route must start beside it.
      if (Math.abs(route[0] - a.x) + Math.abs(route[1] - a.y) !== 1) return;
      const again = tries > 1 ? () => this.send(a, target, users, paths, tries - 1) : null;
      a.follow(paths.island, route, target[0], target[1], now, again);
    });
  }
}
