// Pieces shared by the views: model metadata, the live job progress panel, the validation rules editor.

import { session } from "./api.js";
import { h, fmt, nextId, replace, select, statusBadge } from "./dom.js";

export const MODEL_NAMES = [["lead", "Leads"], ["contact", "Contacts"], ["account", "Accounts"]];

export function modelFields(model) {
  return session.models.models[model].fields;
}

export function fieldByName(model, name) {
  return modelFields(model).find((f) => f.name === name);
}

export const FINAL = new Set(["completed", "failed", "cancelled"]);

/** A percent fit for a progress bar (the API's figure may pass 100 while the total is still being counted). */
export function clampPercent(p) {
  return Math.max(0, Math.min(100, Number(p) || 0));
}

/** The live view of one job's progress: bar, counters, rate, ETA. update(progressDocument) refreshes it. */
export function progressPanel(title = "Progress") {
  const bar = h("progress", { max: 100, value: 0, "aria-label": title });
  const percent = h("span", { class: "percent", "data-testid": "percent" }, "0 %");
  const status = h("span", { "data-testid": "status" });
  const message = h("p", { class: "job-message", "data-testid": "message" });
  const cells = {};
  const counter = (key, label) => {
    cells[key] = h("dd", { "data-counter": key }, "–");
    return h("div", {}, h("dt", {}, label), cells[key]);
  };
  const el = h("section", { class: "progress-panel", "aria-label": title },
    h("div", { class: "progress-head" }, status, " ", percent),
    bar,
    h("dl", { class: "counters" },
      counter("processed", "Processed"), counter("total", "Total rows"), counter("success", "Succeeded"),
      counter("created", "Created"), counter("updated", "Updated"), counter("skipped", "Skipped"),
      counter("errors", "Errors"), counter("warnings", "Warnings"), counter("rate", "Rate"), counter("eta", "Time left"), counter("elapsed", "Elapsed")),
    message);
  /** estimate: the rows the file is expected to hold (the upload's count), used while the job has not
   *  counted them all yet (until then its total is only the rows read so far). */
  function update(job, estimate = 0) {
    const final = FINAL.has(job.job_status);
    const guessing = !final && estimate > (job.total_records || 0);
    const pct = clampPercent(guessing ? Math.min(99.9, (100 * (job.processed_records || 0)) / estimate) : job.percent);
    const rate = job.records_per_second || 0;
    const eta = guessing ? (rate > 0 ? (estimate - job.processed_records) / rate : null) : job.eta_seconds;
    bar.value = pct;
    bar.setAttribute("aria-valuetext", `${fmt.percent(pct)} – ${job.job_status}`);
    percent.textContent = fmt.percent(pct);
    replace(status, statusBadge(job.job_status));
    cells.processed.textContent = fmt.int(job.processed_records);
    cells.total.textContent = guessing ? `about ${fmt.int(estimate)}`
      : job.total_records >= job.processed_records ? fmt.int(job.total_records)
        : final ? "–" : "counting…"; // a total below the rows processed is not known yet (or not counted)
    cells.success.textContent = fmt.int(job.success_records);
    cells.created.textContent = fmt.int(job.created_records);
    cells.updated.textContent = fmt.int(job.updated_records);
    cells.skipped.textContent = fmt.int(job.skipped_records);
    cells.errors.textContent = fmt.int(job.error_records);
    cells.warnings.textContent = fmt.int(job.warning_records || 0);
    cells.rate.textContent = `${fmt.int(Math.round(rate))} rows/s`;
    cells.eta.textContent = final ? "done" : fmt.seconds(eta);
    cells.elapsed.textContent = fmt.seconds(job.elapsed_seconds);
    message.textContent = job.message || "";
    el.dataset.status = job.job_status;
    for (const key of ["success", "created", "updated", "skipped", "errors"]) {
      cells[key].parentElement.hidden = job.job_type === "export"; // an export has no per-row outcomes
    }
  }
  return { el, update };
}

const RULE_LABELS = {
  required: "required", regex: "matches pattern", min: "minimum", max: "maximum",
  min_length: "min. length", max_length: "max. length", allowed: "allowed values",
};

function ruleValueText(rule, value) {
  if (rule === "allowed") return (value || []).join(", ");
  if (rule === "required") return value ? "true" : "false";
  return value === undefined || value === null ? "" : String(value);
}

