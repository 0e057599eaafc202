// The WebSocket to d-back, reopened with exponential backoff when it drops.
// The caller rejoins its server when the next server-list arrives.

const FIRST_DELAY = 500;
const MAX_DELAY = 5000;

/** Where to connect: `?socketURL=` or this page's own host at /ws. */
export function socketURL(location) {
  const override = new URLSearchParams(location.search).get('socketURL');
  if (override) return override;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

export class Connection {
  /**
   * @param {string} url
   * @param {{onMessage(msg), onOpen(), onClose(attempt, delay)}} handlers
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0; // failed opens since the last good one
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
    ws.onopen = () => {
      this.attempt = 0;
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
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleRetry();
    };
    // Errors are always followed by close; nothing to do here.
    ws.onerror = () => {};
  }

  scheduleRetry() {
    if (this.retryTimer) return;
    const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** this.attempt);
    this.attempt++;
    this.handlers.onClose(this.attempt, delay);
    // A little jitter so many clients of a restarted server do not return in step.
    const jittered = Math.min(MAX_DELAY, delay * (0.85 + Math.random() * 0.3));
    this.retryTimer = setTimeout(() => this.connect(), jittered);
  }

  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }
}
