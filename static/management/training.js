// A training run's card follows the run live: the bar, the figures, the loss
// curve growing point by point and the samples appearing one under another.
// The events come through the page's site socket (static/relay/site.js), from
// each web process's watcher of the training runs (relay/live/training_watch.py).

let card = document.querySelector("[data-run-card]");
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 200;
const PAD = 28;

function readPoints() {
  const data = document.getElementById("run-points");
  try {
    const points = JSON.parse(data ? data.textContent : "[]");
    return Array.isArray(points) ? points : [];
  } catch {
    return [];
  }
}

let points = readPoints();

// The region around the card was fetched afresh (static/relay/site.js): follow the new card.
function adopt() {
  card = document.querySelector("[data-run-card]");
  points = readPoints();
  drawCurve();
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

// x: how far the run was (0 to 1); y: bits per character, lower is better.
function drawCurve() {
  const svg = card && card.querySelector("[data-run-curve]");
  if (!svg) return;
  const values = points.flatMap((p) => [p.train_bpc, p.val_bpc]).filter((v) => Number.isFinite(v));
  svg.replaceChildren();
  if (!values.length) return;
  const top = Math.max(...values);
  const bottom = Math.min(...values);
  const span = top - bottom || 1;
  const x = (p, i) => PAD + (WIDTH - 2 * PAD) * (Number.isFinite(p.fraction) ? p.fraction : i / Math.max(1, points.length - 1));
  const y = (v) => PAD / 2 + (HEIGHT - 1.5 * PAD) * (1 - (v - bottom) / span);
  svg.append(
    svgElement("line", { x1: PAD, y1: HEIGHT - PAD, x2: WIDTH - PAD, y2: HEIGHT - PAD, class: "axis" }),
    svgElement("text", { x: 2, y: y(top) + 4, class: "tick" }),
    svgElement("text", { x: 2, y: y(bottom) + 4, class: "tick" }),
  );
  const [topLabel, bottomLabel] = svg.querySelectorAll("text");
  topLabel.textContent = top.toFixed(2);
  bottomLabel.textContent = bottom.toFixed(2);
  const train = points.map((p, i) => [p, i]).filter(([p]) => Number.isFinite(p.train_bpc));
  if (train.length) {
    svg.append(svgElement("polyline", {
      class: "train",
      points: train.map(([p, i]) => `${x(p, i).toFixed(1)},${y(p.train_bpc).toFixed(1)}`).join(" "),
    }));
  }
  points.forEach((p, i) => {
    if (Number.isFinite(p.val_bpc)) svg.append(svgElement("circle", { class: "val", cx: x(p, i), cy: y(p.val_bpc), r: 4 }));
  });
  svg.dataset.points = String(points.length);
}

function setText(name, value) {
  const element = card.querySelector(`[data-run-${name}]`);
  if (element) element.textContent = value;
}

function showSamples(samples) {
  const list = card.querySelector("[data-run-samples]");
  if (!list || !Array.isArray(samples)) return;
  const shown = list.querySelectorAll("li:not([data-run-no-samples])").length;
  if (samples.length > 0) list.querySelector("[data-run-no-samples]")?.remove();
  for (const sample of samples.slice(shown)) {
    const item = document.createElement("li");
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = `${Number(sample.epoch)}번째 공부 뒤`;
    const text = document.createElement("q");
    text.textContent = String(sample.text ?? "");
    item.append(when, " ", text);
    if (Array.isArray(sample.parts) && sample.parts.length > 0) {
      const parts = document.createElement("small");
      parts.className = "parts";
      parts.textContent = `켠 것: ${sample.parts.map(String).join(" · ")}`;
      item.append(" ", parts);
    }
    list.append(item);
  }
}

const PHASES = {
  gathering: "글 모으는 중",
  training: "공부하는 중",
  evaluating: "실력 재는 중",
  activating: "새 모델로 바꾸는 중",
  done: "끝",
};

function follow(message) {
  if (!message.type.startsWith("training.")) return;
  if (!card || Number(card.dataset.run) !== Number(message.run)) {
    // Another run began: on the model page the server draws its card (a run's own page stays on its run).
    if (!card || !("fixed" in card.dataset)) document.dispatchEvent(new CustomEvent("relay:refresh"));
    return;
  }
  const progress = message.progress || {};
  const percent = message.type === "training.finished" ? 100 : Math.round(100 * Number(progress.fraction || 0));
  card.dataset.status = message.status;
  const bar = card.querySelector("[data-run-bar]");
  if (bar) bar.value = percent;
  setText("percent", String(percent));
  setText("phase", PHASES[message.phase] || message.phase);
  if (Number.isFinite(progress.epoch)) setText("epoch", String(progress.epoch));
  if (Number.isFinite(progress.epochs)) setText("epochs", String(progress.epochs));
  if (Number.isFinite(progress.chars_per_s)) setText("speed", Math.round(progress.chars_per_s).toLocaleString("ko-KR"));
  if (Number.isFinite(progress.eta_s)) setText("eta", String(Math.round(progress.eta_s)));
  // The loss in nats per token, read as "hesitating among e^loss letters" like every figure on the page.
  if (Number.isFinite(progress.train_loss)) setText("loss", Math.max(1, Math.round(Math.exp(progress.train_loss))).toLocaleString("ko-KR"));
  const point = message.point;
  const last = points[points.length - 1];
  if (point && (!last || point.step !== last.step || point.val_bpc !== last.val_bpc)) {
    points.push(point);
    drawCurve();
  }
  showSamples(message.samples);
}

drawCurve();
document.addEventListener("relay:event", (event) => follow(event.detail));
document.addEventListener("relay:refreshed", adopt);
