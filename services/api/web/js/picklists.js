// The Picklists page: the company's values of each choice field (lead source, lead status, account type) —
// list them; an admin adds a value, relabels one, edits its synonyms, retires or restores it.

import { get, patch, post, session } from "./api.js";
import { field, h, replace, toast } from "./dom.js";
import { showError } from "./errors.js";

const TITLES = { lead_source: "Lead source", lead_status: "Lead status", account_type: "Account type" };
const titleOf = (name) => TITLES[name] || name;

/** "Podcasts, pod cast" -> ["Podcasts", "pod cast"] */
function words(text) {
  return text.split(",").map((w) => w.trim()).filter(Boolean);
}

export function render(main) {
  const admin = session.me && session.me.role === "admin";
  const errors = h("div", { class: "errors" });
  const lists = h("div", { class: "picklists", "aria-busy": "true" });
  replace(main, h("div", { class: "picklists-view" },
    h("h1", {}, "Picklists"),
    h("p", {}, "Choice fields only take these values. Imports match a file's words by value, label and synonyms; "
      + "records keep their value whatever happens here, and a retired value is no longer taken by imports."),
    admin ? null : h("p", { class: "notice", "data-testid": "read-only" }, "Only an admin key changes picklists; you see them read-only."),
    errors, lists));

  async function load(focus) {
    try {
      const doc = await get("/api/v1/picklists");
      replace(lists, doc.items.map((p) => picklistBox(p)));
      if (focus) document.getElementById(focus)?.focus();
    } catch (err) {
      showError(errors, err, "the picklists could not be loaded");
    } finally {
      lists.setAttribute("aria-busy", "false");
    }
  }

  function picklistBox(p) {
    const problems = h("div", { class: "errors" });
    const tbody = h("tbody");
    const box = h("section", { class: "picklist card", "data-picklist": p.name, "aria-labelledby": `pl-${p.name}` },
      h("h2", { id: `pl-${p.name}` }, `${titleOf(p.name)} `, h("code", {}, p.name)),
      h("div", { class: "table-scroll" }, h("table", { class: "picklist-values", "data-testid": `picklist-${p.name}` },
        h("caption", { class: "visually-hidden" }, `Values of ${titleOf(p.name)}`),
        h("thead", {}, h("tr", {}, ["Label", "Value (stored)", "Synonyms", "Status", admin ? "Actions" : null]
          .filter(Boolean).map((c) => h("th", { scope: "col" }, c)))),
        tbody)),
      problems,
      admin ? addForm(p, problems) : null);
    for (const v of p.values) tbody.append(valueRow(p, v, problems));
    return box;
  }

  function valueRow(p, v, problems) {
    const tr = h("tr", { "data-value": v.value, class: v.active ? "active" : "retired" });
    const show = () => {
      const actions = [];
      if (admin) {
        const edit = h("button", { type: "button", class: "secondary small", id: `edit-${p.name}-${v.value}`,
          "aria-label": `Edit ${v.label}` }, "Edit");
        edit.addEventListener("click", editing);
        const toggle = h("button", { type: "button", class: v.active ? "danger small" : "secondary small",
          id: `toggle-${p.name}-${v.value}`, "aria-label": `${v.active ? "Retire" : "Restore"} ${v.label}` }, v.active ? "Retire" : "Restore");
        toggle.addEventListener("click", () => change({ active: !v.active }, toggle, `toggle-${p.name}-${v.value}`,
          `${v.active ? "Retired" : "Restored"} “${v.label}”.`));
        actions.push(edit, " ", toggle);
      }
      replace(tr,
        h("th", { scope: "row" }, v.label),
        h("td", {}, h("code", {}, v.value), v.builtin ? h("span", { class: "muted" }, " (built in)") : null),
        h("td", { class: "synonyms" }, v.synonyms.length ? v.synonyms.join(", ") : h("span", { class: "muted" }, "none")),
        h("td", {}, v.active ? h("span", { class: "badge status-completed" }, "✓ active") : h("span", { class: "badge status-cancelled" }, "■ retired")),
        admin ? h("td", { class: "row-actions" }, actions) : null);
    };

    function editing() {
      const label = h("input", { type: "text", id: `label-${p.name}-${v.value}`, value: v.label, maxlength: 255 });
      const syn = h("input", { type: "text", id: `syn-${p.name}-${v.value}`, value: v.synonyms.join(", ") });
      const save = h("button", { type: "submit", class: "primary small" }, "Save");
      const cancel = h("button", { type: "button", class: "secondary small" }, "Cancel");
      const form = h("form", { class: "inline-edit", "aria-label": `Edit ${v.label}` },
        field("Label", label), field("Synonyms", syn, "Words files use for this value, separated by commas."),
        h("div", { class: "actions" }, save, cancel));
      cancel.addEventListener("click", () => { show(); document.getElementById(`edit-${p.name}-${v.value}`)?.focus(); });
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        change({ label: label.value.trim(), synonyms: words(syn.value) }, save, `edit-${p.name}-${v.value}`, `Saved “${label.value.trim()}”.`);
      });
      replace(tr, h("td", { colspan: 5 }, form));
      label.focus();
    }

    async function change(body, button, focus, done) {
      button.disabled = true;
      showError(problems, null);
      try {
        await patch(`/api/v1/picklists/${encodeURIComponent(p.name)}/values/${encodeURIComponent(v.value)}`, body);
        toast(done);
        await load(focus);
      } catch (err) {
        button.disabled = false;
        showError(problems, err, `“${v.label}” was not changed`);
      }
    }

    show();
    return tr;
  }

  function addForm(p, problems) {
    const value = h("input", { type: "text", id: `new-value-${p.name}`, maxlength: 40, required: true, placeholder: "podcast" });
    const label = h("input", { type: "text", id: `new-label-${p.name}`, maxlength: 255, placeholder: "Podcast" });
    const syn = h("input", { type: "text", id: `new-syn-${p.name}`, placeholder: "Podcasts, pod cast" });
    const add = h("button", { type: "submit", class: "primary" }, "Add value");
    const form = h("form", { class: "add-value", "aria-label": `Add a value to ${titleOf(p.name)}` },
      h("h3", {}, `Add a value to ${titleOf(p.name)}`),
      h("div", { class: "row" },
        field("Value (stored)", value, "1–40 characters, e.g. podcast."),
        field("Label", label, "What people read (default: the value)."),
        field("Synonyms", syn, "Separated by commas."),
        h("div", { class: "field" }, add)));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      add.disabled = true;
      showError(problems, null);
      try {
        const doc = await post(`/api/v1/picklists/${encodeURIComponent(p.name)}/values`, {
          value: value.value.trim(), label: label.value.trim() || null, synonyms: words(syn.value) });
        toast(`Added “${doc.label}” (${doc.value}) to ${titleOf(p.name)}.`);
        await load(`new-value-${p.name}`);
      } catch (err) {
        add.disabled = false;
        showError(problems, err, "the value was not added");
      }
    });
    return form;
  }

  load();
  return () => {};
}
