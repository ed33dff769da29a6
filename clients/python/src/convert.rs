//! Python objects <-> NWS values, and NWS errors -> the Python exceptions
//! of `nws._exceptions`.
//!
//! - `str` travels as TEXT (readable from R and Rust), `bytes` as RAW,
//!   a [`Blob`] as a BLOB with its own codec, anything else is pickled
//!   (highest protocol) as a BLOB with codec `python/pickle`.
//! - On receipt TEXT becomes `str`, RAW `bytes`, `python/pickle` is
//!   unpickled and `json` parsed. A blob Python cannot decode (another
//!   language's codec, or a broken pickle) raises `NwsUnpicklingException`
//!   carrying the raw bytes and codec: the value was consumed, so it must
//!   not be lost.
//! - Bytes are handed to the Rust client without copying (`Bytes` backed by
//!   the Python object), so a large `bytes` value is streamed from the
//!   caller's buffer.

use bytes::Bytes;
use nws::Value;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

/// The codec of pickled Python objects.
pub(crate) const PYTHON_PICKLE: &str = "python/pickle";
/// The neutral codec every client decodes.
pub(crate) const JSON: &str = "json";

static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PICKLE_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PICKLE_PROTOCOL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// What `Blob.__reduce__` returns: the class and its arguments.
type Reduced = (Py<PyAny>, (String, Py<PyBytes>));

/// A value stored with an explicit codec, or received with one Python
/// cannot decode: `Blob(codec, data)`. Public as `nws.client.NwsBlob`.
#[pyclass(frozen, module = "nws._nws", name = "Blob")]
pub(crate) struct Blob {
    /// The serializer's name, e.g. `r/serialize`, `rust/cbor`, `json`.
    codec: String,
    /// The serialized bytes.
    data: Py<PyBytes>,
}

#[pymethods]
impl Blob {
    #[new]
    fn new(codec: String, data: Py<PyBytes>) -> PyResult<Blob> {
        let printable = codec.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if codec.is_empty() || codec.len() > 64 || !printable {
            return Err(PyValueError::new_err(format!(
                "codec must be 1 to 64 printable ASCII characters without spaces, not {codec:?}"
            )));
        }
        Ok(Blob { codec, data })
    }

    /// The codec tag.
    #[getter]
    fn codec(&self) -> &str {
        &self.codec
    }

    /// The serialized bytes.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "NwsBlob({:?}, <{} bytes>)",
            self.codec,
            self.data.bind(py).as_bytes().len()
        )
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Blob>() {
            Ok(o) => {
                let o = o.get();
                o.codec == self.codec && o.data.bind(py).as_bytes() == self.data.bind(py).as_bytes()
            }
            Err(_) => false,
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.codec.as_str(), self.data.bind(py))
            .into_pyobject(py)?
            .hash()
    }

    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<Reduced> {
        let py = slf.py();
        let b = slf.get();
        Ok((
            slf.get_type().into_any().unbind(),
            (b.codec.clone(), b.data.clone_ref(py)),
        ))
    }
}

fn cached<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    attr: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.import(py, module, attr)
}

