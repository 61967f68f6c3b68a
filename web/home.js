// Home: therapists create sessions and see theirs; trainers see the sessions shared for
// training; assistants see their therapists' sessions (never their content).
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) location.href = "/login";
  return response;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

async function loadSessions(role) {
  const response = await api("/api/sessions");
  if (!response.ok) return;
  const { sessions } = await response.json();
  const body = $("sessions").querySelector("tbody");
  body.replaceChildren();
  $("no-sessions").hidden = sessions.length > 0;
  for (const s of sessions) {
    const state = s.live ? "live" : s.ended_at ? "ended" : "not started";
    let action = "";
    if (role === "therapist" || role === "trainer") {
      action = document.createElement("a");
      action.href = `/replay/${encodeURIComponent(s.id)}`;
      action.textContent = role === "trainer" ? "Replay" : "Review";
    }
    body.append(row([new Date(s.created_at).toLocaleString(), s.label ?? s.id,
      s.planned_minutes ? `${s.planned_minutes} min` : "", state, action]));
  }
}

async function main() {
  const response = await api("/api/me");
  if (!response.ok) return;
  const me = await response.json();
  $("who").textContent = `${me.username} · ${me.role}`;
  $("list-title").textContent = {
    therapist: "Your sessions",
    trainer: "Sessions shared for training",
    assistant: "Sessions of the therapists you support",
    admin: "Accounts are managed with `attune user` on the server",
  }[me.role];
  if (me.role === "therapist") $("therapist").hidden = false;
  if (me.role === "assistant" || me.role === "admin") {
    $("assistant").hidden = false;
    $("check-link").textContent = `${location.origin}/check`;
  }
  if (me.role !== "admin") await loadSessions(me.role);
  else $("sessions").hidden = true;
}

$("new-session").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("error").hidden = true;
  const data = new FormData(event.target);
  const response = await api("/api/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      label: data.get("label"),
      planned_minutes: Number(data.get("planned_minutes")),
      record_audio: data.get("record_audio") === "on",
    }),
  });
  const body = await response.json();
  if (!response.ok) {
    $("error").textContent = body.message || "The session could not be created.";
    $("error").hidden = false;
    return;
  }
  $("client-url").value = body.client_url;
  $("therapist-url").href = body.therapist_url;
  $("created").hidden = false;
  loadSessions("therapist");
});

$("copy").addEventListener("click", async () => {
  const input = $("client-url");
  input.select();
  try { await navigator.clipboard.writeText(input.value); } catch { document.execCommand("copy"); }
});

main();
