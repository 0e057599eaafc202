// Discord login (OAuth2 implicit grant). The token and user object live in
// localStorage; discord-callback.html writes them, connect() sends them.
//
// A stored login is bound to the socket URL it was made for. `?socketURL=`
// can point this page at any server, and a server that marks itself
// protected would otherwise be handed the token made for another one; so a
// login is offered only to its own socket, and elsewhere the visitor logs in
// again.

const TOKEN = 'dzone.discordToken';
const USER = 'dzone.discordUser';
const EXPIRES = 'dzone.discordExpires';
const SOCKET = 'dzone.discordSocket'; // the socket URL the stored login is for
const STATE = 'dzone.oauthState';
const PENDING_SOCKET = 'dzone.oauthSocket'; // the socket URL a started login is for
const RETURN = 'dzone.oauthReturn';
const CLIENT_ID = 'dzone.clientId';

// One spelling per socket, so "ws://h/ws" and "ws://H/ws" are the same socket.
function canonical(socket) {
  try {
    return new URL(String(socket)).href;
  } catch {
    return String(socket);
  }
}

function stored() {
  const token = localStorage.getItem(TOKEN);
  const user = JSON.parse(localStorage.getItem(USER) || 'null');
  const expires = Number(localStorage.getItem(EXPIRES) || 0);
  if (!token || !user || !user.id || !user.username) return null;
  if (expires && Date.now() > expires) {
    logout();
    return null;
  }
  return { token, user, socket: localStorage.getItem(SOCKET) };
}

/** {token, user} when logged in for `socket` and not expired, else null. */
export function credentials(socket) {
  try {
    const login = stored();
    // A login from before logins were bound has no socket: it is not offered.
    if (!login || !login.socket || login.socket !== canonical(socket)) return null;
    return { token: login.token, user: login.user };
  } catch {
    return null;
  }
}

/** Whether a login is stored, but for a socket other than `socket`. */
export function loggedInElsewhere(socket) {
  try {
    return !!stored() && !credentials(socket);
  } catch {
    return false;
  }
}

export function logout() {
  for (const key of [TOKEN, USER, EXPIRES, SOCKET]) localStorage.removeItem(key);
}

/** The last Discord application id a server told us about. */
export function rememberedClientId() {
  return localStorage.getItem(CLIENT_ID);
}

export function rememberClientId(id) {
  if (id) localStorage.setItem(CLIENT_ID, id);
}

/** Sends the browser to Discord's consent screen, for a login used on `socket`. */
export function login(clientId, socket) {
  const state = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
  localStorage.setItem(STATE, state);
  localStorage.setItem(PENDING_SOCKET, canonical(socket));
  localStorage.setItem(RETURN, location.href);
  const redirect = new URL('discord-callback.html', location.href).href;
  const url = new URL('https://discord.com/oauth2/authorize');
  url.search = new URLSearchParams({
    response_type: 'token',
    client_id: clientId,
    scope: 'identify guilds',
    redirect_uri: redirect,
    state,
  }).toString().replace(/\+/g, '%20');
  location.assign(url.href);
}

/** Where to go after the callback: the page the login started from. */
export function loginReturn() {
  return localStorage.getItem(RETURN);
}

/**
 * The socket URL of the login this page started with `state`, or null when
 * it started none (or another). Either way the started login is used up: a
 * state answers one callback only.
 */
export function claimLogin(state) {
  const expected = localStorage.getItem(STATE);
  const socket = localStorage.getItem(PENDING_SOCKET);
  localStorage.removeItem(STATE);
  localStorage.removeItem(PENDING_SOCKET);
  // No stored state means nobody here asked for this answer: refuse it.
  if (!expected || !state || state !== expected || !socket) return null;
  return socket;
}

/** Keeps a login for `socket`; `lifetime` in seconds, 0 when unknown. */
export function keepLogin(token, user, lifetime, socket) {
  logout(); // never a moment where one socket's token is bound to another
  localStorage.setItem(TOKEN, token);
  localStorage.setItem(USER, JSON.stringify(user));
  localStorage.setItem(SOCKET, canonical(socket));
  if (lifetime) localStorage.setItem(EXPIRES, String(Date.now() + lifetime * 1000));
  else localStorage.removeItem(EXPIRES);
}
