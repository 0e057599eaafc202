// Discord login (OAuth2 implicit grant). The token and user object live in
// localStorage; discord-callback.html writes them, connect() sends them.

const TOKEN = 'dzone.discordToken';
const USER = 'dzone.discordUser';
const EXPIRES = 'dzone.discordExpires';
const STATE = 'dzone.oauthState';
const RETURN = 'dzone.oauthReturn';
const CLIENT_ID = 'dzone.clientId';

/** {token, user} when logged in and not expired, else null. */
export function credentials() {
  try {
    const token = localStorage.getItem(TOKEN);
    const user = JSON.parse(localStorage.getItem(USER) || 'null');
    const expires = Number(localStorage.getItem(EXPIRES) || 0);
    if (!token || !user || !user.id || !user.username) return null;
    if (expires && Date.now() > expires) {
      logout();
      return null;
    }
    return { token, user };
  } catch {
    return null;
  }
}

export function logout() {
  for (const key of [TOKEN, USER, EXPIRES]) localStorage.removeItem(key);
}

/** The last Discord application id a server told us about. */
export function rememberedClientId() {
  return localStorage.getItem(CLIENT_ID);
}

export function rememberClientId(id) {
  if (id) localStorage.setItem(CLIENT_ID, id);
}

/** Sends the browser to Discord's consent screen. */
export function login(clientId) {
  const state = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
  localStorage.setItem(STATE, state);
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
