// The session room: waiting room, WebRTC call, and (for the therapist only) the private panel.
import { Panel } from "./panel.js";
import { mountCheck, summary } from "./check.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const $ = (id) => document.getElementById(id);
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;

// What this page received, by message type (for diagnostics; never content for a client).
const attune = (window.attune = { received: [], role: null, state: "connecting", remoteLevel: 0, remoteHeard: 0, nudges: [], check: null, statsSent: 0 });

let control = null;
let pc = null;
let localStream = null;
let iceServers = [];
let retry = 0;
let closedForGood = false;

function status(text) { $("status").textContent = text; }
function fatal(text) {
  closedForGood = true;
  $("fatal").textContent = text;
  $("fatal").hidden = false;
  status("Disconnected");
}
function setState(state) {
  attune.state = state;
  document.body.dataset.state = state;
}

async function getMedia() {
  if (localStream) return localStream;
  try {
    localStream = await navigator.mediaDevices.getUserMedia({
      // echo cancellation stays on for the call: the other voice must not leak back
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: { width: 640, height: 480 },
    });
  } catch (err) {
    const advice = {
      NotAllowedError: "Camera and microphone are blocked. Allow them in the browser's address bar, then reload.",
      NotFoundError: "No camera or microphone was found. Connect one, then reload.",
      NotReadableError: "Another program is using the camera or microphone. Close it, then reload.",
    }[err.name] || `Camera or microphone unavailable (${err.name}).`;
    $("device-advice").textContent = advice;
    $("device-advice").hidden = false;
    throw err;
  }
  $("preview").srcObject = localStream;
  $("local").srcObject = localStream;
  meter(localStream, (level) => { $("mic-level").style.width = `${Math.min(100, level * 300)}%`; });
  return localStream;
}

function meter(stream, onLevel) {
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  const tick = () => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    onLevel(Math.sqrt(sum / data.length));
    requestAnimationFrame(tick);
  };
  ctx.resume();
  tick();
}

function send(message) {
  if (control && control.readyState === WebSocket.OPEN) control.send(JSON.stringify(message));
}

// The setup check runs once per tab and link before joining; a reload rejoins directly.
const checkedKey = `attune-checked:${(token || "").slice(0, 12)}`;
let passGate = null;
const gate = sessionStorage.getItem(checkedKey)
  ? Promise.resolve()
  : new Promise((resolve) => { passGate = resolve; });
let checkShown = false;

async function setupCheck() {
  if (!passGate || checkShown) return gate;
  checkShown = true;
  setState("checking");
  status("Setup check");
  $("setup").hidden = false;
  const result = await mountCheck($("setup-check"), { getStream: getMedia, iceServers });
  attune.check = summary(result);
  sessionStorage.setItem(`${checkedKey}:result`, JSON.stringify(attune.check));
  const join = $("join-call");
  join.disabled = false;
  join.textContent = result.status === "fail" ? "Join anyway" : "Join session";
  return gate;
}

$("join-call").addEventListener("click", () => {
  sessionStorage.setItem(checkedKey, "1");
  $("setup").hidden = true;
  if (attune.check) send(attune.check);
  passGate();
});

function reportCheck() {
  const saved = attune.check || JSON.parse(sessionStorage.getItem(`${checkedKey}:result`) || "null");
  if (saved) send(saved);
}

