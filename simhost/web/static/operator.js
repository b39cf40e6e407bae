// The operator's pages: the live bank board (ports × slots), unrouted messages with an assign action, customers
// and numbers.
import { api, el, problemText, route, show, signedIn, start, t, when } from "./common.js";

await start();
await signedIn("operator");
const $ = (id) => document.getElementById(id);

// ---- board
const ports = new Map(); // name -> {port (from the database), status (live)}
let slots = [];

function bars(dbm) {
  if (dbm === null || dbm === undefined) return 0;
  return dbm >= -73 ? 4 : dbm >= -83 ? 3 : dbm >= -93 ? 2 : dbm >= -105 ? 1 : 0;
}

function fact(key, value, cls) {
  return el("div", { class: `fact ${cls || ""}` }, el("span", { class: "k", text: t(key) }), el("span", { class: "v", text: value ?? "—" }));
}

function portCard(name) {
  const { port, status } = ports.get(name);
  const s = status || {};
  const state = s.state || "unknown";
  const n = bars(s.signal_dbm);
  const signal = el("span", { class: `bars b${n}`, title: s.signal_dbm != null ? `${s.signal_dbm} dBm` : t("board.nosignal") },
    ...[1, 2, 3, 4].map((i) => el("i", { class: i <= n ? "on" : "" })));
  const storage = s.storage_total ? `${s.storage_used ?? "?"}/${s.storage_total}${s.storage_memory ? " " + s.storage_memory : ""}` : null;
  const own = slots.filter((x) => x.port === name);
  const cells = own.map((x) => el("li", { class: x.iccid === s.iccid ? "slot active" : "slot", data: { iccid: x.iccid } },
    el("span", { class: "pos", text: `${x.bank}/${x.slot}` }), el("span", { text: x.msisdn }),
    el("span", { class: "muted", text: x.iccid }), el("span", { text: x.owner || t(`nk.${x.kind}`) })));
  return el("article", { class: `port state-${state}`, data: { port: name } },
    el("header", {}, el("strong", { text: name }), el("span", { class: "state", text: t(`state.${state}`) }), signal),
    fact("board.operator", s.operator, "operator"), fact("board.registration", s.registration ? t(`reg.${s.registration}`) : null, "registration"),
    fact("board.iccid", s.iccid, "iccid"), fact("board.msisdn", s.msisdn, "msisdn"), fact("board.storage", storage, "storage"),
    fact("board.today", String(port ? port.messages_today : 0), "today"),
    fact("board.error", s.last_error, "last-error"),
    port && !port.enabled ? el("p", { class: "muted", text: t("board.disabled") }) : null,
    own.length ? el("ul", { class: "slots" }, ...cells) : el("p", { class: "muted", text: t("board.noslots") }));
}

function drawPort(name) {
  const fresh = portCard(name);
  const old = document.querySelector(`#ports [data-port="${CSS.escape(name)}"]`);
  if (old) old.replaceWith(fresh);
  else $("ports").append(fresh);
}

async function board() {
  try {
    const [known, all] = await Promise.all([api("GET", "/admin/ports"), api("GET", "/admin/slots")]);
    slots = all;
    for (const p of known) ports.set(p.name, { port: p, status: ports.get(p.name)?.status || p.status });
    $("ports").replaceChildren();
    for (const name of [...ports.keys()].sort()) drawPort(name);
  } catch (e) {
    $("board-error").textContent = problemText(e);
  }
  const stream = new EventSource("/api/v1/admin/ports/stream");
  stream.addEventListener("port", (ev) => {
    const s = JSON.parse(ev.data);
    const had = ports.get(s.port);
    ports.set(s.port, { port: had ? had.port : null, status: s });
    drawPort(s.port);
  });
  stream.addEventListener("port-cleared", (ev) => {
    const { port } = JSON.parse(ev.data);
    if (ports.has(port)) { ports.get(port).status = null; drawPort(port); }
  });
  stream.addEventListener("broker", (ev) => {
    const b = JSON.parse(ev.data);
    $("broker").textContent = b.connected ? t("broker.on") : t("broker.off", { error: b.error || "" });
    $("broker").className = b.connected ? "live" : "live off";
  });
}

