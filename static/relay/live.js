// A websocket that reconnects by itself with exponential back-off.
// The server sends a snapshot on every (re)connect, so the page is in step
// again as soon as the connection is back.

const CLOSE_NOT_FOUND = 4404;
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

  function open() {
    clearTimeout(timer);
    onStatus("connecting", attempt);
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      attempt = 0;
      onStatus("open", 0);
      clearInterval(pinger);
      // Keeps proxies from closing an idle connection.
      pinger = setInterval(() => send({ type: "ping" }), 25000);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      // Events that waited for a busy server come together, in order (docs/websocket.md).
      const messages = message && message.type === "batch" && Array.isArray(message.events) ? message.events : [message];
      for (const one of messages) {
        if (one && typeof one.type === "string") onMessage(one);
      }
    });
    socket.addEventListener("close", (event) => {
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
