//! The split's per-row step, compiled: a read row -> its mapped values, its duplicate-match key, its partition,
//! and its place in a run of rows that leaves as an encoded record-batch event. The same events, byte for byte,
//! as services/ingest/splitter.py's split_rows encoded by fastavro (tests/unit/test_native_split.py holds the
//! two to each other); what is rare or depends on Unicode's tables (a key of a non-ASCII value, a key by domain
//! or name, cutting an over-long cell, the message of a row too big for an event) is asked of the Python
//! functions the Python split calls, passed in.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::{put_long, put_str, Sequence};

/// How a match field's key is made, where it can be made here: every other kind asks Python.
#[derive(Clone, Copy, PartialEq)]
enum KeyKind {
    Email,    // "email:" + the address trimmed and lower-cased, when it holds an "@"
    External, // "external_id:" + the id trimmed
    Python,
}

/// Rows of one partition waiting to leave as one event.
#[derive(Default)]
struct Run {
    numbers: Vec<i64>,
    columns: Vec<Vec<u8>>, // per field, the Avro strings of its values, back to back
    problems: Vec<(String, String)>,
    size: usize,
}

#[pyclass(module = "crmio_native")]
pub struct Splitter {
    head: Vec<u8>, // the frame header, job_id, company_id, target_model and fields, encoded
    width: usize,
    indexes: Vec<usize>,
    keys: Vec<(usize, KeyKind)>, // positions in the fields of the model's match fields, in the model's order
    bounded: Vec<(usize, usize)>, // (position, the longest value the field's type takes)
    partitions: u32,
    rows_per_event: usize,
    max_event_bytes: usize,
    per_row: usize,
    runs: Vec<Run>,
    fields: Py<PyList>,
    key_of: PyObject, // (dict of the key fields' values) -> str | None: cleaning.match_key for the model
    cut: PyObject,    // (value, longest) -> str: cleaning.cut_overlong
    too_big: PyObject, // (fields, values, size, limit) -> str: splitter._too_big
}

// What a row adds to an event besides its text: the varints of its number and of each value's length
// (splitter.py's _ROW_OVERHEAD, _VALUE_OVERHEAD).
const ROW_OVERHEAD: usize = 8;
const VALUE_OVERHEAD: usize = 3;

/// Python's str.strip() of an ASCII text: its whitespace there is \t \n \v \f \r, \x1c-\x1f and the space.
fn strip_ascii(text: &str) -> &str {
    text.trim_matches(|c: char| matches!(c, '\t'..='\r' | '\x1c'..='\x1f' | ' '))
}

fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *slot = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}

#[pymethods]
impl Splitter {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        header: &[u8],
        job_id: &str,
        company_id: &str,
        target_model: &str,
        fields: Bound<'_, PyList>,
        indexes: Vec<usize>,
        keys: Vec<(usize, String)>,
        bounded: Vec<(usize, usize)>,
        partitions: u32,
        rows_per_event: usize,
        max_event_bytes: usize,
        key_of: PyObject,
        cut: PyObject,
        too_big: PyObject,
    ) -> PyResult<Self> {
        let names: Vec<String> = fields.extract()?;
        let mut head = header.to_vec();
        put_str(&mut head, job_id);
        put_str(&mut head, company_id);
        put_str(&mut head, target_model);
        if !names.is_empty() {
            put_long(&mut head, names.len() as i64);
            names.iter().for_each(|n| put_str(&mut head, n));
        }
        put_long(&mut head, 0);
        let keys = keys
            .into_iter()
            .map(|(at, kind)| {
                let kind = match kind.as_str() {
                    "email" => KeyKind::Email,
                    "external" => KeyKind::External,
                    _ => KeyKind::Python,
                };
                (at, kind)
            })
            .collect();
        let width = names.len();
        Ok(Splitter {
            head,
            width,
            indexes,
            keys,
            bounded,
            partitions: partitions.max(1),
            rows_per_event,
            max_event_bytes,
            per_row: ROW_OVERHEAD + VALUE_OVERHEAD * width,
            runs: (0..partitions.max(1)).map(|_| Run::default()).collect(),
            fields: fields.unbind(),
            key_of,
            cut,
            too_big,
        })
    }

    /// Take read rows (objects with number, cells and problem, in file order); returns the events they
    /// completed as (partition, rows, encoded event).
    fn add<'py>(&mut self, py: Python<'py>, rows: Bound<'py, PyList>) -> PyResult<Vec<(u32, usize, Py<PyBytes>)>> {
        let mut out = Vec::new();
        for raw in rows.iter() {
            let number: i64 = raw.getattr(pyo3::intern!(py, "number"))?.extract()?;
            let cells = raw.getattr(pyo3::intern!(py, "cells"))?;
            let problem: Option<String> = raw.getattr(pyo3::intern!(py, "problem"))?.extract()?;
            self.row(py, number, &cells, problem, &mut out)?;
        }
        Ok(out)
    }

    /// The events of the rows still waiting, partition by partition.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<(u32, usize, Py<PyBytes>)>> {
        let mut out = Vec::new();
        for p in 0..self.runs.len() {
            if !self.runs[p].numbers.is_empty() {
                out.push(self.emit(py, p));
            }
        }
        Ok(out)
    }
}

