// The shell: sign-in with an API key (kept in sessionStorage), the company shown, sign-out, and a hash router
// that renders one view at a time (each view returns a cleanup function that closes its event streams).

import { ApiError, get, session } from "./api.js";
import { h, field, replace } from "./dom.js";
import { showError } from "./errors.js";
import * as importView from "./import.js";
import * as exportView from "./export.js";
import * as templatesView from "./templates.js";
import * as jobsView from "./jobs.js";
import * as picklistsView from "./picklists.js";
import * as fieldsView from "./fields.js";
import * as recordsView from "./records.js";

const main = document.getElementById("main");
let cleanup = null;

const ROUTES = [
  [/^#\/import$/, "import", (m, p) => importView.render(main, p)],
  [/^#\/export$/, "export", (m, p) => exportView.render(main, p)],
  [/^#\/templates$/, "templates", () => templatesView.renderList(main)],
  [/^#\/templates\/new$/, "templates", () => templatesView.renderEdit(main, null)],
  [/^#\/templates\/([0-9a-f-]{36})$/, "templates", (m) => templatesView.renderEdit(main, m[1])],
  [/^#\/jobs$/, "jobs", () => jobsView.renderList(main)],
  [/^#\/jobs\/([0-9a-f-]{36})$/, "jobs", (m) => jobsView.renderJob(main, m[1])],
  [/^#\/picklists$/, "picklists", () => picklistsView.render(main)],
  [/^#\/fields$/, "fields", () => fieldsView.render(main)],
  [/^#\/records$/, "records", (m, p) => recordsView.renderList(main, p)],
  [/^#\/records\/(lead|contact|account)\/([0-9a-f-]{36})$/, "records", (m) => recordsView.renderRecord(main, m[1], m[2])],
];

function params() {
  const at = location.hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : location.hash.slice(at + 1));
}

function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!session.key || !session.me) { signInView(); return; }
  const path = (location.hash || "#/import").split("?")[0];
  for (const [pattern, section, view] of ROUTES) {
    const m = pattern.exec(path);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.section === section) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    cleanup = view(m, Object.fromEntries(params()));
    focusHeading();
    return;
  }
  location.replace("#/import");
}

/** After a view changes, move focus to its heading so keyboard and screen-reader users start there. */
function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · crmio`;
  }
}

function showIdentity() {
  const signedIn = Boolean(session.key && session.me);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  if (signedIn) {
    document.getElementById("company-id").textContent = session.me.company_id;
    const label = session.me.label ? ` · ${session.me.label}` : "";
    document.getElementById("role").textContent = `${session.me.role} key${label}`;
  }
}

async function loadIdentity() {
  session.me = await get("/api/v1/me");
  session.models = await get("/api/v1/models");
}

function signInView(reason) {
  showIdentity();
  const input = h("input", { type: "password", name: "api-key", autocomplete: "off", spellcheck: "false",
    required: true, placeholder: "crmio_…" });
  const errors = h("div", { class: "errors" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card narrow", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", {}, "Sign in with your company's API key. It stays in this browser tab only and is forgotten when you close the tab or sign out."),
    reason ? h("p", { class: "notice", role: "status" }, reason) : null,
    field("API key", input, "An admin creates keys with: crmio keys create --company <company id> --role admin"),
    errors,
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    showError(errors, null);
    session.key = input.value.trim();
    try {
      await loadIdentity();
      showIdentity();
      if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = "#/import";
      else route();
    } catch (err) {
      session.key = null;
      session.me = null;
      showError(errors, err, "signing in failed");
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(main, form);
  input.focus();
}

function signOut(reason) {
  if (cleanup) { cleanup(); cleanup = null; }
  session.key = null;
  session.me = null;
  session.models = null;
  signInView(reason);
}

document.getElementById("sign-out").addEventListener("click", () => signOut("You are signed out."));
window.addEventListener("crmio:unauthorized", () => {
  // Only a signed-in session is ended here; a refused sign-in shows its own error.
  if (session.key && session.me) signOut("The API key was refused (unknown or revoked). Sign in again with a valid key.");
});
window.addEventListener("hashchange", route);

(async () => {
  if (session.key) {
    try {
      await loadIdentity();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        session.me = null;
        signInView(`Could not check the saved key: ${err.message}`);
        return;
      }
    }
  }
  showIdentity();
  route();
})();
