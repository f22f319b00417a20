// Pages that list what the whole site holds (novels, source texts, models)
// stay current. A vote on a source text, the one frequent event, is written
// into its row at once. The rare ones (a new novel or source text, a review,
// a new model) make the page fetch itself again and swap the marked region
// in: the server renders it as on a full load (the reader's own votes, the
// forms' CSRF tokens), so nothing is drawn twice, in a template and here.

import { connectLive } from "./live.js";
import { tell } from "./tell.js";

const region = document.querySelector("[data-live-region]");
const notice = document.querySelector("[data-training-notice]");

// "지금 AI가 공부하는 중 · 34%" on every page with this socket, while a run is under way.
function showTraining(message) {
  if (!notice) return;
  const running = message.type === "training.progress";
  notice.hidden = !running;
  if (!running) return;
  notice.href = `/models/runs/${Number(message.run)}/`;
  const percent = notice.querySelector("[data-training-percent]");
  if (percent) percent.textContent = String(Math.round(100 * Number(message.progress?.fraction || 0)));
}

if (region || notice) {
  const events = new Set(((region && region.dataset.liveEvents) || "").split(/\s+/).filter(Boolean));
  let timer = null;
  let opened = 0;

  // A little later and spread over a few seconds: a burst makes one fetch,
  // and a thousand open pages do not all ask the server in the same instant.
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300 + Math.random() * 4700);
  }

  // Applied in place; false: the page cannot, and fetches itself instead.
  const inPlace = {
    // "지금 3명이 읽는 중" in a novel's row: always in place (it changes every second under a crowd).
    presence(message) {
      const readers = document.querySelector(`[data-readers="${Number(message.novel)}"]`);
      if (readers) readers.textContent = `지금 ${Number(message.readers)}명이 읽는 중`;
      return true;
    },
    "source.voted"(message) {
      const votes = document.querySelector(`#source-${Number(message.source)} .votes`);
      if (!votes) return false;
      votes.textContent = `${Number(message.votes)}표`;
      return true;
    },
  };

  async function refresh() {
    if (!region) return;
    let response;
    try {
      response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch {
      return; // offline: the next event or reconnect tries again
    }
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector(`[data-live-region="${region.dataset.liveRegion}"]`);
    if (fresh) {
      region.replaceChildren(...fresh.childNodes);
      document.dispatchEvent(new CustomEvent("relay:refreshed"));
    }
  }

  // A part of the page that cannot follow an event in place asks for the whole region afresh.
  document.addEventListener("relay:refresh", () => refreshSoon());

  connectLive("/ws/site/", {
    onMessage(message) {
      if (message.type.startsWith("training.")) showTraining(message);
      if (message.type === "notice") tell(message.text);  // for this person alone (their own group)
      // Parts of a page that follow an event themselves (static/management/training.js).
      document.dispatchEvent(new CustomEvent("relay:event", { detail: message }));
      if (!events.has(message.type)) return;
      const apply = inPlace[message.type];
      if (!apply || !apply(message)) refreshSoon();
    },
    onStatus(status) {
      document.documentElement.dataset.live = status;
      // After a lost connection the page may have missed events: catch up once.
      if (status === "open" && opened++ > 0) refreshSoon();
    },
  });
}
