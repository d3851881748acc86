//! crmio's compiled data plane: the steps an import runs for every row, where Python's per-value cost is
//! the wall (docs/benchmarks.md, "The cost budget").
//!
//! Today: the Avro codec of crm.import.records' events (schemas/avro/record_batch.v1.avsc), which every row
//! of every import passes through twice (the split process encodes it, a worker decodes it). It writes the
//! bytes fastavro writes and reads what any Avro writer may write (blocks with a negative count and a byte
//! size included); tests/unit/test_native_avro.py holds it to fastavro on the same events.

use std::ffi::c_char;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

/// Fields of record_batch.v1 in schema order; "problems" has a default (an empty map).
const FIELDS: [&str; 7] = ["job_id", "company_id", "target_model", "fields", "numbers", "columns", "problems"];

// ------------------------------------------------------------------------------------------------ reading

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn truncated() -> PyErr {
    PyValueError::new_err("record_batch event truncated: the Avro data ends inside a value")
}

impl<'a> Reader<'a> {
    /// A zig-zag varint (Avro int and long).
    fn long(&mut self) -> PyResult<i64> {
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or_else(truncated)?;
            self.pos += 1;
            if shift > 63 {
                return Err(PyValueError::new_err("record_batch event: an Avro long longer than 10 bytes"));
            }
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    fn string<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let len = self.long()?;
        let len = usize::try_from(len)
            .map_err(|_| PyValueError::new_err(format!("record_batch event: a string of negative length {len}")))?;
        let end = self.pos.checked_add(len).filter(|&end| end <= self.buf.len()).ok_or_else(truncated)?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        // Python decodes (and checks) the UTF-8 itself, as fastavro has it do: the same str, the same
        // UnicodeDecodeError for bytes that are not UTF-8.
        unsafe {
            let made = pyo3::ffi::PyUnicode_DecodeUTF8(
                bytes.as_ptr().cast::<c_char>(),
                bytes.len() as pyo3::ffi::Py_ssize_t,
                c"strict".as_ptr(),
            );
            Bound::from_owned_ptr_or_err(py, made)
        }
    }

    /// The item count of the next block of an array or map (0 ends it). A negative count is followed by the
    /// block's size in bytes, which a reader that reads every item does not need.
    fn block(&mut self) -> PyResult<usize> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        // Each item takes at least one byte: a count past the bytes left is a lie, refused before any work.
        let count = count.unsigned_abs();
        if count > (self.buf.len() - self.pos) as u64 {
            return Err(truncated());
        }
        Ok(count as usize)
    }

    fn items<'py, T>(
        &mut self,
        py: Python<'py>,
        mut item: impl FnMut(&mut Self, Python<'py>) -> PyResult<T>,
    ) -> PyResult<Vec<T>> {
        let mut out = Vec::new();
        loop {
            let count = self.block()?;
            if count == 0 {
                return Ok(out);
            }
            out.reserve(count);
            for _ in 0..count {
                out.push(item(self, py)?);
            }
        }
    }

    fn strings<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.items(py, |r, py| r.string(py))?)
    }
}

/// The event whose Avro body starts at ``offset`` of ``data``, as fastavro reads it: a dict of str, int,
/// list and dict. Bytes after the event are ignored, as fastavro ignores them.
#[pyfunction]
fn decode_record_batch<'py>(py: Python<'py>, data: &[u8], offset: usize) -> PyResult<Bound<'py, PyDict>> {
    if offset > data.len() {
        return Err(truncated());
    }
    let mut r = Reader { buf: data, pos: offset };
    let event = PyDict::new(py);
    event.set_item(FIELDS[0], r.string(py)?)?;
    event.set_item(FIELDS[1], r.string(py)?)?;
    event.set_item(FIELDS[2], r.string(py)?)?;
    event.set_item(FIELDS[3], r.strings(py)?)?;
    event.set_item(FIELDS[4], PyList::new(py, r.items(py, |r, _| r.long())?)?)?;
    event.set_item(FIELDS[5], PyList::new(py, r.items(py, |r, py| r.strings(py))?)?)?;
    let problems = PyDict::new(py);
    for (key, value) in r.items(py, |r, py| Ok((r.string(py)?, r.string(py)?)))? {
        problems.set_item(key, value)?;
    }
    event.set_item(FIELDS[6], problems)?;
    Ok(event)
}

// ------------------------------------------------------------------------------------------------ writing

