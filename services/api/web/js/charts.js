// The dashboard's activity charts: plain SVG drawn from GET /api/v1/stats/timeseries (no chart library, no build).
// Each chart is a figure with its title, its latest value and a text summary for screen readers; the figures also
// sit in a table under "Figures as a table", so nothing is told by the picture alone.

import { get, query } from "./api.js";
import { fmt, h, replace, select } from "./dom.js";
import { showError } from "./errors.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 320;
const H = 120;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };
const REFRESH_MS = 10_000;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** One chart: series = [{ key, label, cls, kind: "line" | "bars" }] over points[]; value(p, key) reads a figure. */
function chart(title, unit, points, series, stepS) {
  const xs = points.length;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => points.map((p) => p[s.key]))));
  const x = (i) => PAD.left + (innerW * i) / Math.max(xs - 1, 1);
  const y = (v) => PAD.top + innerH - (innerH * v) / max;
  const plot = svg("g", {});
  plot.append(
    svg("line", { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), class: "axis" }),
    svg("line", { x1: PAD.left, y1: y(max), x2: W - PAD.right, y2: y(max), class: "grid" }),
    svg("text", { x: PAD.left - 4, y: y(max) + 4, "text-anchor": "end", class: "tick" }, fmt.int(max)),
    svg("text", { x: PAD.left - 4, y: y(0), "text-anchor": "end", class: "tick" }, "0"),
  );
  if (xs) {
    plot.append(
      svg("text", { x: PAD.left, y: H - 4, class: "tick" }, clock(points[0].at)),
      svg("text", { x: W - PAD.right, y: H - 4, "text-anchor": "end", class: "tick" }, "now"),
    );
  }
  for (const s of series) {
    if (s.kind === "bars") {
      const bw = Math.max(innerW / Math.max(xs, 1) - 1, 1);
      points.forEach((p, i) => {
        if (p[s.key] > 0) {
          const top = y(p[s.key]);
          plot.append(svg("rect", { x: x(i) - bw / 2, y: top, width: bw, height: y(0) - top, class: `bar ${s.cls}` }));
        }
      });
    } else {
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join("");
      if (d) plot.append(svg("path", { d, class: `line ${s.cls}` }));
    }
  }
  const last = points[points.length - 1] || {};
  const peak = (key) => Math.max(0, ...points.map((p) => p[key]));
  const round = (v) => fmt.int(v === undefined ? v : Math.round(v));
  const summary = series.map((s) => `${s.label}: now ${round(last[s.key])}, peak ${round(peak(s.key))}`).join("; ");
  const picture = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title} (${unit}), ${summary}` }, plot);
  const legend = h("ul", { class: "legend" }, series.map((s) => h("li", { class: s.cls },
    h("span", { class: "swatch", "aria-hidden": "true" }), `${s.label}: `, h("strong", { "data-latest": s.key }, round(last[s.key])))));
  return h("figure", { class: "chart", "data-chart": series[0].key },
    h("figcaption", {}, h("strong", {}, title), h("span", { class: "unit" }, ` ${unit}, every ${fmt.seconds(stepS)}`)),
    picture, legend);
}

const CHARTS = [
  ["Rows processed", "per second", [{ key: "rows_per_s", label: "rows/s", cls: "s-rows", kind: "line" }]],
  ["Errors", "rows failed per step", [{ key: "errors", label: "errors", cls: "s-errors", kind: "bars" }]],
  ["Jobs by state", "jobs", [
    { key: "running", label: "running", cls: "s-running", kind: "line" },
    { key: "pending", label: "pending", cls: "s-pending", kind: "line" },
    { key: "completed", label: "completed", cls: "s-completed", kind: "bars" },
    { key: "failed", label: "failed", cls: "s-failed", kind: "bars" },
  ]],
  ["Rows waiting", "in running imports", [{ key: "backlog_rows", label: "waiting", cls: "s-backlog", kind: "line" }]],
];

function figuresTable(points) {
  const cols = [["at", "Step from"], ["rows_per_s", "Rows/s"], ["errors", "Errors"], ["pending", "Pending"], ["running", "Running"],
    ["completed", "Completed"], ["failed", "Failed"], ["cancelled", "Cancelled"], ["backlog_rows", "Rows waiting"]];
  const busy = points.filter((p) => cols.slice(1).some(([k]) => p[k]));
  return h("details", { class: "chart-table" }, h("summary", {}, "Figures as a table"),
    busy.length
      ? h("div", { class: "table-scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, cols.map(([, label]) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, busy.map((p) => h("tr", {}, cols.map(([k]) => h("td", { class: k === "at" ? "" : "num" }, k === "at" ? clock(p.at) : fmt.int(Math.round(p[k])))))))))
      : h("p", {}, "No activity in this window."));
}

/** The activity section of the dashboard; returns { el, stop }. */
export function activityCharts() {
  const windowSel = select([["10", "last 10 minutes"], ["60", "last hour"], ["1440", "last 24 hours"]], "60", { id: "activity-window" });
  const errors = h("div", { class: "errors" });
  const grid = h("div", { class: "charts", "aria-live": "off", "aria-busy": "true" });
  const note = h("p", { class: "hint" },
    "Your company's jobs only. Rows per second spread each job's rows evenly over its run; errors and job states are exact. ",
    "Rows waiting are your running imports' rows not applied yet (the workers' shared queue is not shown).");
  let timer = null;
  let loads = 0;

  async function load() {
    const mine = ++loads;
    try {
      const ts = await get(`/api/v1/stats/timeseries${query({ minutes: windowSel.value })}`);
      if (mine !== loads) return;
      showError(errors, null);
      replace(grid, CHARTS.map(([title, unit, series]) => chart(title, unit, ts.points, series, ts.step_s)), figuresTable(ts.points));
      grid.setAttribute("aria-busy", "false");
      grid.dataset.updated = String(Date.now());
    } catch (err) {
      showError(errors, err, "the activity charts could not be loaded");
    }
  }
  windowSel.addEventListener("change", () => { grid.setAttribute("aria-busy", "true"); load(); });
  load();
  timer = setInterval(load, REFRESH_MS);
  const el = h("section", { class: "activity", "aria-labelledby": "activity-heading" },
    h("div", { class: "row activity-head" }, h("h2", { id: "activity-heading" }, "Activity"), h("div", { class: "field-inline" }, h("label", { for: windowSel.id }, "Window"), windowSel)),
    errors, grid, note);
  return { el, stop: () => clearInterval(timer) };
}
