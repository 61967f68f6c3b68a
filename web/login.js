// Login: show why the last attempt failed (the server redirects back with #failed).
const reasons = {
  failed: "That user name and password do not match an active account.",
  missing: "Enter your user name and password.",
};
const reason = reasons[location.hash.slice(1)];
if (reason) {
  const error = document.getElementById("error");
  error.textContent = reason;
  error.hidden = false;
  history.replaceState(null, "", location.pathname);
}
