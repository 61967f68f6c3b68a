// The therapist's private panel: live transcript with codes, gentle cues, listening counts.
import { COMPLEX_FAIR, COMPLEX_GOOD, CUE_NAMES, RQ_FAIR, RQ_GOOD, SHARE_GOOD, SHARE_LOW } from "./listening.js";
const CUE_FADE_MS = 45000;

function tags(labels) {
  if (!labels) return [];
  const out = [];
  if (labels.question) out.push(`${labels.question} question`);
  if (labels.reflection) out.push(`${labels.reflection} reflection`);
  if (labels.input === "advice") out.push("advice");
  if (labels.talk_type === "change") out.push("change talk");
  if (labels.talk_type === "sustain") out.push("sustain talk");
  return out;
}

export class Panel {
  constructor(root, wsBase, token) {
    this.root = root;
    this.url = `${wsBase}/ws/panel`;
    this.token = token;
    this.list = root.querySelector("#transcript");
    this.notices = root.querySelector("#notices");
    this.cueBox = root.querySelector("#cue");
    this.metrics = root.querySelector("#metrics");
    this.items = new Map();
    this.finals = new Map();
    this.retry = 0;
    this.events = [];
    this.off = new Set(JSON.parse(localStorage.getItem("attune-cues-off") || "[]"));
    window.attunePanel = this;
    this.settingsForm();
    this.drawMetrics();
  }

