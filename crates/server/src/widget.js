/* Tonghua web chat widget. Add to a page:
 *   <script src="https://<tonghua host>/channels/web/<tenant>/<channel>/widget.js" async></script>
 * It keeps the visitor token and unsent messages in localStorage, so a reload
 * or a dropped connection continues the same conversation with nothing lost
 * or shown twice: a new page asks for the whole transcript, a reconnect only
 * for what came after the last line it shows. */
(function () {
  "use strict";
  var cfg = __TONGHUA_CONFIG__;
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : location.origin;
  var zh = (navigator.language || "zh").toLowerCase().indexOf("zh") === 0;
  var t = zh
    ? { placeholder: "请输入您的问题…", send: "发送", open: "在线咨询", reconnecting: "连接中断，正在重连…", ended: "会话已结束，发送消息可重新开始", typing: "对方正在输入…", joined: "人工客服{0}为您服务", queued: "正在为您转接人工客服，前面还有 {0} 位" }
    : { placeholder: "Type your question…", send: "Send", open: "Chat with us", reconnecting: "Connection lost, reconnecting…", ended: "Conversation ended; send a message to start again", typing: "Typing…", joined: "Agent {0} is here to help", queued: "Connecting you to an agent: {0} ahead of you" };
  var store = {
    get: function () { try { return JSON.parse(localStorage.getItem(cfg.storageKey) || "{}"); } catch (e) { return {}; } },
    set: function (s) { try { localStorage.setItem(cfg.storageKey, JSON.stringify(s)); } catch (e) {} }
  };
  var state = store.get();
  state.pending = state.pending || [];
  // Highest sequence number shown on this page (a fresh page shows nothing yet).
  var after = 0;

  var css = "#th-btn{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;color:#fff;font:14px sans-serif;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.2)}" +
    "#th-panel{position:fixed;right:20px;bottom:76px;z-index:2147483000;width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 100px);display:none;flex-direction:column;background:#fff;border-radius:10px;box-shadow:0 4px 24px rgba(0,0,0,.25);font:14px/1.5 -apple-system,'PingFang SC','Microsoft YaHei',sans-serif;overflow:hidden}" +
    "#th-panel header{color:#fff;padding:12px 16px;font-weight:600;display:flex;align-items:center}#th-close{margin-left:auto;background:none;border:0;color:#fff;font-size:20px;line-height:1;cursor:pointer;padding:0 4px}#th-log{flex:1;overflow-y:auto;padding:12px;background:#f5f7fa}" +
    ".th-m{max-width:80%;margin:6px 0;padding:8px 12px;border-radius:8px;white-space:pre-wrap;word-break:break-word}.th-robot,.th-agent{background:#fff;align-self:flex-start}.th-customer{color:#fff;margin-left:auto}" +
    ".th-note{text-align:center;color:#888;font-size:12px;margin:8px 0}#th-form{display:flex;border-top:1px solid #e5e7eb}#th-input{flex:1;border:0;padding:12px;font:inherit;outline:none}#th-send{border:0;color:#fff;padding:0 16px;cursor:pointer}" +
    "#th-opts{display:flex;flex-wrap:wrap;gap:6px;padding:0 12px 8px;background:#f5f7fa}.th-opt{border:1px solid;background:#fff;border-radius:14px;padding:4px 12px;font:inherit;font-size:13px;cursor:pointer}" +
    ".th-rich{align-self:flex-start;max-width:80%;margin:0 0 6px}.th-rich a{display:block;color:#1d4ed8;word-break:break-all}.th-rich img{display:block;max-width:100%;max-height:200px;border-radius:6px;margin-top:4px}" +
    "#th-typing{color:#888;font-size:12px;padding:0 12px 6px;background:#f5f7fa;display:none}" +
    "@media (max-width:480px){#th-panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}";
  var style = document.createElement("style"); style.textContent = css; document.head.appendChild(style);
  var btn = document.createElement("button"); btn.id = "th-btn"; btn.textContent = t.open; btn.style.background = cfg.colour;
  var panel = document.createElement("div"); panel.id = "th-panel";
  var head = document.createElement("header"); head.style.background = cfg.colour;
  var title = document.createElement("span"); title.textContent = cfg.title; head.appendChild(title);
  var close = document.createElement("button"); close.id = "th-close"; close.type = "button"; close.textContent = "×";
  close.setAttribute("aria-label", zh ? "关闭" : "Close"); head.appendChild(close);
  var log = document.createElement("div"); log.id = "th-log"; log.style.display = "flex"; log.style.flexDirection = "column";
  var opts = document.createElement("div"); opts.id = "th-opts";
  var typing = document.createElement("div"); typing.id = "th-typing"; typing.textContent = t.typing;
  var form = document.createElement("form"); form.id = "th-form";
  var input = document.createElement("input"); input.id = "th-input"; input.placeholder = t.placeholder; input.maxLength = 2000;
  var send = document.createElement("button"); send.id = "th-send"; send.type = "submit"; send.textContent = t.send; send.style.background = cfg.colour;
  form.appendChild(input); form.appendChild(send); panel.appendChild(head); panel.appendChild(log); panel.appendChild(typing); panel.appendChild(opts); panel.appendChild(form);
  document.body.appendChild(btn); document.body.appendChild(panel);
  close.onclick = function () { panel.style.display = "none"; };
  btn.onclick = function () { panel.style.display = panel.style.display === "flex" ? "none" : "flex"; if (panel.style.display === "flex") { input.focus(); connect(); } };

  var shown = {};
  function line(cls, text) {
    var d = document.createElement("div"); d.className = cls; d.textContent = text; // text only: never HTML
    log.appendChild(d); log.scrollTop = log.scrollHeight; return d;
  }
  function show(m) {
    if (m.seq && shown[m.seq]) return;
    if (m.seq) shown[m.seq] = true;
    var d = line("th-m th-" + m.from, m.text);
    if (m.from === "customer") { d.style.background = cfg.colour; options([]); }
  }
  // Only http(s) addresses become links or images; the server checks too.
  function safeUrl(u) { return typeof u === "string" && /^https?:\/\//i.test(u) ? u : null; }
  function rich(m) {
    if (m.seq && shown[m.seq]) return;
    if (m.seq) shown[m.seq] = true;
    var box = document.createElement("div"); box.className = "th-rich";
    (m.links || []).forEach(function (l) {
      var u = safeUrl(l.url); if (!u) return;
      var a = document.createElement("a"); a.href = u; a.target = "_blank"; a.rel = "noopener noreferrer"; a.textContent = l.title || u; box.appendChild(a);
    });
    (m.images || []).forEach(function (src) {
      var u = safeUrl(src); if (!u) return;
      var img = document.createElement("img"); img.src = u; img.alt = ""; img.loading = "lazy"; box.appendChild(img);
    });
    log.appendChild(box); log.scrollTop = log.scrollHeight;
  }
  // Quick replies: buttons under the last question; a tap sends the text.
  function options(list) {
    opts.textContent = "";
    list.forEach(function (o) {
      var b = document.createElement("button"); b.type = "button"; b.className = "th-opt"; b.textContent = o;
      b.style.borderColor = cfg.colour; b.style.color = cfg.colour;
      b.onclick = function () { submit(o); };
      opts.appendChild(b);
    });
    log.scrollTop = log.scrollHeight; // the buttons took room from the log
  }

  var ws = null, retry = 0;
  function connect() {
    if (ws && ws.readyState <= 1) return;
    var url = origin.replace(/^http/, "ws") + cfg.path + "?after=" + after + (state.visitor ? "&visitor=" + encodeURIComponent(state.visitor) : "");
    ws = new WebSocket(url);
    ws.onopen = function () { retry = 0; state.pending.forEach(function (p) { ws.send(JSON.stringify({ type: "message", client_id: p.id, text: p.text })); }); };
    ws.onmessage = function (ev) {
      var m; try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "welcome") { state.visitor = m.visitor; if (state.conversation !== m.conversation) { state.conversation = m.conversation; } }
      if (m.type !== "typing" && m.type !== "ack") typing.style.display = "none";
      if (m.type === "typing") { typing.style.display = "block"; }
      else if (m.type === "message") { show(m); }
      else if (m.type === "show") { rich(m); }
      else if (m.type === "options") { options(m.options || []); }
      else if (m.type === "agent_joined") { if (!(m.seq && shown[m.seq])) { shown[m.seq] = true; line("th-note", t.joined.replace("{0}", m.agent ? " " + m.agent + " " : "")); } }
      else if (m.type === "queued") { if (!(m.seq && shown[m.seq])) { shown[m.seq] = true; line("th-note", t.queued.replace("{0}", String(m.ahead))); } }
      else if (m.type === "ack") { state.pending = state.pending.filter(function (p) { return p.id !== m.client_id; }); }
      else if (m.type === "ended") { line("th-note", t.ended); }
      else if (m.type === "error") { line("th-note", zh ? m.message : m.message_en); }
      if (m.seq && m.seq > after) after = m.seq;
      store.set(state);
    };
    ws.onclose = function () { ws = null; if (panel.style.display === "flex") { line("th-note", t.reconnecting); setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++))); } };
  }
  form.onsubmit = function (e) {
    e.preventDefault();
    var text = input.value.trim(); if (!text) return; input.value = "";
    submit(text);
  };
  function submit(text) {
    options([]);
    var p = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 10), text: text };
    state.pending.push(p); store.set(state);
    line("th-m th-customer", text).style.background = cfg.colour;
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "message", client_id: p.id, text: text })); else connect();
  }
  window.TonghuaChat = { open: function () { if (panel.style.display !== "flex") btn.onclick(); } };
})();
