#!/usr/bin/env python3
"""mlserve's Python replica: loads one MLflow model with mlflow.pyfunc and answers the daemon's frames.

Started as ``<python> mlserve_replica.py '<config json>'`` with stdio ['ignore', log, log, pipe]: fd 3 is
a Unix stream socket to the daemon. Config: {deployment, replica, modelDir, threads?, concurrency?,
gpuFraction?}. The process exits 0 when that socket closes, so a killed daemon leaves no replica.

Frames are those of src/runtime/frame.ts:

    frame  = u32 LE length of the rest | u32 LE header length | header JSON (padded with spaces so the
             payload starts 8-aligned) | payload
    header = JSON object + tensors: [{name, datatype, shape, offset, byteLength}]

Tensor offsets are relative to the payload and 8-aligned; BYTES tensors hold per element a u32 LE
length and the utf8 bytes. Received tensors are numpy views over the frame's buffer (no copy).

Messages (daemon -> replica):
    {t:'ping', id}
    {t:'infer', id, reply:'tensors', requests?, params?, outputs?} + input tensors (Open Inference Protocol)
    {t:'infer', id, reply:'mlflow', requests?} + BYTES tensor __mlflow_request__ (one /invocations body each)
Messages (replica -> daemon):
    {t:'ready', inputs, outputs, loadMs, pid, python:{version, mlflow, flavors, signature, params}}
    {t:'fatal', message}
    {t:'pong', id}
    {t:'result', id, computeMs} + output tensors (mlflow: __mlflow_json__ BYTES + __status__ INT32)
    {t:'error', id, message}

Only the standard library is imported at module level: numpy, pandas and mlflow are imported after the
thread-count variables are set (and torch only when the model needs it), so this file can also be
imported by unit tests without side effects.
"""

import ctypes
import datetime
import importlib
import importlib.util
import inspect
import json
import os
import platform
import socket
import struct
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

MAX_FRAME_BYTES = 1024 * 1024 * 1024
#: The exit code when fd 3 closes: 0, or 1 once a fatal message is on its way.
EOF_EXIT_CODE = 0
PAYLOAD_ALIGN = 64
MLFLOW_REQUEST = "__mlflow_request__"
MLFLOW_JSON = "__mlflow_json__"
MLFLOW_STATUS = "__status__"

# ---------------------------------------------------------------------------------------------------
# Datatypes

#: OIP datatype -> numpy dtype name (BOOL travels as one byte per element, FP16 as IEEE half).
OIP_TO_NUMPY = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
NUMPY_TO_OIP = {v: k for k, v in OIP_TO_NUMPY.items()}
OIP_SIZE = {
    "BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "INT8": 1, "INT16": 2, "INT32": 4,
    "INT64": 8, "FP16": 2, "FP32": 4, "FP64": 8, "BYTES": 0,
}
#: MLflow column types (mlflow.types.DataType names) -> OIP datatype.
COLUMN_TYPE_TO_OIP = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}

#: Import names whose pip package is named differently.
PIP_PACKAGE = {"sklearn": "scikit-learn", "yaml": "pyyaml", "google": "protobuf", "PIL": "pillow", "cv2": "opencv-python"}

#: Flavors that load torch: it is imported first so threads and the GPU memory fraction apply.
TORCH_FLAVORS = {"pytorch", "transformers", "sentence_transformers"}


def oip_from_numpy(dtype):
    """The OIP datatype for a numpy dtype: numbers by name, strings/bytes/objects/dates as BYTES."""
    name = getattr(dtype, "name", str(dtype))
    if name in NUMPY_TO_OIP:
        return NUMPY_TO_OIP[name]
    kind = getattr(dtype, "kind", "")
    if kind in ("U", "S", "O", "M", "m", "T") or name in ("str", "string", "object", "bytes"):
        return "BYTES"
    raise ValueError(f"numpy dtype '{name}' has no Open Inference Protocol datatype")


def column_type_to_oip(type_name):
    return COLUMN_TYPE_TO_OIP.get(type_name, "BYTES")


def configure_threads(threads, environ=None):
    """Set the BLAS/OpenMP thread counts before numpy is imported (a variable already set wins)."""
    environ = os.environ if environ is None else environ
    done = []
    if threads is None:
        return done
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if var not in environ:
            environ[var] = str(threads)
            done.append(var)
    return done


