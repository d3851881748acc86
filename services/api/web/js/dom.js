// Building the DOM without innerHTML: every text from the API or a file is a text node, never markup.

/** h("button", {class: "primary", onclick: f}, "Save") -> element. Attributes: on* are listeners,
 *  booleans toggle, null/undefined/false are left out; children may be nested arrays, strings or nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string" && name !== "list") {
      el[name] = value; // value, checked, selected, disabled ... as properties
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form control: <div class="field"><label for>..</label> control [hint]</div>. */
export function field(label, control, hint) {
  const id = control.id || nextId("f");
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** <select> with options [[value, label], ...] or plain strings. */
export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const opt of options) {
    const [v, label] = Array.isArray(opt) ? opt : [opt, opt];
    el.append(h("option", { value: v ?? "" }, label));
  }
  if (value !== undefined && value !== null) el.value = value;
  return el;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  bytes(n) {
    if (n < 1024) return `${n} B`;
    const units = ["KB", "MB", "GB"];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${v.toFixed(1)} ${units[i]}`;
  },
  seconds(s) {
    if (s === null || s === undefined) return "unknown";
    if (s < 1) return "under a second";
    if (s < 60) return `${Math.round(s)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  },
  time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
  },
  percent: (p) => `${(p ?? 0).toFixed(p >= 100 || p === 0 ? 0 : 1)} %`,
};

/** Status shown as a word and a symbol, never by colour alone. */
const STATUS_SYMBOL = { pending: "◷", running: "▶", completed: "✓", failed: "✗", cancelled: "■" };
export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status },
    h("span", { "aria-hidden": "true" }, STATUS_SYMBOL[status] || "•"), " ", status);
}

/** Briefly tell the user something happened (screen readers hear it through the live region). */
export function toast(message) {
  const region = document.getElementById("toast");
  if (!region) return;
  const item = h("p", { class: "toast-item" }, message);
  region.append(item);
  setTimeout(() => item.remove(), 4000);
}
