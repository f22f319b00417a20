// The live novel page: applies the snapshot and the events of
// /ws/novels/<id>/ (docs/websocket.md) to the story, the round panel and the
// AI's text as it is written. Proposals and votes go over the socket when it
// is open and over HTTP (fetch) otherwise; without JavaScript the forms post.

import { applyPercentWidths, el, postForm, setText } from "./dom.js";
import { connectLive } from "./live.js";
import { josa } from "./particles.js";
import { tell } from "./tell.js";
import { toggleWhy } from "./why.js";

applyPercentWidths();

const root = document.getElementById("novel-page");
const urls = JSON.parse(document.getElementById("page-urls").textContent);
let state = JSON.parse(document.getElementById("initial-snapshot").textContent);
let clockOffset = serverOffset(state.now);
let live = null;

const $ = (id) => document.getElementById(id);
const storyBox = $("story");
const proposalList = $("proposals");

const STATUS_LABELS = { pending: "검토 대기", approved: "승인", rejected: "반려" };
const ROUND_LABELS = { open: "투표 중", candidates: "후보 투표 중", closed: "마감", failed: "실패" };

// ---------------------------------------------------------------- helpers

function serverOffset(now) {
  const server = Date.parse(now);
  return Number.isFinite(server) ? server - Date.now() : 0;
}

function me() { return state.me || { authenticated: false, username: "", is_staff: false }; }

function canSeeReview(turn) {
  return me().is_staff || (turn.author && turn.author === me().username);
}

let noticeTimer = null;
function notice(text, kind = "") {
  const box = $("round-notice");
  box.className = `notice ${kind}`.trim();
  box.hidden = !text;
  setText(box, text);
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 15000);
}

// ---------------------------------------------------------------- story

function turnId(turn) { return turn.turn ?? turn.id; }

function turnKeyword(turn) {
  if (turn.keyword) return turn.keyword;
  const proposals = (state.round && state.round.proposals) || [];
  const match = proposals.find((p) => p.proposal === turn.proposal);
  return match ? match.keyword : "";
}

function renderTurn(turn) {
  const meta = el("div", { className: "turn-meta" });
  if (turn.kind === "ai") {
    meta.append(el("span", { className: "badge ai", text: "AI" }));
    const keyword = turnKeyword(turn);
    if (keyword) meta.append(el("span", { text: `키워드 “${keyword}”` }));
    if (turn.model_version) meta.append(el("span", { text: `모델 ${turn.model_version}` }));
    if (turn.explained) {
      meta.append(el("button", { className: "small secondary why-button", attrs: { type: "button", "aria-expanded": "false" }, text: "왜 이렇게 썼을까?" }));
    }
  } else {
    meta.append(el("span", { className: "badge human", text: "사람" }));
    if (turn.author) meta.append(el("span", { text: turn.author }));
  }
  if (canSeeReview(turn) && STATUS_LABELS[turn.status]) {
    meta.append(el("span", { className: `badge ${turn.status}`, text: STATUS_LABELS[turn.status] }));
  }
  return el(
    "article",
    {
      className: `turn ${turn.kind} ${turn.status}`,
      dataset: { position: turn.position, turn: turnId(turn) },
    },
    el("p", { className: "turn-text", text: turn.text }),
    meta,
  );
}

storyBox.addEventListener("click", (event) => {
  const button = event.target.closest(".why-button");
  if (button) toggleWhy(button.closest("article.turn"));
});

function storyTurns() { return [...storyBox.querySelectorAll("article.turn")]; }

function upsertTurn(turn) {
  $("story-empty")?.remove();
  const existing = storyBox.querySelector(`article.turn[data-position="${turn.position}"]`);
  if (turn.status === "rejected") { existing?.remove(); return; }
  const node = renderTurn(turn);
  if (existing) { existing.replaceWith(node); return; }
  const after = storyTurns().find((n) => Number(n.dataset.position) > turn.position);
  storyBox.insertBefore(node, after || null);
}

function removeTurn(turn) {
  storyBox.querySelector(`article.turn[data-position="${turn.position}"]`)?.remove();
}

