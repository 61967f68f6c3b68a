// The therapist's private panel: live transcript (and, later, listening cues).
export class Panel {
  constructor(root, wsBase, token) {
    this.root = root;
    this.url = `${wsBase}/ws/panel`;
    this.token = token;
    this.list = root.querySelector("#transcript");
    this.notices = root.querySelector("#notices");
    this.items = new Map();
    this.retry = 0;
    window.attunePanel = this;
    this.events = [];
  }

  connect() {
    const ws = new WebSocket(this.url);
    ws.onopen = () => { this.retry = 0; ws.send(JSON.stringify({ type: "hello", token: this.token })); };
    ws.onmessage = (event) => this.handle(JSON.parse(event.data));
    ws.onclose = (event) => {
      if ([4401, 4403, 4409, 4410].includes(event.code)) return;
      setTimeout(() => this.connect(), Math.min(1000 * 2 ** this.retry++, 10000));
    };
  }

  handle(event) {
    this.events.push(event);
    if (event.type === "utterance") this.utterance(event);
    else if (event.type === "notice") this.notice(event);
  }

  utterance(event) {
    const key = String(event.id);
    let item = this.items.get(key);
    if (!item) {
      item = document.createElement("li");
      item.dataset.start = event.start;
      item.innerHTML = '<span class="who"></span><span class="text"></span>';
      this.items.set(key, item);
      const later = [...this.list.children].find((li) => Number(li.dataset.start) > event.start);
      this.list.insertBefore(item, later || null);
    }
    item.dataset.id = key;
    item.dataset.speaker = event.speaker;
    item.classList.toggle("interim", !event.final);
    item.querySelector(".who").textContent = event.speaker === "therapist" ? "You" : "Client";
    item.querySelector(".text").textContent = event.text;
    if (event.final && !event.text) item.remove();
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  notice(event) {
    const p = document.createElement("p");
    p.className = "notice";
    p.dataset.code = event.code;
    p.textContent = event.message;
    this.notices.replaceChildren(p);
    setTimeout(() => p.remove(), 20000);
  }
}