function parseRuleValue(model, fieldName, rule, text) {
  const f = fieldByName(model, fieldName);
  const t = text.trim();
  if (rule === "required") return t !== "false";
  if (rule === "allowed") return t.split(",").map((s) => s.trim()).filter(Boolean);
  if (rule === "min_length" || rule === "max_length") {
    if (!/^\d+$/.test(t)) throw new Error(`${RULE_LABELS[rule]} of ${fieldName} must be a whole number`);
    return Number(t);
  }
  if (rule === "min" || rule === "max") {
    if (f && f.type === "date") return t;
    if (t === "" || Number.isNaN(Number(t))) throw new Error(`${RULE_LABELS[rule]} of ${fieldName} must be a number`);
    return Number(t);
  }
  return t;
}

/**
 * Validation rules as editable rows (field, rule, value); value() gives {field: {rule: value}}.
 * The API checks the rules again and names any problem; this only catches what can be seen at once.
 */
export function rulesEditor(model, rules, onChange = () => {}) {
  let current = model;
  const body = h("tbody");
  const problem = h("p", { class: "field-error", role: "alert", hidden: true });
  const table = h("table", { class: "rules" },
    h("caption", { class: "visually-hidden" }, "Validation rules"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Rule"),
      h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Remove")))),
    body);
  const addButton = h("button", { type: "button", class: "secondary", onclick: () => { addRow(); body.lastChild.querySelector("select").focus(); } },
    "+ Add a rule");
  const el = h("div", { class: "rules-editor" }, table, problem, addButton);

  function addRow(fieldName, rule = "required", value = true) {
    const fieldNames = modelFields(current).map((f) => [f.name, f.title + (f.required ? " *" : "")]);
    const n = body.children.length + 1;
    const fieldSel = select(fieldNames, fieldName || fieldNames[0][0], { "aria-label": `Field of rule ${n}`, class: "rule-field" });
    const ruleSel = select(Object.entries(RULE_LABELS), rule, { "aria-label": `Rule ${n}`, class: "rule-kind" });
    const valueIn = h("input", { type: "text", value: ruleValueText(rule, value), "aria-label": `Value of rule ${n}`, class: "rule-value" });
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove rule ${n}` }, "Remove");
    const tr = h("tr", {}, h("td", {}, fieldSel), h("td", {}, ruleSel), h("td", {}, valueIn), h("td", {}, remove));
    remove.addEventListener("click", () => { tr.remove(); changed(); addButton.focus(); });
    for (const c of [fieldSel, ruleSel]) c.addEventListener("change", changed);
    valueIn.addEventListener("input", changed);
    ruleSel.addEventListener("change", () => {
      if (ruleSel.value === "required") valueIn.value = "true";
    });
    body.append(tr);
  }

  function value() {
    const out = {};
    for (const tr of body.children) {
      const f = tr.querySelector(".rule-field").value;
      const r = tr.querySelector(".rule-kind").value;
      const v = parseRuleValue(current, f, r, tr.querySelector(".rule-value").value);
      out[f] = { ...(out[f] || {}), [r]: v };
    }
    return out;
  }

  function changed() {
    try {
      value();
      problem.hidden = true;
      onChange();
    } catch (err) {
      problem.textContent = `Error: ${err.message}.`;
      problem.hidden = false;
    }
  }

  function set(newRules) {
    replace(body);
    for (const [f, spec] of Object.entries(newRules || {})) {
      for (const [r, v] of Object.entries(spec)) addRow(f, r, v);
    }
  }

  set(rules);
  return {
    el,
    value,
    set,
    setModel(m) { current = m; set({}); },
    get count() { return body.children.length; },
  };
}

/** A small labelled group of radio buttons; returns {el, value()}. */
export function radios(legend, name, options, value, onChange = () => {}) {
  const group = h("fieldset", { class: "radios" }, h("legend", {}, legend));
  for (const [v, label, hint] of options) {
    const id = nextId(name);
    const input = h("input", { type: "radio", name, id, value: v, checked: v === value });
    input.addEventListener("change", () => onChange(v));
    group.append(h("div", { class: "radio" }, input, h("label", { for: id }, label, hint ? h("span", { class: "hint" }, ` – ${hint}`) : null)));
  }
  return {
    el: group,
    value: () => group.querySelector("input:checked")?.value,
    set(v) { const i = group.querySelector(`input[value="${v}"]`); if (i) i.checked = true; },
  };
}