def apply_gpu_fraction(torch_module, fraction, device=0):
    """Cap this process's share of GPU `device` memory; call before the model is loaded.

    Returns a line for the log (what was done, or why nothing was), or None when no fraction is set.
    """
    if fraction is None:
        return None
    fraction = float(fraction)
    if not 0 < fraction <= 1:
        raise ValueError(f"gpuFraction must be in (0, 1], got {fraction}")
    if torch_module is None:
        return f"gpuFraction {fraction} ignored: torch is not installed"
    cuda = getattr(torch_module, "cuda", None)
    if cuda is None or not cuda.is_available():
        return f"gpuFraction {fraction} ignored: CUDA is not available"
    cuda.set_per_process_memory_fraction(fraction, device)
    return f"gpuFraction: torch.cuda.set_per_process_memory_fraction({fraction}, {device})"


def missing_module_message(err, python=None):
    """A fatal message for an ImportError: which module is missing and the pip command that adds it."""
    python = python or sys.executable
    name = getattr(err, "name", None) or "?"
    top = name.split(".")[0]
    package = PIP_PACKAGE.get(top, top)
    return (
        f"the Python at {python} cannot import '{name}' ({type(err).__name__}: {err}). "
        f"Install it with: {python} -m pip install {package}"
    )


# ---------------------------------------------------------------------------------------------------
# Frames


def align8(n):
    return (n + 7) & ~7


class Tensor:
    """A named tensor: `data` is a numpy array of `shape` (object array of str/bytes for BYTES)."""

    __slots__ = ("name", "datatype", "shape", "data")

    def __init__(self, name, datatype, shape, data):
        self.name = name
        self.datatype = datatype
        self.shape = list(shape)
        self.data = data

    def __repr__(self):
        return f"Tensor({self.name!r}, {self.datatype}, {self.shape})"


class FrameError(Exception):
    """A frame that breaks the protocol: the stream is out of sync."""


def decode_bytes(buf, start, byte_length, count, name, raw=False):
    """Triton BYTES layout -> numpy object array of str (or of bytes when raw)."""
    import numpy as np

    out = np.empty(count, dtype=object)
    mv = memoryview(buf)
    pos = start
    end = start + byte_length
    unpack = struct.Struct("<I").unpack_from
    for i in range(count):
        if pos + 4 > end:
            raise ValueError(f"BYTES tensor '{name}': element {i} runs past its {byte_length} bytes")
        (n,) = unpack(buf, pos)
        pos += 4
        if pos + n > end:
            raise ValueError(f"BYTES tensor '{name}': element {i} runs past its {byte_length} bytes")
        b = bytes(mv[pos:pos + n])
        out[i] = b if raw else b.decode("utf-8")
        pos += n
    if pos != end:
        raise ValueError(f"BYTES tensor '{name}': {end - pos} bytes left after {count} elements")
    return out


def encode_bytes(values):
    """Iterable of str/bytes (anything else via str) -> Triton BYTES layout."""
    parts = []
    pack = struct.Struct("<I").pack
    for v in values:
        if isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
        else:
            b = (v if isinstance(v, str) else str(v)).encode("utf-8")
        parts.append(pack(len(b)))
        parts.append(b)
    return b"".join(parts)


