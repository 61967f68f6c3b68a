// The setup check: browser, camera, microphone, speakers and a connection test through the
// server (a WebRTC loopback on /ws/check). Used by /check and before joining a session.
// Nothing it measures leaves the browser except the summary a participant's room sends.

export const TARGETS = {
  rtt_ms: { pass: 300, warn: 500, label: "Round trip", unit: "ms" },
  jitter_ms: { pass: 30, warn: 50, label: "Jitter", unit: "ms" },
  loss_pct: { pass: 1, warn: 5, label: "Packet loss", unit: "%" },
};

export const ADVICE = {
  insecure_context: "This page must be opened over HTTPS (or on this computer) for the browser to allow the camera and microphone.",
  unsupported_browser: "This browser cannot make video calls. Use a current Chrome, Edge, Firefox or Safari.",
  permission_denied: "Camera and microphone are blocked. Click the camera icon in the address bar, allow both, then run the check again.",
  no_camera: "No camera was found. Connect one, or you can join with audio only.",
  no_microphone: "No microphone was found. Connect a headset or a microphone, then run the check again.",
  device_busy: "Another program (Zoom, Teams…) is using the camera or microphone. Close it, then run the check again.",
  mic_silent: "We can't hear your microphone. It may be muted: check the mute switch on your headset, your computer's sound settings, and that the right microphone is selected.",
  mic_quiet: "Your microphone is very quiet. Move closer to it, or raise its input level in your sound settings.",
  camera_dark: "Your camera shows no picture. Check that its cover or shutter is open.",
  speaker_not_heard: "Check that your speakers or headphones are switched on, not muted, and chosen as the sound output.",
  network_blocked: "We could not connect to the session server for audio and video. A firewall may be blocking it: try another network, or ask your IT contact.",
  high_rtt: "Your connection is slow to respond: you may talk over each other. Move closer to the Wi-Fi router or use a cable.",
  high_jitter: "Your connection is uneven: audio may break up. Pause downloads and video streaming on your network, or use a cable.",
  packet_loss: "Your network is losing packets: audio and video will break up. Move closer to the Wi-Fi router, use a cable, or switch networks.",
};

const SILENT_RMS = 1e-4;   // about -80 dBFS: digital silence, a microphone muted by the system
const QUIET_RMS = 0.003;   // about -50 dBFS: a room, but no voice reached the microphone
const PINGS = 10;