let reloadScheduled = false;
function applyStory(story) {
  const tail = story.turns || [];
  const first = tail.length ? tail[0].position : Infinity;
  const keep = new Set(tail.map((t) => t.position));
  for (const node of storyTurns()) {
    const position = Number(node.dataset.position);
    if (position >= first && !keep.has(position)) node.remove();
  }
  tail.forEach(upsertTurn);
  // The snapshot holds the end of the story only: a page that missed more
  // than that reloads once to fetch the rest.
  if (storyTurns().length !== story.total && !reloadScheduled) {
    reloadScheduled = true;
    setTimeout(() => location.reload(), 300);
  }
}

// ---------------------------------------------------------------- generation

let generationJob = null;
let hideTimer = null;

function showGeneration(info) {
  clearTimeout(hideTimer);
  stopTyping();
  generationJob = info.job;
  const box = $("generation");
  box.hidden = false;
  box.classList.remove("failed");
  const what = info.keyword ? `“${info.keyword}”로 ${info.sentences}문장을` : "다음 문단을";
  const retry = info.attempt > 1 ? ` (다시 시도 ${info.attempt}회째)` : "";
  setText($("generation-title"), `AI가 ${what} 쓰는 중…${retry}`);
  setText($("generation-text"), info.text || "");
  unspoken = "";
  setText($("generation-said"), "");
  setText($("writing-badge"), "AI 작성 중");
  $("writing-badge").hidden = false;
}

function hideGeneration(delay = 0) {
  speakSentences(true);
  generationJob = null;
  stopTyping();
  $("writing-badge").hidden = true;
  clearTimeout(hideTimer);
  hideTimer = setTimeout(() => { $("generation").hidden = true; setText($("generation-text"), ""); }, delay);
}

// Chunks arrive about ten times a second (fewer frames for the server to send
// to every page); the characters of each are typed out one by one between them.
let untyped = [];
let typingFrame = 0;

