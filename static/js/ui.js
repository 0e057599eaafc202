// The DOM around the canvas: title, server menu, help panel with the Discord
// login, error banners and the reconnecting indicator.

import { credentials, loggedInElsewhere, login, logout, rememberClientId, rememberedClientId } from './auth.js';

export const NEEDS_LOGIN = 'This server requires Discord authentication. Please login with Discord.';
export const LOGIN_FAILED = 'Discord authentication failed. Please try logging in again.';
const BANNER_MS = 6000;
const MAX_BANNERS = 3;

const $ = (id) => document.getElementById(id);

export class UI {
  /** `socket`: the socket URL this page talks to; logins are made for it. */
  constructor({ onSwitch, socket }) {
    this.onSwitch = onSwitch;
    this.socket = socket;
    this.game = null; // set once the game exists
    this.banners = new Map(); // message -> {el, timer, count}
    $('server-button').addEventListener('click', (e) => {
      e.stopPropagation();
      this.toggle('server-menu');
    });
    $('help-button').addEventListener('click', (e) => {
      e.stopPropagation();
      this.toggle('help');
    });
    $('help-close').addEventListener('click', () => this.hide('help'));
    $('login-button').addEventListener('click', () => this.startLogin());
    $('logout-button').addEventListener('click', () => {
      logout();
      this.renderLogin();
    });
    document.addEventListener('click', (e) => {
      if (!$('server-menu').contains(e.target)) this.hide('server-menu');
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.hide('server-menu');
        this.hide('help');
      }
    });
    this.loadVersion();
    this.renderLogin();
  }

  toggle(id) {
    const el = $(id);
    if (el.hidden) this.show(id);
    else this.hide(id);
  }

  show(id) {
    $(id).hidden = false;
    if (id === 'help') {
      this.renderLogin();
      this.renderCounts();
      clearInterval(this.countsTimer);
      this.countsTimer = setInterval(() => {
        if ($('help').hidden) clearInterval(this.countsTimer);
        else this.renderCounts();
      }, 1000);
    }
  }

  /** "N online, M drawn": members not offline, and bodies on the island (at most maxActors). */
  renderCounts() {
    const g = this.game;
    if (!g || !g.joined) {
      $('counts').textContent = '';
      return;
    }
    const online = g.users.online();
    const drawn = g.users.onIsland;
    const fmt = (n) => n.toLocaleString('en-US');
    let text = `${fmt(online)} online, ${fmt(drawn)} drawn`;
    if (online > drawn && drawn >= g.maxActors) text += ` (at most ${fmt(g.maxActors)}: the least recently active wait offstage until they speak)`;
    $('counts').textContent = `${text}.`;
  }

  hide(id) {
    $(id).hidden = true;
  }

  async loadVersion() {
    try {
      const res = await fetch('api/version');
      const body = await res.json();
      $('version').textContent = body.version ? `v${body.version}` : 'unknown';
    } catch {
      $('version').textContent = 'unknown';
    }
  }

  // ---- game callbacks ----

  serversChanged() {
    const list = $('server-list');
    list.textContent = '';
    for (const s of Object.values(this.game.servers || {})) {
      if (!s || !s.id) continue;
      const li = document.createElement('li');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.dataset.id = s.id;
      btn.className = 'server-item';
      if (s.id === this.game.server) btn.classList.add('current');
      const name = document.createElement('span');
      name.textContent = s.name || s.id;
      btn.append(name);
      if (s.passworded) {
        const lock = document.createElement('span');
        lock.className = 'lock';
        lock.title = 'Discord login required';
        lock.setAttribute('aria-label', 'protected');
        btn.append(lock);
      }
      btn.addEventListener('click', () => {
        this.hide('server-menu');
        this.onSwitch(s.id);
      });
      li.append(btn);
      list.append(li);
    }
  }

  switching() {
    this.markCurrent();
    this.setTitle(this.game.serverName, true);
    this.dismiss(NEEDS_LOGIN);
  }

  joined() {
    const g = this.game;
    if (g.clientId) rememberClientId(g.clientId);
    this.markCurrent();
    this.setTitle(g.serverName, false);
    this.dismissLoginBanner();
    this.renderLogin();
  }

  clientIdChanged() {
    if (this.game.clientId) rememberClientId(this.game.clientId);
    this.renderLogin();
  }

  error(message) {
    if (message === NEEDS_LOGIN || message === LOGIN_FAILED) {
      // Only a login this socket was sent can have failed there; a login
      // made for another socket is not this server's to throw away.
      if (message === LOGIN_FAILED && credentials(this.socket)) logout();
      this.promptLogin(message);
      this.setTitle(this.game.serverName, false, true);
      return;
    }
    this.banner(message);
  }

  connection(connected, delay) {
    this.game.connected = connected;
    $('reconnecting').hidden = connected;
    $('status-dot').className = connected ? 'dot on' : 'dot off';
    if (!connected) $('reconnect-delay').textContent = `${(delay / 1000).toFixed(1)} s`;
  }

  // ---- pieces ----

  markCurrent() {
    for (const btn of document.querySelectorAll('.server-item')) {
      btn.classList.toggle('current', btn.dataset.id === this.game.server);
    }
  }

  setTitle(name, joining, locked = false) {
    $('server-name').textContent = name || '…';
    $('server-name').classList.toggle('joining', joining);
    $('server-name').classList.toggle('locked', locked);
    document.title = name ? `${name} · d-zone` : 'd-zone';
  }

  /** An unobtrusive message; the same text again refreshes it instead of stacking. */
  banner(message, { sticky = false, action = null } = {}) {
    let b = this.banners.get(message);
    if (b) {
      b.count++;
      b.el.querySelector('.count').textContent = `×${b.count}`;
    } else {
      if (this.banners.size >= MAX_BANNERS) this.dismiss(this.banners.keys().next().value);
      const el = document.createElement('div');
      el.className = 'banner';
      el.setAttribute('role', 'status');
      const text = document.createElement('span');
      text.textContent = message;
      const count = document.createElement('span');
      count.className = 'count';
      el.append(text, count);
      if (action) {
        const btn = document.createElement('button');
        btn.type = 'button';
        btn.textContent = action.label;
        btn.className = action.className || '';
        btn.addEventListener('click', action.run);
        el.append(btn);
      }
      const close = document.createElement('button');
      close.type = 'button';
      close.className = 'close';
      close.setAttribute('aria-label', 'Dismiss');
      close.textContent = '×';
      close.addEventListener('click', () => this.dismiss(message));
      el.append(close);
      $('banners').append(el);
      b = { el, timer: 0, count: 1 };
      this.banners.set(message, b);
    }
    clearTimeout(b.timer);
    b.timer = sticky ? 0 : setTimeout(() => this.dismiss(message), BANNER_MS);
  }

  dismiss(message) {
    const b = this.banners.get(message);
    if (!b) return;
    clearTimeout(b.timer);
    b.el.remove();
    this.banners.delete(message);
  }

  dismissLoginBanner() {
    this.dismiss(NEEDS_LOGIN);
    this.dismiss(LOGIN_FAILED);
  }

  /** Opens the help panel at the login section and keeps a banner with a button. */
  promptLogin(message) {
    this.banner(message, {
      sticky: true,
      action: { label: 'Login with Discord', className: 'discord', run: () => this.startLogin() },
    });
    this.show('help');
    const section = $('login-section');
    section.classList.add('attention');
    section.scrollIntoView({ block: 'nearest' });
  }

  clientId() {
    return (this.game && this.game.clientId) || rememberedClientId();
  }

  startLogin() {
    const id = this.clientId();
    if (!id) {
      this.banner('This d-back server has not shared a Discord application id, so login is not available.');
      return;
    }
    login(id, this.socket);
  }

  renderLogin() {
    const creds = credentials(this.socket);
    const who = $('login-status');
    if (creds) {
      who.textContent = `Logged in as ${creds.user.global_name || creds.user.username}.`;
    } else if (loggedInElsewhere(this.socket)) {
      who.textContent = 'Your Discord login was made for another d-back server. Log in again to use protected servers here.';
    } else {
      who.textContent = 'Protected servers (marked with a padlock) show their members only to people in them. Log in with Discord to prove you are one.';
    }
    $('logout-button').hidden = !creds && !loggedInElsewhere(this.socket);
    $('login-button').hidden = false;
    $('login-button').textContent = creds ? 'Log in again' : 'Login with Discord';
    $('login-note').hidden = !!this.clientId();
  }
}
