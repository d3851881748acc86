// The JSON API client: the API key from sessionStorage as a Bearer header, errors as ApiError,
// uploads with progress (XMLHttpRequest), server-sent events read with fetch (the key never goes in a URL).

const KEY = "crmio.apiKey";

export class ApiError extends Error {
  constructor(status, type, message, extra = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.extra = extra;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
  me: null, // {company_id, role, label}
  models: null, // GET /api/v1/models
};

function headers(extra = {}) {
  const out = { ...extra };
  if (session.key) out.Authorization = `Bearer ${session.key}`;
  return out;
}

/** The ApiError of an error answer's parsed body: a problem (RFC 9457: code, detail and the extension members
 *  such as missing, field, errors, correlation_id), or null for a body that is none (a proxy's page). */
function problemError(status, body) {
  if (!body || typeof body.detail !== "string") return null;
  const { type: _uri, title: _title, status: _status, detail, code, ...extra } = body;
  return new ApiError(status, code || "HTTPError", detail, extra);
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: a proxy's page */ }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("crmio:unauthorized"));
  return problemError(response.status, body)
    || new ApiError(response.status, "HTTPError", `the server answered ${response.status} ${response.statusText}`);
}

function networkError(cause) {
  return new ApiError(0, "NetworkError", `the crmio server could not be reached (${cause.message || cause})`);
}

/** Call the API; resolves to the parsed JSON (null for 204), rejects with ApiError. */
export async function api(method, path, body, { signal } = {}) {
  const init = { method, headers: headers({ Accept: "application/json" }), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    if (cause.name === "AbortError") throw cause;
    throw networkError(cause);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body ?? {}, opts);
export const patch = (path, body, opts) => api("PATCH", path, body, opts);

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Upload a File as multipart with progress: onProgress(loadedBytes, totalBytes). Resolves to the upload document. */
export function upload(file, fields, onProgress, { signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [k, v] of Object.entries(fields || {})) if (v) form.append(k, v);
    xhr.open("POST", "/api/v1/uploads");
    for (const [k, v] of Object.entries(headers({ Accept: "application/json" }))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(body); return; }
      if (xhr.status === 401) window.dispatchEvent(new CustomEvent("crmio:unauthorized"));
      reject(problemError(xhr.status, body) || new ApiError(xhr.status, "HTTPError", `the server answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(networkError(new Error("the connection failed during the upload")));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/** Fetch a file with the key and hand it to the browser as a download. Resolves to the file name. */
export async function download(path, fallbackName) {
  let response;
  try {
    response = await fetch(path, { headers: headers() });
  } catch (cause) {
    throw networkError(cause);
  }
  if (!response.ok) throw await errorOf(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

/** The result files of an import: kind success | errors, format csv | excel (GET /api/v1/jobs/{id}/results). */
export const RESULT_FILES = [
  { kind: "success", format: "csv", label: "Success file (CSV)" },
  { kind: "success", format: "excel", label: "Success file (Excel)" },
  { kind: "errors", format: "csv", label: "Error file (CSV)" },
  { kind: "errors", format: "excel", label: "Error file (Excel)" },
];

export function resultsPath(jobId, kind, format) {
  return `/api/v1/jobs/${encodeURIComponent(jobId)}/results${query({ kind, format })}`;
}

/** Download one result file of an import; resolves to the file name. */
export function downloadResult(jobId, kind, format) {
  return download(resultsPath(jobId, kind, format), `${kind}.${format === "excel" ? "xlsx" : "csv"}`);
}

/** Parse an SSE stream read by fetch; calls onEvent(name, data) per message. Resolves when the stream ends. */
async function readEvents(path, onEvent, signal, onOpen) {
  let response;
  try {
    response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal, cache: "no-store" });
  } catch (cause) {
    if (cause.name === "AbortError") throw cause;
    throw networkError(cause);
  }
  if (!response.ok) throw await errorOf(response);
  if (onOpen) onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let retry = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return retry;
    buffer += value;
    const messages = buffer.split(/\r?\n\r?\n/);
    buffer = messages.pop();
    for (const message of messages) {
      let name = "message";
      const data = [];
      for (const line of message.split(/\r?\n/)) {
        if (line.startsWith(":")) continue; // a comment: keep-alive
        const colon = line.indexOf(":");
        const fieldName = colon < 0 ? line : line.slice(0, colon);
        const fieldValue = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (fieldName === "event") name = fieldValue;
        else if (fieldName === "data") data.push(fieldValue);
        else if (fieldName === "retry") retry = Number(fieldValue);
      }
      if (data.length) {
        let parsed;
        try { parsed = JSON.parse(data.join("\n")); } catch { parsed = data.join("\n"); }
        onEvent(name, parsed);
      }
    }
  }
}

/**
 * Watch a server-sent event stream. Returns stop(). With reconnect, a dropped stream is opened again
 * after the server's retry interval; onState("open" | "reconnecting" | "closed" | "error", err) reports it.
 */
export function watch(path, onEvent, { reconnect = false, onState = () => {} } = {}) {
  const controller = new AbortController();
  let stopped = false;
  (async () => {
    let delay = 2000;
    while (!stopped) {
      try {
        const retry = await readEvents(path, onEvent, controller.signal, () => onState("open"));
        if (retry) delay = retry;
        if (!reconnect) { onState("closed"); return; }
      } catch (err) {
        if (err.name === "AbortError" || stopped) return;
        onState("error", err);
        if (!reconnect || (err instanceof ApiError && [401, 403, 404].includes(err.status))) return;
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}
