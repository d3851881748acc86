// Records: the company's leads, contacts and accounts, searched, newest first (GET /api/v1/records/{model}), and a
// record's page with every field (custom ones under their labels) and its links: a contact's account, an account's
// contacts (GET /api/v1/records/{model}/{id}).

import { get, query } from "./api.js";
import { debounce, field, fmt, h, replace, select } from "./dom.js";
import { showError } from "./errors.js";
import { MODEL_NAMES } from "./widgets.js";

const PAGE = 25;
const COLUMNS = {
  lead: [["email", "E-mail"], ["company", "Company"], ["status", "Status"]],
  contact: [["email", "E-mail"], ["title", "Title"], ["account", "Account"]],
  account: [["website", "Website"], ["industry", "Industry"], ["billing_city", "City"]],
};
const SEARCH_HINT = {
  lead: "Part of an e-mail, a first or last name.",
  contact: "Part of an e-mail, a first or last name.",
  account: "Part of a name or a website.",
};
const SINGULAR = { lead: "lead", contact: "contact", account: "account" };

/** What a record is called in lists and headings: a person's name (else e-mail), an account's name. */
function displayName(model, r) {
  if (model === "account") return r.name || "(an account without a name)";
  const name = [r.first_name, r.last_name].filter(Boolean).join(" ");
  return name || r.email || `(a ${SINGULAR[model]} without a name)`;
}

export const recordPath = (model, id) => `#/records/${model}/${id}`;

// The list last shown (its model and search), where a record page's way back leads.
let lastList = null;

function cell(model, item, column) {
  if (column === "account") {
    return item.account ? h("a", { href: recordPath("account", item.account.id) }, item.account.name || "(unnamed)")
      : h("span", { class: "muted" }, "none");
  }
  const value = item[column];
  return value ? value : h("span", { class: "muted" }, "–");
}

export function renderList(main, params) {
  const model = MODEL_NAMES.some(([m]) => m === params.model) ? params.model : "contact";
  const modelSel = select(MODEL_NAMES, model, { id: "records-model" });
  const search = h("input", { type: "search", id: "records-search", value: params.q || "", maxlength: 200,
    placeholder: "e.g. lovelace" });
  const searchField = field("Search", search, SEARCH_HINT[model]);
  const errors = h("div", { class: "errors" });
  const thead = h("thead");
  const tbody = h("tbody");
  const caption = h("caption", {});
  const pager = h("div", { class: "pager" });
  // Says how many rows a search left, without reading the whole table out at each keystroke.
  const shown = h("p", { class: "visually-hidden", role: "status" });
  const table = h("table", { class: "records", "data-testid": "records" }, caption, thead, tbody);
  let afters = [null]; // the `after` of each page shown so far: the last is the current page's
  let loads = 0;

  replace(main, h("div", { class: "records-view" },
    h("h1", {}, "Records"),
    h("p", {}, "Your company's leads, contacts and accounts, newest first. Open one to see all its fields, "
      + "custom ones included, and its links."),
    h("form", { class: "row filters-bar", role: "search", onsubmit: (e) => { e.preventDefault(); restart(); } },
      field("Records", modelSel), searchField),
    errors,
    shown,
    h("div", { class: "table-scroll" }, table),
    pager));

  function remember() {
    // The URL keeps the list's model and search, so the way back from a record comes here; replaceState fires
    // no hashchange, so the view (and the search box's focus) stays.
    lastList = { model: modelSel.value, hash: `#/records${query({ model: modelSel.value, q: search.value.trim() })}` };
    history.replaceState(null, "", lastList.hash);
  }

  async function load() {
    const mine = ++loads;
    const m = modelSel.value;
    const q = search.value.trim();
    showError(errors, null);
    table.setAttribute("aria-busy", "true");
    try {
      const page = await get(`/api/v1/records/${m}${query({ q, limit: PAGE, after: afters[afters.length - 1] })}`);
      if (mine !== loads) return; // the model or search changed meanwhile: a newer load draws
      replace(thead, h("tr", {}, h("th", { scope: "col" }, "Name"),
        COLUMNS[m].map(([, label]) => h("th", { scope: "col" }, label))));
      const title = MODEL_NAMES.find(([name]) => name === m)[1];
      const noun = title.toLowerCase();
      caption.textContent = q ? `${title} matching “${q}”, newest first` : `${title}, newest first`;
      replace(tbody, page.items.length
        ? page.items.map((item) => h("tr", { "data-record": item.id },
          h("th", { scope: "row" }, h("a", { href: recordPath(m, item.id) }, displayName(m, item))),
          COLUMNS[m].map(([column]) => h("td", {}, cell(m, item, column)))))
        : [h("tr", {}, h("td", { colspan: COLUMNS[m].length + 1, class: "muted", "data-testid": "no-records" },
          q ? `No ${noun} match “${q}”.` : `No ${noun} yet: import some first.`))]);
      shown.textContent = `${title} shown: ${page.items.length}${page.next_after ? " (more on older pages)" : ""}`;
      const newer = h("button", { type: "button", class: "secondary", disabled: afters.length === 1,
        onclick: () => { afters.pop(); load(); } }, "Newer records");
      const older = h("button", { type: "button", class: "secondary", disabled: !page.next_after,
        onclick: () => { afters.push(page.next_after); load(); } }, "Older records");
      replace(pager, newer, h("span", {}, `Page ${afters.length}`), older);
    } catch (err) {
      if (mine === loads) showError(errors, err, "the records could not be loaded");
    } finally {
      if (mine === loads) table.setAttribute("aria-busy", "false");
    }
  }

  function restart() {
    afters = [null];
    remember();
    load();
  }
  remember();
  const searchLater = debounce(restart, 250);
  search.addEventListener("input", searchLater);
  modelSel.addEventListener("change", () => {
    searchField.querySelector(".hint").textContent = SEARCH_HINT[modelSel.value];
    restart();
  });
  load();
  return () => searchLater.cancel();
}

