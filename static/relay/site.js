// Pages that list what the whole site holds (novels, source texts, models)
// stay current: a site-wide event that concerns the page's region makes it
// fetch the page again and swap that region in. The server renders it as on
// a full load (the reader's own votes, the forms' CSRF tokens), so nothing is
// drawn twice, once in a template and once here.

import { connectLive } from "./live.js";

const region = document.querySelector("[data-live-region]");

if (region) {
  const events = new Set((region.dataset.liveEvents || "").split(/\s+/).filter(Boolean));
  let timer = null;
  let opened = 0;

  // A little later and spread out: a burst of votes makes one fetch, and a
  // thousand open pages do not all ask in the same instant.
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150 + Math.random() * 600);
  }

  async function refresh() {
    let response;
    try {
      response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch {
      return; // offline: the next event or reconnect tries again
    }
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector(`[data-live-region="${region.dataset.liveRegion}"]`);
    if (fresh) region.replaceChildren(...fresh.childNodes);
  }

  connectLive("/ws/site/", {
    onMessage(message) {
      if (events.has(message.type)) refreshSoon();
    },
    onStatus(status) {
      document.documentElement.dataset.live = status;
      // After a lost connection the page may have missed events: catch up once.
      if (status === "open" && opened++ > 0) refreshSoon();
    },
  });
}