// Connection figures for the assistant's monitor: what only the browser can measure.
let lastCounts = null;
async function sendStats() {
  if (!pc || pc.connectionState === "closed") return;
  const out = { type: "stats" };
  let counts = { lost: 0, received: 0, framesSent: 0, framesReceived: 0, at: performance.now() };
  let upLoss = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime != null) {
      out.rtt_ms = s.currentRoundTripTime * 1000;
    } else if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.jitter_ms = Math.max(out.jitter_ms || 0, (s.jitter || 0) * 1000);
      counts.lost += Math.max(0, s.packetsLost || 0);
      counts.received += s.packetsReceived || 0;
    } else if (s.type === "remote-inbound-rtp" && s.kind === "audio") {
      upLoss = Math.max(upLoss, (s.fractionLost || 0) * 100);
      out.jitter_ms = Math.max(out.jitter_ms || 0, (s.jitter || 0) * 1000);
    } else if (s.type === "outbound-rtp" && s.kind === "video") {
      counts.framesSent += s.framesSent || 0;
    } else if (s.type === "inbound-rtp" && s.kind === "video") {
      counts.framesReceived += s.framesDecoded || 0;
    } else if (s.type === "media-source" && s.kind === "audio" && s.audioLevel != null) {
      out.mic_level = Math.min(1, s.audioLevel);
    }
  });
  if (lastCounts) {
    const seconds = Math.max(0.5, (counts.at - lastCounts.at) / 1000);
    const lost = counts.lost - lastCounts.lost, received = counts.received - lastCounts.received;
    const downLoss = lost + received > 0 ? (100 * Math.max(0, lost)) / (lost + received) : 0;
    out.loss_pct = Math.min(100, Math.max(downLoss, upLoss));
    out.fps_sent = Math.max(0, (counts.framesSent - lastCounts.framesSent) / seconds);
    out.fps_received = Math.max(0, (counts.framesReceived - lastCounts.framesReceived) / seconds);
  }
  lastCounts = counts;
  const cam = localStream && localStream.getVideoTracks()[0];
  const mic = localStream && localStream.getAudioTracks()[0];
  out.camera_on = Boolean(cam && cam.enabled && cam.readyState === "live");
  out.mic_on = Boolean(mic && mic.enabled && !mic.muted && mic.readyState === "live");
  for (const key of ["fps_sent", "fps_received"]) if (out[key] != null) out[key] = Math.min(240, out[key]);
  send(out);
  attune.statsSent += 1;
}
setInterval(() => { sendStats().catch(() => {}); }, 2000);

async function startCall() {
  await gate;
  setState("in-call");
  $("waiting").hidden = true;
  $("call").hidden = false;
  $("mute").hidden = false;
  $("camera").hidden = false;
  const stream = await getMedia();
  if (pc) pc.close();
  pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  const remote = new MediaStream();
  $("remote").srcObject = remote;
  $("remote-audio").srcObject = remote;
  let remoteMeter = false;
  pc.ontrack = (event) => {
    remote.addTrack(event.track);
    if (event.track.kind === "audio" && !remoteMeter) {
      remoteMeter = true;
      meter(new MediaStream([event.track]), (level) => {
        attune.remoteLevel = level;
        if (level > 0.005) attune.remoteHeard += 1;
        $("remote-level").style.width = `${Math.min(100, level * 300)}%`;
      });
    }
  };
  const thisPc = pc;
  pc.onconnectionstatechange = () => {
    if (thisPc !== pc) return;
    if (pc.connectionState === "connected") status("In session");
    if (pc.connectionState === "failed") {
      // the network was gone longer than ICE waits (about 30 s): offer a fresh connection
      // over the control socket, which survives outages of its own accord
      status("Connection lost: reconnecting…");
      attune.mediaRestarts = (attune.mediaRestarts || 0) + 1;
      setTimeout(() => { if (thisPc === pc && !closedForGood) startCall().catch(() => {}); }, 1000);
    }
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);
  });
  send({ type: "offer", sdp: pc.localDescription.sdp });
}

