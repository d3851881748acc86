//! PostgreSQL's binary COPY format, written from Python rows: the records and ledger rows each batch of an import
//! writes (services.core.db.copy_rows). asyncpg's copy_records_to_table encodes them too, but spends about
//! 0.1 µs a value doing it on the worker's event loop; this writes what asyncpg would, in a fraction of that.
//!
//! It takes the values asyncpg's codecs take in their plain forms and returns None at the first value it would
//! have to convert or judge (a str in a uuid column, a float in a numeric one, a Decimal NaN, a lone surrogate in
//! a text): the caller then hands the rows to asyncpg, so that whatever asyncpg accepts, converts or refuses is
//! still accepted, converted or refused the same way. tests/integration/test_copy_payload.py stores rows both
//! ways and compares what PostgreSQL holds.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use crate::Sequence;

/// A column's type, as the caller names it from PostgreSQL's type name.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Uuid,
    Int2,
    Int4,
    Int8,
    Float8,
    Bool,
    Date,
    Numeric,
    Jsonb,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "text" | "varchar" | "bpchar" | "name" => Kind::Text,
            "uuid" => Kind::Uuid,
            "int2" => Kind::Int2,
            "int4" => Kind::Int4,
            "int8" => Kind::Int8,
            "float8" => Kind::Float8,
            "bool" => Kind::Bool,
            "date" => Kind::Date,
            "numeric" => Kind::Numeric,
            "jsonb" => Kind::Jsonb,
            _ => return None,
        })
    }
}

/// Writes rows of one table's columns; built once per (table, columns), used for every batch.
#[pyclass(frozen, module = "crmio_native")]
pub(crate) struct CopyEncoder {
    kinds: Vec<Kind>,
    /// The jsonb codec asyncpg has on the worker's connections (services.core.db._jsonb_encode): value -> bytes.
    jsonb: Py<PyAny>,
    uuid_type: Py<PyType>,
    decimal_type: Py<PyType>,
    date_type: Py<PyType>,
}

/// Not written here: the caller gives the rows to asyncpg.
struct Declined;

type Put = Result<(), Declined>;

impl From<PyErr> for Declined {
    fn from(_: PyErr) -> Self {
        Declined
    }
}

