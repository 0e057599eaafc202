// Draw order kept as characters hop, instead of sorted every frame. On the
// isometric grid everything on tile row s = x + y is in front of row s - 1
// and behind row s + 1, and things on one row never overlap (their tiles are
// 16 pixels apart), so a bucket per row is the whole depth order. A
// character changes bucket only when a hop starts or ends; a frame walks the
// rows that are on screen and nothing else.

export class Depth {
  /** `R`: the island grid's half-size; rows run from -2R to 2R. */
  constructor(R) {
    this.offset = 2 * R;
    this.rows = Array.from({ length: 4 * R + 1 }, () => []);
  }

  /** Puts `actor` in row `row` (clamped to the island). */
  add(actor, row) {
    const r = Math.max(0, Math.min(this.rows.length - 1, row + this.offset));
    const bucket = this.rows[r];
    actor.row = row;
    actor.rowSlot = bucket.length;
    actor.rowIndex = r;
    bucket.push(actor);
  }

  remove(actor) {
    if (actor.rowIndex < 0) return;
    const bucket = this.rows[actor.rowIndex];
    const last = bucket.pop();
    if (last !== actor) {
      bucket[actor.rowSlot] = last;
      last.rowSlot = actor.rowSlot;
    }
    actor.rowIndex = -1;
  }

  move(actor, row) {
    this.remove(actor);
    this.add(actor, row);
  }

  /** The bucket for island row `s`, or an empty one off the island. */
  at(s) {
    return this.rows[s + this.offset] || EMPTY;
  }
}

const EMPTY = [];
