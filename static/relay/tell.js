// Being told: what concerns this reader (their proposal won, a round they took part in closed,
// the AI finished that round's passage, a passage of theirs was reviewed) shows in the page,
// counts in the tab's title while the tab is in the background, and, if the person allowed it,
// comes as a browser notification.

import { el } from "./dom.js";

const box = document.getElementById("my-notices");
const allow = document.getElementById("allow-notifications");
const baseTitle = document.title;
let unseen = 0;

function showTitle() {
  document.title = unseen > 0 ? `(${unseen}) ${baseTitle}` : baseTitle;
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) { unseen = 0; showTitle(); }
});

// The notices stick just below the site header: tell the stylesheet how tall the header is now.
const header = document.querySelector(".site-header");
if (header && "ResizeObserver" in window) {
  new ResizeObserver(() => {
    document.documentElement.style.setProperty("--header-height", `${header.getBoundingClientRect().height}px`);
  }).observe(header);
}

const canNotify = () => "Notification" in window && Notification.permission === "granted";

if (allow && "Notification" in window && Notification.permission === "default") {
  allow.hidden = false;
  allow.addEventListener("click", async () => {
    await Notification.requestPermission();
    allow.hidden = true;
  });
}

export function tell(text) {
  if (box) {
    box.hidden = false;
    box.prepend(el("li", { text }));
    while (box.children.length > 5) box.lastElementChild.remove();
  }
  if (document.hidden) {
    unseen += 1;
    showTitle();
    if (canNotify()) new Notification("릴레이 소설", { body: text, lang: "ko", tag: "relay-novel" });
  }
}
