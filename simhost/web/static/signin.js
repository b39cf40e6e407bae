// The sign-in page: login and password against POST /api/v1/session.
import { api, ApiError, start, t } from "./common.js";

await start();
const form = document.getElementById("signin");
const error = document.getElementById("error");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.textContent = "";
  const data = new FormData(form);
  try {
    const me = await api("POST", "/session", { login: data.get("login"), password: data.get("password"), role: data.get("role") });
    location.assign(me.role === "operator" ? "/operator" : "/account");
  } catch (e) {
    error.textContent = e instanceof ApiError && e.status === 401 ? t("signin.wrong")
      : e instanceof ApiError && e.status === 429 ? t("signin.slow") : t("error.network");
  }
});
