// Shared by every page: the string catalogue, the API (the session cookie, X-Requested-With on every call),
// DOM building that only ever sets text (never HTML), times in the reader's zone.

const LANGS = ["ru", "en"];
export const lang = LANGS.includes(cookie("simhost_lang")) ? cookie("simhost_lang") : "ru";
let strings = {};

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

export function t(key, vars = {}) {
  const text = strings[key] ?? key.slice(key.indexOf(".") + 1); // an unknown value: shown as it came
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name] ?? "") : all));
}

export function translate(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-label]").forEach((e) => { e.setAttribute("aria-label", t(e.dataset.i18nLabel)); });
}

export async function start() {
  const r = await fetch(`/static/i18n/${lang}.json`);
  strings = await r.json();
  document.documentElement.lang = lang;
  document.title = t("app.title");
  translate();
  document.querySelectorAll("[data-lang]").forEach((b) => {
    b.classList.toggle("current", b.dataset.lang === lang);
    b.addEventListener("click", () => {
      document.cookie = `simhost_lang=${b.dataset.lang}; path=/; max-age=31536000; samesite=lax`;
      location.reload();
    });
  });
  const out = document.getElementById("signout");
  if (out) out.addEventListener("click", async () => { await api("DELETE", "/session"); location.assign("/signin"); });
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || String(status));
    this.status = status;
    this.problem = problem;
  }
}

export async function api(method, path, body, headers = {}) {
  const init = { method, credentials: "same-origin",
    headers: { "X-Requested-With": "fetch", Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch("/api/v1" + path, init);
  if (r.status === 401 && path !== "/session") location.assign("/signin");
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// The signed-in holder when it has `role`; else off to the right page.
export async function signedIn(role) {
  let me;
  try {
    me = await api("GET", "/session");
  } catch (e) {
    location.assign("/signin");
    throw e;
  }
  if (me.role !== role) location.assign(me.role === "operator" ? "/operator" : "/account");
  const who = document.getElementById("who");
  if (who) who.textContent = me.name;
  return me;
}

// An element: attrs are properties (class, text, dataset, on*), children nodes or strings (as text).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString(lang === "ru" ? "ru-RU" : "en-GB") : "—";
}

export function problemText(e) {
  return e instanceof ApiError ? t("error.status", { status: e.status, detail: e.message }) : t("error.network");
}

// Which view of the page the address's hash names (`#view/arg`), and a call on each change.
export function route(onChange) {
  const go = () => {
    const [view, arg] = (location.hash.slice(1) || "").split("/");
    onChange(view, arg ? decodeURIComponent(arg) : null);
  };
  window.addEventListener("hashchange", go);
  go();
}

export function show(view) {
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== view; });
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("current", a.getAttribute("href") === "#" + view));
}

// The values of a form's named fields, the empty ones left out.
export function values(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) if (typeof v === "string" && v.trim() !== "") out[k] = v.trim();
  return out;
}
