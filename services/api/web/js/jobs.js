// The job dashboard (live over the company's event stream) and the job page (counters, timings, logs, cancel, downloads).
// The job page offers cancel only when the signed-in key may cancel the job (GET /api/v1/jobs/{id}/actions: a member
// key only the jobs it created, never a rollback); otherwise it says why.

import { download, downloadResult, get, post, query, RESULT_FILES, watch } from "./api.js";
import { field, fmt, h, replace, select, statusBadge, toast } from "./dom.js";
import { activityCharts } from "./charts.js";
import { showError } from "./errors.js";
import { FINAL, MODEL_NAMES, clampPercent, progressPanel } from "./widgets.js";

const PAGE = 25;
const LOG_PAGE = 50;

function title(job) {
  const what = job.job_type === "import" ? `Import of ${job.original_filename || "a file"}` : `Export to ${(job.file_format || "").toUpperCase()}`;
  return `${what} (${job.target_model}s)`;
}

function liveIndicator() {
  const el = h("p", { class: "live-state", role: "status", "data-state": "connecting" }, "Live updates: connecting…");
  return {
    el,
    set(state, err) {
      el.dataset.state = state;
      el.textContent = {
        open: "● Live updates: on",
        reconnecting: "○ Live updates: reconnecting…",
        error: `○ Live updates: interrupted (${err ? err.message : "unknown error"}); retrying`,
        closed: "○ Live updates: off",
      }[state] || state;
    },
  };
}

export function renderList(main) {
  const typeSel = select([["", "all"], ["import", "imports"], ["export", "exports"]], "", { id: "job-type-filter" });
  const statusSel = select([["", "all"], "pending", "running", "completed", "failed", "cancelled"], "", { id: "job-status-filter" });
  const modelSel = select([["", "all"], ...MODEL_NAMES], "", { id: "job-model-filter" });
  const errors = h("div", { class: "errors" });
  const tbody = h("tbody");
  const caption = h("caption", {});
  const pager = h("div", { class: "pager" });
  const live = liveIndicator();
  let offset = 0;
  let total = 0;

  const table = h("table", { class: "jobs", "data-testid": "jobs" }, caption,
    h("thead", {}, h("tr", {}, ["Job", "Records", "Status", "Progress", "Processed", "Errors", "Warnings", "Created"].map((c) => h("th", { scope: "col" }, c)))),
    tbody);

  function matches(job) {
    return (!typeSel.value || job.job_type === typeSel.value) && (!statusSel.value || job.job_status === statusSel.value)
      && (!modelSel.value || job.target_model === modelSel.value);
  }

  function row(job) {
    const pct = clampPercent(job.percent);
    const bar = h("progress", { max: 100, value: pct, "aria-label": `Progress of ${title(job)}` });
    return h("tr", { "data-job": job.id, "data-status": job.job_status },
      h("th", { scope: "row" }, h("a", { href: `#/jobs/${job.id}` }, title(job))),
      h("td", {}, job.target_model),
      h("td", { class: "status-cell" }, statusBadge(job.job_status)),
      h("td", { class: "progress-cell" }, bar, " ", h("span", { class: "pct" }, fmt.percent(pct))),
      h("td", { class: "num processed" }, `${fmt.int(job.processed_records)}${job.total_records >= job.processed_records && job.total_records ? ` of ${fmt.int(job.total_records)}` : ""}`),
      h("td", { class: "num errors-cell" }, fmt.int(job.error_records)),
      h("td", { class: "num warnings-cell", title: "rows imported with a value left out" }, fmt.int(job.warning_records || 0)),
      h("td", {}, fmt.time(job.created_at)));
  }

  const shown = h("span", {});
  function drawCaption() {
    caption.textContent = `${fmt.int(total)} job${total === 1 ? "" : "s"}, newest first`;
    // Kept true as live events add and remove rows, not only when a page loads.
    const rows = tbody.children.length;
    shown.textContent = total && rows ? `${fmt.int(offset + 1)}–${fmt.int(offset + rows)} of ${fmt.int(total)}` : "No jobs match.";
  }

  let loads = 0;
  async function load() {
    const mine = ++loads;
    showError(errors, null);
    try {
      const page = await get(`/api/v1/jobs${query({ job_type: typeSel.value, job_status: statusSel.value, target_model: modelSel.value, limit: PAGE, offset })}`);
      // Filters changed quickly: an older load answering last would show the jobs of filters no longer chosen.
      if (mine !== loads) return;
      total = page.total;
      replace(tbody, page.items.map(row));
      drawCaption();
      const prev = h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => { offset -= PAGE; load(); } }, "Newer jobs");
      const next = h("button", { type: "button", class: "secondary", disabled: offset + page.items.length >= page.total, onclick: () => { offset += PAGE; load(); } }, "Older jobs");
      replace(pager, prev, shown, next);
    } catch (err) {
      showError(errors, err, "the jobs could not be loaded");
    }
  }
  for (const s of [typeSel, statusSel, modelSel]) s.addEventListener("change", () => { offset = 0; load(); });

  function onEvent(name, job) {
    if (!job || !job.id) return;
    const existing = tbody.querySelector(`tr[data-job="${job.id}"]`);
    if (existing) {
      if (matches(job)) existing.replaceWith(row(job));
      else { existing.remove(); total -= 1; drawCaption(); }
    } else if (matches(job) && offset === 0) {
      tbody.prepend(row(job));
      total += 1;
      drawCaption();
      while (tbody.children.length > PAGE) tbody.lastChild.remove();
    }
  }

  const activity = activityCharts();
  replace(main, h("div", { class: "jobs-view" },
    h("h1", {}, "Jobs"),
    activity.el,
    h("h2", {}, "All jobs"),
    h("div", { class: "row filters-bar" }, field("Type", typeSel), field("Status", statusSel), field("Records", modelSel), live.el),
    errors,
    h("div", { class: "table-scroll" }, table),
    pager));
  load();
  const stop = watch("/api/v1/events", onEvent, { reconnect: true, onState: (s, err) => live.set(s, err) });
  return () => { stop(); activity.stop(); };
}

