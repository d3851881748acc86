// The template library: list with search and filters; create and edit (mapping, validation rules); deactivate; use in an import.

import { get, patch, post, query, session } from "./api.js";
import { debounce, field, fmt, h, replace, select, toast } from "./dom.js";
import { showError } from "./errors.js";
import { MODEL_NAMES, modelFields, rulesEditor } from "./widgets.js";

const PAGE = 25;

export function renderList(main) {
  const admin = session.me.role === "admin";
  const search = h("input", { type: "search", id: "template-search", placeholder: "part of the name" });
  const typeSel = select([["", "all"], ["import", "import"], ["export", "export"]], "", { id: "template-type-filter" });
  const modelSel = select([["", "all"], ...MODEL_NAMES], "", { id: "template-model-filter" });
  const activeSel = select([["true", "active only"], ["", "active and inactive"], ["false", "inactive only"]], "true", { id: "template-active-filter" });
  const errors = h("div", { class: "errors" });
  const list = h("div", { "aria-live": "polite" });
  let offset = 0;

  async function load() {
    showError(errors, null);
    try {
      const page = await get(`/api/v1/templates${query({ search: search.value.trim(), template_type: typeSel.value,
        target_model: modelSel.value, is_active: activeSel.value, limit: PAGE, offset })}`);
      draw(page);
    } catch (err) {
      showError(errors, err, "the templates could not be loaded");
    }
  }
  const reload = debounce(() => { offset = 0; load(); }, 250);
  search.addEventListener("input", reload);
  for (const s of [typeSel, modelSel, activeSel]) s.addEventListener("change", reload);

  function draw(page) {
    if (!page.items.length) {
      replace(list, h("p", { class: "empty", "data-testid": "no-templates" }, search.value ? `No template matches “${search.value}”.` : "No templates yet.",
        admin ? " Create one below, or save a mapping as a template in the import wizard." : ""));
      return;
    }
    const prev = h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => { offset -= PAGE; load(); } }, "Previous page");
    const next = h("button", { type: "button", class: "secondary", disabled: offset + page.items.length >= page.total, onclick: () => { offset += PAGE; load(); } }, "Next page");
    replace(list, h("table", { class: "templates", "data-testid": "templates" },
      h("caption", {}, `${fmt.int(page.total)} template${page.total === 1 ? "" : "s"}`),
      h("thead", {}, h("tr", {}, ["Name", "Type", "Records", "Mapping", "Rules", "Status", "Created", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, page.items.map((t) => {
        const toggle = h("button", { type: "button", class: "link" }, t.is_active ? "Deactivate" : "Activate");
        toggle.addEventListener("click", async () => {
          try {
            await patch(`/api/v1/templates/${t.id}`, { is_active: !t.is_active });
            toast(`${t.template_name} is now ${t.is_active ? "inactive" : "active"}.`);
            load();
          } catch (err) {
            showError(errors, err, `${t.template_name} could not be changed`);
          }
        });
        return h("tr", { "data-template": t.id, "data-name": t.template_name },
          h("th", { scope: "row" }, h("a", { href: `#/templates/${t.id}` }, t.template_name)),
          h("td", {}, t.template_type),
          h("td", {}, t.target_model),
          h("td", { class: "num" }, `${Object.keys(t.field_mapping || {}).length} columns`),
          h("td", { class: "num" }, `${Object.keys(t.validation_rules || {}).length} fields`),
          h("td", {}, t.is_active ? h("span", { class: "badge status-completed" }, "✓ active") : h("span", { class: "badge status-cancelled" }, "■ inactive")),
          h("td", {}, fmt.time(t.created_at)),
          h("td", { class: "row-actions" },
            h("a", { href: `#/templates/${t.id}`, "aria-label": `Edit ${t.template_name}` }, admin ? "Edit" : "View"),
            t.template_type === "import" && t.is_active ? h("a", { href: `#/import?template=${t.id}`, "aria-label": `Use ${t.template_name} in an import` }, "Use in an import") : null,
            admin ? toggle : null));
      }))),
    h("div", { class: "pager" }, prev, h("span", {}, `${fmt.int(offset + 1)}–${fmt.int(offset + page.items.length)} of ${fmt.int(page.total)}`), next));
  }

  replace(main, h("div", { class: "templates-view" },
    h("h1", {}, "Templates"),
    h("p", {}, "A template keeps a mapping and validation rules for files that arrive again and again."),
    admin ? h("p", {}, h("a", { class: "button primary", href: "#/templates/new" }, "+ New template"))
      : h("p", { class: "notice" }, "Your key is a member key: you can use templates; an admin key is needed to create or change them."),
    h("div", { class: "row filters-bar" }, field("Search by name", search), field("Type", typeSel), field("Records", modelSel), field("Status", activeSel)),
    errors, list));
  load();
  return () => reload.cancel();
}

