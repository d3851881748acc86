//! Record ids for a batch at once: services.apply.batch.new_ids. Python built each from a random integer by bit
//! operations, about 0.9 µs an id, on the event loop of the worker, once for every record an import creates.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// Ids in UUID version 7's layout, one for every 10 bytes of ``random``: ``unix_ms`` in the top 48 bits, then the
/// version (7), 12 random bits, the RFC 4122 variant and 62 random bits; each made by ``make(<its 16 bytes>)``.
#[pyfunction]
pub(crate) fn uuid7s<'py>(
    py: Python<'py>,
    unix_ms: u64,
    random: &[u8],
    make: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    if !random.len().is_multiple_of(10) || unix_ms >> 48 != 0 {
        return Err(PyValueError::new_err("uuid7s: 10 random bytes an id and a 48-bit millisecond time"));
    }
    let ids = PyList::empty(py);
    for r in random.chunks_exact(10) {
        ids.append(make.call1((PyBytes::new(py, &layout(unix_ms, r)),))?)?;
    }
    Ok(ids)
}

fn layout(unix_ms: u64, r: &[u8]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    id[6] = 0x70 | (r[0] & 0x0F);
    id[7] = r[1];
    id[8] = 0x80 | (r[2] & 0x3F);
    id[9..].copy_from_slice(&r[3..10]);
    id
}

#[cfg(test)]
mod tests {
    use super::layout;

    #[test]
    fn version_variant_and_time_are_in_place() {
        let id = layout(0x0123_4567_89AB, &[0xFF; 10]);
        assert_eq!(&id[..6], &[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB]);
        assert_eq!(&id[6..9], &[0x7F, 0xFF, 0xBF]);
        assert_eq!(&id[9..], &[0xFF; 7]);
        let id = layout(1, &[0; 10]);
        assert_eq!(&id[5..9], &[0x01, 0x70, 0x00, 0x80]);
    }
}
