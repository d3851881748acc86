//! The worker's per-value cleansing, compiled, for the common forms of the types most rows carry: text, e-mail
//! addresses, phone numbers and money amounts, written in printable ASCII.
//!
//! Every function here either gives exactly the value services/cleansing/cleaning.py's cleaner of the type gives
//! or gives nothing, and then the Python cleaner decides: whatever is rare, raises an issue or depends on
//! Unicode's tables (a value outside printable ASCII, an empty required cell, an address with an IDN top-level
//! domain, a phone number with an extension, an amount that needs rounding, a field with validation rules)
//! goes the Python way. tests/unit/test_cleaning.py runs its cases through both; tests/unit/test_native_clean.py
//! compares the two on generated values.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use regex::bytes::{Regex, RegexBuilder};

/// A Python `re` pattern as a full match in `regex` (ASCII classes: every text here is ASCII); None when
/// `regex` cannot compile it, and then the Python cleaner decides.
fn full_match(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern})$")).unicode(false).size_limit(64 << 20).build().ok()
}

fn static_regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| full_match(pattern).expect("a pattern of this module compiles"))
}

/// Printable ASCII (what Python's isascii() and isprintable() both accept) with no space at either end.
fn plain_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

// ------------------------------------------------------------------------------------------------ e-mail

/// cleaning.py's _ASCII_EMAIL.
const ASCII_EMAIL: &str = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}";
static EMAIL_RE: OnceLock<Regex> = OnceLock::new();

/// EmailCleaner.clean of an ASCII address its cheap pattern accepts: the address lower-cased.
fn email_value(text: &str) -> Option<String> {
    if !text.is_ascii() {
        return None;
    }
    let email = text.to_ascii_lowercase();
    let valid = static_regex(&EMAIL_RE, ASCII_EMAIL).is_match(email.as_bytes())
        && email.len() <= 254
        && email.find('@').is_some_and(|at| at <= 64);
    valid.then_some(email)
}

// ------------------------------------------------------------------------------------------------ amounts

/// cleaning.py's _SIMPLE_AMOUNT and _SIMPLE_COMMA_AMOUNT as they read ASCII text ("$1,200.50", "1.200,50").
const SIMPLE_AMOUNT: &str = r"([-+]?)\$?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]+)?";
const SIMPLE_COMMA_AMOUNT: &str = r"([-+]?)([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,([0-9]+))?";
static SIMPLE_RE: OnceLock<Regex> = OnceLock::new();
static SIMPLE_COMMA_RE: OnceLock<Regex> = OnceLock::new();

fn group<'t>(caps: &regex::bytes::Captures<'t>, i: usize) -> &'t str {
    // Every text here is ASCII, so every group is UTF-8.
    caps.get(i).map_or("", |m| std::str::from_utf8(m.as_bytes()).unwrap_or(""))
}

/// cleaning.py's _amount for its two simple forms: the plain "-1200.50"; None for every other form.
fn simple_amount(text: &str) -> Option<String> {
    if !text.is_ascii() {
        return None;
    }
    let negative = |sign: &str| if sign == "-" { "-" } else { "" };
    if let Some(m) = static_regex(&SIMPLE_RE, SIMPLE_AMOUNT).captures(text.as_bytes()) {
        return Some(format!("{}{}{}", negative(group(&m, 1)), group(&m, 2).replace(',', ""), group(&m, 3)));
    }
    let m = static_regex(&SIMPLE_COMMA_RE, SIMPLE_COMMA_AMOUNT).captures(text.as_bytes())?;
    let fraction = group(&m, 3);
    let point = if fraction.is_empty() { "" } else { "." };
    Some(format!("{}{}{point}{fraction}", negative(group(&m, 1)), group(&m, 2).replace('.', "")))
}

/// DecimalCleaner.clean of a built-in (numeric(18,2)) field, as the text Decimal() reads: an amount of the
/// simple forms with no or two decimal places, below 10^16. None when it needs rounding, is too large, or is
/// written another way.
fn money_text(text: &str) -> Option<String> {
    let plain = simple_amount(text)?;
    let whole = match plain.find('.') {
        None => plain.as_str(),
        Some(dot) if plain.len() - dot == 3 => &plain[..dot],
        Some(_) => return None,
    };
    let digits = whole.trim_start_matches('-').trim_start_matches('0');
    if digits.len() > 16 {
        return None;
    }
    Some(if plain.contains('.') { plain } else { plain + ".00" })
}

// ------------------------------------------------------------------------------------------------ phones

/// A country's valid national numbers (cleaning.py's _NUMBER_PATTERNS): its main region's, its other regions'.
/// None when `regex` cannot compile one of them: that country's numbers go the Python way.
type CountryPatterns = Option<(Option<Regex>, Option<Regex>)>;

/// PhoneCleaner's fast path for the job's region: digits with an optional "+", written with spaces, dashes,
/// dots, slashes and parentheses, as E.164 when they form a valid number.
#[pyclass(frozen, module = "crmio_native")]
pub struct PhoneFast {
    country_code: u32,
    national_prefix: String,
    codes: HashSet<u32>,
    patterns_of: PyObject, // country code -> (main pattern or None, other regions' pattern or None)
    patterns: Mutex<HashMap<u32, CountryPatterns>>,
}