export function renderJob(main, jobId) {
  const stops = new Set();
  const heading = h("h1", {}, "Job");
  const errors = h("div", { class: "errors" });
  const panel = progressPanel("Job progress");
  const details = h("dl", { class: "facts", "data-testid": "job-details" });
  const actions = h("div", { class: "actions" });
  const logsBox = h("div", { "aria-live": "polite" });
  const levelSel = select([["", "all levels"], ["error", "errors"], ["warning", "warnings"], ["info", "information"]], "", { id: "log-level" });
  let job = null;
  let allowed = null; // what the key's role lets it do with this job: { cancel: { allowed, reason }, ... }
  let logOffset = 0;

  replace(main, h("div", { class: "job-view" },
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    heading, errors, panel.el, actions,
    h("h2", {}, "Details"), details,
    h("h2", {}, "Logs"),
    h("div", { class: "row filters-bar" }, field("Level", levelSel)),
    logsBox));

  function drawDetails() {
    const elapsed = job.started_at ? fmt.seconds(job.elapsed_seconds) : "not started";
    const opts = job.options || {};
    const facts = [
      ["Job id", h("code", {}, job.id)],
      ["Type", job.job_type], ["Records", job.target_model], ["Format", job.file_format],
      ["Created", fmt.time(job.created_at)], ["Started", fmt.time(job.started_at)],
      ["Finished", fmt.time(job.completed_at)], ["Duration", elapsed],
    ];
    if (job.job_type === "import") {
      facts.push(["Duplicates", job.duplicate_handling], ["Dry run", opts.dry_run ? "yes (nothing written)" : "no"]);
      facts.push(["Rows with errors", `${fmt.int(job.error_records)} (not imported)`],
        ["Rows with warnings", `${fmt.int(job.warning_records || 0)} (imported with a value left out; see the warnings in the logs)`]);
      if (opts.strict) facts.push(["Strict", "yes: a value a field cannot take fails its row"]);
      if (opts.unknown_values) facts.push(["Unknown values", typeof opts.unknown_values === "string" ? opts.unknown_values
        : Object.entries(opts.unknown_values).map(([f, p]) => `${f}: ${p}`).join("; ")]);
      if (job.value_mapping && Object.keys(job.value_mapping).length) {
        facts.push(["Value mapping", Object.entries(job.value_mapping).map(([f, pairs]) =>
          `${f}: ${Object.entries(pairs).map(([w, v]) => `${w} → ${v === null ? "(empty)" : v}`).join(", ")}`).join("; ")]);
      }
      facts.push(["Mapping", Object.entries(job.field_mapping || {}).map(([c, f]) => `${c} → ${f}`).join("; ") || "–"]);
      if (job.validation_rules && Object.keys(job.validation_rules).length) facts.push(["Validation rules", JSON.stringify(job.validation_rules)]);
    } else {
      facts.push(["Fields", (opts.fields || []).join(", ") || "all"],
        ["Filters", (opts.filters || []).map((f) => `${f.field} ${f.op}${f.value !== undefined ? ` ${JSON.stringify(f.value)}` : ""}`).join("; ") || "none"],
        ["Sort", (opts.sort || []).join(", ") || "creation order"]);
    }
    replace(details, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  function drawActions() {
    const items = [];
    if (!FINAL.has(job.job_status) && allowed && !allowed.cancel.allowed) {
      items.push(h("p", { class: "notice", "data-testid": "cancel-not-allowed" },
        `This key cannot cancel the job: ${allowed.cancel.reason}.`));
    } else if (!FINAL.has(job.job_status) && allowed) {
      const cancel = h("button", { type: "button", class: "danger" }, "Cancel the job");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          job = await post(`/api/v1/jobs/${job.id}/cancel`);
          toast("The job was cancelled.");
          update(job);
        } catch (err) {
          showError(errors, err, "the job could not be cancelled");
          cancel.disabled = false;
        }
      });
      items.push(cancel);
    }
    const dl = (label, path, fallback) => {
      const b = h("button", { type: "button", class: "secondary" }, label);
      b.addEventListener("click", async () => {
        try { toast(`Downloaded ${await download(path, fallback)}.`); } catch (err) { showError(errors, err, "the download failed"); }
      });
      return b;
    };
    if (job.job_type === "export" && job.job_status === "completed") items.push(dl("Download the file", `/api/v1/jobs/${job.id}/download`, `export.${job.file_format}`));
    if (job.job_type === "import" && job.error_records > 0) items.push(dl("Download the error report (CSV)", `/api/v1/jobs/${job.id}/errors.csv`, "errors.csv"));
    if (job.job_type === "import" && FINAL.has(job.job_status)) items.push(resultFiles());
    replace(actions, items);
  }

  // The success file (row, outcome, record id, match key) and the error file (every original column of
  // each failed or warned row, what is wrong; in Excel the offending cells are highlighted).
  function resultFiles() {
    const group = h("div", { class: "result-files", role: "group", "aria-label": "Result files" },
      h("span", { class: "label" }, "Result files: "));
    for (const { kind, format, label } of RESULT_FILES) {
      const b = h("button", { type: "button", class: "secondary", "data-testid": `result-${kind}-${format}` }, label);
      b.addEventListener("click", async () => {
        b.disabled = true;
        try { toast(`Downloaded ${await downloadResult(job.id, kind, format)}.`); } catch (err) { showError(errors, err, "the download failed"); }
        b.disabled = false;
      });
      group.append(b);
    }
    return group;
  }

  function update(doc) {
    const wasFinal = job && FINAL.has(job.job_status);
    job = doc;
    heading.textContent = title(job);
    document.title = `${title(job)} · crmio`;
    panel.update(job);
    drawDetails();
    drawActions();
    if (FINAL.has(job.job_status) && !wasFinal) loadLogs();
  }

  async function loadLogs() {
    try {
      const page = await get(`/api/v1/jobs/${jobId}/logs${query({ level: levelSel.value, limit: LOG_PAGE, offset: logOffset })}`);
      const prev = h("button", { type: "button", class: "secondary", disabled: logOffset === 0, onclick: () => { logOffset -= LOG_PAGE; loadLogs(); } }, "Previous page");
      const next = h("button", { type: "button", class: "secondary", disabled: page.items.length < LOG_PAGE, onclick: () => { logOffset += LOG_PAGE; loadLogs(); } }, "Next page");
      if (!page.items.length && logOffset === 0) {
        replace(logsBox, h("p", { class: "empty", "data-testid": "no-logs" }, levelSel.value ? `No ${levelSel.selectedOptions[0].textContent} in this job's log.` : "This job has no log entries."));
        return;
      }
      const symbol = { error: "✗", warning: "⚠", info: "ℹ" };
      replace(logsBox, h("table", { class: "logs", "data-testid": "logs" },
        h("caption", { class: "visually-hidden" }, "Log entries"),
        h("thead", {}, h("tr", {}, ["Row", "Level", "Field", "Message"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, page.items.map((l) => h("tr", { "data-level": l.log_level },
          h("td", { class: "num" }, l.record_number ?? "–"),
          h("td", {}, h("span", { class: `badge level-${l.log_level}` }, `${symbol[l.log_level] || ""} ${l.log_level}`)),
          h("td", {}, l.field || ""),
          h("td", {}, l.message))))),
      h("div", { class: "pager" }, prev, h("span", {}, `Entries ${fmt.int(logOffset + 1)}–${fmt.int(logOffset + page.items.length)}`), next));
    } catch (err) {
      showError(logsBox, err, "the logs could not be loaded");
    }
  }
  levelSel.addEventListener("change", () => { logOffset = 0; loadLogs(); });

  (async () => {
    try {
      const [doc, actions] = await Promise.all([get(`/api/v1/jobs/${jobId}`), get(`/api/v1/jobs/${jobId}/actions`)]);
      allowed = actions.actions;
      update(doc);
    } catch (err) {
      heading.textContent = "Job not available";
      showError(errors, err, "the job could not be loaded");
      return;
    }
    loadLogs();
    if (!FINAL.has(job.job_status)) {
      stops.add(watch(`/api/v1/jobs/${jobId}/events`, (name, doc) => update(doc),
        { onState: (s, err) => { if (s === "error") showError(errors, err, "lost the job's live progress; reload the page"); } }));
    }
  })();
  return () => { for (const stop of stops) stop(); };
}