impl Splitter {
    fn row(
        &mut self,
        py: Python<'_>,
        number: i64,
        cells: &Bound<'_, PyAny>,
        mut problem: Option<String>,
        out: &mut Vec<(u32, usize, Py<PyBytes>)>,
    ) -> PyResult<()> {
        let cells = Sequence::of(cells, "a read row's cells")?;
        // The mapped values, as Python strs (None for an empty or missing cell): kept as they are unless cut.
        let mut values: Vec<Option<Bound<'_, PyString>>> = Vec::with_capacity(self.width);
        for &i in &self.indexes {
            let value = cells.get(i)?.unwrap_or_else(|| py.None().into_bound(py));
            values.push(if value.is_none() {
                None
            } else {
                Some(value.downcast_into::<PyString>().map_err(|e| {
                    PyTypeError::new_err(format!(
                        "a read row's cell must be str or None, got {}",
                        e.into_inner().get_type()
                    ))
                })?)
            });
        }
        let key = self.key(py, &values)?;
        for &(at, longest) in &self.bounded {
            if let Some(v) = &values[at] {
                let text = v.to_str()?;
                if text.len() > longest && text.chars().count() > longest {
                    let cut = self.cut.call1(py, (v.clone(), longest))?.into_bound(py);
                    values[at] = Some(cut.downcast_into::<PyString>()?);
                }
            }
        }
        let mut texts: Vec<Option<&str>> = Vec::with_capacity(self.width);
        for v in &values {
            texts.push(match v {
                Some(s) => Some(s.to_str()?),
                None => None,
            });
        }
        let text_bytes: usize = texts.iter().map(|t| t.map_or(0, str::len)).sum();
        let mut size = self.per_row + text_bytes + problem.as_ref().map_or(0, String::len);
        let too_big;
        if size > self.max_event_bytes {
            let listed = PyList::new(py, values.iter().map(|v| v.as_ref().map(|s| s.clone().into_any())))?;
            let message: String =
                self.too_big.call1(py, (self.fields.bind(py), listed, size, self.max_event_bytes))?.extract(py)?;
            size = self.per_row + message.len();
            problem = Some(message);
            too_big = true;
        } else {
            too_big = false;
        }
        let p = match &key {
            None => number.rem_euclid(i64::from(self.partitions)) as u32,
            Some(k) => crc32(k.as_bytes()) % self.partitions,
        } as usize;
        if !self.runs[p].numbers.is_empty() && self.runs[p].size + size > self.max_event_bytes {
            out.push(self.emit(py, p));
        }
        let width = self.width;
        let run = &mut self.runs[p];
        if run.columns.len() != width {
            run.columns = vec![Vec::new(); width];
        }
        run.numbers.push(number);
        for (column, text) in run.columns.iter_mut().zip(&texts) {
            put_str(column, if too_big { "" } else { text.unwrap_or("") });
        }
        run.size += size;
        if let Some(problem) = problem {
            if !problem.is_empty() {
                run.problems.push((number.to_string(), problem));
            }
        }
        if run.numbers.len() >= self.rows_per_event {
            out.push(self.emit(py, p));
        }
        Ok(())
    }

    /// The row's match key: the first match field whose value gives one (cleaning._first_key).
    fn key(&self, py: Python<'_>, values: &[Option<Bound<'_, PyString>>]) -> PyResult<Option<String>> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let simple = self.keys.iter().all(|&(at, kind)| {
            kind != KeyKind::Python && values[at].as_ref().is_none_or(|v| v.to_str().is_ok_and(str::is_ascii))
        });
        if !simple {
            let raw = PyDict::new(py);
            for &(at, _) in &self.keys {
                let name = self.fields.bind(py).get_item(at)?;
                raw.set_item(name, values[at].as_ref().map(|v| v.clone().into_any()))?;
            }
            return self.key_of.call1(py, (raw,))?.extract(py);
        }
        for &(at, kind) in &self.keys {
            let Some(value) = &values[at] else { continue };
            let text = strip_ascii(value.to_str()?);
            let key = match kind {
                KeyKind::Email if text.contains('@') => Some(format!("email:{}", text.to_ascii_lowercase())),
                KeyKind::External if !text.is_empty() => Some(format!("external_id:{text}")),
                _ => None,
            };
            if key.is_some() {
                return Ok(key);
            }
        }
        Ok(None)
    }

    fn emit(&mut self, py: Python<'_>, p: usize) -> (u32, usize, Py<PyBytes>) {
        let run = std::mem::take(&mut self.runs[p]);
        let rows = run.numbers.len();
        let body: usize = run.columns.iter().map(Vec::len).sum();
        let mut buf = Vec::with_capacity(self.head.len() + body + 16 * self.width + 6 * rows + 64);
        buf.extend_from_slice(&self.head);
        put_long(&mut buf, rows as i64);
        run.numbers.iter().for_each(|&n| put_long(&mut buf, n));
        put_long(&mut buf, 0);
        if self.width > 0 {
            put_long(&mut buf, self.width as i64);
            for column in &run.columns {
                put_long(&mut buf, rows as i64);
                buf.extend_from_slice(column);
                put_long(&mut buf, 0);
            }
        }
        put_long(&mut buf, 0);
        if !run.problems.is_empty() {
            put_long(&mut buf, run.problems.len() as i64);
            for (number, problem) in &run.problems {
                put_str(&mut buf, number);
                put_str(&mut buf, problem);
            }
        }
        put_long(&mut buf, 0);
        (p as u32, rows, PyBytes::new(py, &buf).unbind())
    }
}
