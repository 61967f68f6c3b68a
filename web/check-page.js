// The stand-alone setup check page (/check), the one an assistant can send as a link.
import { mountCheck } from "./check.js";

window.attuneCheck = { result: null, soundPlayed: false };
let stream = null;
const getStream = async () => {
  if (stream) return stream;
  stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    video: { width: 640, height: 480 },
  });
  return stream;
};

async function run() {
  document.getElementById("again").hidden = true;
  window.attuneCheck.result = null;
  window.attuneCheck.result = await mountCheck(document.getElementById("check"), { getStream });
  document.getElementById("again").hidden = false;
}
document.getElementById("again").addEventListener("click", () => {
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
  run();
});
run();
