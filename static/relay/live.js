// A websocket that reconnects by itself with exponential back-off.
// The server sends a snapshot on every (re)connect, so the page is in step
// again as soon as the connection is back.

const CLOSE_NOT_FOUND = 4404;
// A ping every PING_EVERY_MS; a socket that has heard nothing ANSWER_WITHIN_MS after its ping is given up: the
// server behind it is gone without a word (its host lost or cut off, bench/hosts.py), and only a new
// connection, which the proxy sends to a live server, brings the page back in step.
export const PING_EVERY_MS = 20000;
export const ANSWER_WITHIN_MS = 8000;
const CLOSE_ABUSE = 4429;
const CLOSE_TOO_MANY = 4430;

export function connectLive(path, { onMessage, onStatus }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}${path}`;
  let socket = null;
  let attempt = 0;
  let timer = null;
  let pinger = null;
  let stopped = false;
  let heardAt = 0;

  function open() {
    clearTimeout(timer);
    onStatus("connecting", attempt);
    const current = new WebSocket(url);
    socket = current;
    // Events of a socket the page gave up on (giveUp) are not this page's any more.
    const mine = () => socket === current;
    current.addEventListener("open", () => {
      if (!mine()) return;
      attempt = 0;
      onStatus("open", 0);
      clearInterval(pinger);
      heardAt = Date.now();
      // Keeps proxies from closing an idle connection, and finds a server that went away without closing.
      pinger = setInterval(() => {
        const pingedAt = Date.now();
        if (!send({ type: "ping" })) return;
        setTimeout(() => { if (mine() && heardAt < pingedAt) giveUp(); }, ANSWER_WITHIN_MS);
      }, PING_EVERY_MS);
    });
    current.addEventListener("message", (event) => {
      if (!mine()) return;
      heardAt = Date.now();
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      // Events that waited for a busy server come together, in order (docs/websocket.md).
      const messages = message && message.type === "batch" && Array.isArray(message.events) ? message.events : [message];
      for (const one of messages) {
        if (one && typeof one.type === "string") onMessage(one);
      }
    });
    current.addEventListener("close", (event) => {
      if (!mine()) return;
      clearInterval(pinger);
      socket = null;
      if (stopped) return;
      if (event.code === CLOSE_NOT_FOUND) { onStatus("gone", 0); return; }
      attempt += 1;
      const base = event.code === CLOSE_ABUSE || event.code === CLOSE_TOO_MANY ? 10000 : 500;
      const delay = Math.min(30000, base * 2 ** Math.min(attempt - 1, 6)) * (0.8 + Math.random() * 0.4);
      onStatus("down", attempt, delay);
      timer = setTimeout(open, delay);
    });
  }

  // The socket's close event may come only when the browser's own closing handshake times out; the page does
  // not wait for it, and connects again at once.
  function giveUp() {
    const dead = socket;
    if (!dead || stopped) return;
    clearInterval(pinger);
    socket = null;
    dead.close();
    attempt += 1;
    onStatus("down", attempt, 0);
    open();
  }

  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  // Come back at once when the tab or the network returns.
  window.addEventListener("online", () => { if (!socket) { attempt = 0; open(); } });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !socket && !stopped) { attempt = 0; open(); }
  });

  open();
  return {
    send,
    isOpen: () => Boolean(socket && socket.readyState === WebSocket.OPEN),
    stop() { stopped = true; clearTimeout(timer); clearInterval(pinger); if (socket) socket.close(); },
  };
}
