// "왜 이렇게 썼을까?": opening an AI passage shows, character by character, how sure the model
// was (a heat map), and at any character the few choices it weighed with their chances.
// "다음 글자 맞히기": guess the next syllable before the AI shows its top five.
// Data: GET /api/turns/<id>/explanation/ (docs/api.md).

import { el, setText } from "./dom.js";
import { josa } from "./particles.js";

const pct = (p) => `${Math.round(p * 100)}%`;
const shown = (t) => (t === "\n" ? "↵" : t === " " ? "␣" : t);

function level(p) {
  if (p >= 0.5) return "sure";
  if (p >= 0.15) return "maybe";
  return "unsure";
}

function describe(step) {
  const others = step.top.map(([t, p]) => `“${shown(t)}” ${pct(p)}`).join(", ");
  return `“${shown(step.t)}”: AI가 ${pct(step.p)} 확신한 글자. 후보: ${others}`;
}

async function load(turn) {
  const response = await fetch(`/api/turns/${Number(turn)}/explanation/`, { headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || "불러오지 못했습니다.");
  return data;
}

function heatMap(steps, detail) {
  const map = el("p", { className: "why-map", attrs: { tabindex: "0", role: "group", "aria-label": "글자마다 AI가 확신한 정도 (좌우 화살표로 이동)" } });
  let selected = 0;
  const spans = steps.map((step, i) => {
    const span = el("span", { className: `ch ${level(step.p)}`, text: step.t, dataset: { i } });
    map.append(span);
    return span;
  });
  function select(i) {
    spans[selected]?.classList.remove("selected");
    selected = Math.max(0, Math.min(steps.length - 1, i));
    spans[selected].classList.add("selected");
    setText(detail, describe(steps[selected]));
  }
  map.addEventListener("click", (event) => {
    const i = event.target.dataset?.i;
    if (i !== undefined) select(Number(i));
  });
  map.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") { select(selected + 1); event.preventDefault(); }
    if (event.key === "ArrowLeft") { select(selected - 1); event.preventDefault(); }
  });
  return map;
}

// The positions worth guessing: Hangul syllables (not spaces, punctuation or the first few).
const guessable = (steps) => steps.map((s, i) => i).filter((i) => i >= 3 && /^[가-힣]$/u.test(steps[i].t));

function game(steps) {
  const box = el("div", { className: "why-game" });
  const shownText = el("p", { className: "why-so-far" });
  const form = el("form", { className: "inline" });
  const input = el("input", { attrs: { type: "text", maxlength: "4", "aria-label": "다음 글자 (한 글자)", autocomplete: "off" } });
  const result = el("p", { className: "why-result", attrs: { role: "status" } });
  const score = el("p", { className: "muted small" });
  form.append(input, el("button", { attrs: { type: "submit" }, className: "small", text: "맞혀 보기" }));
  const positions = guessable(steps);
  let turn = 0, right = 0, tried = 0;
  function show() {
    if (turn >= positions.length) {
      setText(shownText, steps.map((s) => s.t).join(""));
      setText(result, `끝! ${tried}번 중 ${right}번 맞혔어요.`);
      form.hidden = true;
      return;
    }
    setText(shownText, `${steps.slice(0, positions[turn]).map((s) => s.t).join("")}…`);
    input.value = "";
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const guess = Array.from(input.value.normalize("NFC").trim())[0];
    if (!guess) return;
    const step = steps[positions[turn]];
    tried += 1;
    if (guess === step.t) right += 1;
    const mine = step.top.find(([t]) => t === guess);
    setText(result, `${guess === step.t ? "맞았어요!" : `아쉬워요. 정답은 “${step.t}”`} · AI의 다섯 후보: ${step.top.map(([t, p]) => `“${shown(t)}” ${pct(p)}`).join(", ")}${mine ? "" : ` · AI는 “${guess}”를 다섯 후보에 넣지 않았어요`}`);
    setText(score, `${tried}번 중 ${right}번 맞힘`);
    turn += 1 + Math.floor(Math.random() * 3); // a few characters further each time
    show();
    input.focus();
  });
  show();
  box.append(el("h4", { text: "다음 글자 맞히기" }), shownText, form, result, score);
  return box;
}

export async function toggleWhy(article) {
  const open = article.querySelector(".why");
  const button = article.querySelector(".why-button");
  if (open) { open.remove(); button?.setAttribute("aria-expanded", "false"); return; }
  const panel = el("div", { className: "why" });
  article.append(panel);
  button?.setAttribute("aria-expanded", "true");
  setText(panel, "불러오는 중…");
  try {
    const data = await load(article.dataset.turn);
    panel.replaceChildren();
    const detail = el("p", { className: "why-detail", attrs: { "aria-live": "polite" }, text: "글자를 누르면 AI가 무엇을 두고 고민했는지 보여요." });
    panel.append(
      el("p", { className: "muted small", text: `${josa(`모델 ${data.model_version || "?"}`, "이/가")} 글자마다 얼마나 확신했는지: 진할수록 확신, 옅을수록 망설임` }),
      heatMap(data.steps, detail),
      detail,
      game(data.steps),
    );
  } catch (error) {
    setText(panel, String(error.message || error));
  }
}
