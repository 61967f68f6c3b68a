// The virtual assistant's live monitor: health of every live session they may watch, alerts,
// and short setup messages (nudges) to a participant. Never content: the server sends none.
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
const $ = (id) => document.getElementById(id);
const state = (window.attuneMonitor = { snapshots: 0, last: null, sent: [], errors: [], alerts: [] });
const cards = new Map();
const seenAlerts = new Map();
let socket = null;
let retry = 0;

const STATE_TEXT = {
  not_joined: "Not joined", waiting: "In the waiting room", connecting: "Connecting",
  connected: "Connected", reconnecting: "Reconnecting", left: "Left",
};
const fmt = (v, unit, digits = 0) => (v == null ? "–" : `${Number(v).toFixed(digits)} ${unit}`);
const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

function drawLevels(canvas, levels) {
  const g = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#eef1ef";
  g.fillRect(0, 0, w, h);
  const step = w / 60;
  levels.forEach((db, i) => {
    const v = Math.max(0, Math.min(1, (db + 80) / 70));  // -80 dBFS .. -10 dBFS
    g.fillStyle = db > -55 ? "#2f6f6a" : "#b7c2bf";
    const x = w - (levels.length - i) * step;
    g.fillRect(x, h - Math.max(1, v * h), Math.max(1, step - 1), Math.max(1, v * h));
  });
}

function personRow(session, role) {
  const node = $("person-row").content.firstElementChild.cloneNode(true);
  node.dataset.role = role;
  node.querySelector(".who").textContent = role === "therapist" ? "Therapist" : "Client";
  const form = node.querySelector(".nudge-form");
  const choice = form.querySelector(".nudge-choice");
  const custom = form.querySelector(".nudge-text");
  choice.addEventListener("change", () => { custom.hidden = choice.value !== ""; });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = choice.value || custom.value.trim();
    if (!text) return;
    socket.send(JSON.stringify({ type: "nudge", session, role, text }));
    state.sent.push({ session, role, text });
    form.querySelector(".nudge-result").textContent = "Sending…";
  });
  return node;
}

function card(session) {
  let node = cards.get(session.id);
  if (node) return node;
  node = $("session-card").content.firstElementChild.cloneNode(true);
  node.dataset.session = session.id;
  node.querySelector(".sid").textContent = `session ${session.id.slice(0, 8)}`;
  const people = node.querySelector(".people");
  for (const role of ["therapist", "client"]) people.append(personRow(session.id, role));
  cards.set(session.id, node);
  $("sessions").append(node);
  return node;
}

function updatePerson(node, p, alerts) {
  node.dataset.state = p.state;
  const badge = node.querySelector(".state");
  badge.textContent = STATE_TEXT[p.state] || p.state;
  badge.dataset.state = p.state;
  node.querySelector(".browser").textContent = p.browser || "";
  const check = node.querySelector(".check");
  check.hidden = !p.check;
  if (p.check) {
    check.dataset.status = p.check.status;
    check.textContent = `Setup check: ${p.check.status}` + (p.check.mos ? ` · MOS ${p.check.mos.toFixed(1)}` : "");
    check.title = (p.check.problems || []).join(", ");
  }
  drawLevels(node.querySelector("canvas"), p.levels || []);
  const silence = node.querySelector(".silence");
  silence.textContent = p.audio_gap_s >= 3 ? `no audio for ${Math.round(p.audio_gap_s)} s`
    : p.silent_s >= 5 ? `silent ${Math.round(p.silent_s)} s` : p.level_db != null ? "hearing sound" : "";
  const net = p.network || {};
  node.querySelector(".rtt").textContent = fmt(net.rtt_ms, "ms");
  node.querySelector(".jitter").textContent = fmt(net.jitter_ms, "ms");
  node.querySelector(".loss").textContent = fmt(net.loss_pct, "%", 1);
  node.querySelector(".fps").textContent = net.camera_on === false ? "camera off"
    : net.fps_sent == null ? "–" : `${Math.round(net.fps_sent)} fps out · ${Math.round(net.fps_received || 0)} in`;
  node.querySelector(".loss").dataset.bad = String((net.loss_pct || 0) > 5);
  node.querySelector(".rtt").dataset.bad = String((net.rtt_ms || 0) > 300);
  node.querySelector(".jitter").dataset.bad = String((net.jitter_ms || 0) > 30);
  node.dataset.alerted = String(alerts.some((a) => a.role === node.dataset.role));
}