// Mean opinion score from the ITU-T G.107 E-model, simplified as telehealth vendors do.
export function mos(rttMs, jitterMs, lossPct) {
  const latency = rttMs / 2 + 2 * jitterMs + 10;
  let r = latency < 160 ? 93.2 - latency / 40 : 93.2 - (latency - 120) / 10;
  r -= 2.5 * lossPct;
  r = Math.max(0, Math.min(100, r));
  return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

export function grade(name, value) {
  const t = TARGETS[name];
  if (value == null) return "fail";
  return value < t.pass ? "pass" : value < t.warn ? "warn" : "fail";
}

function worst(statuses) {
  return statuses.includes("fail") ? "fail" : statuses.includes("warn") ? "warn" : "pass";
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Listen to a stream; returns { stop(), peak(), level() } (RMS, 0..1).
export function listen(stream, onLevel) {
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  let peak = 0, level = 0, running = true;
  const tick = () => {
    if (!running) return;
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    level = Math.sqrt(sum / data.length);
    peak = Math.max(peak, level);
    if (onLevel) onLevel(level);
    setTimeout(tick, 50);
  };
  ctx.resume();
  tick();
  return { stop: () => { running = false; ctx.close(); }, peak: () => peak, level: () => level };
}

export function playTestSound() {
  const ctx = new AudioContext();
  const gain = ctx.createGain();
  gain.connect(ctx.destination);
  [523.25, 659.25, 783.99].forEach((f, i) => {
    const osc = ctx.createOscillator();
    osc.frequency.value = f;
    osc.connect(gain);
    const t = ctx.currentTime + i * 0.25;
    gain.gain.setValueAtTime(0.2, t);
    osc.start(t);
    osc.stop(t + 0.22);
  });
  setTimeout(() => ctx.close(), 1200);
  return ctx;
}

function capabilities() {
  const problems = [];
  if (!window.isSecureContext) problems.push("insecure_context");
  if (!window.RTCPeerConnection || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia
      || !window.WebSocket || !window.AudioContext) problems.push("unsupported_browser");
  return problems;
}

async function devices(getStream) {
  try {
    return { stream: await getStream(), problems: [] };
  } catch (err) {
    const code = {
      NotAllowedError: "permission_denied",
      SecurityError: "permission_denied",
      NotFoundError: "no_microphone",
      OverconstrainedError: "no_camera",
      NotReadableError: "device_busy",
      AbortError: "device_busy",
    }[err.name] || "device_busy";
    if (code === "no_microphone" || code === "no_camera") {
      // tell which is missing: try the microphone alone
      try {
        const audioOnly = await navigator.mediaDevices.getUserMedia({ audio: true });
        return { stream: audioOnly, problems: ["no_camera"] };
      } catch (_) { return { stream: null, problems: ["no_microphone"] }; }
    }
    return { stream: null, problems: [code] };
  }
}

// The connection test: media and a data channel through the server and back.
export async function connectionTest(stream, iceServers = [], seconds = 5) {
  const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  const ws = new WebSocket(`${wsBase}/ws/check`);
  const pc = new RTCPeerConnection({ iceServers });
  const result = { rtt_ms: null, jitter_ms: null, loss_pct: null, connected: false };
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onclose = (e) => reject(new Error(e.reason || "the server refused the test"));
    });
    const answered = new Promise((resolve, reject) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "answer") resolve(m.sdp);
      };
      ws.onclose = (e) => reject(new Error(e.reason || "the server closed the test"));
    });
    if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
    else pc.addTransceiver("audio");
    const channel = pc.createDataChannel("ping");
    const opened = new Promise((resolve) => { channel.onopen = resolve; });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 3000);
    });
    ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
    await pc.setRemoteDescription({ type: "answer", sdp: await answered });
    const timeout = sleep(10000).then(() => { throw new Error("no connection"); });
    await Promise.race([opened, timeout]);
    result.connected = true;
    const rtts = [];
    const pending = new Map();
    channel.onmessage = (e) => {
      const sent = pending.get(e.data);
      if (sent !== undefined) rtts.push(performance.now() - sent);
    };
    const started = performance.now();
    for (let i = 0; i < PINGS; i++) {
      const id = `p${i}`;
      pending.set(id, performance.now());
      channel.send(id);
      await sleep(200);
    }
    await sleep(Math.max(0, seconds * 1000 - (performance.now() - started)));
    result.rtt_ms = median(rtts);
    let jitter = 0, lost = 0, received = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.kind !== "audio") return;
      if (s.type === "inbound-rtp") {
        jitter = Math.max(jitter, (s.jitter || 0) * 1000);
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
      } else if (s.type === "remote-inbound-rtp") {
        jitter = Math.max(jitter, (s.jitter || 0) * 1000);
        if (result.rtt_ms == null && s.roundTripTime) result.rtt_ms = s.roundTripTime * 1000;
      }
    });
    result.jitter_ms = jitter;
    result.loss_pct = received + lost > 0 ? (100 * lost) / (received + lost) : (rtts.length ? 0 : 100);
    if (rtts.length < PINGS) result.loss_pct = Math.max(result.loss_pct, (100 * (PINGS - rtts.length)) / PINGS);
  } catch (err) {
    result.error = String(err.message || err);
  } finally {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "done" }));
    ws.close();
    pc.close();
  }
  return result;
}

