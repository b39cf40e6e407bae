// The customer's account: the live inbox («Входящие SMS») with filters and details, sends, forwarding, API keys.
import { api, el, problemText, route, show, signedIn, start, t, values, when } from "./common.js";

await start();
await signedIn("customer");
const $ = (id) => document.getElementById(id);

// ---- inbox
const list = $("messages");
let cursor = null;
let filters = {};
const listed = new Set();

function dayStart(date, days = 0) {
  const d = new Date(date + "T00:00:00");
  d.setDate(d.getDate() + days);
  return d.toISOString();
}

function query() {
  const p = new URLSearchParams();
  for (const k of ["number", "sender", "kind", "q"]) if (filters[k]) p.set(k, filters[k]);
  if (filters.since) p.set("since", dayStart(filters.since));
  if (filters.until) p.set("until", dayStart(filters.until, 1));
  if (cursor) p.set("cursor", cursor);
  return p.toString();
}

function why(m) {
  const vars = { number: m.number, by: m.assigned_by || "" };
  return t(`why.${m.rule}`, vars);
}

function card(m) {
  const call = m.kind === "call";
  return el("li", { class: call ? "message call" : "message", data: { id: m.id } },
    el("a", { href: `#message/${encodeURIComponent(m.id)}` },
      el("div", { class: "meta" },
        el("time", { text: when(m.received_at), datetime: m.received_at }),
        el("span", { class: "number", text: m.number || "—" }),
        el("span", { class: call ? "badge call" : "badge", text: t(`kind.${m.kind}`) })),
      el("div", { class: "sender", text: m.sender || t("sender.none") }),
      el("div", { class: "text", text: call ? t("call.text") : (m.text ?? "") }),
      el("div", { class: "why" }, el("span", { class: "rule", text: t(`rule.${m.rule}`) }), " ", why(m))));
}

async function load(reset) {
  if (reset) {
    cursor = null;
    listed.clear();
  }
  $("inbox-error").textContent = "";
  try {
    const page = await api("GET", "/messages?" + query());
    const cards = page.items.filter((m) => !listed.has(m.id)).map((m) => { listed.add(m.id); return card(m); });
    if (reset) list.replaceChildren(...cards); else list.append(...cards);
    cursor = page.next_cursor;
    $("more").hidden = !cursor;
    $("empty").hidden = list.children.length > 0;
  } catch (e) {
    $("inbox-error").textContent = problemText(e);
  }
}

$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); filters = values(ev.target); load(true); });
$("filters").addEventListener("reset", () => { filters = {}; setTimeout(() => load(true)); });
$("more").addEventListener("click", () => load(false));

function live() {
  const stream = new EventSource("/api/v1/messages/stream");
  stream.addEventListener("ready", () => { $("live").textContent = t("live.on"); load(true); });
  stream.addEventListener("message", (ev) => {
    const m = JSON.parse(ev.data);
    if (listed.has(m.id)) return;
    if (Object.keys(filters).length) { load(true); return; }
    listed.add(m.id);
    const c = card(m);
    c.classList.add("new");
    list.prepend(c);
    $("empty").hidden = true;
  });
  stream.addEventListener("error", () => { $("live").textContent = t("live.off"); });
}

// ---- one message
async function detail(id) {
  const dl = $("detail");
  dl.replaceChildren();
  try {
    const m = await api("GET", `/messages/${encodeURIComponent(id)}`);
    const rows = [["message.received", when(m.received_at)], ["message.number", `${m.number || "—"} (${t("nk." + m.number_kind)})`],
      ["message.sender", m.sender || t("sender.none")], ["message.kind", t(`kind.${m.kind}`)],
      ["message.text", m.kind === "call" ? t("call.text") : m.text],
      ["message.without_prefix", m.message.text_without_prefix], ["message.rule", `${t("rule." + m.rule)}: ${why(m)}`],
      ["message.reason", m.reason], ["message.sent_at", m.message.sent_at ? when(m.message.sent_at) : null],
      ["message.parts", m.message.parts], ["message.id", m.id]];
    for (const [k, v] of rows) if (v !== null && v !== undefined) dl.append(el("dt", { text: t(k) }), el("dd", { text: String(v) }));
  } catch (e) {
    dl.append(el("dd", { class: "error", text: problemText(e) }));
  }
}

// ---- sends
async function sends() {
  const body = $("sends-table").tBodies[0];
  try {
    const page = await api("GET", "/sends?limit=50");
    body.replaceChildren(...page.items.map((s) => el("tr", { data: { id: s.id } },
      el("td", { text: when(s.created_at) }), el("td", { text: s.from }), el("td", { text: s.to }),
      el("td", { class: "text", text: s.text }),
      el("td", { class: `state ${s.state}`, text: t(`send.${s.state}`) + (s.reason ? ` — ${s.reason}` : "") }))));
  } catch (e) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "error", text: problemText(e) })));
  }
}

