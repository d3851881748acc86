// The import wizard: File Selection -> Configuration -> Values -> Validation -> Processing -> Results.

import { download, get, post, query, session, upload, watch } from "./api.js";
import { debounce, field, fmt, h, replace, select, statusBadge, toast } from "./dom.js";
import { errorBox, showError } from "./errors.js";
import { createForm } from "./fields.js";
import { FINAL, MODEL_NAMES, fieldByName, modelFields, progressPanel, radios, rulesEditor } from "./widgets.js";

const STEPS = ["File Selection", "Configuration", "Values", "Validation", "Processing", "Results"];
const ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "iso-8859-15", "utf-16", "utf-16-le", "utf-16-be", "mac-roman", "cp850"];
const DELIMITERS = [[",", "comma ( , )"], [";", "semicolon ( ; )"], ["\t", "tab"], ["|", "pipe ( | )"]];
const PREVIEW_ROWS = 10;
const BAD_ROWS_PAGE = 10;
const AUTO_CONFIDENCE = 0.8; // the API's own threshold for using a suggestion without asking

export function render(main, params) {
  const state = {
    step: 1,
    file: null,
    upload: null, // the upload document
    inspected: null, // {headers, rows, sheet, sheet_names, encoding, delimiter, suggested_mapping}
    corrections: {}, // sheet / encoding / delimiter chosen by the user
    model: "lead",
    templateId: params.template || "",
    template: null,
    mapping: {},
    rules: {},
    duplicate: "skip",
    policy: { mode: "continue", max_errors: "", max_error_percent: "" },
    options: { date_order: "", phone_region: "", strict: false, account_match: "", missing_accounts: "create" },
    valueMapping: {}, // {field: {file word: picklist value | null (leave empty)}}; a word not here follows the field's policy
    unknown: {}, // {field: "empty" | "add" | "fail" | "map:VALUE"}: what a word without a decision gets
    dryJob: null,
    job: null,
  };
  const stops = new Set();
  const stepper = h("ol", { class: "stepper" });
  const body = h("div", { class: "step-body" });
  const view = h("div", { class: "import-view" },
    h("h1", {}, "Import records"),
    h("nav", { "aria-label": "Import steps" }, stepper),
    body);
  replace(main, view);

  function drawStepper() {
    replace(stepper, STEPS.map((name, i) => {
      const n = i + 1;
      const done = n < state.step;
      const current = n === state.step;
      return h("li", { class: `step${done ? " done" : ""}${current ? " current" : ""}`, "aria-current": current ? "step" : null },
        h("span", { class: "step-num", "aria-hidden": "true" }, done ? "✓" : String(n)),
        h("span", { class: "step-name" }, name),
        h("span", { class: "visually-hidden" }, done ? " (done)" : current ? " (current step)" : " (not yet)"));
    }));
  }

  function go(step) {
    for (const stop of stops) stop();
    stops.clear();
    state.step = step;
    drawStepper();
    [stepFile, stepConfig, stepValues, stepValidation, stepProcessing, stepResults][step - 1]();
    const heading = body.querySelector("h2");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  }

  // ------------------------------------------------------------------ 1. File Selection
  function stepFile() {
    const errors = h("div", { class: "errors" });
    const progress = h("progress", { max: 100, value: 0, "aria-label": "Upload progress" });
    const progressText = h("span", { "data-testid": "upload-progress-text" });
    const progressBox = h("div", { class: "upload-progress", hidden: true }, progress, " ", progressText);
    const input = h("input", { type: "file", id: "import-file", accept: ".csv,.txt,.tsv,.xlsx,.xls,.xlsb,.ods,.json" });
    const drop = h("div", { class: "dropzone", "data-testid": "dropzone" },
      h("p", { class: "dropzone-title" }, "Drag a file here and drop it"),
      h("p", {}, "or"),
      field("Choose a file (.csv, .xlsx, .xls, .xlsb, .ods, .json)", input));
    const detection = h("div", { class: "detection" });
    const templateNote = h("div");
    replace(body, h("section", { "aria-labelledby": "step-title" },
      h("h2", { id: "step-title" }, "1. File Selection"),
      templateNote, drop, progressBox, errors, detection));
    if (state.templateId) {
      get(`/api/v1/templates/${state.templateId}`).then((t) => {
        state.template = t;
        state.model = t.target_model;
        replace(templateNote, h("p", { class: "notice" }, `Using the template “${t.template_name}” (${t.target_model}): choose a file to import with it.`));
      }).catch((err) => showError(templateNote, err, "the template could not be loaded"));
    }

    async function take(file) {
      if (!file) return;
      state.file = file;
      state.corrections = {};
      showError(errors, null);
      replace(detection);
      progressBox.hidden = false;
      progress.value = 0;
      progressText.textContent = `Uploading ${file.name}…`;
      drop.classList.add("busy");
      try {
        const doc = await upload(file, {}, (loaded, total) => {
          const pct = total ? Math.round((100 * loaded) / total) : 0;
          progress.value = pct;
          progressText.textContent = `Uploading ${file.name}: ${fmt.bytes(loaded)} of ${fmt.bytes(total)} (${pct} %)`;
        });
        progress.value = 100;
        progressText.textContent = `Uploaded ${file.name} (${fmt.bytes(doc.size_bytes)}).`;
        state.upload = doc;
        state.inspected = doc;
        chooseModel();
        drawDetection();
      } catch (err) {
        progressText.textContent = `The upload of ${file.name} failed.`;
        showError(errors, err, `${file.name} could not be uploaded`);
      } finally {
        drop.classList.remove("busy");
      }
    }

    input.addEventListener("change", () => take(input.files[0]));
    for (const name of ["dragenter", "dragover"]) {
      drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("dragging"); });
    }
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("dragging");
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) take(file);
    });

    function drawDetection() {
      const up = state.upload;
      const ins = state.inspected;
      const rows = up.row_estimate_exact ? fmt.int(up.row_estimate) : `about ${fmt.int(up.row_estimate)}`;
      const facts = [
        ["File", `${up.original_filename} (${fmt.bytes(up.size_bytes)})`],
        ["Format", `${up.file_format === "excel" ? "Excel" : up.file_format.toUpperCase()} (decided by the file's content)`],
      ];
      if (up.file_format === "csv") {
        facts.push(["Encoding", ins.encoding || "–"], ["Delimiter", delimiterName(ins.delimiter)]);
      }
      if (up.file_format === "excel") {
        facts.push(["Sheet", `${ins.sheet} (${(ins.sheet_names || []).length} sheet${(ins.sheet_names || []).length === 1 ? "" : "s"}: ${(ins.sheet_names || []).join(", ")})`]);
      }
      facts.push(["Rows", rows], ["Columns", String(ins.headers.length)]);
      const corrections = drawCorrections(up, ins);
      const sample = h("table", { class: "sample" },
        h("caption", {}, "The first rows as read"),
        h("thead", {}, h("tr", {}, ins.headers.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, (ins.rows || []).slice(0, 5).map((r) => h("tr", {}, ins.headers.map((_, i) => h("td", {}, r[i] ?? ""))))));
      replace(detection,
        h("h3", {}, "What was detected"),
        h("dl", { class: "facts", "data-testid": "detected" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k.toLowerCase() }, v)])),
        corrections,
        h("div", { class: "table-scroll" }, sample),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "primary", onclick: () => go(2) }, "Next: Configuration")));
    }

    function drawCorrections(up, ins) {
      if (up.file_format === "json") return null;
      const controls = [];
      const problems = h("div", { class: "errors" });
      let encoding;
      let delimiter;
      let sheet;
      if (up.file_format === "csv") {
        const encs = [...new Set([ins.encoding, ...ENCODINGS].filter(Boolean))];
        encoding = select(encs, ins.encoding, { id: "fix-encoding" });
        const delims = DELIMITERS.some(([d]) => d === ins.delimiter) ? DELIMITERS : [[ins.delimiter, delimiterName(ins.delimiter)], ...DELIMITERS];
        delimiter = select(delims, ins.delimiter, { id: "fix-delimiter" });
        controls.push(field("Encoding", encoding), field("Delimiter", delimiter));
      }
      if (up.file_format === "excel") {
        sheet = select(ins.sheet_names || [], ins.sheet, { id: "fix-sheet" });
        controls.push(field("Sheet", sheet));
      }
      const apply = h("button", { type: "button", class: "secondary" }, "Read the file again");
      apply.addEventListener("click", async () => {
        const next = {};
        if (encoding && encoding.value !== up.encoding) next.encoding = encoding.value;
        if (delimiter && delimiter.value !== up.delimiter) next.delimiter = delimiter.value;
        if (sheet && sheet.value !== up.sheet) next.sheet = sheet.value;
        apply.disabled = true;
        showError(problems, null);
        try {
          state.inspected = await post(`/api/v1/uploads/${up.id}/inspect`, next);
          state.corrections = next;
          state.upload = { ...state.upload, row_estimate: state.inspected.row_estimate,
            row_estimate_exact: state.inspected.row_estimate_exact };
          chooseModel();
          drawDetection();
          toast("The file was read again with your corrections.");
        } catch (err) {
          showError(problems, err, "the file could not be read that way");
        } finally {
          apply.disabled = false;
        }
      });
      return h("details", { class: "corrections", open: up.file_format === "excel" && (ins.sheet_names || []).length > 1 },
        h("summary", {}, "Correct the detection"),
        h("div", { class: "row" }, controls, h("div", { class: "field" }, apply)),
        problems);
    }
  }

  /** The model whose suggestions fit the headers best (unless a template fixed it), and its mapping. */
  function chooseModel() {
    const sugg = state.inspected.suggested_mapping || {};
    if (!state.template) {
      let best = state.model;
      let bestScore = -1;
      for (const [name] of MODEL_NAMES) {
        const score = (sugg[name] || []).reduce((s, x) => s + (x.field ? x.confidence : 0), 0);
        if (score > bestScore) { best = name; bestScore = score; }
      }
      state.model = best;
    }
    resetMapping();
  }

  function suggestionsFor(model) {
    const out = {};
    for (const s of (state.inspected.suggested_mapping || {})[model] || []) out[s.column] = s;
    return out;
  }

  function resetMapping() {
    const sugg = suggestionsFor(state.model);
    state.mapping = {};
    const fromTemplate = state.template && state.template.target_model === state.model ? state.template.field_mapping : null;
    for (const column of state.inspected.headers) {
      if (fromTemplate) state.mapping[column] = fromTemplate[column] || null;
      else {
        const s = sugg[column];
        state.mapping[column] = s && s.field && s.confidence >= AUTO_CONFIDENCE ? s.field : null;
      }
    }
    state.rules = fromTemplate ? { ...(state.template.validation_rules || {}) } : {};
    state.valueMapping = {};
    for (const [f, pairs] of Object.entries((fromTemplate && state.template.value_mapping) || {})) state.valueMapping[f] = { ...pairs };
    state.unknown = {};
  }

  /** The value decisions of the mapped choice fields only (a field no column feeds has none to make). */
  function valueMappingBody() {
    const mapped = new Set(Object.values(state.mapping).filter(Boolean));
    const out = {};
    for (const [f, pairs] of Object.entries(state.valueMapping)) if (mapped.has(f) && Object.keys(pairs).length) out[f] = pairs;
    return out;
  }

  /** options.unknown_values: per field, leaving out the default ("empty", a warning per value left out). */
  function unknownBody() {
    const mapped = new Set(Object.values(state.mapping).filter(Boolean));
    const out = {};
    for (const [f, p] of Object.entries(state.unknown)) if (mapped.has(f) && p && p !== "empty" && p !== "map:") out[f] = p;
    return Object.keys(out).length ? out : null;
  }

  /** Columns mapped to a linked record's field ("account.website"): the import links each contact to its account. */
  function linksAccounts() {
    return Object.values(state.mapping).some((f) => f && f.includes("."));
  }

  function readOptions(dryRun) {
    const o = { ...state.corrections };
    if (state.options.date_order) o.date_order = state.options.date_order;
    if (state.options.phone_region) o.phone_region = state.options.phone_region.trim().toUpperCase();
    if (state.options.strict) o.strict = true;
    if (linksAccounts()) {  // a contact's account columns: how each row finds its account, and what a missing one gets
      if (state.options.account_match) o.account_match = state.options.account_match;
      if (state.options.missing_accounts !== "create") o.missing_accounts = state.options.missing_accounts;
    }
    const unknown = unknownBody();
    if (unknown) o.unknown_values = unknown;
    if (dryRun) o.dry_run = true;
    return o;
  }

  function jobBody(dryRun) {
    const b = {
      job_type: "import",
      upload_id: state.upload.id,
      target_model: state.model,
      mapping: state.mapping,
      duplicate_handling: state.duplicate,
      options: readOptions(dryRun),
    };
    if (state.templateId) b.template_id = state.templateId;
    if (Object.keys(state.rules).length) b.validation_rules = state.rules;
    const values = valueMappingBody();
    if (Object.keys(values).length) b.value_mapping = values;
    if (!dryRun && state.policy.mode !== "continue") {
      const p = { mode: state.policy.mode, max_errors: null, max_error_percent: null };
      if (state.policy.mode === "stop") {
        if (state.policy.max_errors !== "") p.max_errors = Number(state.policy.max_errors);
        if (state.policy.max_error_percent !== "") p.max_error_percent = Number(state.policy.max_error_percent);
      }
      b.error_policy = p;
    }
    return b;
  }

  // ------------------------------------------------------------------ 2. Configuration
  function stepConfig() {
    const headers = state.inspected.headers;
    const samples = sampleValues();
    const errors = h("div", { class: "errors" });
    const requiredList = h("ul", { class: "required-list", "aria-live": "polite", "data-testid": "required-fields" });
    const mappingBody = h("tbody");
    const previewBox = h("div", { class: "preview", "aria-live": "polite", "aria-busy": "false" });
    const nextButton = h("button", { type: "button", class: "primary" }, "Next: Values");
    const nextHint = h("p", { class: "hint", id: "next-hint" });
    nextButton.setAttribute("aria-describedby", "next-hint");

    // Target and template
    const modelSel = select(MODEL_NAMES, state.model, { id: "target-model" });
    const templateSel = select([["", "— no template —"]], "", { id: "template" });
    const templateErrors = h("div", { class: "errors" });
    async function loadTemplates() {
      try {
        const list = await get(`/api/v1/templates${query({ template_type: "import", is_active: true, target_model: state.model, limit: 200 })}`);
        replace(templateSel, h("option", { value: "" }, "— no template —"),
          list.items.map((t) => h("option", { value: t.id }, t.template_name)));
        templateSel.value = list.items.some((t) => t.id === state.templateId) ? state.templateId : "";
      } catch (err) {
        showError(templateErrors, err, "templates could not be loaded");
      }
    }
    modelSel.addEventListener("change", () => {
      state.model = modelSel.value;
      state.templateId = "";
      state.template = null;
      resetMapping();
      rules.setModel(state.model);
      loadTemplates();
      drawMapping();
      refresh();
    });
    templateSel.addEventListener("change", async () => {
      state.templateId = templateSel.value;
      showError(templateErrors, null);
      if (!state.templateId) { state.template = null; resetMapping(); rules.set({}); drawMapping(); refresh(); return; }
      try {
        state.template = await get(`/api/v1/templates/${state.templateId}`);
        resetMapping();
        rules.set(state.rules);
        drawMapping();
        refresh();
        const unknown = Object.keys(state.template.field_mapping).filter((c) => !headers.includes(c));
        toast(`Template “${state.template.template_name}” applied${unknown.length ? `; its columns ${unknown.join(", ")} are not in this file` : ""}.`);
      } catch (err) {
        showError(templateErrors, err, "the template could not be loaded");
      }
    });

    // Duplicates and error policy
    const duplicates = radios("Duplicates (same email, or same website / name for accounts)", "duplicates", [
      ["skip", "Skip", "keep the stored record, ignore the row"],
      ["update", "Update", "fill the stored record with the row's non-empty values"],
      ["create_new", "Create new", "always create a new record"],
    ], state.duplicate, (v) => { state.duplicate = v; checkNext(); refresh(); });
    const maxErrors = h("input", { type: "number", min: 1, step: 1, id: "max-errors", value: state.policy.max_errors, inputmode: "numeric" });
    const maxPercent = h("input", { type: "number", min: 0, max: 99.99, step: "any", id: "max-error-percent", value: state.policy.max_error_percent });
    const limits = h("div", { class: "row policy-limits" },
      field("Stop after this many errors", maxErrors),
      field("or this % of the rows processed so far", maxPercent));
    const policy = radios("When rows have errors", "error-policy", [
      ["continue", "Continue", "import the valid rows, report the others"],
      ["stop", "Stop", "stop the import after too many errors"],
      ["all_or_nothing", "All or nothing", "import nothing unless every row is valid"],
    ], state.policy.mode, (v) => { state.policy.mode = v; syncPolicy(); checkNext(); });
    policy.el.append(limits);
    function syncPolicy() {
      const stop = state.policy.mode === "stop";
      maxErrors.disabled = !stop;
      maxPercent.disabled = !stop;
      limits.classList.toggle("disabled", !stop);
    }
    maxErrors.addEventListener("input", () => { state.policy.max_errors = maxErrors.value; checkNext(); });
    maxPercent.addEventListener("input", () => { state.policy.max_error_percent = maxPercent.value; checkNext(); });
    syncPolicy();

    // Cleaning options
    const dateOrder = select([["", "as configured (default)"], ["DMY", "day first (31/12/2024)"], ["MDY", "month first (12/31/2024)"]],
      state.options.date_order, { id: "date-order" });
    const region = h("input", { type: "text", id: "phone-region", value: state.options.phone_region, maxlength: 2, size: 3, placeholder: "US" });
    dateOrder.addEventListener("change", () => { state.options.date_order = dateOrder.value; refresh(); });
    region.addEventListener("input", () => { state.options.phone_region = region.value; refresh(); });
    const strict = h("input", { type: "checkbox", id: "strict", checked: state.options.strict });
    strict.addEventListener("change", () => { state.options.strict = strict.checked; refresh(); });

    // Accounts: shown once a column is mapped to one of the contact's account fields
    const accountMatch = select([["", "the first mapped: external id, domain, then name"], ["external_id", "the account's external id"],
      ["domain", "the account's domain (website)"], ["name", "the account's name"]], state.options.account_match, { id: "account-match" });
    accountMatch.addEventListener("change", () => { state.options.account_match = accountMatch.value; refresh(); });
    const missingAccounts = radios("An account that does not exist yet", "missing-accounts", [
      ["create", "Create it", "from the row's account columns (its name is needed)"],
      ["warn", "Do not link", "import the contact without an account, with a warning"],
    ], state.options.missing_accounts, (v) => { state.options.missing_accounts = v; refresh(); });
    const accountBox = h("fieldset", { class: "account-links", "data-testid": "account-links" }, h("legend", {}, "Accounts"),
      h("p", { class: "hint" }, "Columns are mapped to the contact's account: each contact is linked to the account they name."),
      field("Find each contact's account by", accountMatch), missingAccounts.el);
    function drawAccountLinks() { accountBox.hidden = !linksAccounts(); }

    // Rules
    const rules = rulesEditor(state.model, state.rules, () => {
      try { state.rules = rules.value(); checkNext(); refresh(); } catch { /* shown by the editor */ }
    });

    // Save as template
    const templateName = h("input", { type: "text", id: "template-name", maxlength: 200 });
    const saveErrors = h("div", { class: "errors" });
    const saveButton = h("button", { type: "button", class: "secondary" }, "Save as template");
    saveButton.addEventListener("click", async () => {
      const name = templateName.value.trim();
      showError(saveErrors, null);
      if (!name) {
        showError(saveErrors, { type: "InputRequired", message: "the template needs a name", status: 0 }, "not saved");
        templateName.focus();
        return;
      }
      saveButton.disabled = true;
      try {
        const t = await post("/api/v1/templates", {
          template_name: name, target_model: state.model, template_type: "import",
          field_mapping: Object.fromEntries(Object.entries(state.mapping).filter(([, f]) => f)),
          validation_rules: state.rules,
          value_mapping: valueMappingBody(),
        });
        state.templateId = t.id;
        state.template = t;
        await loadTemplates();
        toast(`Saved the template “${t.template_name}”.`);
        templateName.value = "";
      } catch (err) {
        showError(saveErrors, err, "the template was not saved");
      } finally {
        saveButton.disabled = false;
      }
    });

    function drawMapping() {
      drawAccountLinks();
      const admin = session.me && session.me.role === "admin";
      const sugg = suggestionsFor(state.model);
      const fields = modelFields(state.model);
      const chosen = {};
      for (const [c, f] of Object.entries(state.mapping)) if (f) (chosen[f] = chosen[f] || []).push(c);
      replace(mappingBody, headers.map((column, i) => {
        const s = sugg[column];
        const label = (f) => `${f.title}${f.required ? " *" : ""}${s && s.field === f.name ? ` (suggested, ${Math.round(s.confidence * 100)} %)` : ""}`;
        const own = fields.filter((f) => !f.name.includes("."));
        const linked = fields.filter((f) => f.name.includes("."));
        const sel = select([["", "— do not import —"], ...own.map((f) => [f.name, label(f)])], "",
          { id: `map-${i}`, "data-column": column, class: "map-target" });
        // A contact's account fields: mapping one links each contact to its account, found or created.
        if (linked.length) sel.append(h("optgroup", { label: "The contact's account" }, linked.map((f) => h("option", { value: f.name }, label(f)))));
        sel.value = state.mapping[column] || "";
        sel.addEventListener("change", () => {
          state.mapping[column] = sel.value || null;
          drawMapping();
          refresh();
          document.getElementById(`map-${i}`)?.focus();
        });
        const target = state.mapping[column];
        const twice = target && chosen[target].length > 1;
        const suggestion = s && s.field
          ? h("span", {}, h("meter", { min: 0, max: 1, value: s.confidence, "aria-hidden": "true" }), ` ${Math.round(s.confidence * 100)} % `,
            fieldByName(state.model, s.field).title)
          : h("span", { class: "muted" }, "no suggestion");
        // A column with nowhere to go: an admin makes a field of the company's own for it, right here.
        const creating = admin && !target && !(s && s.field)
          ? h("button", { type: "button", class: "secondary small", "data-create-field": column,
            "aria-label": `Create a custom field for ${column}` }, "Create a custom field")
          : null;
        const formRow = h("tr", { class: "create-field-row", hidden: true },
          h("td", { colspan: 4 }, h("div", { class: "card" }, h("h4", {}, `A new ${state.model} field for “${column}”`))));
        creating?.addEventListener("click", () => {
          const form = createForm({
            idPrefix: `cf-${i}`,
            models: MODEL_NAMES.filter(([m]) => m === state.model),
            defaults: { label: column, model: state.model, choices: [...new Set(samples[i])] },
            onCreated: (doc) => {
              state.mapping[column] = doc.name;
              drawMapping();
              refresh();
              document.getElementById(`map-${i}`)?.focus();
            },
          });
          formRow.querySelector(".card").append(form.el);
          formRow.hidden = false;
          creating.disabled = true;
          form.focus();
        });
        return [h("tr", { class: twice ? "invalid" : target ? "mapped" : "unmapped", "data-column": column },
          h("th", { scope: "row" }, h("label", { for: `map-${i}` }, column)),
          h("td", { class: "samples" }, samples[i].length ? samples[i].join(" · ") : h("span", { class: "muted" }, "(empty)")),
          h("td", {}, sel, twice ? h("p", { class: "field-error" }, `✗ ${fieldByName(state.model, target).title} is chosen for ${chosen[target].length} columns; choose it once.`) : null),
          h("td", {}, suggestion, creating ? " " : null, creating)), formRow];
      }));
      checkNext();
    }

    function checkNext() {
      const fields = modelFields(state.model);
      const chosen = {};
      for (const [c, f] of Object.entries(state.mapping)) if (f) (chosen[f] = chosen[f] || []).push(c);
      const byRule = (f) => state.rules[f.name] && state.rules[f.name].required;
      const required = fields.filter((f) => f.required || byRule(f));
      // An update import needs the model's required fields only for rows that create a record.
      const forNewOnly = (f) => state.duplicate === "update" && !byRule(f);
      const missing = required.filter((f) => !chosen[f.name] && !forNewOnly(f));
      replace(requiredList, required.map((f) => chosen[f.name]
        ? h("li", { class: "ok", "data-field": f.name }, h("span", { "aria-hidden": "true" }, "✓ "), `${f.title} – mapped from “${chosen[f.name][0]}”`)
        : forNewOnly(f)
          ? h("li", { class: "optional", "data-field": f.name }, h("span", { "aria-hidden": "true" }, "○ "), `${f.title} – not mapped: rows that match no stored record fail (a new record needs it)`)
          : h("li", { class: "missing", "data-field": f.name }, h("span", { "aria-hidden": "true" }, "✗ "), `${f.title} – required, not mapped yet: choose a column for it`)));
      const duplicates = Object.values(chosen).some((cs) => cs.length > 1);
      const noLimit = state.policy.mode === "stop" && state.policy.max_errors === "" && state.policy.max_error_percent === "";
      nextButton.disabled = missing.length > 0 || duplicates || noLimit;
      nextHint.textContent = missing.length
        ? `Map the required fields first: ${missing.map((f) => f.title).join(", ")}.`
        : duplicates ? "Choose each field for one column only."
          : noLimit ? "“Stop” needs a number of errors or a percentage to stop at."
            : required.some((f) => !chosen[f.name]) ? "Ready to update: only rows that create a record need the fields marked ○."
              : "Every required field is mapped.";
    }

    let previewCall = 0;
    const refresh = debounce(async () => {
      const call = ++previewCall;
      previewBox.setAttribute("aria-busy", "true");
      try {
        const doc = await post(`/api/v1/uploads/${state.upload.id}/preview`, {
          target_model: state.model, mapping: state.mapping,
          validation_rules: Object.keys(state.rules).length ? state.rules : null,
          value_mapping: valueMappingBody(), options: readOptions(false), rows: PREVIEW_ROWS,
          duplicate_handling: state.duplicate,
        });
        if (call === previewCall) drawPreview(doc);
      } catch (err) {
        if (call === previewCall) replace(previewBox, errorBox(err, "the preview could not be made"));
      } finally {
        if (call === previewCall) previewBox.setAttribute("aria-busy", "false");
      }
    }, 250);

    function drawPreview(doc) {
      const fields = doc.fields;
      const title = (name) => (fieldByName(state.model, name) || { title: name }).title;
      const table = h("table", { class: "preview-table", "data-testid": "preview" },
        h("caption", {}, `The first ${doc.rows.length} rows as they will be imported: ${doc.valid_rows} valid, ${doc.invalid_rows} with errors`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Check"),
          fields.map((f) => h("th", { scope: "col" }, title(f))))),
        h("tbody", {}, doc.rows.map((r) => {
          const byField = {};
          for (const i of r.issues) (byField[i.field] = byField[i.field] || []).push(i);
          const rowIssues = r.issues.filter((i) => !i.field || !fields.includes(i.field));
          return h("tr", { class: r.ok ? "ok" : "invalid", "data-record": r.record_number },
            h("th", { scope: "row" }, String(r.record_number)),
            h("td", {}, r.ok ? h("span", { class: "ok-text" }, "✓ OK") : h("span", { class: "error-text" }, `✗ ${r.issues.filter((i) => i.level === "error").length} error(s)`),
              rowIssues.map((i) => h("p", { class: "cell-issue" }, `${i.field || "row"}: ${i.message}`))),
            fields.map((f) => {
              const issues = byField[f] || [];
              const shown = r.values[f] ?? r.raw[f] ?? "";
              const level = issues.some((i) => i.level === "error") ? "error" : issues.length ? "warning" : "";
              return h("td", { class: level ? `cell-${level}` : null, "data-field": f },
                String(shown),
                issues.map((i) => h("p", { class: "cell-issue" },
                  h("strong", {}, i.level === "error" ? "✗ Error: " : "⚠ Warning: "), i.message, i.hint ? ` – fix: ${i.hint}` : "")));
            }));
        })));
      replace(previewBox, h("div", { class: "table-scroll" }, table));
    }

    replace(body, h("section", { "aria-labelledby": "step-title" },
      h("h2", { id: "step-title" }, "2. Configuration"),
      h("div", { class: "config-grid" },
        h("fieldset", {}, h("legend", {}, "Target"), field("Import into", modelSel), field("Template", templateSel,
          "A template fills in the mapping and the validation rules."), templateErrors),
        duplicates.el,
        accountBox,
        policy.el,
        h("fieldset", {}, h("legend", {}, "Reading values"),
          field("Date order", dateOrder, "Which wins for dates such as 03/04/2024."),
          field("Phone region", region, "Two letters; numbers without a country code are read as this country's."),
          h("div", { class: "field checkbox-field" },
            h("label", { for: "strict" }, strict, " Strict"),
            h("p", { class: "hint", id: "strict-hint" }, "A value an optional field cannot take (a bad phone, an unknown choice) fails its row. "
              + "Unticked, the value is left out with a warning and the rest of the row is imported.")))),
      h("h3", {}, "Field mapping"),
      h("p", {}, "Choose where each column of the file goes. Fields marked * are required."),
      h("div", { class: "required-box" }, h("h4", {}, "Required fields"), requiredList),
      h("div", { class: "table-scroll" }, h("table", { class: "mapping" },
        h("caption", { class: "visually-hidden" }, "Field mapping"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column in the file"), h("th", { scope: "col" }, "Sample values"),
          h("th", { scope: "col" }, "Import into"), h("th", { scope: "col" }, "Suggestion (confidence)"))),
        mappingBody)),
      h("details", { class: "rules-box", open: Object.keys(state.rules).length > 0 },
        h("summary", {}, "Validation rules"),
        h("p", { class: "hint" }, "Extra checks on top of each field's type, e.g. a pattern for emails or a range for revenue."),
        rules.el),
      h("h3", {}, "Preview"),
      previewBox,
      h("div", { class: "save-template" }, h("h3", {}, "Save as template"),
        h("div", { class: "row" }, field("Template name", templateName), h("div", { class: "field" }, saveButton)), saveErrors),
      errors,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => go(1) }, "Back"),
        nextButton),
      nextHint));
    strict.setAttribute("aria-describedby", "strict-hint");
    nextButton.addEventListener("click", () => go(3));
    loadTemplates();
    drawMapping();
    refresh();
    stops.add(() => refresh.cancel());
  }

  function sampleValues() {
    const ins = state.inspected;
    return ins.headers.map((_, i) => [...new Set((ins.rows || []).map((r) => r[i]).filter((v) => v !== null && v !== undefined && v !== ""))].slice(0, 3));
  }

  // ------------------------------------------------------------------ 3. Values (file words -> picklist values)
  function stepValues() {
    const errors = h("div", { class: "errors" });
    const status = h("p", { class: "values-status", role: "status", "aria-live": "polite" }, "Reading the values of the file's choice columns…");
    const tables = h("div", { class: "values-fields", "aria-busy": "true" });
    const next = h("button", { type: "button", class: "primary", disabled: true }, "Next: Validation");
    replace(body, h("section", { "aria-labelledby": "step-title" },
      h("h2", { id: "step-title" }, "3. Values"),
      h("p", {}, "Choice fields such as a lead's source only take the values of the company's picklist. "
        + "Choose the picklist value each word of the file becomes; a word you leave to the policy gets what the policy says."),
      status, errors, tables,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => go(2) }, "Back"),
        next)));
    next.addEventListener("click", () => go(4));

    const title = (name) => (fieldByName(state.model, name) || { title: name }).title;
    const EMPTY = "__empty__";
    const POLICY = "__policy__";
    const norm = (w) => String(w).trim().toLowerCase().replace(/\s+/g, " ");

    function decision(fieldName, word) {
      const pairs = state.valueMapping[fieldName] || {};
      const key = Object.keys(pairs).find((k) => norm(k) === norm(word));
      return key === undefined ? undefined : pairs[key];
    }
    function decide(fieldName, word, target) {
      const pairs = { ...(state.valueMapping[fieldName] || {}) };
      for (const k of Object.keys(pairs)) if (norm(k) === norm(word)) delete pairs[k];
      if (target !== undefined) pairs[word] = target;
      state.valueMapping[fieldName] = pairs;
    }

    (async () => {
      let doc;
      try {
        doc = await post(`/api/v1/uploads/${state.upload.id}/preview`, {
          target_model: state.model, mapping: state.mapping,
          validation_rules: Object.keys(state.rules).length ? state.rules : null,
          value_mapping: valueMappingBody(), options: readOptions(false), rows: 1,
        });
      } catch (err) {
        tables.setAttribute("aria-busy", "false");
        status.textContent = "The values could not be read.";
        showError(errors, err, "the file's values could not be read");
        next.disabled = false;
        return;
      }
      if (state.step !== 3) return;
      tables.setAttribute("aria-busy", "false");
      next.disabled = false;
      const fields = doc.values || [];
      if (!fields.length) {
        status.textContent = "";
        replace(tables, h("p", { class: "notice", "data-testid": "no-choice-fields" },
          "No column of the file is mapped to a choice field (such as Lead source, Lead status or Account type), so there are no values to match. Go on to validation."));
        return;
      }
      // Accepted suggestions for words the picklist does not take yet become decisions, so the import uses them.
      for (const f of fields) {
        for (const item of f.items) {
          if (!item.chosen && !item.known && item.suggestion.accepted && decision(f.field, item.value) === undefined) {
            decide(f.field, item.value, item.suggestion.value);
          }
        }
      }
      status.textContent = `${fields.length} choice field${fields.length === 1 ? "" : "s"}: ${fields.map((f) => `${title(f.field)} (${f.distinct} distinct value${f.distinct === 1 ? "" : "s"})`).join(", ")}.`;
      replace(tables, fields.map((f, n) => fieldBox(f, n)));
    })();

    function fieldBox(f, n) {
      const box = h("section", { class: "values-field", "data-field": f.field, "aria-labelledby": `values-title-${n}` });
      const problems = h("div", { class: "errors" });
      const choiceLabel = (v) => (f.choices.find((c) => c.value === v) || { label: v }).label;

      function policyControl() {
        const current = state.unknown[f.field] || "empty";
        const mode = current.startsWith("map:") ? "map" : current;
        const sel = select([["empty", "leave empty, with a warning"], ["add", "add to the picklist"], ["map", "map to a value"], ["fail", "fail the row"]],
          mode, { id: `unknown-${n}`, "data-field": f.field, class: "unknown-policy" });
        const target = select([["", "— choose a value —"], ...f.choices.map((c) => [c.value, c.label])],
          current.startsWith("map:") ? current.slice(4) : "", { id: `unknown-map-${n}`, "data-field": f.field });
        const targetField = field("Map unknown values to", target);
        targetField.hidden = mode !== "map";
        const sync = () => {
          targetField.hidden = sel.value !== "map";
          state.unknown[f.field] = sel.value === "map" ? `map:${target.value}` : sel.value;
        };
        sel.addEventListener("change", sync);
        target.addEventListener("change", sync);
        return h("div", { class: "row unknown-row" },
          field(`Unknown values of ${title(f.field)} (left to the policy)`, sel,
            "“Add” puts the word into the picklist as a new value; “leave empty” imports the row without it and logs a warning; “fail” rejects the row."),
          targetField);
      }

      function draw(focusId) {
        const rows = f.items.map((item, i) => {
          const id = `value-${n}-${i}`;
          const chosen = decision(f.field, item.value);
          const preset = chosen !== undefined ? (chosen === null ? EMPTY : chosen)
            : item.known ? item.suggestion.value : POLICY;
          const options = [...f.choices.map((c) => [c.value, c.label]), [EMPTY, "— leave empty —"]];
          if (!item.known) options.push([POLICY, "unknown: use the policy below"]);
          if (preset && preset !== EMPTY && preset !== POLICY && !f.choices.some((c) => c.value === preset)) options.unshift([preset, `${preset} (not an active value)`]);
          const sel = select(options, preset, { id, class: "value-target", "data-field": f.field, "data-word": item.value });
          sel.addEventListener("change", () => {
            const v = sel.value;
            if (v === POLICY || (item.known && v === item.suggestion.value)) decide(f.field, item.value, undefined);
            else decide(f.field, item.value, v === EMPTY ? null : v);
            draw(id);
          });
          const s = item.suggestion;
          const why = item.known ? h("span", {}, `in the picklist (${s.reason})`)
            : s.value ? h("span", {}, `${choiceLabel(s.value)} – ${s.reason}, ${Math.round(s.confidence * 100)} %${s.accepted ? " (taken)" : " (not sure enough to take)"}`)
              : h("span", { class: "muted" }, `no suggestion (${s.reason})`);
          let add = null;
          if (!item.known && !item.added) {
            add = h("button", { type: "button", class: "secondary small", "data-word": item.value,
              "aria-label": `Add “${item.value}” to the ${title(f.field)} picklist` }, "Add to picklist");
            add.addEventListener("click", () => addToPicklist(item, add, id));
          }
          return h("tr", { "data-word": item.value, class: sel.value === POLICY ? "unmapped" : "mapped" },
            h("th", { scope: "row" }, h("label", { for: id }, item.value)),
            h("td", { class: "num" }, fmt.int(item.count)),
            h("td", {}, sel),
            h("td", { class: "reason" }, why),
            h("td", {}, add));
        });
        replace(box,
          h("h3", { id: `values-title-${n}` }, `${title(f.field)} – from the column “${f.column}”`),
          f.complete ? null : h("p", { class: "hint" }, `Only the first ${fmt.int(f.rows_read)} rows or ${fmt.int(f.distinct)} distinct values were read; any other word follows the policy below.`),
          h("div", { class: "table-scroll" }, h("table", { class: "values", "data-testid": `values-${f.field}` },
            h("caption", { class: "visually-hidden" }, `Values of ${title(f.field)}`),
            h("thead", {}, h("tr", {}, ["Value in the file", "Rows", "Import as", "Suggestion", ""].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, rows))),
          policyControl(),
          problems);
        if (focusId) document.getElementById(focusId)?.focus();
      }

      async function addToPicklist(item, button, selectId) {
        button.disabled = true;
        showError(problems, null);
        const value = slug(item.value);
        try {
          const added = await post(`/api/v1/picklists/${encodeURIComponent(f.picklist)}/values`, { value, label: item.value, synonyms: [] });
          f.choices = [...f.choices, { value: added.value, label: added.label }];
          item.added = true;
          decide(f.field, item.value, added.value);
          draw(selectId);
          toast(`Added “${added.label}” (${added.value}) to the ${f.picklist} picklist.`);
        } catch (err) {
          button.disabled = false;
          showError(problems, err, `“${item.value}” was not added to the picklist`);
        }
      }

      draw();
      return box;
    }
  }

  // ------------------------------------------------------------------ 4. Validation (a dry run)
  function stepValidation() {
    const errors = h("div", { class: "errors" });
    const live = h("div", { class: "validation-live" });
    const results = h("div", { class: "validation-results", "aria-live": "polite" });
    const rows = state.upload.row_estimate_exact ? fmt.int(state.upload.row_estimate) : `about ${fmt.int(state.upload.row_estimate)}`;
    const runButton = h("button", { type: "button", class: "primary" }, "Run validation");
    const skipButton = h("button", { type: "button", class: "secondary" }, "Skip validation and import");
    const startRow = h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => go(3) }, "Back to values"), runButton, skipButton);
    replace(body, h("section", { "aria-labelledby": "step-title" },
      h("h2", { id: "step-title" }, "4. Validation"),
      h("p", {}, `Validation reads all ${rows} rows as the import will – cleaning, validation rules and duplicate matching – and writes nothing to the CRM.`),
      startRow, errors, live, results));

    runButton.addEventListener("click", async () => {
      runButton.disabled = true;
      skipButton.disabled = true;
      startRow.hidden = true;
      showError(errors, null);
      try {
        state.dryJob = await post("/api/v1/jobs", jobBody(true));
      } catch (err) {
        runButton.disabled = false;
        skipButton.disabled = false;
        startRow.hidden = false;
        showError(errors, err, "the validation could not start");
        return;
      }
      const panel = progressPanel("Validation progress");
      panel.update(state.dryJob);
      const stopRun = h("button", { type: "button", class: "secondary" }, "Stop validation");
      stopRun.addEventListener("click", async () => {
        stopRun.disabled = true;
        try { await post(`/api/v1/jobs/${state.dryJob.id}/cancel`); } catch (err) { showError(errors, err, "the validation could not be stopped"); }
      });
      replace(live, panel.el, h("div", { class: "actions" }, stopRun));
      stops.add(watch(`/api/v1/jobs/${state.dryJob.id}/events`, (name, job) => {
        panel.update(job, state.upload.row_estimate || 0);
        state.dryJob = job;
        if (name === "final") {
          stopRun.remove();
          showValidation(job);
        }
      }, { onState: (s, err) => { if (s === "error") showError(errors, err, "lost the validation's progress"); } }));
    });
    skipButton.addEventListener("click", () => go(5));

    async function showValidation(job) {
      if (job.job_status !== "completed") {
        replace(results, h("div", { class: "notice" }, statusBadge(job.job_status), ` The validation ${job.job_status}. ${job.message || ""}`),
          h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => go(2) }, "Back to configuration")));
        return;
      }
      const bad = job.error_records;
      const warned = job.warning_records || 0;
      const summary = h("p", { class: bad ? "summary has-errors" : "summary all-valid", "data-testid": "validation-summary" },
        h("strong", {}, bad ? "✗ " : "✓ "),
        `${fmt.int(job.processed_records)} rows checked: ${fmt.int(job.success_records)} valid, ${fmt.int(bad)} with errors`,
        warned ? `, ${fmt.int(warned)} with warnings (imported with a value left out)` : "", ". ",
        `The import would create ${fmt.int(job.created_records)}, update ${fmt.int(job.updated_records)} and skip ${fmt.int(job.skipped_records)} rows.`);
      const perField = h("div");
      const badRows = h("div");
      const warnRows = h("div");
      const importButton = h("button", { type: "button", class: "primary", onclick: () => go(5) },
        bad ? `Import the ${fmt.int(job.success_records)} valid rows` : `Import ${fmt.int(job.success_records)} rows`);
      replace(results, summary, perField, badRows, warnRows,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: () => go(2) }, "Back to configuration"),
          bad ? h("button", { type: "button", class: "secondary", onclick: () => downloadErrors(job, errors) }, "Download these errors (CSV)") : null,
          importButton));
      if (warned) badRowsTable(warnRows, job, 0, "warning");
      if (!bad) return;
      try {
        const s = await get(`/api/v1/jobs/${job.id}/error-summary`);
        replace(perField, h("table", { class: "per-field", "data-testid": "errors-per-field" },
          h("caption", {}, "Errors per field"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Rows"),
            h("th", { scope: "col" }, "Example"), h("th", { scope: "col" }, "How to fix"))),
          h("tbody", {}, s.fields.map((f) => h("tr", { "data-field": f.field },
            h("th", { scope: "row" }, f.field === "(row)" ? "(whole row)" : (fieldByName(state.model, f.field) || { title: f.field }).title),
            h("td", { class: "num" }, fmt.int(f.rows)), h("td", {}, f.example || ""), h("td", {}, f.hint || ""))))));
      } catch (err) {
        showError(perField, err, "the errors per field could not be loaded");
      }
      badRowsTable(badRows, job, 0);
    }
  }

  /** The rows with errors (level "error": not imported) or warnings (level "warning": imported with a value left out). */
  async function badRowsTable(container, job, offset, level = "error") {
    const warnings = level === "warning";
    try {
      const page = await get(`/api/v1/jobs/${job.id}/logs${query({ level, limit: BAD_ROWS_PAGE, offset })}`);
      const total = warnings ? Math.max(job.warning_records || 0, page.items.length) : job.error_records;
      const last = Math.min(offset + page.items.length, total);
      const prev = h("button", { type: "button", class: "secondary", disabled: offset === 0 }, "Previous page");
      const next = h("button", { type: "button", class: "secondary", disabled: last >= total }, "Next page");
      prev.addEventListener("click", () => badRowsTable(container, job, Math.max(0, offset - BAD_ROWS_PAGE), level));
      next.addEventListener("click", () => badRowsTable(container, job, offset + BAD_ROWS_PAGE, level));
      const trs = [];
      for (const log of page.items) {
        const issues = ((log.record_data && log.record_data.issues) || []).filter((i) => i.level === level);
        const values = (log.record_data && log.record_data.values) || {};
        if (!issues.length) {
          trs.push(h("tr", {}, h("th", { scope: "row" }, String(log.record_number ?? "")), h("td", {}, log.field || ""), h("td", {}), h("td", {}, log.message), h("td", {}, warnings ? "" : "correct the row in the file")));
        }
        for (const i of issues) {
          trs.push(h("tr", { "data-record": log.record_number },
            h("th", { scope: "row" }, String(log.record_number ?? "")),
            h("td", {}, (fieldByName(state.model, i.field) || { title: i.field }).title),
            h("td", {}, i.value ?? values[i.field] ?? ""),
            h("td", {}, i.message), h("td", {}, i.hint || "")));
        }
      }
      replace(container, h("table", { class: warnings ? "bad-rows warning-rows" : "bad-rows", "data-testid": warnings ? "warning-rows" : "bad-rows" },
        h("caption", {}, warnings ? `Rows with warnings (imported, a value left out): ${fmt.int(offset + 1)}–${fmt.int(last)} of ${fmt.int(total)}`
          : `Rows with errors: ${fmt.int(offset + 1)}–${fmt.int(last)} of ${fmt.int(total)}`),
        h("thead", {}, h("tr", {}, ["Row", "Field", "Value", "Problem", "How to fix"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, trs)),
      h("div", { class: "pager" }, prev, h("span", {}, `Page ${Math.floor(offset / BAD_ROWS_PAGE) + 1} of ${Math.max(1, Math.ceil(total / BAD_ROWS_PAGE))}`), next));
    } catch (err) {
      showError(container, err, warnings ? "the rows with warnings could not be loaded" : "the rows with errors could not be loaded");
    }
  }

  async function downloadErrors(job, errors) {
    try {
      const name = await download(`/api/v1/jobs/${job.id}/errors.csv`, "errors.csv");
      toast(`Downloaded ${name}.`);
    } catch (err) {
      showError(errors, err, "the error report could not be downloaded");
    }
  }

  // ------------------------------------------------------------------ 5. Processing
  async function stepProcessing() {
    const errors = h("div", { class: "errors" });
    const live = h("div");
    const cancel = h("button", { type: "button", class: "danger", disabled: true }, "Cancel the import");
    replace(body, h("section", { "aria-labelledby": "step-title" },
      h("h2", { id: "step-title" }, "5. Processing"),
      h("p", {}, `Importing ${state.upload.original_filename} into ${state.model}s. You may leave this page: the import goes on, and the Jobs page shows it.`),
      errors, live, h("div", { class: "actions" }, cancel)));
    try {
      state.job = await post("/api/v1/jobs", jobBody(false));
    } catch (err) {
      showError(errors, err, "the import could not start");
      replace(live, h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => go(2) }, "Back to configuration")));
      cancel.remove();
      return;
    }
    const panel = progressPanel("Import progress");
    panel.update(state.job);
    replace(live, panel.el);
    cancel.disabled = false;
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        const job = await post(`/api/v1/jobs/${state.job.id}/cancel`);
        panel.update(job);
        toast("The import was cancelled; nothing more is written.");
      } catch (err) {
        showError(errors, err, "the import could not be cancelled");
        cancel.disabled = false;
      }
    });
    const estimate = state.upload.row_estimate || 0;
    stops.add(watch(`/api/v1/jobs/${state.job.id}/events`, (name, job) => {
      state.job = job;
      panel.update(job, estimate);
      if (name === "final" || FINAL.has(job.job_status)) go(6);
    }, { onState: (s, err) => { if (s === "error") showError(errors, err, "lost the import's progress (it goes on; see the Jobs page)"); } }));
  }

  // ------------------------------------------------------------------ 6. Results
  async function stepResults() {
    const errors = h("div", { class: "errors" });
    const job = state.job;
    const panel = progressPanel("Import results");
    panel.update(job);
    const verb = { completed: "completed", failed: "failed", cancelled: "was cancelled" }[job.job_status] || job.job_status;
    const applied = job.created_records + job.updated_records;
    const warnRows = h("div", { class: "result-warnings" });
    replace(body, h("section", { "aria-labelledby": "step-title" },
      h("h2", { id: "step-title" }, "6. Results"),
      h("p", { class: `summary result-${job.job_status}`, "data-testid": "result-summary" }, statusBadge(job.job_status),
        ` The import ${verb}: ${fmt.int(applied)} rows written (${fmt.int(job.created_records)} created, ${fmt.int(job.updated_records)} updated), `,
        `${fmt.int(job.skipped_records)} skipped as duplicates, ${fmt.int(job.error_records)} with errors`,
        job.warning_records ? `, ${fmt.int(job.warning_records)} imported with warnings (a value left out)` : "", "."),
      panel.el,
      warnRows,
      h("dl", { class: "facts" },
        h("dt", {}, "Started"), h("dd", {}, fmt.time(job.started_at)),
        h("dt", {}, "Finished"), h("dd", {}, fmt.time(job.completed_at))),
      errors,
      job.error_records ? h("div", { class: "notice" },
        h("p", {}, "The error report lists every row that was not imported, with the reason in its last column. Fix the rows and import the report again."),
        h("button", { type: "button", class: "primary", onclick: () => downloadErrors(job, errors) }, "Download the error report (CSV)")) : null,
      h("h3", {}, "Result files"),
      h("p", {}, "The success file lists each imported row with its outcome, record id and match key. The error file holds every column of each row that failed or had a value left out (a warning), as you uploaded it, with what is wrong; the Excel version highlights the offending cells. Fix the error rows and retry with the file: the rows keep their row numbers."),
      h("div", { class: "result-files", role: "group", "aria-label": "Result files" },
        ...[["success", "csv", "Success file (CSV)"], ["success", "excel", "Success file (Excel)"],
          ["errors", "csv", "Error file (CSV)"], ["errors", "excel", "Error file (Excel)"]].map(([kind, format, label]) =>
          h("button", {
            type: "button", class: "secondary", "data-testid": `result-${kind}-${format}`,
            onclick: async () => {
              try {
                toast(`Downloaded ${await download(`/api/v1/jobs/${job.id}/results${query({ kind, format })}`, `${kind}.${format === "excel" ? "xlsx" : "csv"}`)}.`);
              } catch (err) { showError(errors, err, "the result file could not be downloaded"); }
            },
          }, label))),
      h("h3", {}, "Next"),
      h("ul", { class: "next-actions" },
        h("li", {}, h("a", { href: `#/jobs/${job.id}` }, "Open the job's page (logs, timings)")),
        h("li", {}, h("a", { href: `#/export?model=${state.model}` }, `Export the ${state.model}s`)),
        h("li", {}, h("button", { type: "button", class: "link", onclick: restart }, "Import another file")))));
    if (job.warning_records) badRowsTable(warnRows, job, 0, "warning");
  }

  function restart() {
    state.upload = null;
    state.inspected = null;
    state.file = null;
    state.job = null;
    state.dryJob = null;
    go(1);
  }

  go(1);
  return () => { for (const stop of stops) stop(); };
}

/** A picklist value for a file's word: "Trade Fair 2024" -> "trade_fair_2024" (what records store). */
function slug(word) {
  const s = String(word).normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 40).replace(/_+$/, "");
  return s || "value";
}

function delimiterName(d) {
  const known = Object.fromEntries(DELIMITERS);
  return d ? known[d] || `“${d}”` : "–";
}