// The whole check. ui: { video, onLevel(level), onStep(name, status, detail) }.
export async function runSetupCheck({ getStream, video, onLevel, onStep = () => {}, iceServers = [] }) {
  const out = { status: "pass", problems: [], steps: {} };
  const step = (name, status, detail = "") => {
    out.steps[name] = { status, detail };
    onStep(name, status, detail);
  };
  const fail = (problem) => { if (!out.problems.includes(problem)) out.problems.push(problem); };

  const caps = capabilities();
  caps.forEach(fail);
  step("browser", caps.length ? "fail" : "pass", caps.length ? ADVICE[caps[0]] : "This browser can make video calls.");
  if (caps.includes("unsupported_browser")) return finish(out);

  step("devices", "running", "Asking for the camera and microphone…");
  const { stream, problems } = await devices(getStream);
  problems.forEach(fail);
  if (!stream) {
    step("devices", "fail", ADVICE[problems[0]]);
    step("camera", "fail", ADVICE[problems[0]]);
    step("microphone", "fail", ADVICE[problems[0]]);
  } else {
    step("devices", "pass", "Camera and microphone allowed.");
    const cam = stream.getVideoTracks()[0];
    if (!cam) step("camera", "warn", ADVICE.no_camera);
    else {
      if (video) video.srcObject = stream;
      step("camera", "pass", `Camera: ${cam.label || "on"}.`);
    }
  }
  const mic = stream && stream.getAudioTracks()[0];
  const ear = mic ? listen(new MediaStream([mic]), onLevel) : null;
  if (mic) step("microphone", "running", "Say a few words…");

  step("connection", "running", "Testing the connection to the session server…");
  const net = await connectionTest(stream, iceServers);
  out.rtt_ms = net.rtt_ms;
  out.jitter_ms = net.jitter_ms;
  out.loss_pct = net.loss_pct;
  if (!net.connected) {
    fail("network_blocked");
    step("connection", "fail", ADVICE.network_blocked);
  } else {
    const grades = { rtt_ms: grade("rtt_ms", net.rtt_ms), jitter_ms: grade("jitter_ms", net.jitter_ms), loss_pct: grade("loss_pct", net.loss_pct) };
    if (grades.rtt_ms !== "pass") fail("high_rtt");
    if (grades.jitter_ms !== "pass") fail("high_jitter");
    if (grades.loss_pct !== "pass") fail("packet_loss");
    out.mos = mos(net.rtt_ms, net.jitter_ms, net.loss_pct);
    out.grades = grades;
    const status = worst(Object.values(grades));
    const advice = ["packet_loss", "high_jitter", "high_rtt"].filter((p) => out.problems.includes(p)).map((p) => ADVICE[p]);
    step("connection", status, advice[0] || "Your connection is good for a video session.");
  }

  if (ear) {
    const peak = ear.peak();
    ear.stop();
    if (mic.muted || peak < SILENT_RMS) { fail("mic_silent"); step("microphone", "fail", ADVICE.mic_silent); }
    else if (peak < QUIET_RMS) { fail("mic_quiet"); step("microphone", "warn", ADVICE.mic_quiet); }
    else step("microphone", "pass", "We can hear you.");
    out.mic_peak = peak;
  }
  return finish(out);
}

const SEVERE = new Set(["insecure_context", "unsupported_browser", "permission_denied", "no_microphone",
  "device_busy", "mic_silent", "network_blocked"]);

function finish(out) {
  const statuses = Object.values(out.steps).map((s) => s.status);
  out.status = worst(statuses);
  if (out.problems.some((p) => SEVERE.has(p))) out.status = "fail";
  return out;
}

// What a participant's room tells the server (figures and problem codes, nothing else).
export function summary(result) {
  const pick = (v) => (typeof v === "number" && isFinite(v) ? Math.round(v * 100) / 100 : undefined);
  return { type: "check", status: result.status, rtt_ms: pick(result.rtt_ms), jitter_ms: pick(result.jitter_ms),
    loss_pct: pick(result.loss_pct), mos: pick(result.mos), problems: result.problems };
}

const STEP_NAMES = {
  browser: "Browser",
  devices: "Camera and microphone access",
  camera: "Camera",
  microphone: "Microphone",
  connection: "Connection to the session server",
};
const STATUS_TEXT = { pass: "OK", warn: "Check", fail: "Problem", running: "…" };

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