// What screen readers are told of the AI's text: each sentence once it is complete.
let unspoken = "";
const SENTENCE_END = /^[\s\S]*?[.?!…。][”’"')\]]*(?=\s|$)/u;

function speakSentences(final = false) {
  let sentence;
  while ((sentence = SENTENCE_END.exec(unspoken))) {
    if (sentence[0].length === unspoken.length && !final) break; // the sentence may go on ("…”라고")
    unspoken = unspoken.slice(sentence[0].length);
    say(sentence[0]);
  }
  if (final && unspoken.trim()) { say(unspoken); unspoken = ""; }
}

function say(text) {
  const trimmed = text.trim();
  if (!trimmed) return;
  const region = $("generation-said");
  region.append(el("span", { text: `${trimmed} ` }));  // an addition: read out, the earlier ones not again
  while (region.childNodes.length > 3) region.firstChild.remove();
}

function appendChunk(message) {
  if (generationJob !== message.job) {
    if (generationJob !== null) return;
    showGeneration({ job: message.job, text: "" });
  }
  unspoken += message.text;
  speakSentences();
  untyped.push(...Array.from(message.text));
  if (!typingFrame) typingFrame = requestAnimationFrame(typeOut);
}

function typeOut() {
  // Catch up within about six frames, however much is waiting (a hidden tab gets no frames).
  const count = Math.max(1, Math.ceil(untyped.length / 6));
  $("generation-text").append(document.createTextNode(untyped.splice(0, count).join("")));
  typingFrame = untyped.length ? requestAnimationFrame(typeOut) : 0;
}

function stopTyping() {
  cancelAnimationFrame(typingFrame);
  typingFrame = 0;
  untyped = [];
}

// ---------------------------------------------------------------- round

function percent(votes, total) { return total > 0 ? Math.round((votes / total) * 100) : 0; }

function proposalRow(p, round) {
  const mine = round.my_vote === p.proposal;
  const details = [`${p.sentences}문장`];
  if (p.style_title) details.push(`문체: ${p.style_title}`);
  if (p.author) details.push(`제안 ${p.author}`);
  const bar = el("span", { style: { width: `${percent(p.votes, round.total)}%` } });
  const voteButton = el("button", {
    className: mine ? "small secondary" : "small",
    text: mine ? "투표함" : "투표",
    attrs: {
      type: "submit",
      disabled: !me().authenticated || round.status !== "open" || mine,
      "aria-label": `“${p.keyword}”에 투표`,
    },
  });
  const form = el(
    "form",
    { className: "vote-form", attrs: { method: "post", action: urls.vote } },
    el("input", { attrs: { type: "hidden", name: "proposal", value: p.proposal } }),
    voteButton,
  );
  return el(
    "li",
    {
      className: `proposal${mine ? " mine" : ""}${round.winner === p.proposal ? " winner" : ""}`,
      dataset: { proposal: p.proposal },
    },
    el("div", { className: "top" },
      el("div", {}, el("div", { className: "keyword", text: p.keyword }), el("div", { className: "details", text: details.join(" · ") })),
      form),
    el("div", { className: "bar-row" },
      el("div", { className: "bar", attrs: { role: "presentation" } }, bar),
      el("span", { className: "votes", text: `${p.votes}표` })),
  );
}

function candidateRow(candidate, round) {
  const mine = round.my_candidate === candidate.index;
  const tally = (round.candidate_tallies || []).find((t) => t.candidate === candidate.index);
  const votes = tally ? tally.votes : 0;
  const total = (round.candidate_tallies || []).reduce((sum, t) => sum + t.votes, 0);
  return el(
    "li",
    { className: `candidate${mine ? " mine" : ""}`, dataset: { candidate: candidate.index } },
    el("p", { text: candidate.text }),
    el("div", { className: "bar-row" },
      el("div", { className: "bar" }, el("span", { style: { width: `${percent(votes, total)}%` } })),
      el("span", { className: "votes", text: `${votes}표` }),
      el("form", { className: "candidate-form", attrs: { method: "post", action: urls.candidate } },
        el("input", { attrs: { type: "hidden", name: "index", value: candidate.index } }),
        el("button", {
          className: mine ? "small secondary" : "small",
          text: mine ? "고름" : "이것으로",
          attrs: { type: "submit", disabled: !me().authenticated || mine },
        }))),
  );
}

function renderRound() {
  const round = state.round || {
    round: null, number: null, status: "none", proposals: [], total: 0, my_vote: null, candidates: [],
  };
  setText($("round-title"), round.number ? `라운드 ${round.number}` : "라운드 준비 중");
  setText($("round-status"), ROUND_LABELS[round.status] || "");
  $("round-status").hidden = !ROUND_LABELS[round.status];
  const proposals = round.proposals || [];
  proposalList.replaceChildren(...proposals.map((p) => proposalRow(p, round)));
  $("no-proposals").hidden = proposals.length > 0 || round.status !== "open";
  setText($("no-proposals"), round.extensions
    ? `제안이 없어 라운드가 연장되었습니다 (${round.extensions}번). 첫 제안을 해 보세요!`
    : "아직 제안이 없습니다. 첫 제안을 해 보세요!");
  setText($("vote-total"), `총 ${round.total || 0}표`);
  $("withdraw-form").hidden = !(round.status === "open" && round.my_vote);
  $("propose-box").hidden = round.status !== "open";
  const candidates = round.candidates || [];
  $("candidates-box").hidden = round.status !== "candidates";
  $("candidates").replaceChildren(...candidates.map((c) => candidateRow(c, round)));
  const closeForm = $("close-form");
  if (closeForm) closeForm.hidden = !(round.status === "open" || round.status === "candidates");
  tick();
}

function applyTally(message) {
  const round = state.round;
  if (!round || round.round !== message.round) return;
  if (message.phase === "candidates") {
    round.candidate_tallies = message.tallies;
  } else {
    const votes = new Map(message.tallies.map((t) => [t.proposal, t.votes]));
    for (const p of round.proposals) p.votes = votes.get(p.proposal) ?? 0;
    round.total = message.total;
  }
  renderRound();
}

function tick() {
  const round = state.round;
  const box = $("countdown");
  if (!round || !round.deadline || (round.status !== "open" && round.status !== "candidates")) {
    setText(box, "");
    return;
  }
  const left = Math.max(0, Math.round((Date.parse(round.deadline) - (Date.now() + clockOffset)) / 1000));
  if (left === 0) { setText(box, "마감 처리 중…"); return; }
  const minutes = Math.floor(left / 60);
  const seconds = String(left % 60).padStart(2, "0");
  setText(box, `마감까지 ${minutes}:${seconds}`);
}

// ---------------------------------------------------------------- events

// The rounds this reader proposed or voted in: what closes or is written there concerns them.
const myRounds = new Set();
function noteMyRound(round) {
  if (!round) return;
  const mineProposed = (round.proposals || []).some((p) => p.author && p.author === me().username);
  if (round.my_vote || (round.my_candidate ?? null) !== null || mineProposed) {
    myRounds.add(round.round);
  }
}

function applySnapshot(snapshot) {
  state = snapshot;
  noteMyRound(snapshot.round);
  clockOffset = serverOffset(snapshot.now);
  applyStory(snapshot.story);
  renderRound();
  renderModel(snapshot.model);
  if (snapshot.generation) showGeneration(snapshot.generation);
  else hideGeneration();
}

function renderModel(model) {
  setText($("model-label"), model ? `모델 ${model.label}` : "모델 없음");
}

// ---------------------------------------------------------------- the cast (등장인물)

const castPanel = $("cast-panel");
const canEditCast = Boolean(castPanel && castPanel.dataset.canEdit);

function hiddenField(name, value) { return el("input", { attrs: { type: "hidden", name, value } }); }

function renderCast(cast) {
  const list = $("cast-list");
  if (!list) return;
  const names = cast.cast || [];
  list.replaceChildren(...names.map((name) => el("li", { className: "cast-name", dataset: { name } },
    el("span", { text: name }),
    canEditCast ? el("form", { className: "cast-remove", attrs: { method: "post", action: urls.cast } },
      hiddenField("action", "remove"), hiddenField("name", name),
      el("button", { className: "link-button", text: "×", attrs: { type: "submit", "aria-label": `${name} 빼기`, title: "이름이 아니면 빼기" } })) : null)));
  if (!names.length) list.append(el("li", { className: "muted small", attrs: { id: "cast-empty" }, text: "아직 찾은 이름이 없습니다." }));
  const changes = $("cast-change-list");
  if (!changes) return;
  changes.replaceChildren(...(cast.changes || []).map((change) => el("li", { className: change.undone ? "undone" : "", dataset: { change: change.id } },
    `${change.made_by || "누군가"} 님이 ‘${change.name}’ ${change.action === "add" ? "더함" : "뺌"}`,
    change.undone ? " · 되돌림" : " ",
    change.undone ? null : el("form", { className: "cast-undo", attrs: { method: "post", action: urls.cast_undo } },
      hiddenField("change", change.id), el("button", { className: "link-button", text: "되돌리기", attrs: { type: "submit" } })))));
  $("cast-changes").hidden = !(cast.changes || []).length;
}

async function correctCast(url, fields) {
  const { ok, data } = await postForm(url, fields);
  if (!ok) { handlers.error(data); return; }
  renderCast(data);  // the event will say the same to every page of the novel, this one too
  if (fields.action === "add") $("cast-form").reset();
}

const handlers = {
  snapshot: applySnapshot,
  "cast.changed"(m) {
    renderCast(m);
    const who = m.change.made_by || "누군가";
    if (m.change.undone) notice(`${who} 님이 등장인물 고침을 되돌렸습니다.`, "info");
    else notice(`${who} 님이 ${josa(`‘${m.change.name}’`, "을/를")} 등장인물${m.change.action === "add" ? "에 더했습니다" : "에서 뺐습니다"}.`, "info");
  },
  pong() {},
  "proposal.added"(m) {
    if (m.author && m.author === me().username) myRounds.add(m.round);
    const round = state.round;
    if (!round || round.round !== m.round) return;
    if (!round.proposals.some((p) => p.proposal === m.proposal)) round.proposals.push({ ...m, votes: 0 });
    if (m.author && m.author === me().username) $("propose-form").reset();
    renderRound();
  },
  tally: applyTally,
  "round.opened"(m) {
    state.round = {
      ...m, proposals: [], tallies: [], total: 0, my_vote: null, winner: null,
      candidates: [], candidate_tallies: [], my_candidate: null,
    };
    renderRound();
    notice("새 라운드가 열렸습니다. 다음 키워드를 제안해 주세요.", "info");
  },
  "round.extended"(m) {
    if (state.round && state.round.round === m.round) Object.assign(state.round, m);
    renderRound();
    notice("제안이 없어 라운드가 연장되었습니다.");
  },
  "round.closed"(m) {
    if (myRounds.has(m.round)) {
      const winner = ((state.round && state.round.proposals) || []).find((p) => p.proposal === m.winner);
      if (winner && winner.author === me().username) tell(`내 제안 ${josa(`“${m.keyword}”`, "이/가")} 뽑혔어요! AI가 이어 씁니다.`);
      else if (m.winner) tell(`참여한 라운드가 마감되었어요. ${josa(`“${m.keyword}”`, "으로/로")} 이어 씁니다.`);
      else tell("참여한 라운드가 마감되었어요.");
    }
    if (state.round && state.round.round === m.round) {
      Object.assign(state.round, { status: m.status, winner: m.winner });
    }
    renderRound();
    notice(m.winner ? `마감! “${m.keyword}” (${m.sentences}문장)이 뽑혔습니다.` : "라운드가 마감되었습니다.", "info");
  },
  "candidates.opened"(m) {
    if (!state.round || state.round.round !== m.round) return;
    Object.assign(state.round, { status: m.status, deadline: m.deadline, candidates: m.candidates, candidate_tallies: [], my_candidate: null });
    renderRound();
    notice("AI가 쓴 후보 중 하나를 골라 주세요.", "info");
  },
  "generation.started"(m) { showGeneration({ ...m, text: "" }); },
  "generation.chunk": appendChunk,
  "generation.restarted"(m) {
    if (generationJob !== m.job) return;
    stopTyping();
    setText($("generation-text"), "");
    setText($("generation-title"), `AI가 다시 쓰는 중… (${m.attempt}회째)`);
  },
  "generation.finished"(m) {
    hideGeneration();
    if (myRounds.has(m.round)) tell("참여한 라운드의 글을 AI가 다 썼어요.");
  },
  "generation.failed"(m) {
    setText($("generation-title"), "AI가 이번에는 쓰지 못했습니다.");
    $("generation").classList.add("failed");
    notice(m.reason ? `생성 실패: ${m.reason}` : "생성에 실패했습니다.", "error");
    hideGeneration(4000);
  },
  "turn.added": upsertTurn,
  "turn.reviewed"(m) {
    upsertTurn(m);
    if (m.author && m.author === me().username && m.kind === "human") {
      if (m.status === "approved") tell("내가 쓴 글이 승인되었어요.");
      else if (m.status === "rejected") tell(`내가 쓴 글이 반려되었어요.${m.note ? ` (${m.note})` : ""}`);
    }
  },
  "turn.reverted": removeTurn,
  "model.activated"(m) { state.model = m; renderModel(m); },
  presence: showPresence,
  // For this person alone, from another novel (this novel's own are told from its events, above).
  notice(m) { if (Number(m.novel) !== Number(root.dataset.novel)) tell(m.text); },
  "novel.finished"(m) {
    if (Number(m.novel) !== Number(root.dataset.novel)) return;
    $("book-link").hidden = false;
    $("propose-box").hidden = true;
    const finish = $("finish-form");
    if (finish) finish.hidden = true;
    notice("이 소설이 완결되었습니다. ‘책으로 읽기’에서 읽고 내려받을 수 있습니다.", "info");
  },
  voted(m) {
    if (m.proposal !== null) myRounds.add(m.round);
    if (state.round && state.round.round === m.round) { state.round.my_vote = m.proposal; renderRound(); }
  },
  candidate_voted(m) {
    myRounds.add(m.round);
    if (state.round && state.round.round === m.round) { state.round.my_candidate = m.index; renderRound(); }
  },
  error(m) { notice(m.message || m.code, "error"); },
};

// "지금 3명이 읽는 중 · 누군가 키워드를 제안하고 있어요": counts only, never who.
function showPresence(m) {
  if (Number(m.novel) !== Number(root.dataset.novel)) return;
  setText($("readers-count"), String(Number(m.readers)));
  const doing = [];
  if (m.proposing > 0) doing.push("누군가 키워드를 제안하고 있어요");
  if (m.writing > 0) doing.push("누군가 글을 쓰고 있어요");
  setText($("presence-activity"), doing.length ? ` · ${doing.join(" · ")}` : "");
}

// While a person types a keyword or a passage, the others see that someone does (every few seconds at most).
const TYPING_EVERY_MS = 3000;
const lastTyping = { proposing: 0, writing: 0 };
function reportTyping(what) {
  if (!me().authenticated || !live) return;
  const now = Date.now();
  if (now - lastTyping[what] < TYPING_EVERY_MS) return;
  lastTyping[what] = now;
  live.send({ type: "typing", what });
}
root.addEventListener("input", (event) => {
  const form = event.target.form;
  if (!form) return;
  if (form.id === "propose-form") reportTyping("proposing");
  else if (form.id === "write-form") reportTyping("writing");
});

function onMessage(message) {
  const handler = handlers[message.type];
  if (handler) handler(message);
}

const CONNECTION_LABELS = { connecting: "연결 중…", open: "실시간 연결됨", down: "연결 끊김 · 다시 연결 중", gone: "소설을 찾을 수 없습니다" };

function onStatus(status) {
  const conn = $("conn");
  conn.className = `conn ${status === "open" ? "live" : status === "connecting" ? "" : "down"}`;
  setText(conn, CONNECTION_LABELS[status] || status);
  root.dataset.live = status;
}

// ---------------------------------------------------------------- actions

// Over the socket when it is open, else over HTTP; both reach the same services.
async function act(message, url, fields) {
  if (live && live.send(message)) return;
  const { ok, data } = await postForm(url, fields);
  if (!ok) { handlers.error(data); return; }
  // Without the socket no event will come back: apply the answer itself.
  if (data.proposal) handlers["proposal.added"]({ type: "proposal.added", ...data.proposal });
  if (data.voted) handlers.voted(data.voted);
  if (data.candidate_voted) handlers.candidate_voted(data.candidate_voted);
}

root.addEventListener("submit", (event) => {
  const form = event.target;
  const data = new FormData(form);
  if (form.classList.contains("vote-form")) {
    event.preventDefault();
    const proposal = Number(data.get("proposal"));
    act({ type: "vote", proposal }, urls.vote, { proposal });
  } else if (form.id === "withdraw-form") {
    event.preventDefault();
    act({ type: "withdraw" }, urls.withdraw, {});
  } else if (form.classList.contains("candidate-form")) {
    event.preventDefault();
    const index = Number(data.get("index"));
    act({ type: "candidate_vote", index }, urls.candidate, { index });
  } else if (form.id === "cast-form" || form.classList.contains("cast-remove")) {
    event.preventDefault();
    const name = String(data.get("name") || "").normalize("NFC").trim();
    if (!name) { notice("이름을 적어 주세요.", "error"); return; }
    correctCast(urls.cast, { action: String(data.get("action")), name });
  } else if (form.classList.contains("cast-undo")) {
    event.preventDefault();
    correctCast(urls.cast_undo, { change: String(data.get("change")) });
  } else if (form.id === "propose-form") {
    event.preventDefault();
    const keyword = String(data.get("keyword") || "").normalize("NFC").trim();
    const sentences = Number(data.get("sentences"));
    const style = data.get("style") ? Number(data.get("style")) : null;
    if (!keyword) { notice("키워드를 적어 주세요.", "error"); return; }
    act({ type: "propose", keyword, sentences, style }, urls.propose, { keyword, sentences, style: style ?? "" });
  }
});

applySnapshot(state);
setInterval(tick, 1000);
live = connectLive(urls.socket, { onMessage, onStatus });
