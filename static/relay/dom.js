// Tiny DOM helpers. Every piece of user or AI text goes in through
// textContent (never innerHTML), so a keyword like <img onerror=…> stays text.

export function el(tag, options = {}, ...children) {
  const node = document.createElement(tag);
  const { className, text, attrs, dataset, hidden, style } = options;
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (attrs) for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  if (dataset) for (const [name, value] of Object.entries(dataset)) node.dataset[name] = String(value);
  // Through the CSSOM: the Content-Security-Policy refuses style="…" attributes.
  if (style) Object.assign(node.style, style);
  if (hidden) node.hidden = true;
  for (const child of children) if (child) node.append(child);
  return node;
}

// Bars the server drew carry their width as data-percent (no style attribute under the CSP).
export function applyPercentWidths(root = document) {
  for (const node of root.querySelectorAll("[data-percent]")) node.style.width = `${Number(node.dataset.percent) || 0}%`;
}

export function setText(node, text) {
  if (node) node.textContent = text ?? "";
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

// POST a form's fields with fetch and read the JSON answer (the views answer
// JSON when asked, redirects otherwise).
export async function postForm(url, fields) {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined) body.append(name, value);
  }
  const response = await fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
  });
  let data = {};
  try { data = await response.json(); } catch { data = { code: "bad_response", message: "서버 응답을 읽지 못했습니다." }; }
  return { ok: response.ok, status: response.status, data };
}
