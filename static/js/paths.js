// Path finding on the tile grid, a little at a time. Requests queue up and
// each frame spends at most a fixed number of node expansions on them, so a
// burst of chat in a big server (every recent partner of every speaker
// wanting a route at once) never makes a long frame; a long search simply
// finishes a few frames later.
//
// A* with the four hops a character can make. Water, trees, rocks and the
// beacon are walls; tiles where someone stands now cost extra rather than
// blocking, since they will likely have moved by the time the walker gets
// there (and the walker waits, asks again or gives up if not, see
// Actor.walk). A goal tile another walker is heading for is not a goal.

/** Node expansions per frame, over all requests. */
const BUDGET = 4000;
/** A request that has expanded this many nodes gives up. */
const MAX_NODES = 30000;
/** Requests waiting; the oldest are dropped beyond this. */
const MAX_QUEUE = 200;
const CROWD_COST = 4;
const STEPS = [1, 0, 0, 1, -1, 0, 0, -1];

export class Paths {
  constructor(island) {
    this.island = island;
    const cells = island.N * island.N;
    this.seen = new Uint32Array(cells); // search number that reached a cell
    this.cost = new Float32Array(cells);
    this.from = new Int32Array(cells);
    this.search = 0;
    this.queue = []; // {from: [x, y], near: [x, y], done(route|null)}
    this.current = null; // the request being searched: {req, heap, expanded}
  }

  get pending() {
    return this.queue.length + (this.current ? 1 : 0);
  }

  /**
   * Asks for a route from `from` to a free tile at most `within` hops (and
   * at least one) from `near`; `done(route)` gets a flat [x, y, ...] list of
   * the tiles to hop to in order, or null when there is none.
   */
  request(from, near, within, done) {
    this.queue.push({ from, near, within, done });
    if (this.queue.length > MAX_QUEUE) this.queue.shift().done(null);
  }

  /** Drops every request (the island is being replaced), telling each there is no route. */
  cancel() {
    const reqs = this.queue;
    this.queue = [];
    if (this.current) reqs.unshift(this.current.req);
    this.current = null;
    for (const req of reqs) req.done(null);
  }

  /** Spends this frame's budget. */
  run() {
    let budget = BUDGET;
    while (budget > 0) {
      if (!this.current) {
        const req = this.queue.shift();
        if (!req) return;
        this.begin(req);
      }
      budget = this.expand(budget);
    }
  }

  begin(req) {
    const island = this.island;
    this.search = (this.search + 1) >>> 0 || 1;
    const start = island.index(req.from[0], req.from[1]);
    this.seen[start] = this.search;
    this.cost[start] = 0;
    this.from[start] = -1;
    const heap = new Heap();
    heap.push(start, this.guess(req.from[0], req.from[1], req));
    this.current = { req, heap, expanded: 0 };
  }

  guess(x, y, req) {
    return Math.max(0, Math.abs(x - req.near[0]) + Math.abs(y - req.near[1]) - 1);
  }

  /** Expands up to `budget` nodes of the current search; returns what is left. */
  expand(budget) {
    const island = this.island;
    const { req, heap } = this.current;
    const { N, R } = island;
    while (budget > 0) {
      const i = heap.pop();
      if (i < 0 || this.current.expanded > MAX_NODES) {
        this.finish(null);
        return budget;
      }
      budget--;
      this.current.expanded++;
      const x = (i % N) - R;
      const y = Math.floor(i / N) - R;
      const d = Math.abs(x - req.near[0]) + Math.abs(y - req.near[1]);
      if (d >= 1 && d <= req.within && !island.occupied[i] && !island.claimed.has(i)) {
        this.finish(this.trace(i));
        return budget;
      }
      const base = this.cost[i];
      for (let k = 0; k < 8; k += 2) {
        const nx = x + STEPS[k];
        const ny = y + STEPS[k + 1];
        if (!island.canStand(nx, ny)) continue;
        const j = island.index(nx, ny);
        const c = base + 1 + (island.occupied[j] ? CROWD_COST : 0);
        if (this.seen[j] === this.search && this.cost[j] <= c) continue;
        this.seen[j] = this.search;
        this.cost[j] = c;
        this.from[j] = i;
        heap.push(j, c + this.guess(nx, ny, req));
      }
    }
    return budget;
  }

  trace(i) {
    const { N, R } = this.island;
    const out = [];
    for (let k = i; this.from[k] >= 0; k = this.from[k]) out.push((k % N) - R, Math.floor(k / N) - R);
    // Collected goal first, as [x, y] pairs: reverse the pairs.
    const route = [];
    for (let k = out.length - 2; k >= 0; k -= 2) route.push(out[k], out[k + 1]);
    return route;
  }

  finish(route) {
    const { req } = this.current;
    this.current = null;
    req.done(route);
  }
}

// A binary min-heap of cell indices by priority.
class Heap {
  constructor() {
    this.items = [];
    this.keys = [];
  }

  push(item, key) {
    const items = this.items;
    const keys = this.keys;
    let n = items.length;
    items.push(item);
    keys.push(key);
    while (n > 0) {
      const p = (n - 1) >> 1;
      if (keys[p] <= key) break;
      items[n] = items[p];
      keys[n] = keys[p];
      n = p;
    }
    items[n] = item;
    keys[n] = key;
  }

  pop() {
    const items = this.items;
    const keys = this.keys;
    if (!items.length) return -1;
    const top = items[0];
    const item = items.pop();
    const key = keys.pop();
    const size = items.length;
    if (size) {
      let n = 0;
      for (;;) {
        let c = 2 * n + 1;
        if (c >= size) break;
        if (c + 1 < size && keys[c + 1] < keys[c]) c++;
        if (keys[c] >= key) break;
        items[n] = items[c];
        keys[n] = keys[c];
        n = c;
      }
      items[n] = item;
      keys[n] = key;
    }
    return top;
  }
}
