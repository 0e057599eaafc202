// Touch on the scene: one finger pans, two pinch-zoom about the point
// between them, a tap shows who a character is (the name stays until the next tap, as hovering would on a
// desktop). Mouse and pen keep main.js's hover, drag, wheel and
// double-click; this only reads pointers whose type is touch.

/** A touch that moved less than this (CSS px) and lasted less than TAP_MS is a tap. */
const TAP_SLOP = 10;
const TAP_MS = 500;

export function touchControls(canvas, game) {
  const touches = new Map(); // pointerId -> {x, y}
  let pan = null; // one finger: where it started and the pan then
  let pinch = null; // two fingers: their distance and the scale and zoom then
  let tap = null; // the first finger, while it may still be a tap

  const distance = () => {
    const [a, b] = [...touches.values()];
    return Math.hypot(a.x - b.x, a.y - b.y) || 1;
  };

  canvas.addEventListener('pointerdown', (e) => {
    if (e.pointerType !== 'touch') return;
    canvas.setPointerCapture?.(e.pointerId);
    touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (touches.size === 1) {
      pan = { x: e.clientX, y: e.clientY, pan: [...game.pan] };
      tap = { x: e.clientX, y: e.clientY, at: performance.now() };
    } else if (touches.size === 2) {
      pan = null;
      tap = null;
      const [a, b] = [...touches.values()];
      const centre = [(a.x + b.x) / 2, (a.y + b.y) / 2];
      pinch = { distance: distance(), scale: game.scale, zoom: game.zoom, centre, world: game.worldAt(...centre) };
    }
  });

  canvas.addEventListener('pointermove', (e) => {
    if (e.pointerType !== 'touch' || !touches.has(e.pointerId)) return;
    touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (tap && Math.hypot(e.clientX - tap.x, e.clientY - tap.y) > TAP_SLOP) tap = null;
    const dpr = window.devicePixelRatio || 1;
    if (pan && touches.size === 1) {
      game.setPan(
        pan.pan[0] + Math.round(((e.clientX - pan.x) * dpr) / game.scale),
        pan.pan[1] + Math.round(((e.clientY - pan.y) * dpr) / game.scale),
      );
    } else if (pinch && touches.size === 2) {
      // The scale follows the fingers: twice as far apart, twice as large,
      // about the point where the pinch began. The game keeps the zoom
      // within its limits (zoomAt), so steps past them are not taken.
      const fit = pinch.scale - pinch.zoom;
      const wanted = Math.round(pinch.scale * (distance() / pinch.distance));
      if (wanted - fit !== game.zoom) game.zoomAt(wanted - fit, pinch.centre[0], pinch.centre[1], pinch.world);
    }
  });

  const lift = (e) => {
    if (e.pointerType !== 'touch' || !touches.has(e.pointerId)) return;
    touches.delete(e.pointerId);
    if (e.type === 'pointerup' && tap && performance.now() - tap.at < TAP_MS) {
      game.setPointer(e.clientX, e.clientY);
    }
    tap = null;
    pinch = null;
    // The finger left on the glass after a pinch pans from where it is now.
    const rest = [...touches.values()][0];
    pan = rest ? { x: rest.x, y: rest.y, pan: [...game.pan] } : null;
  };
  canvas.addEventListener('pointerup', lift);
  canvas.addEventListener('pointercancel', lift);
}
