// First-start mistakes seen from the page, each as one sentence that says
// what to do. (A page opened as a file never runs this module, since
// browsers refuse modules from file://: index.html says that one inline.)

/** Tries without one open connection before the page says it cannot reach d-back. */
export const UNREACHABLE_AFTER = 3;

/** The sentence for a socket URL no WebSocket can open, or null when it is fine. */
export function badSocketURL(url, overridden) {
  if (/^wss?:\/\/[^/?#]+/i.test(url)) return null;
  const fix = overridden
    ? "fix ?socketURL= in this page's address (e.g. ?socketURL=ws://localhost:3000/ws), or remove it to use the server that served this page"
    : "open this page from d-back's own address (e.g. http://localhost:3000/)";
  return `The socket address "${url}" is not a ws:// or wss:// URL: ${fix}.`;
}

/** The sentence when no connection to `url` has opened after a few tries. */
export function unreachable(url, overridden) {
  const check = overridden
    ? 'check that d-back is running there, or fix ?socketURL= in this page\'s address'
    : 'check that d-back is running and that the proxy in front of it passes WebSocket upgrades';
  return `Cannot reach d-back at ${url}: ${check}.`;
}
