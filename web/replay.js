// Annotated replay of one session: timeline with turns and cues, listening figures over time,
// transcript with codes, cues, comments and label corrections, and the recorded audio.
// Content is untrusted speech text: it only ever reaches the page through textContent.
import { COMPLEX_FAIR, COMPLEX_GOOD, CUE_NAMES, RQ_FAIR, RQ_GOOD, SHARE_GOOD, SHARE_LOW } from "./listening.js";
const SVG_NS = "http://www.w3.org/2000/svg";
const LABEL_FILTERS = [
  ["question=open", "open questions"],
  ["question=closed", "closed questions"],
  ["behaviour=question", "any question"],
  ["reflection=simple", "simple reflections"],
  ["reflection=complex", "complex reflections"],
  ["behaviour=reflection", "any reflection"],
  ["input=advice", "advice"],
  ["input=information", "information"],
  ["talk_type=change", "change talk"],
  ["talk_type=sustain", "sustain talk"],
  ["disclosure=true", "disclosures"],
];
const W = 1000, LEFT = 78, RIGHT = 12;

const sessionId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
const API = `/api/sessions/${encodeURIComponent(sessionId)}`;
const $ = (sel) => document.querySelector(sel);

const state = {
  session: null, viewer: null, events: [], annotations: [], vocabulary: {},
  utterances: [], cues: [], summary: null, byId: new Map(), cuesByUtterance: new Map(),
  items: new Map(), duration: 1, current: null, ready: false,
};
window.attuneReplay = state;

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(t) {
  t = Math.max(0, Math.round(t));
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(s).padStart(2, "0")}`;
}

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const key = (id) => String(id);

// -- loading ------------------------------------------------------------------------------

async function load() {
  let response;
  try {
    response = await fetch(`${API}/events`, { credentials: "same-origin", cache: "no-store" });
  } catch {
    return fatal("Attune could not be reached. Check the connection and reload.");
  }
  if (response.status === 401) return fatal("Please log in to see this session.", true);
  if (response.status === 403) return fatal("Your role does not see session content.");
  if (response.status === 404) return fatal("There is no such session, or it is not shared with you.");
  if (!response.ok) return fatal(`The session could not be loaded (${response.status}).`);
  const data = await response.json();
  state.session = data.session;
  state.viewer = data.viewer;
  state.events = data.events;
  state.annotations = data.annotations;
  state.vocabulary = data.vocabulary || {};
  index();
  render();
  state.ready = true;
  document.body.dataset.ready = "true";
}

function fatal(message, login = false) {
  const box = $("#fatal");
  box.textContent = message + " ";
  if (login) box.append(el("a", { href: "/login" }, "Log in"));
  box.hidden = false;
  document.body.dataset.ready = "error";
}

function index() {
  state.utterances = state.events
    .filter((e) => e.type === "utterance" && e.final !== false)
    .sort((a, b) => num(a.start) - num(b.start) || num(a.end) - num(b.end));
  state.cues = state.events.filter((e) => e.type === "cue").sort((a, b) => num(a.at) - num(b.at));
  state.summary = state.events.filter((e) => e.type === "summary").pop() || null;
  state.byId = new Map(state.utterances.map((u) => [key(u.id), u]));
  state.cuesByUtterance = new Map();
  for (const c of state.cues) {
    if (c.utterance_id === null || c.utterance_id === undefined) continue;
    const list = state.cuesByUtterance.get(key(c.utterance_id)) || [];
    list.push(c);
    state.cuesByUtterance.set(key(c.utterance_id), list);
  }
  const ends = [...state.utterances.map((u) => num(u.end)), ...state.cues.map((c) => num(c.at))];
  if (state.summary) ends.push(num(state.summary.duration));
  state.duration = Math.max(1, ...ends);
}

// -- labels: original and corrected -------------------------------------------------------

function correctionsOf(u) {
  return state.annotations.filter(
    (a) => a.kind === "label_correction" && key(a.utterance_id) === key(u.id));
}

// the codes now: the coder's, with every correction applied in order
function labelsOf(u) {
  const labels = { ...(u.labels || {}) };
  for (const fix of correctionsOf(u)) Object.assign(labels, fix.body.labels);
  return labels;
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function tags(labels) {
  const out = [];
  if (labels.question) out.push(`${labels.question} question`);
  if (labels.reflection) out.push(`${labels.reflection} reflection`);
  if (labels.input) out.push(labels.input);
  if (labels.talk_type === "change" || labels.talk_type === "sustain") out.push(`${labels.talk_type} talk`);
  if (labels.disclosure === true) out.push("disclosure");
  if (!out.length && labels.behaviour === "other") out.push("other");
  return out;
}

// -- figures ------------------------------------------------------------------------------

function figures() {
  const s = state.summary;
  if (s && s.listening && s.talk_time) {
    const l = s.listening;
    return {
      open: num(l.questions?.open), closed: num(l.questions?.closed),
      simple: num(l.reflections?.simple), complex: num(l.reflections?.complex),
      advice: num(l.advice), rq: l.reflection_to_question ?? null,
      complexShare: l.complex_share ?? null, share: s.talk_time.therapist_share ?? null,
    };
  }
  let open = 0, closed = 0, simple = 0, complex = 0, advice = 0, t = 0, c = 0;
  for (const u of state.utterances) {
    const l = u.labels || {};
    const spoken = Math.max(0, num(u.end) - num(u.start));
    if (u.speaker === "therapist") {
      t += spoken;
      open += l.question === "open"; closed += l.question === "closed";
      simple += l.reflection === "simple"; complex += l.reflection === "complex";
      advice += l.input === "advice";
    } else c += spoken;
  }
  const q = open + closed, r = simple + complex;
  return {
    open, closed, simple, complex, advice,
    rq: q ? r / q : null, complexShare: r ? complex / r : null, share: t + c ? t / (t + c) : null,
  };
}

function level(value, fair, good, higherIsBetter = true) {
  if (value === null) return "none";
  if (!higherIsBetter) return value <= fair ? "good" : value <= good ? "fair" : "low";
  return value >= good ? "good" : value >= fair ? "fair" : "low";
}

function metric(name, value, text, max, marks, stateName) {
  const row = el("div", { class: "metric", "data-state": stateName });
  row.append(el("span", { class: "label" }, name));
  const bar = el("span", { class: "bar" });
  const fill = el("span");
  fill.style.width = `${value === null ? 0 : Math.min(100, (value / max) * 100)}%`;
  bar.append(fill);
  for (const [m, title] of marks) {
    const mark = el("i", { title });
    mark.style.left = `${(m / max) * 100}%`;
    bar.append(mark);
  }
  row.append(bar, el("span", { class: "value" }, text));
  return row;
}

function renderFigures() {
  const f = figures();
  $("#metrics").replaceChildren(
    metric("Reflections : questions", f.rq, f.rq === null ? "–" : `${f.rq.toFixed(2)} : 1`, 3,
      [[RQ_FAIR, "MITI fair 1:1"], [RQ_GOOD, "MITI good 2:1"]], level(f.rq, RQ_FAIR, RQ_GOOD)),
    metric("Complex reflections", f.complexShare,
      f.complexShare === null ? "–" : `${Math.round(f.complexShare * 100)}%`, 1,
      [[COMPLEX_FAIR, "MITI fair 40%"], [COMPLEX_GOOD, "MITI good 50%"]],
      level(f.complexShare, COMPLEX_FAIR, COMPLEX_GOOD)),
    metric("Therapist talk share", f.share, f.share === null ? "–" : `${Math.round(f.share * 100)}%`, 1,
      [[SHARE_GOOD, "AnnoMI high-quality median 54%"], [SHARE_LOW, "low-quality median 64%"]],
      level(f.share, SHARE_GOOD, SHARE_LOW, false)),
  );
  const counts = $("#counts");
  counts.replaceChildren();
  const items = [["open", "Open questions", f.open], ["closed", "closed", f.closed],
    ["simple", "simple reflections", f.simple], ["complex", "complex reflections", f.complex],
    ["advice", "advice", f.advice], ["cues", "cues raised", state.cues.length]];
  items.forEach(([name, text, n], i) => {
    if (i) counts.append(" · ");
    counts.append(`${text} `, el("b", { "data-count": name }, String(n)));
  });
}

// -- charts -------------------------------------------------------------------------------

const x = (t) => LEFT + (W - LEFT - RIGHT) * (t / state.duration);

function tickStep() {
  for (const step of [10, 30, 60, 120, 300, 600, 900, 1800]) if (state.duration / step <= 10) return step;
  return 3600;
}

function axis(root, y) {
  root.append(svg("line", { x1: LEFT, y1: y, x2: W - RIGHT, y2: y, class: "axis" }));
  for (let t = 0; t <= state.duration + 1e-9; t += tickStep()) {
    root.append(svg("line", { x1: x(t), y1: y, x2: x(t), y2: y + 4, class: "axis" }));
    root.append(svg("text", { x: x(t), y: y + 16, class: "tick", "text-anchor": "middle" }, clock(t)));
  }
}

function chartSvg(height, label) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label });
  root.addEventListener("click", (event) => {
    const target = event.target.closest("[data-id]");
    const t = timeAt(root, event);
    if (target && target.dataset.id !== undefined) select(state.byId.get(target.dataset.id), t);
    else select(utteranceAt(t), t);
  });
  const head = svg("line", { class: "playhead", x1: LEFT, x2: LEFT, y1: 0, y2: height, visibility: "hidden" });
  root.append(head);
  return root;
}

function timeAt(root, event) {
  const point = root.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  const local = point.matrixTransform(root.getScreenCTM().inverse());
  return Math.min(state.duration, Math.max(0, ((local.x - LEFT) / (W - LEFT - RIGHT)) * state.duration));
}

function utteranceAt(t) {
  let best = null, distance = Infinity;
  for (const u of state.utterances) {
    const d = t < num(u.start) ? num(u.start) - t : t > num(u.end) ? t - num(u.end) : 0;
    // inside a turn wins; of overlapping turns the one that started last
    if (d < distance || (d === 0 && distance === 0)) { best = u; distance = d; }
  }
  return best;
}

function renderTimeline() {
  const root = chartSvg(132, "Timeline: both speakers' turns and the cues raised");
  root.classList.add("timeline");
  const lanes = { therapist: 34, client: 70 };
  root.append(svg("text", { x: 0, y: 18, class: "lane" }, "Cues"));
  root.append(svg("text", { x: 0, y: lanes.therapist + 16, class: "lane" }, "Therapist"));
  root.append(svg("text", { x: 0, y: lanes.client + 16, class: "lane" }, "Client"));
  for (const u of state.utterances) {
    const y = lanes[u.speaker];
    if (y === undefined) continue;
    const rect = svg("rect", {
      class: `turn ${u.speaker}`, x: x(num(u.start)), y, rx: 2, height: 24,
      width: Math.max(2, x(num(u.end)) - x(num(u.start))), "data-id": key(u.id),
    });
    rect.append(svg("title", {}, `${clock(num(u.start))} ${u.speaker}: ${String(u.text).slice(0, 160)}`));
    root.append(rect);
  }
  for (const c of state.cues) {
    const cx = x(num(c.at));
    const attrs = {
      class: `cue-marker ${c.kind === "affirmation" ? "positive" : ""}`,
      d: `M${cx - 5},6 L${cx + 5},6 L${cx},16 Z`, "data-kind": c.kind, "data-cue-id": c.id,
    };
    if (c.utterance_id !== null && c.utterance_id !== undefined) attrs["data-id"] = key(c.utterance_id);
    const marker = svg("path", attrs);
    marker.append(svg("title", {}, `${clock(num(c.at))} ${CUE_NAMES[c.kind] || c.kind}`));
    root.append(marker);
  }
  axis(root, 102);
  $("#timeline").replaceChildren(root);
}

function series(field) {
  const spoken = { therapist: 0, client: 0 };
  let questions = 0, reflections = 0;
  const out = [];
  for (const u of [...state.utterances].sort((a, b) => num(a.end) - num(b.end))) {
    if (u.speaker in spoken) spoken[u.speaker] += Math.max(0, num(u.end) - num(u.start));
    const l = u.labels || {};
    if (u.speaker === "therapist") {
      questions += l.question === "open" || l.question === "closed";
      reflections += l.reflection === "simple" || l.reflection === "complex";
    }
    const total = spoken.therapist + spoken.client;
    const value = field === "share" ? (total ? spoken.therapist / total : null)
      : (questions ? reflections / questions : null);
    out.push([num(u.end), value]);
  }
  return out;
}

function lineChart(target, field, title, top, marks, percent) {
  const height = 150, y0 = 24, y1 = 112;
  const y = (v) => y1 - (y1 - y0) * Math.min(Math.max(v, 0), top) / top;
  const root = chartSvg(height, `${title} over time`);
  root.classList.add("line-chart");
  root.append(svg("text", { x: 0, y: 14, class: "chart-title" }, title));
  const show = (v) => (percent ? `${Math.round(v * 100)}%` : String(v));
  for (const v of [0, top]) {
    root.append(svg("text", { x: LEFT - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, show(v)));
  }
  // thresholds: the lower one's name under its line, the upper one's above (they may be close)
  marks.forEach(([value, name], i) => {
    root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y(value), y2: y(value), class: "threshold" }));
    root.append(svg("text", { x: W - RIGHT, y: i === 0 ? y(value) + 11 : y(value) - 3,
      class: "tick", "text-anchor": "end" }, `${name} ${show(value)}`));
  });
  const coords = [];
  let previous = null;
  for (const [t, value] of series(field)) {
    if (value === null) { previous = null; continue; }
    if (previous !== null) coords.push(`${x(t)},${y(previous)}`);
    coords.push(`${x(t)},${y(value)}`);
    previous = value;
  }
  if (coords.length) root.append(svg("polyline", { class: "series", points: coords.join(" ") }));
  else root.append(svg("text", { x: LEFT + 8, y: y0 + 40, class: "tick" }, "no data"));
  // a transparent layer so a click anywhere in the plot lands on the chart
  root.append(svg("rect", { x: LEFT, y: 0, width: W - LEFT - RIGHT, height: y1, class: "hit" }));
  axis(root, y1 + 4);
  target.replaceChildren(root);
}

function movePlayheads(t) {
  for (const head of document.querySelectorAll(".playhead")) {
    head.setAttribute("x1", x(t));
    head.setAttribute("x2", x(t));
    head.setAttribute("visibility", "visible");
  }
}

// -- transcript ---------------------------------------------------------------------------

function renderTranscript() {
  const list = $("#turns");
  list.replaceChildren();
  state.items = new Map();
  const template = $("#utterance-template");
  for (const u of state.utterances) {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.id = key(u.id);
    li.dataset.speaker = u.speaker;
    li.querySelector(".time").textContent = clock(num(u.start));
    li.querySelector(".time").addEventListener("click", () => select(u, num(u.start)));
    li.querySelector(".who").textContent = u.speaker === "therapist" ? "Therapist" : "Client";
    li.querySelector(".text").textContent = u.text;
    li.querySelector("[data-action=comment]").addEventListener("click", () => commentForm(u, li));
    li.querySelector("[data-action=correct]").addEventListener("click", () => correctionForm(u, li));
    state.items.set(key(u.id), li);
    fillItem(u, li);
    list.append(li);
  }
  applyFilters();
}

function fillItem(u, li) {
  const fixes = correctionsOf(u);
  const original = u.labels || {};
  const current = labelsOf(u);
  li.querySelector(".tags").replaceChildren(...tags(current).map((t) => el("span", { class: "tag" }, t)));
  const changed = Object.keys(current).filter((name) => !same(original[name], current[name]));
  li.classList.toggle("corrected", changed.length > 0);
  const box = li.querySelector(".correction");
  box.hidden = fixes.length === 0;
  box.replaceChildren();
  if (fixes.length) {
    const by = [...new Set(fixes.map((f) => f.author || "a trainer"))].join(", ");
    box.append(el("span", { class: "caption" },
      changed.length ? `Codes corrected by ${by}: ` : `Codes reviewed by ${by}: the coder's codes kept`));
    for (const name of changed) {
      const show = (v) => (v === undefined || v === null ? "–" : String(v));
      const row = el("span", { class: "change", "data-label": name });
      row.append(`${name}: `, el("del", { title: "the coder's code" }, show(original[name])),
        " → ", el("ins", { title: "corrected" }, show(current[name])));
      box.append(row);
    }
  }
  const cues = state.cuesByUtterance.get(key(u.id)) || [];
  li.classList.toggle("cued", cues.length > 0);
  li.querySelector(".cues").replaceChildren(...cues.map((c) => {
    const item = el("li", { class: `cue ${c.kind === "affirmation" ? "positive" : ""}`, "data-kind": c.kind });
    item.append(el("strong", {}, CUE_NAMES[c.kind] || c.kind), " ", el("span", {}, c.message || ""));
    if (!c.shown) item.append(el("span", { class: "muted" }, " (not shown live)"));
    return item;
  }));
  const comments = state.annotations.filter((a) => a.kind === "comment" && key(a.utterance_id) === key(u.id));
  li.querySelector(".comments").replaceChildren(...comments.map((a) => {
    const item = el("li", { class: "comment", "data-annotation-id": String(a.id) });
    item.append(el("strong", {}, a.author || "trainer"), " ", el("span", { class: "comment-text" }, a.body.text));
    return item;
  }));
}

