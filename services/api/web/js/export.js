// The export builder: model, fields in order, filters with a live count, sort, format; run, progress, download.

import { download, post, session, watch } from "./api.js";
import { debounce, field, fmt, h, replace, select, statusBadge, toast } from "./dom.js";
import { errorBox, showError } from "./errors.js";
import { MODEL_NAMES, modelFields, progressPanel, radios } from "./widgets.js";

const TEXT = new Set(["string", "text", "email", "phone", "url"]);
const OP_LABELS = {
  eq: "is", ne: "is not", contains: "contains", in: "is one of", between: "is between",
  gte: "is at least", lte: "is at most", empty: "is empty", not_empty: "is not empty",
};

function opsFor(type) {
  if (TEXT.has(type)) return ["contains", "eq", "ne", "in", "empty", "not_empty"];
  if (type === "choice") return ["eq", "ne", "in", "empty", "not_empty"];
  if (type === "boolean") return ["eq", "ne", "empty", "not_empty"];
  if (type === "timestamp") return ["gte", "lte", "between"];
  return ["eq", "ne", "gte", "lte", "between", "in", "empty", "not_empty"];
}

export function render(main, params) {
  const stops = new Set();
  let model = MODEL_NAMES.some(([m]) => m === params.model) ? params.model : "lead";
  let order = modelFields(model).map((f) => ({ name: f.name, title: f.title, on: true }));

  const modelSel = select(MODEL_NAMES, model, { id: "export-model" });
  const fieldList = h("ol", { class: "field-order", "data-testid": "field-order" });
  const filterBody = h("div", { class: "filters" });
  const count = h("p", { class: "live-count", "aria-live": "polite", "data-testid": "match-count" }, "Counting…");
  const filterErrors = h("div", { class: "errors" });
  const sortBody = h("div", { class: "sorts" });
  const format = radios("Format", "export-format", [
    ["csv", "CSV", "any number of rows"], ["excel", "Excel (.xlsx)", "one sheet"],
    ["json", "JSON", "an array of objects"], ["pdf", "PDF", "a printable table"],
  ], "csv");
  const runButton = h("button", { type: "button", class: "primary" }, "Run the export");
  const runHint = h("p", { class: "hint", id: "run-hint" });
  runButton.setAttribute("aria-describedby", "run-hint");
  const runErrors = h("div", { class: "errors" });
  const result = h("div", { class: "export-result" });

  function types() {
    const out = Object.fromEntries(modelFields(model).map((f) => [f.name, f]));
    for (const p of session.models.pseudo_fields) out[p] = { name: p, title: p === "created_at" ? "Created at" : "Updated at", type: "timestamp", choices: [] };
    return out;
  }

  // ------------------------------------------------------------ fields in order
  function drawFields(focusName, focusWhat) {
    replace(fieldList, order.map((f, i) => {
      const box = h("input", { type: "checkbox", id: `export-field-${f.name}`, checked: f.on, "data-field": f.name });
      box.addEventListener("change", () => { f.on = box.checked; validate(); });
      const up = h("button", { type: "button", class: "icon", disabled: i === 0, "aria-label": `Move ${f.title} up`, "data-move": "up" }, "↑");
      const down = h("button", { type: "button", class: "icon", disabled: i === order.length - 1, "aria-label": `Move ${f.title} down`, "data-move": "down" }, "↓");
      up.addEventListener("click", () => move(i, -1, "up"));
      down.addEventListener("click", () => move(i, 1, "down"));
      return h("li", { "data-field": f.name }, box, h("label", { for: `export-field-${f.name}` }, f.title), h("span", { class: "move" }, up, down));
    }));
    if (focusName) {
      const target = fieldList.querySelector(`li[data-field="${focusName}"] [data-move="${focusWhat}"]`);
      (target && !target.disabled ? target : fieldList.querySelector(`li[data-field="${focusName}"] input`)).focus();
    }
  }
  function move(i, delta, what) {
    const j = i + delta;
    [order[i], order[j]] = [order[j], order[i]];
    drawFields(order[j].name, what);
  }
  const allOn = h("button", { type: "button", class: "link", onclick: () => { order.forEach((f) => { f.on = true; }); drawFields(); validate(); } }, "Select all");
  const allOff = h("button", { type: "button", class: "link", onclick: () => { order.forEach((f) => { f.on = false; }); drawFields(); validate(); } }, "Select none");

  // ------------------------------------------------------------ filters
  let filterRows = [];
  function addFilter(initial = {}) {
    const all = types();
    const n = filterRows.length + 1;
    const fieldSel = select(Object.values(all).map((f) => [f.name, f.title]), initial.field || modelFields(model)[0].name, { "aria-label": `Filter ${n}: field`, class: "filter-field" });
    const opSel = h("select", { "aria-label": `Filter ${n}: condition`, class: "filter-op" });
    const values = h("span", { class: "filter-values" });
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove filter ${n}` }, "Remove");
    const row = { el: null, fieldSel, opSel, values, inputs: [] };
    row.el = h("div", { class: "filter-row", role: "group", "aria-label": `Filter ${n}` }, fieldSel, opSel, values, remove);
    function drawOps() {
      const f = all[fieldSel.value];
      const ops = opsFor(f.type);
      const keep = ops.includes(opSel.value) ? opSel.value : ops[0];
      replace(opSel, ops.map((o) => h("option", { value: o }, OP_LABELS[o])));
      opSel.value = keep;
      drawValues();
    }
    function drawValues() {
      const f = all[fieldSel.value];
      const op = opSel.value;
      row.inputs = [];
      const input = (label, extra = {}) => {
        let el;
        if (f.type === "boolean") el = select([["true", "yes"], ["false", "no"]], "true", { "aria-label": label });
        else if (f.type === "choice" && op !== "in") el = select(f.choices, f.choices[0], { "aria-label": label });
        else {
          const type = f.type === "date" || f.type === "timestamp" ? "date" : f.type === "integer" || f.type === "decimal" ? "number" : "text";
          el = h("input", { type, "aria-label": label, step: f.type === "decimal" ? "any" : null, ...extra });
        }
        el.addEventListener("input", changed);
        el.addEventListener("change", changed);
        row.inputs.push(el);
        return el;
      };
      if (op === "empty" || op === "not_empty") replace(values);
      else if (op === "between") replace(values, input(`Filter ${n}: from`), " and ", input(`Filter ${n}: to`));
      else if (op === "in") replace(values, input(`Filter ${n}: values, separated by commas`, { placeholder: f.choices.length ? f.choices.slice(0, 3).join(", ") : "a, b, c" }));
      else replace(values, input(`Filter ${n}: value`));
      changed();
    }
    fieldSel.addEventListener("change", drawOps);
    opSel.addEventListener("change", drawValues);
    remove.addEventListener("click", () => {
      row.el.remove();
      filterRows = filterRows.filter((r) => r !== row);
      changed();
      addFilterButton.focus();
    });
    filterRows.push(row);
    filterBody.append(row.el);
    if (initial.op) opSel.value = initial.op;
    drawOps();
    return row;
  }
  const addFilterButton = h("button", { type: "button", class: "secondary", onclick: () => addFilter().fieldSel.focus() }, "+ Add a filter");

  /** {filters, incomplete}: the API's filter list, and the numbers of rows still missing a value. */
  function readFilters() {
    const all = types();
    const filters = [];
    const incomplete = [];
    filterRows.forEach((row, i) => {
      const f = all[row.fieldSel.value];
      const op = row.opSel.value;
      const conv = (text) => {
        const t = String(text).trim();
        if (f.type === "boolean") return t === "true";
        if (f.type === "integer") return /^-?\d+$/.test(t) ? Number(t) : t;
        return t;
      };
      if (op === "empty" || op === "not_empty") { filters.push({ field: f.name, op }); return; }
      if (op === "between") {
        const [lo, hi] = row.inputs.map((el) => el.value.trim());
        if (!lo && !hi) { incomplete.push(i + 1); return; }
        filters.push({ field: f.name, op, value: [lo ? conv(lo) : null, hi ? conv(hi) : null] });
        return;
      }
      const raw = row.inputs[0].value;
      if (op === "in") {
        const list = raw.split(",").map((s) => s.trim()).filter(Boolean).map(conv);
        if (!list.length) { incomplete.push(i + 1); return; }
        filters.push({ field: f.name, op, value: list });
        return;
      }
      if (String(raw).trim() === "") { incomplete.push(i + 1); return; }
      filters.push({ field: f.name, op, value: conv(raw) });
    });
    return { filters, incomplete };
  }

  let countCall = 0;
  const recount = debounce(async () => {
    const call = ++countCall;
    const { filters } = readFilters();
    try {
      const doc = await post("/api/v1/exports/count", { target_model: model, filters });
      if (call !== countCall) return;
      showError(filterErrors, null);
      count.dataset.count = doc.count;
      count.textContent = `${fmt.int(doc.count)} matching record${doc.count === 1 ? "" : "s"}`;
    } catch (err) {
      if (call !== countCall) return;
      count.dataset.count = "";
      count.textContent = "The filters cannot be counted (see the error).";
      showError(filterErrors, err, "a filter is not usable");
    }
  }, 250);

  function changed() {
    count.textContent = "Counting…";
    count.dataset.count = "";
    recount();
    validate();
  }

  // ------------------------------------------------------------ sort
  let sortRows = [];
  function addSort() {
    const all = types();
    const n = sortRows.length + 1;
    const fieldSel = select(Object.values(all).map((f) => [f.name, f.title]), modelFields(model)[0].name, { "aria-label": `Sort ${n}: field`, class: "sort-field" });
    const dir = select([["asc", "ascending (A→Z, 0→9)"], ["desc", "descending (Z→A, 9→0)"]], "asc", { "aria-label": `Sort ${n}: direction`, class: "sort-dir" });
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove sort ${n}` }, "Remove");
    const row = { el: h("div", { class: "sort-row", role: "group", "aria-label": `Sort ${n}` }, fieldSel, dir, remove), fieldSel, dir };
    remove.addEventListener("click", () => { row.el.remove(); sortRows = sortRows.filter((r) => r !== row); addSortButton.focus(); });
    sortRows.push(row);
    sortBody.append(row.el);
    return row;
  }
  const addSortButton = h("button", { type: "button", class: "secondary", onclick: () => addSort().fieldSel.focus() }, "+ Add a sort key");

  function validate() {
    const chosen = order.filter((f) => f.on).length;
    const { incomplete } = readFilters();
    runButton.disabled = chosen === 0 || incomplete.length > 0;
    runHint.textContent = chosen === 0 ? "Choose at least one field to export."
      : incomplete.length ? `Enter a value for filter ${incomplete.join(", ")}, or remove it.`
        : `${chosen} field${chosen === 1 ? "" : "s"} will be exported in the order shown.`;
  }

  modelSel.addEventListener("change", () => {
    model = modelSel.value;
    order = modelFields(model).map((f) => ({ name: f.name, title: f.title, on: true }));
    filterRows = [];
    sortRows = [];
    replace(filterBody);
    replace(sortBody);
    drawFields();
    changed();
  });

  runButton.addEventListener("click", async () => {
    for (const stop of stops) stop();
    stops.clear();
    showError(runErrors, null);
    replace(result);
    runButton.disabled = true;
    const { filters } = readFilters();
    let job;
    try {
      job = await post("/api/v1/jobs", {
        job_type: "export", target_model: model, fields: order.filter((f) => f.on).map((f) => f.name), filters,
        sort: sortRows.map((r) => (r.dir.value === "desc" ? "-" : "") + r.fieldSel.value), file_format: format.value(),
      });
    } catch (err) {
      showError(runErrors, err, "the export could not start");
      validate();
      return;
    }
    const panel = progressPanel("Export progress");
    panel.update(job);
    const done = h("div", { class: "download-box" });
    replace(result, h("h2", {}, "Export progress"), panel.el, done);
    stops.add(watch(`/api/v1/jobs/${job.id}/events`, (name, doc) => {
      panel.update(doc);
      if (name !== "final") return;
      validate();
      if (doc.job_status === "completed") {
        const button = h("button", { type: "button", class: "primary", "data-job": doc.id }, `Download the ${doc.file_format.toUpperCase()} file`);
        button.addEventListener("click", async () => {
          try {
            const fileName = await download(`/api/v1/jobs/${doc.id}/download`, `export.${doc.file_format}`);
            toast(`Downloaded ${fileName}.`);
          } catch (err) {
            showError(runErrors, err, "the file could not be downloaded");
          }
        });
        replace(done, h("p", { class: "summary", "data-testid": "export-done" }, statusBadge("completed"),
          ` ${fmt.int(doc.success_records ?? doc.processed_records)} records exported.`), button,
        h("p", {}, h("a", { href: `#/jobs/${doc.id}` }, "Open the job's page")));
        button.focus();
      } else {
        replace(done, errorBox({ type: "ExportFailed", message: doc.message || `the export ${doc.job_status}` }, "the export did not finish"));
      }
    }, { onState: (s, err) => { if (s === "error") showError(runErrors, err, "lost the export's progress"); } }));
  });

  replace(main, h("div", { class: "export-view" },
    h("h1", {}, "Export records"),
    h("div", { class: "export-grid" },
      h("section", { "aria-labelledby": "what-title" },
        h("h2", { id: "what-title" }, "What to export"),
        field("Records", modelSel),
        h("fieldset", {}, h("legend", {}, "Fields, in column order"),
          h("p", { class: "hint" }, "Tick the fields to export; move them with the arrow buttons."),
          h("div", { class: "row" }, allOn, allOff), fieldList)),
      h("section", { "aria-labelledby": "which-title" },
        h("h2", { id: "which-title" }, "Which records"),
        h("fieldset", {}, h("legend", {}, "Filters (all must hold)"), filterBody, addFilterButton),
        count, filterErrors,
        h("fieldset", {}, h("legend", {}, "Sort"), h("p", { class: "hint" }, "Without a sort, records come in the order they were created."), sortBody, addSortButton),
        format.el,
        runErrors,
        h("div", { class: "actions" }, runButton), runHint)),
    result));
  drawFields();
  changed();
  return () => { recount.cancel(); for (const stop of stops) stop(); };
}
