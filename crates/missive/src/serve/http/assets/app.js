// missive's page for captured mail. Everything from a message is put in the
// page with textContent, never parsed as markup; the HTML body is shown only in a
// sandboxed frame that the server also serves with a CSP sandbox.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
let messages = [];      // summaries shown, newest first
let total = 0, unread = 0, matched = 0;
let current = null;     // the message open
let query = "";

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

function person(p) {
  if (!p) return "";
  if (p.Name && p.Address) return p.Name + " <" + p.Address + ">";
  return p.Name || p.Address || "";
}
const people = (list) => (list || []).map(person).join(", ");

function size(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " kB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

function when(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r;
}

function badges(m) {
  const b = el("span", { class: "badges" });
  if (m.Attachments > 0) b.append(el("span", { class: "badge att", title: "attachments", text: m.Attachments + (m.Attachments === 1 ? " attachment" : " attachments") }));
  const s = m.Session;
  if (s) {
    b.append(s.TLS
      ? el("span", { class: "badge tls", title: s.TLSCipher || "TLS", text: s.TLSVersion || "TLS" })
      : el("span", { class: "badge plain", title: "no TLS", text: "no TLS" }));
    if (s.Auth) b.append(el("span", { class: "badge auth", title: "AUTH as " + s.AuthUser, text: "AUTH " + s.AuthUser }));
  }
  b.append(el("span", { class: "badge size", text: size(m.Size) }));
  return b;
}

function row(m, fresh) {
  const li = el("li", { "data-id": m.ID, class: (m.Read ? "" : "unread") + (fresh ? " fresh" : "") },
    el("span", { class: "from", text: person(m.From) || m.Envelope.From || "<>" }),
    el("span", { class: "when", text: when(m.Created), title: m.Created }),
    el("span", { class: "subject", text: m.Subject || "(no subject)" }),
    el("span", { class: "to", text: "to " + (people(m.To) || (m.Envelope.To || []).join(", ")) }),
    badges(m));
  if (current && current.ID === m.ID) li.classList.add("selected");
  li.addEventListener("click", () => { location.hash = "#/" + m.ID; });
  return li;
}

function renderCount() {
  $("count").textContent = query
    ? matched + " of " + total + " match"
    : total + (total === 1 ? " message" : " messages") + (unread ? ", " + unread + " unread" : "");
}

function renderList() {
  const ul = $("messages");
  ul.replaceChildren(...messages.map((m) => row(m, false)));
  $("empty").hidden = messages.length > 0;
  $("more-wrap").hidden = messages.length >= matched;
  renderCount();
}

function listUrl(start) {
  const q = "start=" + start + "&limit=" + PAGE;
  return query ? "/api/v1/search?query=" + encodeURIComponent(query) + "&" + q : "/api/v1/messages?" + q;
}

async function load(more) {
  const start = more ? messages.length : 0;
  const data = await (await api(listUrl(start))).json();
  messages = more ? messages.concat(data.messages) : data.messages;
  total = data.total; unread = data.unread; matched = data.messages_count;
  renderList();
}

function onNew(m) {
  total += 1; if (!m.Read) unread += 1;
  if (query) { load(false); return; }
  if (messages.some((x) => x.ID === m.ID)) return;
  messages.unshift(m); matched += 1;
  $("messages").prepend(row(m, true));
  $("empty").hidden = true;
  renderCount();
}

function live() {
  const es = new EventSource("/api/v1/events");
  es.onopen = () => { $("live").className = ""; };
  es.onerror = () => { $("live").className = "off"; };
  es.addEventListener("new", (e) => onNew(JSON.parse(e.data)));
  es.addEventListener("delete", () => { load(false); if (current) openFromHash(); });
  es.addEventListener("reload", () => load(false));
}

// --- one message ---------------------------------------------------------

function tab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll(".pane")) p.classList.toggle("active", p.id === "pane-" + name);
  if (name === "raw" && current && !current.rawLoaded) loadRaw(current);
  if (name === "headers" && current && !current.headersLoaded) loadHeaders(current);
  sessionStorage.setItem("tab", name);
}

function meta(d) {
  const dl = $("meta");
  dl.replaceChildren();
  const add = (k, v) => { if (v) dl.append(el("dt", { text: k }), el("dd", { text: v })); };
  add("From", person(d.From));
  add("To", people(d.To));
  add("Cc", people(d.Cc));
  add("Bcc", people(d.Bcc));
  add("Reply-To", people(d.ReplyTo));
  add("Date", d.Date ? new Date(d.Date).toLocaleString() : "");
  add("Envelope", "MAIL FROM <" + d.Envelope.From + "> RCPT TO " + (d.Envelope.To || []).map((a) => "<" + a + ">").join(" "));
  const s = d.Session;
  if (s) {
    add("Session", "HELO " + s.Helo + "; " + (s.TLS ? s.TLSVersion + " " + s.TLSCipher : "no TLS") + "; " + (s.Auth ? "AUTH as " + s.AuthUser : "no AUTH"));
  }
  add("Size", size(d.Size));
}