fn exceptions(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    EXCEPTIONS
        .get_or_try_init(py, || py.import("nws._exceptions").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// Bytes backed by a Python `bytes` object: no copy.
fn backed(b: &Bound<'_, PyBytes>) -> Bytes {
    Bytes::from_owner(PyBackedBytes::from(b.clone()))
}

/// Encodes a Python object as an NWS value (see the module notes).
pub(crate) fn encode(obj: &Bound<'_, PyAny>, ws: &str, var: &str) -> PyResult<Value> {
    let py = obj.py();
    if let Ok(s) = obj.cast_exact::<PyString>() {
        // A str with lone surrogates is not UTF-8: it is pickled instead.
        if let Ok(text) = s.to_cow() {
            return Ok(Value::Text(text.into_owned()));
        }
    } else if let Ok(b) = obj.cast_exact::<PyBytes>() {
        return Ok(Value::Raw(backed(b)));
    } else if let Ok(blob) = obj.cast_exact::<Blob>() {
        let blob = blob.get();
        return Ok(Value::blob(blob.codec.clone(), backed(blob.data.bind(py))));
    }
    let dumps = cached(py, &PICKLE_DUMPS, "pickle", "dumps")?;
    let protocol = cached(py, &PICKLE_PROTOCOL, "pickle", "HIGHEST_PROTOCOL")?;
    match dumps.call1((obj, protocol)) {
        Ok(pickled) => match pickled.cast_exact::<PyBytes>() {
            Ok(b) => Ok(Value::blob(PYTHON_PICKLE, backed(b))),
            Err(_) => Ok(Value::blob(
                PYTHON_PICKLE,
                Bytes::from(pickled.extract::<Vec<u8>>()?),
            )),
        },
        Err(e) => {
            let exc = exceptions(py)?.getattr("NwsPicklingException")?.call1((
                e.into_value(py),
                ws,
                var,
            ))?;
            Err(PyErr::from_value(exc))
        }
    }
}

/// The value's bytes as a Python `bytes`, whatever its kind.
pub(crate) fn raw_bytes(py: Python<'_>, v: &Value) -> Py<PyAny> {
    PyBytes::new(py, v.as_bytes()).into_any().unbind()
}

/// Decodes a received value (see the module notes).
pub(crate) fn decode(py: Python<'_>, v: Value, ws: &str, var: &str) -> PyResult<Py<PyAny>> {
    match v {
        Value::Text(s) => Ok(PyString::new(py, &s).into_any().unbind()),
        Value::Raw(b) => Ok(PyBytes::new(py, &b).into_any().unbind()),
        Value::Blob { codec, data } => {
            let raw = PyBytes::new(py, &data);
            let decoded = match codec.as_str() {
                PYTHON_PICKLE => cached(py, &PICKLE_LOADS, "pickle", "loads")?.call1((&raw,)),
                JSON => cached(py, &JSON_LOADS, "json", "loads")?.call1((&raw,)),
                other => Err(PyValueError::new_err(format!(
                    "no Python decoder for codec {other:?} ({} bytes); the raw value is in .obj",
                    data.len()
                ))),
            };
            match decoded {
                Ok(obj) => Ok(obj.unbind()),
                Err(e) => {
                    let exc = exceptions(py)?.getattr("NwsUnpicklingException")?.call1((
                        e.into_value(py),
                        ws,
                        var,
                        raw,
                        codec,
                    ))?;
                    Err(PyErr::from_value(exc))
                }
            }
        }
    }
}

/// Where an error happened, for errors without a server reason.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Opening the connection: transport failures are `NwsConnectException`.
    Connect,
    /// On an open session: transport failures mean the connection dropped.
    Session,
}

/// Maps an error of the Rust client to the Python exception of the catalog
/// (`spec/errors.md#client-mapping`).
pub(crate) fn error(py: Python<'_>, e: nws::Error, phase: Phase) -> PyErr {
    let (kind, reason, message) = match &e {
        nws::Error::Server { reason, message } => ("server", reason.as_str(), message.clone()),
        nws::Error::Transport(_) | nws::Error::InvalidAddress(_) if phase == Phase::Connect => {
            ("connect", "", e.to_string())
        }
        nws::Error::InvalidAddress(_) => ("connect", "", e.to_string()),
        nws::Error::Transport(_) | nws::Error::Closed => ("dropped", "", e.to_string()),
        nws::Error::Protocol(_) => ("protocol", "", e.to_string()),
        _ => ("protocol", "", e.to_string()),
    };
    let made =
        exceptions(py).and_then(|m| m.getattr("_from_error")?.call1((kind, reason, message)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// `NwsConnectException(message)`.
pub(crate) fn connect_error(py: Python<'_>, message: String) -> PyErr {
    let made =
        exceptions(py).and_then(|m| m.getattr("_from_error")?.call1(("connect", "", message)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}