  connect() {
    const ws = (this.ws = new WebSocket(this.url));
    ws.onopen = () => {
      this.retry = 0;
      ws.send(JSON.stringify({ type: "hello", token: this.token }));
      ws.send(JSON.stringify({ type: "cue_settings", off: [...this.off] }));
    };
    ws.onmessage = (event) => this.handle(JSON.parse(event.data));
    ws.onclose = (event) => {
      if ([4401, 4403, 4409, 4410].includes(event.code)) return;
      setTimeout(() => this.connect(), Math.min(1000 * 2 ** this.retry++, 10000));
    };
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  handle(event) {
    this.events.push(event);
    if (event.type === "utterance") this.utterance(event);
    else if (event.type === "cue") this.cue(event);
    else if (event.type === "notice") this.notice(event);
  }

  utterance(event) {
    const key = String(event.id);
    let item = this.items.get(key);
    if (!item) {
      item = document.createElement("li");
      item.dataset.start = event.start;
      item.innerHTML = '<span class="who"></span><span class="text"></span><span class="tags"></span>';
      this.items.set(key, item);
      const later = [...this.list.children].find((li) => Number(li.dataset.start) > event.start);
      this.list.insertBefore(item, later || null);
    }
    item.dataset.id = key;
    item.dataset.speaker = event.speaker;
    item.classList.toggle("interim", !event.final);
    item.querySelector(".who").textContent = event.speaker === "therapist" ? "You" : "Client";
    item.querySelector(".text").textContent = event.text;
    item.querySelector(".tags").replaceChildren(...tags(event.labels).map((t) => {
      const span = document.createElement("span");
      span.textContent = t;
      return span;
    }));
    if (event.final) {
      if (event.text) this.finals.set(key, event);
      else item.remove();
      this.drawMetrics();
    }
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  cue(event) {
    const target = this.items.get(String(event.utterance_id));
    if (target) target.classList.add("cued");
    if (!event.shown || this.off.has(event.kind)) return;
    const card = document.createElement("div");
    card.className = `cue-card ${event.kind === "affirmation" ? "positive" : ""}`;
    card.dataset.kind = event.kind;
    card.dataset.id = event.id;
    card.innerHTML = `<strong></strong><p></p><div class="cue-actions">
      <button data-value="helpful" title="Helpful">Helpful</button>
      <button data-value="not_helpful" title="Not helpful">Not helpful</button>
      <button data-value="dismissed" title="Dismiss" aria-label="Dismiss">×</button></div>`;
    card.querySelector("strong").textContent = CUE_NAMES[event.kind] || event.kind;
    card.querySelector("p").textContent = event.message;
    card.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
      this.send({ type: "cue_feedback", cue_id: event.id, value: b.dataset.value });
      card.remove();
    }));
    this.cueBox.replaceChildren(card);
    setTimeout(() => card.classList.add("fading"), CUE_FADE_MS - 3000);
    setTimeout(() => card.remove(), CUE_FADE_MS);
  }

  notice(event) {
    const p = document.createElement("p");
    p.className = "notice";
    p.dataset.code = event.code;
    p.textContent = event.message;
    this.notices.replaceChildren(p);
    setTimeout(() => p.remove(), 20000);
  }

  counts() {
    let open = 0, closed = 0, simple = 0, complex = 0, talkT = 0, talkC = 0;
    for (const e of this.finals.values()) {
      const l = e.labels || {};
      if (e.speaker === "therapist") {
        talkT += e.end - e.start;
        open += l.question === "open";
        closed += l.question === "closed";
        simple += l.reflection === "simple";
        complex += l.reflection === "complex";
      } else talkC += e.end - e.start;
    }
    const questions = open + closed, reflections = simple + complex;
    return {
      open, closed, reflections, complex,
      rq: questions ? reflections / questions : null,
      complexShare: reflections ? complex / reflections : null,
      share: talkT + talkC > 0 ? talkT / (talkT + talkC) : null,
    };
  }

  drawMetrics() {
    const c = this.counts();
    const level = (value, fair, good, higherIsBetter = true) => {
      if (value === null) return "none";
      if (!higherIsBetter) return value <= fair ? "good" : value <= good ? "fair" : "low";
      return value >= good ? "good" : value >= fair ? "fair" : "low";
    };
    const bar = (label, value, text, max, marks, state) => `
      <div class="metric" data-state="${state}"><span class="label">${label}</span>
        <span class="bar"><span data-width="${value === null ? 0 : Math.min(100, (value / max) * 100)}"></span>
        ${marks.map(([m, name]) => `<i data-left="${(m / max) * 100}" title="${name}"></i>`).join("")}</span>
        <span class="value">${text}</span></div>`;
    this.metrics.innerHTML =
      bar("Reflections : questions", c.rq, c.rq === null ? "–" : `${c.rq.toFixed(1)} : 1`, 3,
          [[RQ_FAIR, "MITI fair 1:1"], [RQ_GOOD, "MITI good 2:1"]], level(c.rq, RQ_FAIR, RQ_GOOD)) +
      bar("Complex reflections", c.complexShare,
          c.complexShare === null ? "–" : `${Math.round(c.complexShare * 100)}%`, 1,
          [[COMPLEX_FAIR, "MITI fair 40%"], [COMPLEX_GOOD, "MITI good 50%"]],
          level(c.complexShare, COMPLEX_FAIR, COMPLEX_GOOD)) +
      bar("Your talk time", c.share, c.share === null ? "–" : `${Math.round(c.share * 100)}%`, 1,
          [[SHARE_GOOD, "AnnoMI high-quality median 54%"], [SHARE_LOW, "low-quality median 64%"]],
          level(c.share, SHARE_GOOD, SHARE_LOW, false)) +
      `<p class="counts">Open questions <b data-count="open">${c.open}</b> · closed
        <b data-count="closed">${c.closed}</b> · reflections <b data-count="reflections">${c.reflections}</b></p>`;
    // positions through the CSSOM: the page's CSP allows no inline style attributes
    for (const el of this.metrics.querySelectorAll("[data-width]")) el.style.width = `${el.dataset.width}%`;
    for (const el of this.metrics.querySelectorAll("[data-left]")) el.style.left = `${el.dataset.left}%`;
  }

  settingsForm() {
    const form = this.root.querySelector("#cue-settings");
    const toggle = this.root.querySelector("#cue-settings-toggle");
    form.innerHTML = "<p>Show these cues during the session:</p>" + Object.entries(CUE_NAMES)
      .map(([kind, name]) => `<label><input type="checkbox" name="${kind}"
        ${this.off.has(kind) ? "" : "checked"}> ${name}</label>`).join("");
    form.addEventListener("change", () => {
      this.off = new Set([...form.querySelectorAll("input")].filter((i) => !i.checked).map((i) => i.name));
      localStorage.setItem("attune-cues-off", JSON.stringify([...this.off]));
      this.send({ type: "cue_settings", off: [...this.off] });
    });
    toggle.addEventListener("click", () => {
      form.hidden = !form.hidden;
      toggle.setAttribute("aria-expanded", String(!form.hidden));
    });
  }
}