// ---- unrouted
let cursor = null;

async function logins() {
  const all = await api("GET", "/admin/customers");
  $("logins").replaceChildren(...all.filter((c) => c.enabled).map((c) => el("option", { value: c.login })));
  return all;
}

function unroutedCard(m) {
  const input = el("input", { name: "owner", list: "logins", required: "", placeholder: t("unrouted.owner"), "aria-label": t("unrouted.owner") });
  const form = el("form", { class: "assign" }, input, el("button", { type: "submit", text: t("unrouted.assign") }));
  const li = el("li", { class: m.kind === "call" ? "message call" : "message", data: { id: m.id } },
    el("div", { class: "meta" }, el("time", { text: when(m.received_at) }), el("span", { class: "number", text: m.number || "—" }),
      el("span", { class: `badge ${m.status}`, text: t(`status.${m.status}`) })),
    el("div", { class: "sender", text: m.sender || t("sender.none") }),
    el("div", { class: "text", text: m.kind === "call" ? t("call.text") : (m.text ?? "") }),
    el("div", { class: "why", text: m.reason || m.reason_code || "" }), form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("unrouted-error").textContent = $("unrouted-note").textContent = "";
    try {
      const done = await api("POST", `/admin/unrouted/${encodeURIComponent(m.id)}/assign`, { owner: input.value.trim() });
      li.remove();
      $("unrouted-note").textContent = t("unrouted.assigned", { owner: done.owner });
    } catch (e) {
      $("unrouted-error").textContent = problemText(e);
    }
  });
  return li;
}

async function unrouted(reset) {
  if (reset) cursor = null;
  try {
    const page = await api("GET", "/admin/unrouted?limit=50" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    const cards = page.items.map(unroutedCard);
    if (reset) $("unrouted-list").replaceChildren(...cards); else $("unrouted-list").append(...cards);
    cursor = page.next_cursor;
    $("unrouted-more").hidden = !cursor;
    $("unrouted-empty").hidden = $("unrouted-list").children.length > 0;
  } catch (e) {
    $("unrouted-error").textContent = problemText(e);
  }
}
$("unrouted-more").addEventListener("click", () => unrouted(false));

// ---- customers and numbers
const yes = (v) => (v ? t("yes") : t("no"));

async function customers() {
  try {
    const [all, numbers] = await Promise.all([logins(), api("GET", "/admin/slots")]);
    $("customers-table").tBodies[0].replaceChildren(...all.map((c) => el("tr", { data: { login: c.login } },
      el("td", { text: c.login }), el("td", { text: c.name || "" }), el("td", { text: yes(c.verified) }),
      el("td", { class: "enabled", text: yes(c.enabled) }), el("td", { text: String(c.numbers) }),
      el("td", {}, el("button", { type: "button", text: c.enabled ? t("customers.disable") : t("customers.enable"),
        onclick: () => toggle(c) })))));
    $("numbers-table").tBodies[0].replaceChildren(...numbers.map((x) => el("tr", {},
      el("td", { text: x.msisdn }), el("td", { text: t(`nk.${x.kind}`) }), el("td", { text: x.owner || "—" }),
      el("td", { text: `${x.bank}/${x.slot}` }), el("td", { text: x.iccid }), el("td", { text: x.port || "—" }),
      el("td", { text: yes(x.enabled) }))));
  } catch (e) {
    $("customers-error").textContent = problemText(e);
  }
}

async function toggle(c) {
  try { await api("PATCH", `/admin/customers/${encodeURIComponent(c.login)}`, { enabled: !c.enabled }); } catch (e) {
    $("customers-error").textContent = problemText(e);
  }
  customers();
}

// ---- views
route((view) => {
  const name = ["board", "unrouted", "customers"].includes(view) ? view : "board";
  show(name);
  if (name === "unrouted") { logins(); unrouted(true); }
  if (name === "customers") customers();
});
board();