fn put_len(buf: &mut Vec<u8>, len: usize) -> Put {
    let len = i32::try_from(len).map_err(|_| Declined)?;
    buf.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_field(buf: &mut Vec<u8>, bytes: &[u8]) -> Put {
    put_len(buf, bytes.len())?;
    buf.extend_from_slice(bytes);
    Ok(())
}

/// date(2000, 1, 1).toordinal(): PostgreSQL counts dates from that day; date.max and date.min stand for its
/// infinity and -infinity, as asyncpg has them.
const PG_EPOCH_ORDINAL: i64 = 730_120;
const MAX_ORDINAL: i64 = 3_652_059;

/// A decimal number's text (Python's str of a finite Decimal: digits, one optional point, an optional exponent)
/// in numeric's binary form: base-10000 digits aligned on the point, weight, sign, display scale.
fn put_numeric(buf: &mut Vec<u8>, text: &str) -> Put {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['E', 'e']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().map_err(|_| Declined)?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(Declined);
    }
    let mut digits = Vec::with_capacity(whole.len() + fraction.len());
    for b in whole.bytes().chain(fraction.bytes()) {
        if !b.is_ascii_digit() {
            return Err(Declined); // NaN, Infinity: asyncpg's
        }
        digits.push(b - b'0');
    }
    let last = exponent - fraction.len() as i64; // the power of ten of the last digit
    let dscale = u16::try_from((-last).max(0)).ok().filter(|s| *s <= 0x3FFF).ok_or(Declined)?;
    let first = digits.iter().position(|d| *d != 0);
    let mut groups: Vec<i16> = Vec::new();
    let mut weight: i64 = 0;
    if let Some(first) = first {
        let digits = &digits[first..];
        let top = last + digits.len() as i64 - 1;
        weight = top.div_euclid(4);
        let lowest = last.div_euclid(4);
        groups = vec![0; usize::try_from(weight - lowest + 1).map_err(|_| Declined)?];
        for (i, d) in digits.iter().enumerate() {
            let power = top - i as i64;
            let group = usize::try_from(weight - power.div_euclid(4)).map_err(|_| Declined)?;
            groups[group] += i16::from(*d) * 10i16.pow(power.rem_euclid(4) as u32);
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
    }
    let weight = i16::try_from(weight).map_err(|_| Declined)?;
    let sign: u16 = if negative && !groups.is_empty() { 0x4000 } else { 0 };
    put_len(buf, 8 + 2 * groups.len())?;
    buf.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    buf.extend_from_slice(&weight.to_be_bytes());
    buf.extend_from_slice(&sign.to_be_bytes());
    buf.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        buf.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

impl CopyEncoder {
    fn put(&self, py: Python<'_>, buf: &mut Vec<u8>, kind: Kind, value: &Bound<'_, PyAny>) -> Put {
        if value.is_none() {
            buf.extend_from_slice(&(-1i32).to_be_bytes());
            return Ok(());
        }
        match kind {
            Kind::Text => {
                let text = value.downcast::<PyString>().map_err(|_| Declined)?;
                put_field(buf, text.to_str().map_err(|_| Declined)?.as_bytes())
            }
            Kind::Uuid => {
                let bytes: [u8; 16] = if value.get_type().is(self.uuid_type.bind(py)) {
                    value.getattr(pyo3::intern!(py, "int"))?.extract::<u128>()?.to_be_bytes()
                } else {
                    // asyncpg's own UUID (the record ids new_id makes): its 16 bytes as they are.
                    let bytes = value.getattr(pyo3::intern!(py, "bytes")).map_err(|_| Declined)?;
                    bytes.downcast::<PyBytes>().map_err(|_| Declined)?.as_bytes().try_into().map_err(|_| Declined)?
                };
                put_field(buf, &bytes)
            }
            Kind::Int2 | Kind::Int4 | Kind::Int8 => {
                let number = value.downcast::<PyInt>().map_err(|_| Declined)?.extract::<i64>()?;
                match kind {
                    Kind::Int2 => put_field(buf, &i16::try_from(number).map_err(|_| Declined)?.to_be_bytes()),
                    Kind::Int4 => put_field(buf, &i32::try_from(number).map_err(|_| Declined)?.to_be_bytes()),
                    _ => put_field(buf, &number.to_be_bytes()),
                }
            }
            Kind::Float8 => {
                let number = value.downcast::<PyFloat>().map_err(|_| Declined)?.value();
                put_field(buf, &number.to_be_bytes())
            }
            Kind::Bool => {
                let flag = value.downcast::<PyBool>().map_err(|_| Declined)?.is_true();
                put_field(buf, &[u8::from(flag)])
            }
            Kind::Date => {
                if !value.is_instance(self.date_type.bind(py))? {
                    return Err(Declined);
                }
                let days = match value.call_method0(pyo3::intern!(py, "toordinal"))?.extract::<i64>()? {
                    MAX_ORDINAL => i32::MAX,
                    1 => i32::MIN,
                    ordinal => i32::try_from(ordinal - PG_EPOCH_ORDINAL).map_err(|_| Declined)?,
                };
                put_field(buf, &days.to_be_bytes())
            }
            Kind::Numeric => {
                if !value.is_instance(self.decimal_type.bind(py))? {
                    return Err(Declined);
                }
                put_numeric(buf, value.str()?.to_str()?)
            }
            Kind::Jsonb => {
                let encoded = self.jsonb.bind(py).call1((value,))?;
                put_field(buf, encoded.downcast::<PyBytes>().map_err(|_| Declined)?.as_bytes())
            }
        }
    }
}

#[pymethods]
impl CopyEncoder {
    /// ``types``: the columns' PostgreSQL type names, in the rows' order; ValueError names one this cannot write.
    #[new]
    fn new(py: Python<'_>, types: Vec<String>, jsonb: Py<PyAny>) -> PyResult<Self> {
        let kinds = types
            .iter()
            .map(|t| Kind::of(t).ok_or_else(|| PyValueError::new_err(format!("no binary COPY writer for type {t}"))))
            .collect::<PyResult<Vec<Kind>>>()?;
        if kinds.len() > 1600 {
            return Err(PyValueError::new_err("a table has at most 1,600 columns"));
        }
        let import = |module: &str, name: &str| -> PyResult<Py<PyType>> {
            Ok(py.import(module)?.getattr(name)?.downcast_into::<PyType>()?.unbind())
        };
        Ok(CopyEncoder {
            kinds,
            jsonb,
            uuid_type: import("uuid", "UUID")?,
            decimal_type: import("decimal", "Decimal")?,
            date_type: import("datetime", "date")?,
        })
    }

    /// The whole COPY ... FROM STDIN (FORMAT binary) stream of ``rows`` (lists or tuples, one value a column), or
    /// None when a value is one to leave to asyncpg. A row of the wrong length is a ValueError.
    fn encode<'py>(&self, py: Python<'py>, rows: &Bound<'py, PyList>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut out = self.start(rows.len());
        for row in rows.iter() {
            let row = Sequence::of(&row, "COPY row")?;
            let values =
                (0..row.len()).map(|i| row.get(i).map(|v| v.expect("within the row"))).collect::<PyResult<Vec<_>>>()?;
            if !self.put_row(py, &mut out, &values)? {
                return Ok(None);
            }
        }
        Ok(Some(self.finish(py, out)))
    }

    /// As ``encode``, of rows the caller holds as dicts (the plan's records), without building a tuple a row:
    /// row i is ``ids[i]``, then ``constant``'s values, then ``values[i].get(name)`` for each of ``names``, then
    /// ``extra[i]``'s values (when given).
    #[pyo3(signature = (ids, constant, values, names, extra=None))]
    fn encode_mapped<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyList>,
        constant: &Bound<'py, PyTuple>,
        values: &Bound<'py, PyList>,
        names: Vec<Bound<'py, PyString>>,
        extra: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if ids.len() != values.len() || extra.is_some_and(|e| e.len() != ids.len()) {
            return Err(PyValueError::new_err("ids, values and extra of different lengths"));
        }
        let mut out = self.start(ids.len());
        for (i, (id, record)) in ids.iter().zip(values.iter()).enumerate() {
            let record = record.downcast::<PyDict>()?;
            let mut row = Vec::with_capacity(self.kinds.len());
            row.push(id);
            row.extend(constant.iter());
            for name in &names {
                row.push(record.get_item(name)?.unwrap_or_else(|| py.None().into_bound(py)));
            }
            if let Some(extra) = extra {
                row.extend(extra.get_item(i)?.downcast_into::<PyTuple>()?.iter());
            }
            if !self.put_row(py, &mut out, &row)? {
                return Ok(None);
            }
        }
        Ok(Some(self.finish(py, out)))
    }
}