function showHtml(d, remote) {
  const wrap = $("frame-wrap");
  wrap.replaceChildren();
  $("no-html").hidden = !!d.HTML;
  $("remote-bar").hidden = !d.HTML || remote || !/(src|background)\s*=\s*["']?\s*https?:|url\(\s*["']?https?:/i.test(d.HTML);
  if (!d.HTML) return;
  const f = document.createElement("iframe");
  f.setAttribute("sandbox", "");               // no scripts, no forms, an origin of its own
  f.setAttribute("referrerpolicy", "no-referrer");
  f.setAttribute("title", "HTML body");
  f.src = "/view/" + encodeURIComponent(d.ID) + ".html" + (remote ? "?remote=1" : "");
  wrap.append(f);
}

async function loadRaw(d) {
  d.rawLoaded = true;
  $("raw").textContent = await (await api("/api/v1/message/" + encodeURIComponent(d.ID) + "/raw")).text();
}

async function loadHeaders(d) {
  d.headersLoaded = true;
  const h = await (await api("/api/v1/message/" + encodeURIComponent(d.ID) + "/headers")).json();
  const t = $("headers");
  t.replaceChildren();
  for (const [k, vs] of Object.entries(h)) for (const v of vs) t.append(el("tr", {}, el("th", { text: k }), el("td", { text: v })));
}

function partLink(d, a) {
  const href = "/api/v1/message/" + encodeURIComponent(d.ID) + "/part/" + encodeURIComponent(a.PartID);
  return el("li", {}, el("a", { href, download: a.FileName || "" , text: a.FileName || "part " + a.PartID }),
    el("span", { class: "dim", text: " " + a.ContentType + ", " + size(a.Size) + (a.ContentID ? ", inline" : "") }));
}

async function open(id) {
  let d;
  try { d = await (await api("/api/v1/message/" + encodeURIComponent(id))).json(); }
  catch (e) { closeView(); return; }
  current = d;
  document.body.classList.add("reading");
  $("view").hidden = false;
  $("subject").textContent = d.Subject || "(no subject)";
  meta(d);
  $("download").href = "/api/v1/message/" + encodeURIComponent(d.ID) + "/raw";
  $("download").setAttribute("download", d.ID + ".eml");
  $("text").textContent = d.Text || "(no text body)";
  $("raw").textContent = ""; $("headers").replaceChildren();
  showHtml(d, false);
  const mime = $("mime");
  mime.replaceChildren(...(d.MIME || []).map((p) => el("li", { style: "margin-left:" + (p.Depth * 1.2) + "em" },
    el("code", { text: p.ContentType }),
    el("span", { class: "dim", text: " part " + p.PartID + ", " + size(p.Size) + (p.Encoding ? ", " + p.Encoding : "") + (p.Disposition ? ", " + p.Disposition : "") + (p.FileName ? ", " + p.FileName : "") }))));
  const all = (d.Attachments || []).concat(d.Inline || []);
  $("attachments").replaceChildren(...(all.length ? all.map((a) => partLink(d, a)) : [el("li", { class: "dim", text: "No attachments." })]));
  for (const li of document.querySelectorAll("#messages li")) {
    li.classList.toggle("selected", li.dataset.id === d.ID);
    if (li.dataset.id === d.ID && li.classList.contains("unread")) { li.classList.remove("unread"); unread = Math.max(0, unread - 1); renderCount(); }
  }
  const m = messages.find((x) => x.ID === d.ID); if (m) m.Read = true;
  tab(d.HTML ? (sessionStorage.getItem("tab") || "html") : (sessionStorage.getItem("tab") === "html" ? "text" : sessionStorage.getItem("tab") || "text"));
}

function closeView() {
  current = null;
  document.body.classList.remove("reading");
  $("view").hidden = true;
  for (const li of document.querySelectorAll("#messages li.selected")) li.classList.remove("selected");
}

function openFromHash() {
  const id = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  if (id) open(id); else closeView();
}

async function del(ids) {
  await api("/api/v1/messages", { method: "DELETE", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ IDs: ids }) });
}

// --- wiring --------------------------------------------------------------

for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => tab(b.dataset.tab));
$("remote").addEventListener("click", () => { if (current) showHtml(current, true); });
$("back").addEventListener("click", () => { location.hash = "#/"; });
$("more").addEventListener("click", () => load(true));
$("delete").addEventListener("click", async () => {
  if (!current) return;
  await del([current.ID]);
  location.hash = "#/";
  load(false);
});
$("delete-all").addEventListener("click", async () => {
  if (!confirm("Delete every message?")) return;
  await api("/api/v1/messages", { method: "DELETE" });
  location.hash = "#/";
  load(false);
});
let timer = null;
$("search").addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => { query = $("search").value.trim(); load(false); }, 250);
});
window.addEventListener("hashchange", openFromHash);

load(false).then(openFromHash);
live();