function select(u, t) {
  if (!u) return;
  if (t === undefined || t === null || !Number.isFinite(t)) t = num(u.start);
  const seek = Math.min(Math.max(t, num(u.start)), num(u.end)) ;
  highlight(u, true);
  movePlayheads(seek);
  for (const audio of document.querySelectorAll("#players audio")) {
    audio.currentTime = seek;
    audio.play().catch(() => {});
  }
}

function highlight(u, scroll) {
  const previous = state.current && state.items.get(key(state.current.id));
  if (previous) previous.classList.remove("current");
  document.querySelectorAll("rect.turn.current").forEach((r) => r.classList.remove("current"));
  state.current = u;
  const li = state.items.get(key(u.id));
  if (!li) return;
  li.classList.add("current");
  document.querySelectorAll(`rect.turn[data-id="${CSS.escape(key(u.id))}"]`)
    .forEach((r) => r.classList.add("current"));
  if (scroll) {
    if (li.hidden) { resetFilters(); }
    li.scrollIntoView({ block: "center", behavior: "smooth" });
  }
}

// -- filters ------------------------------------------------------------------------------

function renderFilters() {
  const cueSelect = $("#cue-filter");
  const kinds = new Map();
  for (const c of state.cues) if (c.utterance_id !== null) kinds.set(c.kind, (kinds.get(c.kind) || 0) + 1);
  cueSelect.replaceChildren(el("option", { value: "" }, "any or none"), el("option", { value: "*" }, "any cue"),
    ...[...kinds].map(([kind, n]) => el("option", { value: kind }, `${CUE_NAMES[kind] || kind} (${n})`)));
  $("#label-filter").replaceChildren(el("option", { value: "" }, "any"),
    ...LABEL_FILTERS.map(([value, text]) => el("option", { value }, text)));
  for (const id of ["#cue-filter", "#label-filter", "#speaker-filter"]) $(id).addEventListener("change", applyFilters);
}