impl CopyEncoder {
    fn start(&self, rows: usize) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::with_capacity(64 + rows * (8 + 24 * self.kinds.len()));
        out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        out.extend_from_slice(&[0; 8]); // flags, header extension length
        out
    }

    /// One row; false when a value is one to leave to asyncpg. A row of the wrong width is a ValueError.
    fn put_row(&self, py: Python<'_>, out: &mut Vec<u8>, row: &[Bound<'_, PyAny>]) -> PyResult<bool> {
        if row.len() != self.kinds.len() {
            return Err(PyValueError::new_err(format!(
                "a COPY row of {} values for {} columns",
                row.len(),
                self.kinds.len()
            )));
        }
        out.extend_from_slice(&(self.kinds.len() as i16).to_be_bytes());
        Ok(self.kinds.iter().zip(row).all(|(kind, value)| self.put(py, out, *kind, value).is_ok()))
    }

    fn finish<'py>(&self, py: Python<'py>, mut out: Vec<u8>) -> Bound<'py, PyBytes> {
        out.extend_from_slice(&(-1i16).to_be_bytes());
        PyBytes::new(py, &out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(text: &str) -> Option<(i16, i16, u16, u16, Vec<i16>)> {
        let mut buf = Vec::new();
        put_numeric(&mut buf, text).ok()?;
        let word = |i: usize| i16::from_be_bytes([buf[4 + 2 * i], buf[5 + 2 * i]]);
        let n = word(0);
        Some((n, word(1), word(2) as u16, word(3) as u16, (0..n as usize).map(|i| word(4 + i)).collect()))
    }

    #[test]
    fn numerics_align_on_the_point() {
        assert_eq!(numeric("12345.67"), Some((3, 1, 0, 2, vec![1, 2345, 6700])));
        assert_eq!(numeric("-0.5"), Some((1, -1, 0x4000, 1, vec![5000])));
        assert_eq!(numeric("0.00"), Some((0, 0, 0, 2, vec![])));
        assert_eq!(numeric("-0"), Some((0, 0, 0, 0, vec![])));
        assert_eq!(numeric("1E+3"), Some((1, 0, 0, 0, vec![1000])));
        assert_eq!(numeric("1.2E-7"), Some((1, -2, 0, 8, vec![12])));
        assert_eq!(numeric("10000"), Some((1, 1, 0, 0, vec![1])));
        assert_eq!(numeric("NaN"), None);
        assert_eq!(numeric("Infinity"), None);
    }
}
