// Errors shown to a person: what went wrong (the API's message) and what to do about it.

import { h, replace } from "./dom.js";

const ADVICE_BY_TYPE = {
  InputRequired: "Fill in the field named in the message, then try again.",
  NetworkError: "Check that the crmio API service is running and that your network works, then try again.",
  Unauthorized: "Sign in again with a valid API key (an admin creates one with `crmio keys create`).",
  Forbidden: "Sign in with an admin key of your company, or ask an admin to do this for you.",
  NotFound: "It may have been deleted, or it belongs to another company. Go back to the list and reload it.",
  MappingError: "Choose a column of the file for every required field (marked *), or map each field only once.",
  ValidationRulesError: "Correct the validation rule named in the message, or remove it.",
  RequestValidationError: "Correct the value named in the message and send again.",
  UnsupportedFileType: "Upload a .csv, .xlsx, .xls, .xlsb, .ods or .json file whose content matches its name.",
  FileTooLarge: "Split the file into smaller files and import them one by one.",
  ExportError: "Correct the filter, sort or field named in the message.",
  ExportTooLarge: "Narrow the filters so fewer records match, or choose CSV or JSON, which have no row limit.",
  JobNotCancellable: "The job has already finished; nothing more will change. Its results are final.",
  TemplateNameTaken: "Choose another name for the template, or edit the existing one.",
  TransientError: "A service is briefly unavailable; wait a moment and try again.",
  InvalidValue: "Remove unusual characters (such as control characters) or very large numbers from the values.",
  InputFileError: "Correct the file (the row or field is named in the message) and upload it again.",
  EncodingError: "Choose the file's encoding under “Correct the detection”, or save the file as UTF-8.",
};

const ADVICE_BY_STATUS = {
  400: "Correct the file or request named in the message, then try again.",
  401: ADVICE_BY_TYPE.Unauthorized,
  403: ADVICE_BY_TYPE.Forbidden,
  404: ADVICE_BY_TYPE.NotFound,
  409: "The object changed meanwhile; reload the page to see its current state.",
  413: "The file or export is too large: split the file, or narrow the filters.",
  415: ADVICE_BY_TYPE.UnsupportedFileType,
  422: "Correct the value named in the message and try again.",
  429: "This API key has too many requests or live views open at once; close a tab that shows live progress, or wait a moment, then try again.",
  503: ADVICE_BY_TYPE.TransientError,
};

export function advice(err) {
  if (err && err.type === "MappingError" && err.extra && err.extra.missing) {
    return `Map a column of the file to: ${err.extra.missing.join(", ")}.`;
  }
  return ADVICE_BY_TYPE[err && err.type] || ADVICE_BY_STATUS[err && err.status]
    || "Try again. If it keeps failing, tell your administrator what you did and the error type shown here.";
}

/** The error box: role=alert, a heading word (not only colour), the message and the advice. */
export function errorBox(err, what) {
  const message = err && err.message ? err.message : String(err);
  return h("div", { class: "error-box", role: "alert", "data-error-type": (err && err.type) || "Error" },
    h("p", {}, h("strong", {}, "Error: "), what ? `${what}: ` : "", message),
    h("p", {}, h("strong", {}, "What to do: "), advice(err)),
    err && err.type && err.type !== "Error" ? h("p", { class: "hint" }, `(${err.type}${err.status ? `, HTTP ${err.status}` : ""}${reference(err)})`) : null);
}

// The answer's correlation id: what an administrator looks for in the API's log.
function reference(err) {
  const id = err.extra && err.extra.correlation_id;
  return id ? `, reference ${id}` : "";
}

/** Show err in container (replacing what it held); null clears it. */
export function showError(container, err, what) {
  if (!container) return;
  if (!err) { replace(container); return; }
  if (err.name === "AbortError") return;
  replace(container, errorBox(err, what));
}
