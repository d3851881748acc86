// Custom fields: the company's own fields on leads, contacts and accounts — list them; an admin creates one
// (also from the import wizard's mapping step, for a column that has nowhere to go), retires one (its values stay)
// or restores a retired one.

import { get, post, session } from "./api.js";
import { field, h, replace, select, toast } from "./dom.js";
import { showError } from "./errors.js";
import { MODEL_NAMES } from "./widgets.js";

export const FIELD_TYPES = [
  ["text", "Text (255 characters)"], ["long_text", "Long text"], ["number", "Number (whole)"], ["decimal", "Decimal"],
  ["date", "Date"], ["boolean", "Yes / no"], ["email", "E-mail"], ["phone", "Phone"], ["url", "Web address"],
  ["choice", "Choice (a picklist of its own)"],
];

/** The models again, so a new field is a mapping target, an export column and a filter everywhere at once. */
export async function reloadModels() {
  session.models = await get("/api/v1/models");
}

/**
 * The form that creates a custom field: label, type, the choices of a choice field. onCreated(doc) gets the
 * new field's document once the models are reloaded. `defaults`: {label, model, choices} to start from.
 */
export function createForm({ idPrefix, defaults = {}, onCreated, models = MODEL_NAMES }) {
  const errors = h("div", { class: "errors" });
  const label = h("input", { type: "text", id: `${idPrefix}-label`, maxlength: 255, required: true, value: defaults.label || "" });
  const model = select(models, defaults.model || models[0][0], { id: `${idPrefix}-model` });
  const type = select(FIELD_TYPES, "text", { id: `${idPrefix}-type` });
  const choices = h("input", { type: "text", id: `${idPrefix}-choices`, value: (defaults.choices || []).join(", "),
    placeholder: "Prospecting, Negotiation, Closed won" });
  const required = h("input", { type: "checkbox", id: `${idPrefix}-required` });
  const choicesField = field("Choices (comma-separated)", choices, "The values people pick from; files' words are matched to them.");
  const create = h("button", { type: "submit", class: "primary small" }, "Create field");
  const syncChoices = () => { choicesField.hidden = type.value !== "choice"; };
  type.addEventListener("change", syncChoices);
  syncChoices();
  const form = h("form", { class: "create-field", "data-testid": `${idPrefix}-form` },
    h("div", { class: "row" },
      field("Label", label, "What people read; the field's name (for files and exports) comes from it."),
      models.length > 1 ? field("Records", model) : null,
      field("Type", type)),
    choicesField,
    h("div", { class: "field checkbox-field" }, h("label", { for: `${idPrefix}-required` }, required, " Required in every import")),
    errors,
    h("div", { class: "actions" }, create));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    create.disabled = true;
    showError(errors, null);
    const body = { target_model: model.value, label: label.value.trim(), field_type: type.value, required: required.checked };
    if (type.value === "choice") body.choices = choices.value.split(",").map((c) => c.trim()).filter(Boolean);
    try {
      const doc = await post("/api/v1/fields", body);
      await reloadModels();
      toast(`Created the field “${doc.label}” (${doc.name}).`);
      onCreated(doc);
    } catch (err) {
      showError(errors, err, "the field could not be created");
    } finally {
      create.disabled = false;
    }
  });
  return { el: form, focus: () => label.focus() };
}

export function render(main) {
  const admin = session.me && session.me.role === "admin";
  const errors = h("div", { class: "errors" });
  const tbody = h("tbody");
  const showRetired = h("input", { type: "checkbox", id: "show-retired" });
  const form = admin ? createForm({ idPrefix: "new-field", onCreated: () => load() }) : null;
  replace(main, h("div", { class: "fields-view" },
    h("h1", {}, "Custom fields"),
    h("p", {}, "Your company's own fields on leads, contacts and accounts. Imports map columns to them, exports choose, "
      + "filter and sort on them, like the built-in fields. Retiring a field keeps the values records hold."),
    admin ? h("section", { class: "card" }, h("h2", {}, "New field"), form.el)
      : h("p", { class: "notice", "data-testid": "read-only" }, "Only an admin key creates or retires fields."),
    h("div", { class: "field checkbox-field" }, h("label", { for: "show-retired" }, showRetired, " Show retired fields")),
    errors,
    h("div", { class: "table-scroll" }, h("table", { class: "fields", "data-testid": "fields" },
      h("caption", { class: "visually-hidden" }, "Custom fields"),
      h("thead", {}, h("tr", {}, ["Label", "Name", "Records", "Type", "Required", "Choices", "Status", admin ? "Actions" : null]
        .filter(Boolean).map((c) => h("th", { scope: "col" }, c)))),
      tbody))));
  showRetired.addEventListener("change", () => load());

  function row(f) {
    const actions = [];
    if (admin && !f.retired) {
      const retire = h("button", { type: "button", class: "danger small", "aria-label": `Retire ${f.label}` }, "Retire");
      retire.addEventListener("click", async () => {
        if (!window.confirm(`Retire “${f.label}”? Imports and exports no longer offer it; records keep their values.`)) return;
        retire.disabled = true;
        try {
          await post(`/api/v1/fields/${f.id}/retire`, {});
          await reloadModels();
          toast(`Retired “${f.label}”.`);
          load();
        } catch (err) {
          showError(errors, err, "the field could not be retired");
          retire.disabled = false;
        }
      });
      actions.push(retire);
    }
    if (admin && f.retired) {
      const restore = h("button", { type: "button", class: "small", "aria-label": `Restore ${f.label}` }, "Restore");
      restore.addEventListener("click", async () => {
        restore.disabled = true;
        try {
          await post(`/api/v1/fields/${f.id}/restore`, {});
          await reloadModels();
          toast(`Restored “${f.label}”, with the values records kept.`);
          load();
        } catch (err) {
          showError(errors, err, "the field could not be restored");
          restore.disabled = false;
        }
      });
      actions.push(restore);
    }
    return h("tr", { "data-field": f.name, "data-model": f.target_model, class: f.retired ? "retired" : "active" },
      h("th", { scope: "row" }, f.label),
      h("td", {}, h("code", {}, f.name)),
      h("td", {}, f.target_model),
      h("td", {}, (FIELD_TYPES.find(([t]) => t === f.field_type) || [null, f.field_type])[1]),
      h("td", {}, f.required ? "yes" : "no"),
      h("td", {}, f.choices ? f.choices.map((c) => c.label).join(", ") : h("span", { class: "muted" }, "—")),
      h("td", {}, f.retired ? h("span", { class: "badge status-cancelled" }, "■ retired") : h("span", { class: "badge status-completed" }, "✓ active")),
      admin ? h("td", { class: "row-actions" }, actions) : null);
  }

  async function load() {
    showError(errors, null);
    try {
      const doc = await get(`/api/v1/fields?retired=${showRetired.checked}`);
      replace(tbody, doc.items.length ? doc.items.map(row)
        : [h("tr", {}, h("td", { colspan: admin ? 8 : 7, class: "muted" }, "No custom fields yet."))]);
    } catch (err) {
      showError(errors, err, "the fields could not be loaded");
    }
  }
  load();
  return null;
}