function matches(u) {
  const cue = $("#cue-filter").value, label = $("#label-filter").value, speaker = $("#speaker-filter").value;
  if (speaker && u.speaker !== speaker) return false;
  const cues = state.cuesByUtterance.get(key(u.id)) || [];
  if (cue === "*" && !cues.length) return false;
  if (cue && cue !== "*" && !cues.some((c) => c.kind === cue)) return false;
  if (label) {
    const [name, value] = label.split("=");
    const have = labelsOf(u)[name];
    if (String(have) !== value) return false;
  }
  return true;
}

function applyFilters() {
  let shown = 0;
  for (const u of state.utterances) {
    const ok = matches(u);
    shown += ok;
    state.items.get(key(u.id)).hidden = !ok;
    document.querySelectorAll(`rect.turn[data-id="${CSS.escape(key(u.id))}"]`)
      .forEach((r) => r.classList.toggle("dim", !ok));
  }
  $("#shown-count").textContent = `${shown} of ${state.utterances.length} turns`;
}

function resetFilters() {
  for (const id of ["#cue-filter", "#label-filter", "#speaker-filter"]) $(id).value = "";
  applyFilters();
}

// -- annotations --------------------------------------------------------------------------

async function post(path, body) {
  const response = await fetch(`${API}/${path}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `request failed (${response.status})`);
  return data;
}

function formShell(li, className, onSubmit) {
  const slot = li.querySelector(".form-slot");
  const form = el("form", { class: `annotation-form ${className}` });
  const problem = el("p", { class: "warn", role: "alert", hidden: "" });
  const save = el("button", { type: "submit" }, "Save");
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
  cancel.addEventListener("click", () => slot.replaceChildren());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    problem.hidden = true;
    try {
      await onSubmit(form);
      slot.replaceChildren();
    } catch (err) {
      problem.textContent = err.message;
      problem.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  const buttons = el("div", { class: "form-actions" });
  buttons.append(save, cancel);
  slot.replaceChildren(form);
  return { form, tail: [problem, buttons] };
}

function commentForm(u, li) {
  const { form, tail } = formShell(li, "comment-form", async (f) => {
    const text = f.elements.text.value.trim();
    if (!text) throw new Error("Write a comment first.");
    added(await post("annotations", { utterance_id: u.id, kind: "comment", body: { text } }), u);
  });
  const area = el("textarea", { name: "text", maxlength: "2000", rows: "3", "aria-label": "Comment" });
  form.append(area, ...tail);
  area.focus();
}

function correctionForm(u, li) {
  const vocabulary = state.vocabulary[u.speaker] || {};
  const current = labelsOf(u);
  const { form, tail } = formShell(li, "correction-form", async (f) => {
    const labels = {};
    for (const [name, values] of Object.entries(vocabulary)) {
      const chosen = values.find((v) => JSON.stringify(v) === f.elements[name].value) ?? null;
      if (!same(chosen, labelsOf(u)[name])) labels[name] = chosen;
    }
    if (!Object.keys(labels).length) throw new Error("Change a code first.");
    added(await post("annotations", { utterance_id: u.id, kind: "label_correction", body: { labels } }), u);
  });
  const grid = el("div", { class: "label-grid" });
  for (const [name, values] of Object.entries(vocabulary)) {
    const select = el("select", { name });
    for (const v of values) {
      const option = el("option", { value: JSON.stringify(v) }, v === null ? "–" : String(v));
      if (JSON.stringify(current[name] ?? null) === JSON.stringify(v)) option.selected = true;
      select.append(option);
    }
    const label = el("label", {}, `${name} `);
    label.append(select);
    grid.append(label);
  }
  form.append(grid, ...tail);
}

function added(annotation, u) {
  state.annotations.push(annotation);
  fillItem(u, state.items.get(key(u.id)));
  applyFilters();
}

// -- header, sharing, audio ---------------------------------------------------------------

function renderHeader() {
  const s = state.session;
  document.title = `Attune · ${s.label || s.id}`;
  $("#title").textContent = s.label || `Session ${s.id}`;
  const when = s.created_at ? new Date(s.created_at).toLocaleString() : "";
  $("#meta").textContent = [when, `${clock(state.duration)} long`,
    s.planned_minutes ? `planned ${s.planned_minutes} min` : ""].filter(Boolean).join(" · ");
  $("#report-link").href = `${API}/report.html`;
  for (const fmt of ["vtt", "jsonl", "csv"]) $(`#export-${fmt}`).href = `${API}/export.${fmt}`;
  $("#downloads").hidden = false;
  if (state.viewer.owner) {
    const box = $("#share");
    box.checked = s.shared_for_training;
    $("#share-switch").hidden = false;
    box.addEventListener("change", async () => {
      box.disabled = true;
      try {
        const done = await post("share", { shared: box.checked });
        s.shared_for_training = done.shared_for_training;
      } catch (err) {
        box.checked = !box.checked;
        alertBox(err.message);
      } finally {
        box.disabled = false;
      }
    });
  }
  const notices = state.events.filter((e) => e.type === "notice");
  if (notices.length) {
    $("#notices").replaceChildren(...notices.map((n) => el("li", {}, `${clock(num(n.at))} ${n.message}`)));
    $("#notices-box").hidden = false;
  }
}

function alertBox(message) {
  const box = $("#fatal");
  box.textContent = message;
  box.hidden = false;
}

function renderPlayers() {
  const roles = state.session.audio || [];
  const box = $("#players");
  box.replaceChildren();
  for (const role of roles) {
    const label = el("label", {}, role === "therapist" ? "Therapist audio " : "Client audio ");
    const audio = el("audio", { controls: "", preload: "metadata", src: `${API}/audio/${role}`, "data-role": role });
    audio.addEventListener("timeupdate", () => {
      if (audio.paused) return;
      movePlayheads(audio.currentTime);
      const u = state.utterances.find((v) => num(v.start) <= audio.currentTime && audio.currentTime <= num(v.end));
      if (u && u !== state.current) highlight(u, false);
    });
    label.append(audio);
    box.append(label);
  }
  box.hidden = roles.length === 0;
}

function render() {
  renderHeader();
  renderFigures();
  renderTimeline();
  lineChart($("#share-chart"), "share", "Therapist talk share (cumulative)", 1,
    [[SHARE_GOOD, "AnnoMI high-quality median"], [SHARE_LOW, "AnnoMI low-quality median"]], true);
  lineChart($("#rq-chart"), "rq", "Reflections : questions (cumulative)", 3,
    [[RQ_FAIR, "MITI fair"], [RQ_GOOD, "MITI good"]], false);
  renderPlayers();
  renderFilters();
  renderTranscript();
  $("#replay").hidden = false;
}

state.select = (id, t) => select(state.byId.get(key(id)), t);
load();