async function numbers() {
  const select = $("send").elements.from;
  const own = await api("GET", "/numbers");
  for (const n of own) if (n.enabled) select.append(el("option", { value: n.msisdn, text: n.msisdn }));
}

$("send").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const out = $("send-result");
  out.className = "";
  try {
    const s = await api("POST", "/sms", { from: f.elements.from.value, to: f.elements.to.value, text: f.elements.text.value,
      report: f.elements.report.checked }, { "Idempotency-Key": crypto.randomUUID() });
    out.textContent = t("sends.queued", { state: t(`send.${s.state}`) });
    f.elements.text.value = "";
    sends();
  } catch (e) {
    out.className = "error";
    out.textContent = problemText(e);
  }
});
$("sends-refresh").addEventListener("click", sends);

// ---- forwarding
const FIELDS = ["email", "http_url", "smpp_system_id", "smpp_long_mode", "msisdn"];
let saved = {};

function fill(f) {
  saved = f;
  const form = $("fwd");
  for (const k of FIELDS) form.elements[k].value = f[k] ?? "";
  form.elements.smpp_password.value = "";
  form.elements.rotate_http_secret.checked = false;
  $("fwd-secret-state").textContent = f.http_secret_set
    ? t("fwd.secret_set", { at: f.http_secret_rotated_at ? when(f.http_secret_rotated_at) : "—" }) : t("fwd.secret_none");
}

async function forwarding() {
  try { fill(await api("GET", "/forwarding")); } catch (e) { $("fwd-error").textContent = problemText(e); }
}

$("fwd").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const change = {};
  for (const k of FIELDS) {
    const v = form.elements[k].value.trim();
    if (v !== (saved[k] ?? "")) change[k] = v || null;
  }
  if (form.elements.smpp_password.value) change.smpp_password = form.elements.smpp_password.value;
  if (form.elements.rotate_http_secret.checked) change.rotate_http_secret = true;
  $("fwd-error").textContent = $("fwd-saved").textContent = "";
  if (!Object.keys(change).length) { $("fwd-saved").textContent = t("fwd.unchanged"); return; }
  try {
    const f = await api("PUT", "/forwarding", change);
    fill(f);
    $("fwd-saved").textContent = t("fwd.saved");
    const once = $("fwd-once-values");
    once.replaceChildren();
    if (f.http_secret) once.append(el("dt", { text: t("fwd.http_secret") }), el("dd", {}, el("code", { class: "secret", text: f.http_secret })));
    if (f.smpp_password) once.append(el("dt", { text: t("fwd.smpp_password") }), el("dd", {}, el("code", { class: "secret", text: f.smpp_password })));
    $("fwd-once").hidden = !once.children.length;
  } catch (e) {
    $("fwd-error").textContent = problemText(e);
  }
});

// ---- API keys
async function keys() {
  const body = $("keys-table").tBodies[0];
  try {
    const all = await api("GET", "/keys");
    body.replaceChildren(...all.map((k) => el("tr", { data: { key: k.key_id } },
      el("td", {}, el("code", { text: k.key_id })), el("td", { text: when(k.created_at) }), el("td", { text: when(k.last_used_at) }),
      el("td", { class: "state", text: k.revoked_at ? t("keys.revoked", { at: when(k.revoked_at) }) : t("keys.active") }),
      el("td", {}, k.revoked_at ? null : el("button", { type: "button", class: "revoke", text: t("keys.revoke"), onclick: () => revoke(k.key_id) })))));
  } catch (e) {
    $("keys-error").textContent = problemText(e);
  }
}

async function revoke(id) {
  if (!confirm(t("keys.confirm", { id }))) return;
  try { await api("DELETE", `/keys/${encodeURIComponent(id)}`); } catch (e) { $("keys-error").textContent = problemText(e); }
  keys();
}

$("key-new").addEventListener("click", async () => {
  try {
    const k = await api("POST", "/keys");
    $("key-once-value").textContent = k.api_key;
    $("key-once").hidden = false;
    keys();
  } catch (e) {
    $("keys-error").textContent = problemText(e);
  }
});

// ---- views
const loaded = new Set();
route((view, arg) => {
  if (view === "message" && arg) { show("message"); detail(arg); return; }
  const name = ["inbox", "sends", "forwarding", "keys"].includes(view) ? view : "inbox";
  show(name);
  if (loaded.has(name)) return;
  loaded.add(name);
  if (name === "sends") { numbers(); sends(); }
  if (name === "forwarding") forwarding();
  if (name === "keys") keys();
});
live();