impl PhoneFast {
    /// Whether `national` is a valid number of `code`; None when only Python can tell.
    fn valid(&self, py: Python<'_>, code: u32, national: &str) -> PyResult<Option<bool>> {
        let lock = || self.patterns.lock().map_err(|_| PyValueError::new_err("phone patterns poisoned"));
        if !lock()?.contains_key(&code) {
            // Not under the lock: Python code may hand the GIL to another thread, which could then wait for
            // the lock forever while holding the GIL.
            let (main, rest): (Option<String>, Option<String>) = self.patterns_of.call1(py, (code,))?.extract(py)?;
            let compile = |p: Option<String>| p.map(|p| full_match(&p).ok_or(())).transpose();
            let built = match (compile(main), compile(rest)) {
                (Ok(main), Ok(rest)) => Some((main, rest)),
                _ => None,
            };
            lock()?.entry(code).or_insert(built);
        }
        Ok(lock()?[&code].as_ref().map(|(main, rest)| {
            let hit = |re: &Option<Regex>| re.as_ref().is_some_and(|re| re.is_match(national.as_bytes()));
            hit(main) || hit(rest)
        }))
    }

    fn national(&self, py: Python<'_>, digits: &str) -> PyResult<Option<String>> {
        let (code, prefix) = (self.country_code, self.national_prefix.as_str());
        if !prefix.is_empty() && digits.starts_with(prefix) {
            let rest = &digits[prefix.len()..];
            match self.valid(py, code, rest)? {
                Some(true) => return Ok(Some(format!("+{code}{rest}"))),
                Some(false) => {}
                None => return Ok(None),
            }
        }
        Ok((self.valid(py, code, digits)? == Some(true)).then(|| format!("+{code}{digits}")))
    }

    fn international(&self, py: Python<'_>, digits: &str) -> PyResult<Option<String>> {
        if digits.starts_with('0') {
            return Ok(None); // "+044...": Python reads a code from "044"; rare, left to it
        }
        // Country codes are prefix-free: the first length that names one is the one.
        for size in 1..=3.min(digits.len()) {
            let code: u32 = digits[..size].parse().unwrap_or(0);
            if self.codes.contains(&code) {
                let valid = self.valid(py, code, &digits[size..])? == Some(true);
                return Ok(valid.then(|| format!("+{digits}")));
            }
        }
        Ok(None)
    }

    fn e164(&self, py: Python<'_>, text: &str) -> PyResult<Option<String>> {
        if !text.is_ascii() {
            return Ok(None);
        }
        let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '/')).collect();
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if all_digits(&compact) {
            self.national(py, &compact)
        } else if let Some(digits) = compact.strip_prefix('+').filter(|d| all_digits(d)) {
            self.international(py, digits)
        } else {
            Ok(None)
        }
    }
}

#[pymethods]
impl PhoneFast {
    #[new]
    fn new(country_code: u32, national_prefix: String, codes: Vec<u32>, patterns_of: PyObject) -> Self {
        PhoneFast {
            country_code,
            national_prefix,
            codes: codes.into_iter().collect(),
            patterns_of,
            patterns: Mutex::new(HashMap::new()),
        }
    }

    /// The E.164 form PhoneCleaner's fast path gives `text`; None: ask the Python cleaner.
    fn clean(&self, py: Python<'_>, text: &str) -> PyResult<Option<String>> {
        self.e164(py, text)
    }
}

/// EmailCleaner.clean of `text` when its cheap pattern accepts it; None: ask the Python cleaner.
#[pyfunction]
pub fn clean_email(text: &str) -> Option<String> {
    email_value(text)
}

/// The text Decimal() reads for DecimalCleaner.clean of a built-in field's `text`; None: ask the Python cleaner.
#[pyfunction]
pub fn clean_money(text: &str) -> Option<String> {
    money_text(text)
}

// ------------------------------------------------------------------------------------------------ records

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Email,
    Phone,
    Money,
    Memo, // a type whose values repeat across rows (choices, dates, websites): the step's clean outcomes remembered
    Python,
}

/// Distinct spellings remembered per field (cleaning.py's _MEMO_SIZE).
const MEMO_SIZE: usize = 4096;

struct Plan {
    kind: Kind,
    step: PyObject, // cleaning.py's _compile_step of the field: what decides every value not decided here
    required: bool,
    limit: Option<usize>, // the field's max_length
    longest: usize,       // the longest cell the type's cleaner is given
    phone: Option<Py<PhoneFast>>,
    memo: Mutex<HashMap<String, PyObject>>,
}

/// The first loop of RecordCleaner.clean: each field's value of a mapped row, every value the fast forms
/// cover cleaned here, every other one by the field's Python step (which appends the row's issues).
#[pyclass(frozen, module = "crmio_native")]
pub struct RowCleaner {
    index: HashMap<String, usize>,
    plans: Vec<Plan>,
    invalid: PyObject, // what a step returns for a value with an error
    decimal: PyObject, // decimal.Decimal
}