function connect() {
  control = new WebSocket(`${wsBase}/ws/control`);
  control.onopen = () => { retry = 0; control.send(JSON.stringify({ type: "hello", token })); };
  control.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    attune.received.push(message.type);
    switch (message.type) {
      case "welcome":
        consentState(message);
        $("consent-text").textContent = message.consent_text;
        if (!message.you && !consentAsked) { consentAsked = true; $("consent").hidden = false; }
        attune.role = message.role;
        document.body.dataset.role = message.role;
        iceServers = message.ice_servers;
        $("session-label").textContent = message.role === "therapist" ? message.session.label : "";
        await setupCheck();
        reportCheck();
        if (message.role === "therapist") {
          $("end").hidden = false;
          new Panel($("panel"), wsBase, token).connect();
          $("panel").hidden = false;
          await startCall();
        } else if (message.state === "admitted") {
          await startCall();
        } else {
          setState("waiting");
          status("Waiting room");
          $("waiting").hidden = false;
          getMedia().catch(() => {});
        }
        break;
      case "admitted":
        await startCall();
        break;
      case "answer":
        await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
        break;
      case "peer":
        peerState(message);
        break;
      case "consent_state":
        consentState(message);
        break;
      case "nudge":
        attune.nudges.push(message.text);
        $("nudge-text").textContent = message.text;
        $("nudge").hidden = false;
        break;
      case "ended":
        fatal("The session has ended. You can close this page.");
        break;
      case "error":
        console.warn("server error", message.code, message.message);
        break;
    }
  };
  control.onclose = (event) => {
    const reasons = {
      4401: "This link is not valid or has expired.",
      4409: "This session was opened in another window.",
      4410: "The session has ended. You can close this page.",
    };
    if (reasons[event.code]) return fatal(reasons[event.code]);
    if (closedForGood) return;
    if (event.code === 4429) {  // the server is full or strained: it says why; try again later
      status(`${event.reason || "The server is busy."} Trying again in 30 s…`);
      setTimeout(connect, 30000);
      return;
    }
    status("Connection lost: reconnecting…");
    setTimeout(connect, Math.min(1000 * 2 ** retry++, 10000));
  };
}

let consentAsked = false;
function consentState(state) {
  attune.consent = { you: state.you, other: state.other, transcribing: state.transcribing };
  const pill = $("transcription");
  pill.hidden = false;
  pill.dataset.on = String(state.transcribing);
  pill.textContent = state.transcribing ? "Transcription on"
    : state.you ? "Transcription off: waiting for the other person's agreement"
    : "Transcription off";
  const toggle = $("consent-toggle");
  toggle.hidden = false;
  toggle.textContent = state.you ? "Withdraw consent" : "Agree to transcription";
}

function decideConsent(agreed) {
  send({ type: "consent", agreed });
  $("consent").hidden = true;
}

$("consent-agree").addEventListener("click", () => decideConsent(true));
$("consent-decline").addEventListener("click", () => decideConsent(false));
$("consent-toggle").addEventListener("click", () => {
  if (attune.consent && attune.consent.you) decideConsent(false);
  else $("consent").hidden = false;
});

function peerState(message) {
  const who = message.role === "client" ? "Your client" : "Your therapist";
  const text = {
    waiting: `${who} is in the waiting room.`,
    left: `${who} has left or lost their connection.`,
    "media-connected": "",
    "media-connecting": `${who} is connecting…`,
  }[message.state];
  if (text !== undefined) $("peer-state").textContent = text;
  if (attune.role === "therapist" && message.role === "client") {
    $("admit").hidden = message.state !== "waiting";
  }
}

$("nudge-ok").addEventListener("click", () => { $("nudge").hidden = true; });
$("admit").addEventListener("click", () => { send({ type: "admit" }); $("admit").hidden = true; });
$("end").addEventListener("click", () => {
  if (confirm("End the session for both of you?")) send({ type: "end" });
});
$("mute").addEventListener("click", () => {
  const track = localStream && localStream.getAudioTracks()[0];
  if (!track) return;
  track.enabled = !track.enabled;
  $("mute").textContent = track.enabled ? "Mute" : "Unmute";
});
$("camera").addEventListener("click", () => {
  const track = localStream && localStream.getVideoTracks()[0];
  if (!track) return;
  track.enabled = !track.enabled;
  $("camera").textContent = track.enabled ? "Camera off" : "Camera on";
});

if (!token) fatal("This page needs the link your therapist sent you.");
else connect();
