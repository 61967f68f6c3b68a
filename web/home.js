// Therapist console: create a session and get the client's link.
const params = new URLSearchParams(location.hash.slice(1));
if (params.get("key")) {
  sessionStorage.setItem("attune-key", params.get("key"));
  history.replaceState(null, "", location.pathname);
}
const key = sessionStorage.getItem("attune-key");
const form = document.getElementById("new-session");
const error = document.getElementById("error");
if (!key) document.getElementById("no-key").hidden = false;
else form.hidden = false;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const data = new FormData(form);
  const response = await fetch("/api/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({
      label: data.get("label"),
      planned_minutes: Number(data.get("planned_minutes")),
    }),
  });
  const body = await response.json();
  if (!response.ok) {
    error.textContent = body.message || "The session could not be created.";
    error.hidden = false;
    return;
  }
  document.getElementById("client-url").value = body.client_url;
  document.getElementById("therapist-url").href = body.therapist_url;
  document.getElementById("created").hidden = false;
});

document.getElementById("copy").addEventListener("click", async () => {
  const input = document.getElementById("client-url");
  input.select();
  try { await navigator.clipboard.writeText(input.value); } catch { document.execCommand("copy"); }
});