export function renderEdit(main, templateId) {
  const admin = session.me.role === "admin";
  const errors = h("div", { class: "errors" });
  const container = h("div");
  replace(main, h("div", { class: "template-edit" },
    h("h1", {}, templateId ? "Edit template" : "New template"),
    h("p", {}, h("a", { href: "#/templates" }, "← All templates")),
    errors, container));

  (async () => {
    let t = { template_name: "", template_type: "import", target_model: "lead", field_mapping: {}, validation_rules: {}, is_active: true };
    if (templateId) {
      try { t = await get(`/api/v1/templates/${templateId}`); } catch (err) { showError(errors, err, "the template could not be loaded"); return; }
    }
    draw(t);
  })();

  function draw(t) {
    const name = h("input", { type: "text", id: "template-edit-name", value: t.template_name, maxlength: 200, required: true });
    const type = select([["import", "import (column → field)"], ["export", "export (field → column title)"]], t.template_type, { id: "template-edit-type" });
    const model = select(MODEL_NAMES, t.target_model, { id: "template-edit-model" });
    const active = h("input", { type: "checkbox", id: "template-edit-active", checked: t.is_active });
    const mapBody = h("tbody");
    const rules = rulesEditor(t.target_model, t.validation_rules);
    const mapHead = h("tr");

    function mapRow(key = "", value = "") {
      const n = mapBody.children.length + 1;
      const fields = modelFields(model.value).map((f) => [f.name, f.title + (f.required ? " *" : "")]);
      const isImport = type.value === "import";
      const text = h("input", { type: "text", value: isImport ? key : value, class: "map-text",
        "aria-label": isImport ? `Mapping ${n}: column in the file` : `Mapping ${n}: column title` });
      const fieldSel = select([["", "— choose a field —"], ...fields], isImport ? value : key, { class: "map-field", "aria-label": `Mapping ${n}: field` });
      const remove = h("button", { type: "button", class: "link", "aria-label": `Remove mapping ${n}` }, "Remove");
      const tr = h("tr", {}, isImport ? [h("td", {}, text), h("td", {}, fieldSel)] : [h("td", {}, fieldSel), h("td", {}, text)], h("td", {}, remove));
      remove.addEventListener("click", () => { tr.remove(); addMap.focus(); });
      mapBody.append(tr);
      return tr;
    }
    function drawMapHead() {
      replace(mapHead, type.value === "import"
        ? [h("th", { scope: "col" }, "Column in the file"), h("th", { scope: "col" }, "Field")]
        : [h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Column title")],
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Remove")));
    }
    function readMapping() {
      const out = {};
      for (const tr of mapBody.children) {
        const text = tr.querySelector(".map-text").value.trim();
        const f = tr.querySelector(".map-field").value;
        if (!text && !f) continue;
        if (type.value === "import") out[text] = f || null;
        else out[f] = text || null;
      }
      return out;
    }
    const addMap = h("button", { type: "button", class: "secondary", onclick: () => mapRow().querySelector("input").focus() }, "+ Add a mapping");
    drawMapHead();
    for (const [k, v] of Object.entries(t.field_mapping || {})) mapRow(k, v || "");
    if (!mapBody.children.length) mapRow();
    model.addEventListener("change", () => {
      const kept = readMapping();
      replace(mapBody);
      for (const [k, v] of Object.entries(kept)) mapRow(k, v || "");
      rules.setModel(model.value);
    });
    type.addEventListener("change", () => { replace(mapBody); drawMapHead(); mapRow(); });

    const save = h("button", { type: "submit", class: "primary", disabled: !admin }, templateId ? "Save changes" : "Create template");
    const form = h("form", { class: "card" },
      h("div", { class: "row" }, field("Name", name), field("Type", type), field("Records", model)),
      h("div", { class: "checkbox" }, active, h("label", { for: "template-edit-active" }, "Active (offered in the import wizard)")),
      h("h2", {}, "Mapping"),
      h("table", { class: "template-mapping" }, h("caption", { class: "visually-hidden" }, "Mapping"), h("thead", {}, mapHead), mapBody),
      addMap,
      h("h2", {}, "Validation rules"),
      rules.el,
      h("div", { class: "actions" }, save,
        templateId && t.template_type === "import" && t.is_active ? h("a", { href: `#/import?template=${templateId}` }, "Use in an import") : null),
      admin ? null : h("p", { class: "notice" }, "Only an admin key can change templates."));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(errors, null);
      let body;
      try {
        body = { template_name: name.value.trim(), template_type: type.value, target_model: model.value,
          field_mapping: readMapping(), validation_rules: rules.value(), is_active: active.checked };
      } catch (err) {
        showError(errors, { type: "ValidationRulesError", message: err.message }, "not saved");
        return;
      }
      if (!body.template_name) {
        showError(errors, { type: "InputRequired", message: "the template needs a name" }, "not saved");
        name.focus();
        return;
      }
      save.disabled = true;
      try {
        const saved = templateId ? await patch(`/api/v1/templates/${templateId}`, body) : await post("/api/v1/templates", body);
        toast(`Saved the template “${saved.template_name}”.`);
        location.hash = "#/templates";
      } catch (err) {
        showError(errors, err, "the template was not saved");
        errors.scrollIntoView({ block: "nearest" });
      } finally {
        save.disabled = false;
      }
    });
    replace(container, form);
  }
  return () => {};
}
