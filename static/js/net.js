// The WebSocket to d-back, reopened with exponential backoff when it drops.
// The caller rejoins its server when the next server-list arrives.
//
// The backoff starts over only after a connection that stayed up a while: a
// server that accepts and closes at once (full, refusing us, crashing) must
// not be hammered twice a second. Close codes that say "not now" wait longer.

const FIRST_DELAY = 500;
const MAX_DELAY = 5000;
/** A connection open this long counts as good and resets the backoff. */
const STABLE_MS = 10000;
/** Per close code: [least delay, most delay] in ms. */
const CLOSE_DELAYS = {
  1001: [2000, MAX_DELAY], // going away: the server is shutting down or restarting
  1008: [30000, 120000], // policy: the server refused us; soon would be refused again
};

/**
 * Where to connect: `?socketURL=`, or `ws` beside this page on its own
 * origin and path (`/dzone/` -> `/dzone/ws` behind a proxy's sub-path), with
 * `wss:` when the page came over HTTPS.
 */
export function socketURL(location) {
  const override = new URLSearchParams(location.search).get('socketURL');
  if (override) return override;
  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';
  return url.href;
}

export class Connection {
  /**
   * @param {string} url
   * @param {{onMessage(msg), onOpen(), onClose(attempt, delay)}} handlers
   *   onClose gets the delay actually waited before the next try, in ms.
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0; // tries since the last connection that stayed up
    this.retryTimer = 0; // at most one pending reconnect
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      console.warn('d-zone: cannot open socket', err);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let openedAt = 0;
    ws.onopen = () => {
      openedAt = performance.now();
      this.handlers.onOpen();
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(typeof ev.data === 'string' ? ev.data : '');
      } catch {
        console.warn('d-zone: ignoring a frame that is not JSON');
        return;
      }
      if (msg && typeof msg === 'object') this.handlers.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (openedAt && performance.now() - openedAt >= STABLE_MS) this.attempt = 0;
      this.scheduleRetry(ev.code);
    };
    // Errors are always followed by close; nothing to do here.
    ws.onerror = () => {};
  }

  scheduleRetry(code) {
    if (this.retryTimer) return;
    const [least, most] = CLOSE_DELAYS[code] || [FIRST_DELAY, MAX_DELAY];
    const delay = Math.min(most, Math.max(least, FIRST_DELAY * 2 ** this.attempt));
    this.attempt++;
    // A little jitter so many clients of a restarted server do not return in
    // step; the visitor is shown this delay, not the round one.
    const jittered = Math.round(Math.min(most, delay * (0.85 + Math.random() * 0.3)));
    this.handlers.onClose(this.attempt, jittered);
    this.retryTimer = setTimeout(() => this.connect(), jittered);
  }

  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }
}