/// An Avro long (zig-zag varint) appended to ``buf``.
pub(crate) fn put_long(buf: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        buf.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// An Avro string appended to ``buf``.
pub(crate) fn put_str(buf: &mut Vec<u8>, text: &str) {
    put_long(buf, text.len() as i64);
    buf.extend_from_slice(text.as_bytes());
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn long(&mut self, value: i64) {
        put_long(&mut self.buf, value);
    }

    fn string(&mut self, value: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
        let text = value
            .downcast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("record_batch {what}: expected str, got {}", type_name(value))))?
            .to_str()?; // UTF-8 kept by the str itself when it is ASCII; UnicodeEncodeError for a lone surrogate
        put_str(&mut self.buf, text);
        Ok(())
    }

    /// An array as fastavro writes one: a single block with every item, then the 0 that ends it.
    fn array(
        &mut self,
        value: &Bound<'_, PyAny>,
        what: &str,
        mut item: impl FnMut(&mut Self, &Bound<'_, PyAny>) -> PyResult<()>,
    ) -> PyResult<()> {
        let seq = Sequence::of(value, what)?;
        if seq.len() > 0 {
            self.long(seq.len() as i64);
            seq.each(|v| item(self, v))?;
        }
        self.long(0);
        Ok(())
    }
}

/// A list or tuple, read without copying (the events and the readers' rows hold lists).
pub(crate) enum Sequence<'a, 'py> {
    List(&'a Bound<'py, PyList>),
    Tuple(&'a Bound<'py, PyTuple>),
}

impl<'a, 'py> Sequence<'a, 'py> {
    pub(crate) fn of(value: &'a Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(list) = value.downcast::<PyList>() {
            Ok(Sequence::List(list))
        } else if let Ok(tuple) = value.downcast::<PyTuple>() {
            Ok(Sequence::Tuple(tuple))
        } else {
            Err(PyTypeError::new_err(format!("{what}: expected a list, got {}", type_name(value))))
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Sequence::List(l) => l.len(),
            Sequence::Tuple(t) => t.len(),
        }
    }

    /// Item ``i``, or None past the end.
    pub(crate) fn get(&self, i: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        if i >= self.len() {
            return Ok(None);
        }
        match self {
            Sequence::List(l) => l.get_item(i).map(Some),
            Sequence::Tuple(t) => t.get_item(i).map(Some),
        }
    }

    fn each(&self, mut f: impl FnMut(&Bound<'py, PyAny>) -> PyResult<()>) -> PyResult<()> {
        match self {
            Sequence::List(l) => l.iter().try_for_each(|v| f(&v)),
            Sequence::Tuple(t) => t.iter().try_for_each(|v| f(&v)),
        }
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_string())
}

/// ``header`` then the Avro body of ``record`` (a record_batch event), byte for byte what fastavro's
/// schemaless_writer writes with strict_allow_default: every field but "problems" must be there, and
/// nothing else may be.
#[pyfunction]
fn encode_record_batch<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyDict>,
    header: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let field = |name: &str| -> PyResult<Option<Bound<'py, PyAny>>> { record.get_item(name) };
    let required = |name: &str| -> PyResult<Bound<'py, PyAny>> {
        field(name)?.ok_or_else(|| PyValueError::new_err(format!("record_batch event has no field {name:?}")))
    };
    let known = FIELDS.iter().filter(|name| record.contains(**name).unwrap_or(false)).count();
    if known != record.len() {
        let extra: Vec<String> =
            record.keys().iter().map(|k| k.to_string()).filter(|k| !FIELDS.contains(&k.as_str())).collect();
        return Err(PyValueError::new_err(format!("record_batch event has fields its schema does not: {extra:?}")));
    }
    let mut w = Writer { buf: Vec::with_capacity(header.len() + 256) };
    w.buf.extend_from_slice(header);
    w.string(&required("job_id")?, "job_id")?;
    w.string(&required("company_id")?, "company_id")?;
    w.string(&required("target_model")?, "target_model")?;
    w.array(&required("fields")?, "fields", |w, v| w.string(v, "fields"))?;
    w.array(&required("numbers")?, "numbers", |w, v| {
        w.long(v.extract::<i64>()?);
        Ok(())
    })?;
    w.array(&required("columns")?, "columns", |w, column| w.array(column, "columns", |w, v| w.string(v, "columns")))?;
    match field("problems")? {
        None => w.long(0),
        Some(problems) => {
            let problems = problems.downcast::<PyDict>().map_err(|_| {
                PyTypeError::new_err(format!("record_batch problems: expected a dict, got {}", type_name(&problems)))
            })?;
            if !problems.is_empty() {
                w.long(problems.len() as i64);
                for (key, value) in problems.iter() {
                    w.string(&key, "problems")?;
                    w.string(&value, "problems")?;
                }
            }
            w.long(0);
        }
    }
    Ok(PyBytes::new(py, &w.buf))
}

mod cleaner;
mod copy;
mod ids;
mod splitter;

#[pymodule]
fn crmio_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_record_batch, m)?)?;
    m.add_function(wrap_pyfunction!(decode_record_batch, m)?)?;
    m.add_class::<splitter::Splitter>()?;
    m.add_class::<cleaner::PhoneFast>()?;
    m.add_class::<copy::CopyEncoder>()?;
    m.add_function(wrap_pyfunction!(ids::uuid7s, m)?)?;
    m.add_class::<cleaner::RowCleaner>()?;
    m.add_function(wrap_pyfunction!(cleaner::clean_email, m)?)?;
    m.add_function(wrap_pyfunction!(cleaner::clean_money, m)?)?;
    Ok(())
}