impl RowCleaner {
    fn memo_of<'a>(&self, plan: &'a Plan) -> PyResult<std::sync::MutexGuard<'a, HashMap<String, PyObject>>> {
        plan.memo.lock().map_err(|_| PyValueError::new_err("cleaning memo poisoned"))
    }

    /// The field's Python step on a cell; a memo field remembers the value of a plain ASCII cell that came out
    /// clean (no issue), as the step's own memo would give it again.
    fn step<'py>(
        &self,
        py: Python<'py>,
        plan: &Plan,
        cell: &Bound<'py, PyAny>,
        issues: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let before = issues.len();
        let value = plan.step.bind(py).call1((cell, issues))?;
        if plan.kind == Kind::Memo && issues.len() == before && !value.is(self.invalid.bind(py)) {
            if let Ok(text) = cell.downcast_exact::<PyString>() {
                let text = text.to_str()?;
                if plain_ascii(text) {
                    let mut memo = self.memo_of(plan)?;
                    if memo.len() >= MEMO_SIZE {
                        memo.clear();
                    }
                    memo.insert(text.trim_matches(' ').to_owned(), value.clone().unbind());
                }
            }
        }
        Ok(value)
    }

    fn fast<'py>(&self, py: Python<'py>, plan: &Plan, raw: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Ok(cell) = raw.downcast_exact::<PyString>() else {
            return Ok(None);
        };
        let whole = cell.to_str()?;
        if !plain_ascii(whole) {
            return Ok(None); // controls, invisible characters and Unicode: the Python step's
        }
        let text = whole.trim_matches(' ');
        if text.is_empty() {
            return Ok((!plan.required).then(|| py.None().into_bound(py)));
        }
        if plan.kind != Kind::Text && text.len() > plan.longest {
            return Ok(None);
        }
        let value: Option<String> = match plan.kind {
            Kind::Text if text.len() == whole.len() => {
                return Ok(plan.limit.is_none_or(|l| text.len() <= l).then(|| cell.clone().into_any()))
            }
            Kind::Text => Some(text.to_owned()),
            Kind::Email => email_value(text),
            Kind::Phone => match &plan.phone {
                Some(phone) => phone.get().e164(py, text)?,
                None => None,
            },
            Kind::Money => {
                return money_text(text).map(|t| self.decimal.bind(py).call1((t,))).transpose();
            }
            Kind::Memo => {
                let memo = self.memo_of(plan)?;
                return Ok(memo.get(text).map(|v| v.bind(py).clone()));
            }
            Kind::Python => None,
        };
        Ok(value.filter(|v| plan.limit.is_none_or(|l| v.len() <= l)).map(|v| PyString::new(py, &v).into_any()))
    }
}

#[pymethods]
impl RowCleaner {
    /// `plans`: per field, (name, kind: "text" | "email" | "phone" | "money" | "memo" | "python", step, required,
    /// max_length or None, the longest cell its cleaner takes, a PhoneFast for a phone field or None).
    #[new]
    #[allow(clippy::type_complexity)]
    fn new(
        plans: Vec<(String, String, PyObject, bool, Option<usize>, usize, Option<Py<PhoneFast>>)>,
        invalid: PyObject,
        decimal: PyObject,
    ) -> PyResult<Self> {
        let mut index = HashMap::new();
        let mut built = Vec::new();
        for (name, kind, step, required, limit, longest, phone) in plans {
            let kind = match kind.as_str() {
                "text" => Kind::Text,
                "email" => Kind::Email,
                "phone" => Kind::Phone,
                "money" => Kind::Money,
                "memo" => Kind::Memo,
                "python" => Kind::Python,
                other => return Err(PyValueError::new_err(format!("no compiled cleaner of kind {other:?}"))),
            };
            index.insert(name, built.len());
            built.push(Plan { kind, step, required, limit, longest, phone, memo: Mutex::new(HashMap::new()) });
        }
        Ok(RowCleaner { index, plans: built, invalid, decimal })
    }

    /// The row's values by field, in the row's order; a value with an error is left out (its issue appended).
    fn values<'py>(
        &self,
        py: Python<'py>,
        raw: &Bound<'py, PyDict>,
        issues: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let values = PyDict::new(py);
        let invalid = self.invalid.bind(py);
        for (name, cell) in raw.iter() {
            let Ok(key) = name.downcast::<PyString>() else {
                continue;
            };
            let Some(plan) = self.index.get(key.to_str()?).map(|&i| &self.plans[i]) else {
                continue;
            };
            let fast = if plan.kind == Kind::Python { None } else { self.fast(py, plan, &cell)? };
            match fast {
                Some(value) => values.set_item(name, value)?,
                None => {
                    let value = self.step(py, plan, &cell, issues)?;
                    if !value.is(invalid) {
                        values.set_item(name, value)?;
                    }
                }
            }
        }
        Ok(values)
    }
}