// Render the check into `root` and run it; resolves with the result. The speaker test is a
// button the person answers; its answer is added to the result's problems.
export async function mountCheck(root, { getStream, iceServers = [] }) {
  root.replaceChildren();
  root.classList.add("setup-check");
  const media = el("div", { class: "check-media" });
  const video = el("video", { autoplay: "", muted: "", playsinline: "", class: "check-preview" });
  video.muted = true;
  const meter = el("div", { class: "meter", "aria-label": "Microphone level" });
  const bar = el("div", { class: "check-level" });
  meter.append(bar);
  media.append(video, meter);
  const steps = el("ol", { class: "check-steps", "aria-live": "polite" });
  const rows = {};
  for (const [name, label] of Object.entries(STEP_NAMES)) {
    const li = el("li", { "data-step": name, "data-status": "waiting" });
    li.append(el("span", { class: "check-status" }, "·"), el("strong", {}, label), el("p", { class: "check-detail" }));
    rows[name] = li;
    steps.append(li);
  }
  const speaker = el("li", { "data-step": "speaker", "data-status": "waiting" });
  const play = el("button", { type: "button", class: "secondary", id: "check-play" }, "Play test sound");
  const heard = el("button", { type: "button", class: "secondary", hidden: "" }, "I heard it");
  const notHeard = el("button", { type: "button", class: "secondary", hidden: "" }, "I heard nothing");
  const speakerDetail = el("p", { class: "check-detail" }, "Play a short chime to test your speakers or headphones.");
  speaker.append(el("span", { class: "check-status" }, "·"), el("strong", {}, "Speakers"), speakerDetail, play, heard, notHeard);
  steps.append(speaker);
  const figures = el("table", { class: "check-figures", hidden: "" });
  const verdict = el("p", { class: "check-verdict", role: "status" });
  root.append(media, steps, figures, verdict);

  let result = null;
  const speakerAnswer = (ok) => {
    speaker.dataset.status = ok ? "pass" : "warn";
    speaker.querySelector(".check-status").textContent = STATUS_TEXT[speaker.dataset.status];
    speakerDetail.textContent = ok ? "Your speakers work." : ADVICE.speaker_not_heard;
    heard.hidden = notHeard.hidden = true;
    if (result && !ok && !result.problems.includes("speaker_not_heard")) {
      result.problems.push("speaker_not_heard");
      if (result.status === "pass") result.status = "warn";
      showVerdict();
    }
  };
  play.addEventListener("click", () => {
    playTestSound();
    heard.hidden = notHeard.hidden = false;
    (window.attuneCheck ||= {}).soundPlayed = true;
  });
  heard.addEventListener("click", () => speakerAnswer(true));
  notHeard.addEventListener("click", () => speakerAnswer(false));

  const showVerdict = () => {
    root.dataset.status = result.status;
    verdict.textContent = {
      pass: "All set: your setup is ready for a video session.",
      warn: "You can join, but see the advice above for a better call.",
      fail: "There is a problem: follow the advice above, then run the check again.",
    }[result.status];
  };
  const result0 = await runSetupCheck({
    getStream,
    video,
    iceServers,
    onLevel: (level) => { bar.style.width = `${Math.min(100, level * 300)}%`; },
    onStep: (name, status, detail) => {
      const li = rows[name];
      if (!li) return;
      li.dataset.status = status;
      li.querySelector(".check-status").textContent = STATUS_TEXT[status];
      li.querySelector(".check-detail").textContent = detail;
    },
  });
  result = result0;
  if (result.rtt_ms != null) {
    figures.hidden = false;
    const row = (label, value, status) => {
      const tr = el("tr", { "data-status": status || "" });
      tr.append(el("th", {}, label), el("td", {}, value), el("td", {}, status ? STATUS_TEXT[status] : ""));
      figures.append(tr);
    };
    for (const [name, t] of Object.entries(TARGETS)) {
      const v = result[name];
      row(`${t.label} (target under ${t.pass} ${t.unit})`, v == null ? "–" : `${v.toFixed(name === "loss_pct" ? 1 : 0)} ${t.unit}`, result.grades[name]);
    }
    if (result.mos != null) row("Call quality (MOS, 1–5)", result.mos.toFixed(1), result.mos >= 4 ? "pass" : result.mos >= 3.5 ? "warn" : "fail");
  }
  showVerdict();
  return result;
}