def decode_frame(frame, raw_bytes_names=()):
    """A whole frame (its length prefix included) -> (header dict without `tensors`, [Tensor]).

    Fixed-size tensors are numpy views over `frame` (writable when `frame` is a bytearray). BYTES
    tensors named in `raw_bytes_names` decode to bytes elements, others to str.
    Raises FrameError for a broken frame, ValueError for a bad tensor.
    """
    import numpy as np

    if len(frame) < 8:
        raise FrameError(f"frame of {len(frame)} bytes is too short for its header length")
    (header_len,) = struct.unpack_from("<I", frame, 4)
    payload_start = 8 + header_len
    if payload_start > len(frame):
        raise FrameError(f"frame header length {header_len} runs past the frame's {len(frame)} bytes")
    try:
        header = json.loads(bytes(frame[8:payload_start]).decode("utf-8"))
    except ValueError as err:
        raise FrameError(f"frame header is not JSON: {err}") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not a JSON object")
    infos = header.pop("tensors", None) or []
    if not isinstance(infos, list):
        raise FrameError("frame header: tensors must be an array")
    payload_len = len(frame) - payload_start
    tensors = []
    for info in infos:
        try:
            name, datatype, shape = info["name"], info["datatype"], info["shape"]
            offset, byte_length = info["offset"], info["byteLength"]
        except (KeyError, TypeError):
            raise FrameError(f"frame header: bad tensor descriptor {json.dumps(info)}") from None
        if (not isinstance(name, str) or datatype not in OIP_SIZE or not isinstance(shape, list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                or not isinstance(offset, int) or not isinstance(byte_length, int) or offset < 0 or byte_length < 0):
            raise FrameError(f"frame header: bad tensor descriptor {json.dumps(info)}")
        if offset + byte_length > payload_len:
            raise FrameError(
                f"frame tensor '{name}': bytes {offset}..{offset + byte_length} run past the {payload_len}-byte payload"
            )
        count = 1
        for d in shape:
            count *= d
        start = payload_start + offset
        if datatype == "BYTES":
            data = decode_bytes(frame, start, byte_length, count, name, raw=name in raw_bytes_names).reshape(shape)
        else:
            if byte_length != count * OIP_SIZE[datatype]:
                raise ValueError(
                    f"frame tensor '{name}': {byte_length} bytes for {datatype} {shape}, "
                    f"expected {count * OIP_SIZE[datatype]}"
                )
            data = np.frombuffer(frame, dtype=OIP_TO_NUMPY[datatype], count=count, offset=start).reshape(shape)
        tensors.append(Tensor(name, datatype, shape, data))
    return header, tensors


def tensor_body(t):
    """The bytes of one tensor as a buffer (numeric data is not copied when already contiguous LE)."""
    import numpy as np

    if t.datatype == "BYTES":
        data = t.data
        flat = data.reshape(-1) if isinstance(data, np.ndarray) else data
        return encode_bytes(flat)
    dtype = np.dtype(OIP_TO_NUMPY[t.datatype]).newbyteorder("<")
    arr = np.ascontiguousarray(t.data, dtype=dtype)
    if arr.nbytes == 0:
        return b""
    return memoryview(arr.reshape(-1)).cast("B")


def encode_frame(header, tensors):
    """header dict + [Tensor] -> list of buffers making up one frame (for sendmsg)."""
    bodies = []
    infos = []
    payload = 0
    for t in tensors:
        body = tensor_body(t)
        payload = align8(payload)
        infos.append({"name": t.name, "datatype": t.datatype, "shape": [int(d) for d in t.shape],
                      "offset": payload, "byteLength": len(body)})
        bodies.append(body)
        payload += len(body)
    doc = dict(header)
    doc["tensors"] = infos
    js = json.dumps(doc, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")
    header_len = align8(8 + len(js)) - 8
    rest = 4 + header_len + payload
    if rest > 0xFFFFFFFF:
        raise ValueError(f"frame of {rest + 4} bytes is too large for the u32 length prefix")
    parts = [struct.pack("<II", rest, header_len) + js + b" " * (header_len - len(js))]
    pos = 0
    for info, body in zip(infos, bodies):
        if info["offset"] > pos:
            parts.append(b"\0" * (info["offset"] - pos))
        if len(body) > 0:
            parts.append(body)
        pos = info["offset"] + len(body)
    return parts


class Channel:
    """The framed socket to the daemon: one reader, writers serialised by a lock."""

    def __init__(self, sock, max_frame_bytes=MAX_FRAME_BYTES):
        self.sock = sock
        self.max_frame_bytes = max_frame_bytes
        self.lock = threading.Lock()

    def send(self, header, tensors=()):
        parts = encode_frame(header, list(tensors))
        with self.lock:
            sendmsg_all(self.sock, parts)

    def _read_exact(self, view):
        pos = 0
        while pos < len(view):
            n = self.sock.recv_into(view[pos:])
            if n == 0:
                return False
            pos += n
        return True

    def read_frame(self):
        """The next whole frame (a writable memoryview over its own buffer), or None at EOF.

        The buffer is placed so that the payload starts 64-byte aligned: the first tensor (offset 0,
        often the only one) is then as aligned as a fresh numpy array, and SIMD kernels (torch's, for
        one) take the same path, and give the same last bits, as on an array made in Python. Later
        tensors are 8-aligned, as frame.ts lays them out.
        """
        prefix = bytearray(8)
        view = memoryview(prefix)
        if not self._read_exact(view[:4]):
            return None
        (rest,) = struct.unpack_from("<I", prefix, 0)
        total = 4 + rest
        if total > self.max_frame_bytes:
            raise FrameError(f"frame of {total} bytes exceeds the maximum of {self.max_frame_bytes} bytes")
        if rest < 4:
            raise FrameError(f"frame length {rest} is too short to hold a header length")
        if not self._read_exact(view[4:8]):
            return None
        (header_len,) = struct.unpack_from("<I", prefix, 4)
        buf = bytearray(total + PAYLOAD_ALIGN)
        base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        start = (-(base + 8 + header_len)) % PAYLOAD_ALIGN
        frame = memoryview(buf)[start:start + total]
        frame[0:8] = prefix
        if not self._read_exact(frame[8:]):
            return None
        return frame


def sendmsg_all(sock, parts):
    views = [memoryview(p).cast("B") for p in parts if len(p) > 0]
    while views:
        sent = sock.sendmsg(views[:512])
        while sent > 0:
            first = len(views[0])
            if sent >= first:
                sent -= first
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0


# ---------------------------------------------------------------------------------------------------
# Signatures


def _json_value(v):
    """A JSON-able form of a param default (numpy scalars, arrays, dates)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if hasattr(v, "tolist"):
        return _json_value(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _unnamed(prefix, i, n):
    return prefix if n == 1 else f"{prefix}_{i}"


def schema_specs(schema, prefix):
    """An MLflow Schema -> OIP TensorSpec dicts: a column per spec with shape [-1], or the tensor specs."""
    if schema is None:
        return []
    from mlflow.types import DataType

    specs = []
    inputs = schema.inputs
    if schema.is_tensor_spec():
        for i, ts in enumerate(inputs):
            shape = [int(d) if d is not None else -1 for d in (ts.shape or ())]
            specs.append({"name": ts.name or _unnamed(prefix, i, len(inputs)),
                          "datatype": oip_from_numpy(ts.type), "shape": shape})
        return specs
    for i, col in enumerate(inputs):
        t = col.type
        type_name = t.name if isinstance(t, DataType) else None
        specs.append({"name": col.name if col.name is not None else _unnamed(prefix, i, len(inputs)),
                      "datatype": column_type_to_oip(type_name), "shape": [-1]})
    return specs


def signature_kind(metadata):
    schema = metadata.get_input_schema() if metadata is not None else None
    if schema is None:
        return "none"
    return "tensors" if schema.is_tensor_spec() else "columns"


def params_specs(metadata):
    ps = metadata.get_params_schema() if hasattr(metadata, "get_params_schema") else None
    if ps is None:
        return None
    out = []
    for p in ps.params:
        dtype = getattr(p.dtype, "name", None) or str(p.dtype)
        shape = None if p.shape is None else [int(d) if d is not None else -1 for d in p.shape]
        out.append({"name": p.name, "type": dtype, "default": _json_value(p.default), "shape": shape})
    return out


# ---------------------------------------------------------------------------------------------------
# Inputs and outputs of the tensors (Open Inference Protocol) path


def _column(t):
    data = t.data
    if data.ndim == 1:
        return data
    if data.ndim == 2 and data.shape[1] == 1:
        return data[:, 0]
    if data.ndim == 0:
        return data.reshape(1)
    return list(data)  # one array per row (MLflow Array columns)


def build_model_input(tensors, input_schema):
    """Frame tensors -> what model.predict takes: DataFrame (columns), ndarray or dict (tensors)."""
    import pandas as pd

    if input_schema is not None and not input_schema.is_tensor_spec():
        if input_schema.has_input_names():
            names = list(input_schema.input_names())
            by_name = {t.name: t for t in tensors}
            ordered = [by_name[n] for n in names if n in by_name]
            ordered += [t for t in tensors if t.name not in set(names)]
            return pd.DataFrame({t.name: _column(t) for t in ordered}, copy=False)
        return pd.DataFrame({i: _column(t) for i, t in enumerate(tensors)}, copy=False)
    if input_schema is not None:
        specs = input_schema.inputs
        if len(specs) == 1 and len(tensors) == 1:
            return tensors[0].data
        names = [s.name for s in specs if s.name]
        by_name = {t.name: t for t in tensors}
        ordered = [by_name[n] for n in names if n in by_name] + [t for t in tensors if t.name not in set(names)]
        return {t.name: t.data for t in ordered}
    if len(tensors) > 0 and all(t.data.ndim == 1 for t in tensors) and len(tensors) > 1:
        return pd.DataFrame({t.name: t.data for t in tensors}, copy=False)
    if len(tensors) == 1:
        return tensors[0].data
    return {t.name: t.data for t in tensors}


def _object_to_array(arr):
    """An object array -> a typed array when its elements allow, else strings (BYTES)."""
    import numpy as np

    flat = arr.reshape(-1)
    if flat.size == 0:
        return arr, "BYTES"
    kinds = set()
    for x in flat:
        if isinstance(x, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(x, (int, np.integer)):
            kinds.add("int")
        elif isinstance(x, (float, np.floating)):
            kinds.add("float")
        elif isinstance(x, (str, bytes)):
            kinds.add("str")
        else:
            kinds.add("other")
        if len(kinds) > 1 and "str" in kinds:
            break
    if kinds == {"bool"}:
        return arr.astype(np.bool_), "BOOL"
    if kinds == {"int"}:
        try:
            return arr.astype(np.int64), "INT64"
        except OverflowError:
            pass
    if kinds <= {"int", "float"}:
        return arr.astype(np.float64), "FP64"
    if kinds == {"str"}:
        return arr, "BYTES"
    out = np.empty(flat.size, dtype=object)
    for i, x in enumerate(flat):
        out[i] = x if isinstance(x, (str, bytes)) else json.dumps(_json_value(x))
    return out.reshape(arr.shape), "BYTES"


def to_tensor(name, value):
    """One model output (ndarray, Series, list, scalar, ...) -> Tensor."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (pd.Series, pd.Index)):
        value = value.to_numpy()
    elif isinstance(value, pd.DataFrame):
        raise ValueError(f"output '{name}' is a DataFrame inside a DataFrame or dict")
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    kind = arr.dtype.kind
    if kind == "O":
        arr, datatype = _object_to_array(arr)
    elif kind == "M":
        arr, datatype = np.datetime_as_string(arr).astype(object), "BYTES"
    elif kind in ("U", "S"):
        datatype = "BYTES"
        arr = arr.astype(object)
    else:
        datatype = oip_from_numpy(arr.dtype)
    return Tensor(name, datatype, list(arr.shape), arr)


def example_tensors(specs):
    """One example row per input spec (as src/runtime/example.ts): 0.5 for floats, 1 for integers,
    False for BOOL, "example" for BYTES; -1 dimensions are 1. Used for the warm-up run."""
    import numpy as np

    out = []
    for s in specs:
        shape = [d if d >= 0 else 1 for d in s["shape"]]
        dt = s["datatype"]
        if dt == "BYTES":
            data = np.full(shape, "example", dtype=object)
        elif dt == "BOOL":
            data = np.zeros(shape, dtype=np.bool_)
        elif dt.startswith("FP"):
            data = np.full(shape, 0.5, dtype=OIP_TO_NUMPY[dt])
        else:
            data = np.ones(shape, dtype=OIP_TO_NUMPY[dt])
        out.append(Tensor(s["name"], dt, shape, data))
    return out


def predictions_to_tensors(raw, output_names):
    """model.predict's result -> [Tensor]. A single array is named after the one declared output."""
    import pandas as pd

    single = output_names[0] if len(output_names) == 1 else "predictions"
    if isinstance(raw, pd.DataFrame):
        return [to_tensor(str(c), raw[c]) for c in raw.columns]
    if isinstance(raw, dict):
        return [to_tensor(str(k), v) for k, v in raw.items()]
    return [to_tensor(single, raw)]


# ---------------------------------------------------------------------------------------------------
# The replica


class Replica:
    def __init__(self, config, channel):
        self.config = config
        self.channel = channel
        self.model = None
        self.scoring_server = None
        self.input_schema = None
        self.output_names = []
        self.has_params = False
        self.predict_takes_params = False
        self.executor = ThreadPoolExecutor(max_workers=max(1, int(config.get("concurrency") or 1)),
                                           thread_name_prefix="predict")

    # -- loading --------------------------------------------------------------------------------

    def load(self):
        """Load the model; returns the ready message. Raises on failure (the caller sends fatal)."""
        cfg = self.config
        started = time.perf_counter()
        model_dir = cfg.get("modelDir")
        if not isinstance(model_dir, str) or not model_dir:
            raise ValueError("config has no modelDir")
        try:
            # mlflow first: when it is missing, that is what the message should name.
            import mlflow
            import mlflow.pyfunc
            import numpy  # noqa: F401
            import pandas  # noqa: F401
        except ImportError as err:
            raise FatalError(missing_module_message(err)) from None
        if not os.path.isdir(model_dir):
            raise FatalError(f"model directory {model_dir} does not exist")
        if not os.path.isfile(os.path.join(model_dir, "MLmodel")):
            raise FatalError(f"{model_dir} has no MLmodel file: not an MLflow model directory")

        from mlflow.models import Model

        flavors = list(Model.load(model_dir).flavors.keys())
        threads = cfg.get("threads")
        fraction = cfg.get("gpuFraction")
        torch = None
        if (TORCH_FLAVORS.intersection(flavors) or fraction is not None) and importlib.util.find_spec("torch"):
            torch = importlib.import_module("torch")
            if threads:
                torch.set_num_threads(int(threads))
        note = apply_gpu_fraction(torch, fraction)
        if note:
            log(note)

        try:
            model = mlflow.pyfunc.load_model(model_dir)
        except ImportError as err:
            raise FatalError(f"loading {model_dir} failed: {missing_module_message(err)}") from None
        if threads and torch is None and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(threads))
        # As `mlflow models serve` does once its model is loaded (scoring_server.init).
        try:
            from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT

            os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"
        except ImportError:
            pass
        try:
            from mlflow.pyfunc import scoring_server

            self.scoring_server = scoring_server
        except ImportError as err:
            log(f"mlflow.pyfunc.scoring_server is unavailable ({err}); the mlflow reply path will fail")

        meta = model.metadata
        self.input_schema = meta.get_input_schema()
        inputs = schema_specs(self.input_schema, "input")
        outputs = schema_specs(meta.get_output_schema(), "output")
        self.output_names = [o["name"] for o in outputs]
        params = params_specs(meta)
        self.has_params = params is not None
        self.predict_takes_params = "params" in inspect.signature(model.predict).parameters
        load_ms = (time.perf_counter() - started) * 1000
        warmup_ms = self.warm_up(model, inputs)
        self.model = model  # last: the reader thread queues infers once this is set
        ready = {
            "t": "ready",
            "inputs": inputs,
            "outputs": outputs,
            "loadMs": load_ms,
            "pid": os.getpid(),
            "python": {
                "version": platform.python_version(),
                "mlflow": getattr(mlflow, "__version__", "?"),
                "flavors": list(meta.flavors.keys()),
                "signature": signature_kind(meta),
                "params": params,
            },
        }
        if warmup_ms is not None:
            ready["warmupMs"] = warmup_ms
        return ready

    def warm_up(self, model, inputs):
        """One predict on an example built from the signature before the replica reports ready, so the
        first user request does not pay the slow first run. Skipped quietly without a signature (there is
        nothing to build it from) or when the deployment turned it off; a failure is logged, not fatal."""
        if self.config.get("warmup") is False or self.input_schema is None or not inputs:
            return None
        started = time.perf_counter()
        try:
            model.predict(build_model_input(example_tensors(inputs), self.input_schema))
        except Exception as err:
            log(f"warm-up run failed ({type(err).__name__}: {err}); serving without it")
            return None
        ms = (time.perf_counter() - started) * 1000
        print(f"python replica {self.config.get('deployment')}#{self.config.get('replica')}: warm-up run in {ms:.0f} ms", flush=True)
        return ms

    # -- messages -------------------------------------------------------------------------------

    def on_frame(self, frame):
        """Called on the reader thread for each frame; pings are answered here, infers queued."""
        try:
            header, tensors = decode_frame(frame, raw_bytes_names=(MLFLOW_REQUEST,))
        except FrameError:
            raise
        except Exception as err:  # a bad tensor: answer its request, the stream is still in sync
            header = _peek_header(frame)
            if header.get("t") == "infer":
                self.channel.send({"t": "error", "id": header.get("id"), "message": f"bad request frame: {err}"})
            return
        t = header.get("t")
        if t == "ping":
            self.channel.send({"t": "pong", "id": header.get("id")})
        elif t == "infer":
            if self.model is None:
                self.channel.send({"t": "error", "id": header.get("id"), "message": "the model is not loaded yet"})
                return
            self.executor.submit(self.run_infer, header, tensors)
        else:
            log(f"ignoring a message of type {t!r}")

    def run_infer(self, header, tensors):
        msg_id = header.get("id")
        started = time.perf_counter()
        try:
            reply = header.get("reply", "tensors")
            extra = {}
            if reply == "mlflow":
                out, batched = self.infer_mlflow(header, tensors)
                extra["batched"] = batched
            elif reply == "tensors":
                out = self.infer_tensors(header, tensors)
            else:
                raise ValueError(f"unknown reply kind {reply!r} (expected 'tensors' or 'mlflow')")
            compute_ms = (time.perf_counter() - started) * 1000
            self.channel.send({"t": "result", "id": msg_id, "computeMs": compute_ms, **extra}, out)
        except Exception as err:
            message = f"{type(err).__name__}: {err}"
            log(f"request {msg_id} failed: {message}")
            try:
                self.channel.send({"t": "error", "id": msg_id, "message": message})
            except OSError:
                pass

    def predict(self, data, params):
        if params is not None and self.has_params and self.predict_takes_params:
            return self.model.predict(data, params=params)
        return self.model.predict(data)

    def infer_tensors(self, header, tensors):
        params = header.get("params")
        if params is not None and not isinstance(params, dict):
            raise ValueError("params must be a JSON object")
        data = build_model_input(tensors, self.input_schema)
        raw = self.predict(data, params)
        out = predictions_to_tensors(raw, self.output_names)
        wanted = header.get("outputs")
        if wanted:
            by_name = {t.name: t for t in out}
            missing = [n for n in wanted if n not in by_name]
            if missing:
                raise ValueError(f"the model has no output {', '.join(repr(m) for m in missing)} "
                                 f"(its outputs: {', '.join(by_name) or 'none'})")
            out = [by_name[n] for n in wanted]
        requests = header.get("requests")
        if isinstance(requests, list) and len(requests) > 1:
            total = sum(int(r) for r in requests)
            for t in out:
                rows = t.shape[0] if t.shape else 1
                if rows != total:
                    raise ValueError(
                        f"the model returned {rows} rows in output '{t.name}' for {total} input rows from "
                        f"{len(requests)} batched requests; batching needs one output row per input row"
                    )
        return out

    # -- the MLflow /invocations path -----------------------------------------------------------

    def infer_mlflow(self, header, tensors):
        import numpy as np

        if self.scoring_server is None:
            raise RuntimeError("mlflow.pyfunc.scoring_server could not be imported")
        req = next((t for t in tensors if t.name == MLFLOW_REQUEST), None)
        if req is None or req.datatype != "BYTES":
            raise ValueError(f"an mlflow request needs a BYTES tensor '{MLFLOW_REQUEST}'")
        bodies = list(req.data.reshape(-1))
        answers, batched = self.mlflow_answers(bodies)
        return [
            Tensor(MLFLOW_JSON, "BYTES", [len(answers)], np.array([a[1] for a in answers], dtype=object)),
            Tensor(MLFLOW_STATUS, "INT32", [len(answers)], np.array([a[0] for a in answers], dtype=np.int32)),
        ], batched

    def invoke_one(self, body):
        """One /invocations body through MLflow's own code, as its FastAPI app runs it."""
        from mlflow.exceptions import MlflowException

        ss = self.scoring_server
        try:
            result = ss.invocations(body, ss.CONTENT_TYPE_JSON, self.model, self.input_schema)
            return result.status, result.response
        except MlflowException as e:  # scoring_server._async_catch_mlflow_exception
            return e.get_http_status_code(), e.serialize_as_json()
        except Exception as e:  # the app would answer 500 Internal Server Error
            log(f"/invocations raised {type(e).__name__}: {e}\n{traceback.format_exc()}")
            return 500, json.dumps({"error_code": "INTERNAL_ERROR", "message": f"{type(e).__name__}: {e}"})

    def mlflow_answers(self, bodies):
        """([(status, json body)] per request, how many were answered from a shared predict).

        DataFrame inputs with the same columns, dtypes and params are concatenated and predicted once;
        everything else (and a batch whose predict fails) goes through MLflow's invocations() one by one.
        """
        ss = self.scoring_server
        if len(bodies) == 1 or not hasattr(ss, "_parse_json_data"):
            return [self.invoke_one(b) for b in bodies], 0
        import pandas as pd
        from mlflow.exceptions import MlflowException

        answers = [None] * len(bodies)
        batched = 0
        groups = {}
        for i, body in enumerate(bodies):
            try:
                parsed = ss._parse_json_data(body, self.model.metadata, self.input_schema)
            except MlflowException as e:
                answers[i] = (e.get_http_status_code(), e.serialize_as_json())
                continue
            except Exception:
                continue  # invoke_one reports it as the app would
            data = parsed.data
            if parsed.is_unified_llm_input or not isinstance(data, pd.DataFrame) or len(data) == 0:
                continue
            try:
                key = (tuple(map(str, data.columns)), tuple(map(str, data.dtypes)),
                       json.dumps(parsed.params, sort_keys=True))
            except (TypeError, ValueError):
                continue
            groups.setdefault(key, []).append((i, parsed))
        for members in groups.values():
            if len(members) < 2:
                continue
            done = self.predict_mlflow_batch(members)
            if done is None:
                continue  # failed or not sliceable: each request is answered on its own below
            for (i, _), text in zip(members, done):
                answers[i] = (200, text)
            batched += len(members)
        return [a if a is not None else self.invoke_one(bodies[i]) for i, a in enumerate(answers)], batched

    def predict_mlflow_batch(self, members):
        """Predict the concatenated DataFrames once; JSON bodies per request, or None to fall back."""
        import pandas as pd
        from io import StringIO

        ss = self.scoring_server
        frames = [p.data for _, p in members]
        params = members[0][1].params
        data = pd.concat(frames, ignore_index=True)
        try:
            if "params" in inspect.signature(self.model.predict).parameters:
                raw = self.model.predict(data, params=params)
            else:
                raw = self.model.predict(data)
        except Exception as err:
            log(f"batched /invocations predict of {len(frames)} requests failed ({type(err).__name__}); "
                "answering them one by one")
            return None
        parts = slice_rows(raw, [len(f) for f in frames])
        if parts is None:
            log(f"batched /invocations predict returned {type(raw).__name__} that does not split by rows; "
                "answering the requests one by one")
            return None
        out = []
        for part in parts:
            buf = StringIO()
            ss.predictions_to_json(part, buf)
            out.append(buf.getvalue())
        return out


def slice_rows(raw, counts):
    """Split predictions for sum(counts) rows into one piece per request, or None when it can't."""
    import numpy as np
    import pandas as pd

    total = sum(counts)
    bounds = []
    pos = 0
    for n in counts:
        bounds.append((pos, pos + n))
        pos += n
    if isinstance(raw, np.ndarray) and raw.ndim >= 1 and raw.shape[0] == total:
        return [raw[a:b] for a, b in bounds]
    if isinstance(raw, (pd.DataFrame, pd.Series)) and len(raw) == total:
        return [raw.iloc[a:b].reset_index(drop=True) for a, b in bounds]
    if isinstance(raw, list) and len(raw) == total:
        return [raw[a:b] for a, b in bounds]
    return None


class FatalError(Exception):
    """A load failure whose message is already written for the user."""


def _peek_header(frame):
    try:
        (header_len,) = struct.unpack_from("<I", frame, 4)
        h = json.loads(bytes(frame[8:8 + header_len]).decode("utf-8"))
        return h if isinstance(h, dict) else {}
    except Exception:
        return {}


def log(msg):
    print(f"python replica: {msg}", file=sys.stderr, flush=True)


def _stamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z "


class StampedStream:
    """Every line written starts with its UTC time, ISO 8601 with milliseconds and a space (as the
    onnx replica's src/runtime/log-stamp.ts): `mlserve logs` shows and orders lines by it."""

    def __init__(self, stream):
        self._stream = stream
        self._at_start = True
        self._lock = threading.Lock()

    def write(self, text):
        if not text:
            return 0
        with self._lock:
            out = []
            for i, part in enumerate(text.splitlines(keepends=True)):
                out.append((_stamp() if (self._at_start or i > 0) else "") + part)
            self._at_start = text.endswith("\n")
            self._stream.write("".join(out))
        return len(text)

    def flush(self):
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _exit(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def reader_loop(channel, replica):
    """Runs on its own thread for the life of the process: EOF on fd 3 ends the process with 0."""
    try:
        while True:
            frame = channel.read_frame()
            if frame is None:
                _exit(EOF_EXIT_CODE)
            replica.on_frame(frame)
    except FrameError as err:
        log(f"bad frame from daemon: {err}")
        _exit(70)
    except OSError:
        _exit(EOF_EXIT_CODE)
    except BaseException:
        log(f"reader failed:\n{traceback.format_exc()}")
        _exit(70)


def main(argv):
    sys.stdout = StampedStream(sys.stdout)
    sys.stderr = StampedStream(sys.stderr)
    try:
        config = json.loads(argv[0]) if argv else {}
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:
        config = None
        config_error = f"bad replica config argument: {err}"
    try:
        sock = socket.socket(fileno=3)
    except OSError as err:
        log(f"fd 3 is not the daemon's socket: {err}")
        return 1
    channel = Channel(sock)

    def fatal(message):
        global EOF_EXIT_CODE
        EOF_EXIT_CODE = 1  # the daemon may close the pipe as soon as it reads this: still exit 1
        log(f"fatal: {message}")
        try:
            channel.send({"t": "fatal", "message": message})
        except OSError:
            pass
        _exit(1)

    if config is None:
        fatal(config_error)
    try:
        configure_threads(config.get("threads"))
    except (TypeError, ValueError) as err:
        fatal(f"bad threads in config: {err}")

    replica = Replica(config, channel)
    reader = threading.Thread(target=reader_loop, args=(channel, replica), name="reader", daemon=True)
    reader.start()
    print(
        f"python replica {config.get('deployment')}#{config.get('replica')} pid {os.getpid()}: loading "
        f"{config.get('modelDir')} (python {platform.python_version()} at {sys.executable})",
        flush=True,
    )
    try:
        ready = replica.load()
    except FatalError as err:
        fatal(str(err))
    except Exception as err:
        log(traceback.format_exc())
        fatal(f"failed to load {config.get('modelDir')}: {type(err).__name__}: {err}")
    print(
        f"python replica {config.get('deployment')}#{config.get('replica')}: ready in {ready['loadMs']:.0f} ms "
        f"(mlflow {ready['python']['mlflow']}, flavors {', '.join(ready['python']['flavors'])}, "
        f"signature {ready['python']['signature']})",
        flush=True,
    )
    channel.send(ready)
    reader.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