function shownValue(f) {
  if (f.value === null || f.value === "") return h("span", { class: "muted" }, "(empty)");
  if (f.type === "boolean") return f.value === "true" ? "yes" : "no";
  return f.value;
}

export function renderRecord(main, model, id) {
  const noun = MODEL_NAMES.find(([m]) => m === model)[1];
  const heading = h("h1", {}, SINGULAR[model][0].toUpperCase() + SINGULAR[model].slice(1));
  const errors = h("div", { class: "errors" });
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  replace(main, h("div", { class: "record-view" },
    h("p", {}, h("a", { href: lastList && lastList.model === model ? lastList.hash : `#/records${query({ model })}` },
      `← All ${noun.toLowerCase()}`)),
    heading, errors, body));

  function accountLine(doc) {
    return h("p", { "data-testid": "record-account" }, h("strong", {}, "Account: "),
      doc.account ? h("a", { href: recordPath("account", doc.account.id) }, doc.account.name || "(an account without a name)")
        : h("span", { class: "muted" }, "none linked"));
  }

  function contactsSection(doc) {
    const { items, total } = doc.contacts;
    const title = h("h2", { id: "record-contacts" }, `Contacts (${fmt.int(total)})`);
    if (!items.length) return [title, h("p", { class: "muted", "data-testid": "no-contacts" }, "No contact is linked to this account.")];
    return [title,
      total > items.length ? h("p", {}, `The first ${fmt.int(items.length)} of ${fmt.int(total)}, by last name.`) : null,
      h("div", { class: "table-scroll" }, h("table", { class: "records", "data-testid": "account-contacts", "aria-labelledby": "record-contacts" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "E-mail"))),
        h("tbody", {}, items.map((c) => h("tr", { "data-record": c.id },
          h("th", { scope: "row" }, h("a", { href: recordPath("contact", c.id) }, displayName("contact", c))),
          h("td", {}, c.email || h("span", { class: "muted" }, "–")))))))];
  }

  (async () => {
    try {
      const doc = await get(`/api/v1/records/${model}/${id}`);
      const values = Object.fromEntries(doc.fields.map((f) => [f.name, f.value]));
      heading.textContent = displayName(model, values);
      document.title = `${heading.textContent} · crmio`;
      const facts = doc.fields.map((f) => [
        h("dt", { "data-field": f.name }, f.label, f.custom ? h("span", { class: "muted" }, " (custom)") : null),
        h("dd", { "data-field": f.name }, shownValue(f))]);
      replace(body,
        model === "contact" ? accountLine(doc) : null,
        h("h2", {}, "Fields"),
        h("dl", { class: "facts", "data-testid": "record-fields" }, facts),
        model === "account" ? contactsSection(doc) : null,
        h("h2", {}, "Record"),
        h("dl", { class: "facts" },
          h("dt", {}, "Id"), h("dd", {}, h("code", {}, doc.id)),
          h("dt", {}, "Created"), h("dd", {}, fmt.time(doc.created_at)),
          h("dt", {}, "Last changed"), h("dd", {}, fmt.time(doc.updated_at)),
          h("dt", {}, "Version"), h("dd", {}, String(doc.version))));
    } catch (err) {
      replace(body);
      showError(errors, err, `the ${SINGULAR[model]} could not be loaded`);
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  })();
  return null;
}