function logAlert(session, alert) {
  const key = `${session.id}|${alert.kind}|${alert.role}`;
  if (seenAlerts.has(key)) return;
  seenAlerts.set(key, Date.now());
  state.alerts.push({ session: session.id, ...alert });
  const li = document.createElement("li");
  li.dataset.severity = alert.severity;
  li.textContent = `${new Date().toLocaleTimeString()} · ${session.therapist}'s session ${session.id.slice(0, 8)}: ${alert.message}`;
  $("alert-log").prepend(li);
  while ($("alert-log").children.length > 50) $("alert-log").lastChild.remove();
}

function render(snapshot) {
  state.snapshots += 1;
  state.last = snapshot;
  const t = snapshot.transcription;
  $("service").textContent = `Transcription queue ${t.queue}` + (t.oldest_wait_s >= 2 ? ` · ${t.oldest_wait_s.toFixed(0)} s behind` : "");
  $("service").dataset.on = String(t.oldest_wait_s < 5);
  const live = new Set(snapshot.sessions.map((s) => s.id));
  for (const [id, node] of cards) if (!live.has(id)) { node.remove(); cards.delete(id); }
  for (const key of seenAlerts.keys()) {  // an alert that cleared may be logged again later
    const [sid, kind, role] = key.split("|");
    const s = snapshot.sessions.find((x) => x.id === sid);
    if (!s || !s.alerts.some((a) => a.kind === kind && String(a.role) === role)) seenAlerts.delete(key);
  }
  $("empty").hidden = snapshot.sessions.length > 0;
  snapshot.sessions.forEach((session, index) => {
    const node = card(session);
    if ($("sessions").children[index] !== node) $("sessions").insertBefore(node, $("sessions").children[index] || null);
    node.querySelector(".therapist").textContent = session.therapist;
    node.querySelector(".elapsed").textContent = `${clock(session.elapsed_s)} of ${session.planned_minutes} min`;
    const pill = node.querySelector(".transcription");
    pill.dataset.on = String(session.transcribing);
    pill.textContent = !session.transcribing ? "Transcription off (no consent yet)"
      : session.transcription_lag_s >= 2 ? `Transcription ${session.transcription_lag_s.toFixed(0)} s behind` : "Transcription on";
    const list = node.querySelector(".alerts");
    list.replaceChildren(...session.alerts.map((a) => {
      const li = document.createElement("li");
      li.dataset.kind = a.kind;
      li.dataset.severity = a.severity;
      li.textContent = a.message;
      return li;
    }));
    node.dataset.alerts = String(session.alerts.length);
    for (const a of session.alerts) logAlert(session, a);
    for (const role of ["therapist", "client"]) {
      updatePerson(node.querySelector(`.person[data-role="${role}"]`), session.participants[role], session.alerts);
    }
  });
}

function connect() {
  socket = new WebSocket(`${wsBase}/ws/monitor`);
  socket.onopen = () => { retry = 0; $("connection").textContent = "Live"; };
  socket.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === "sessions") render(m);
    else if (m.type === "nudge_sent" || m.type === "error") {
      if (m.type === "error") state.errors.push(m);
      const target = m.session && document.querySelector(`[data-session="${m.session}"] .person[data-role="${m.role}"] .nudge-result`);
      const text = m.type === "nudge_sent" ? "Sent" : m.message;
      if (target) target.textContent = text;
      else document.querySelectorAll(".nudge-result").forEach((n) => { if (n.textContent === "Sending…") n.textContent = text; });
    }
  };
  socket.onclose = (event) => {
    if (event.code === 4401) { location.href = "/login"; return; }
    if (event.code === 4403) { $("connection").textContent = "This page is for virtual assistants."; return; }
    $("connection").textContent = "Reconnecting…";
    setTimeout(connect, Math.min(1000 * 2 ** retry++, 10000));
  };
}
connect();
