"""recur_safetensors - read and write safetensors files in pure Python.

Only the standard library and numpy: the `safetensors` package is not
needed. The layout (the same as Hugging Face's safetensors):

    8 bytes   N, the header length, unsigned little-endian
    N bytes   JSON: {"__metadata__": {str: str}, name: {"dtype": "F32",
              "shape": [..], "data_offsets": [begin, end]}, ...}
              padded with spaces to a multiple of 8
    the rest  the tensors' bytes, little-endian, back to back

    write(path, tensors, metadata=None)  tensors: {name: array}, in order
    read(path) -> (tensors, metadata)    tensors: {name: array}, data order

Also the recurrent-layer metadata schema that recur's model files use
(RECURRENT_KEYS, recurrent_metadata, parse_recurrent_metadata), so that
fixture scripts need not import torch to read or write them.
"""

import json
import os
import struct

import numpy as np

RECUR_VERSION = "0.1.0"

# safetensors dtype name <-> numpy dtype (little-endian). BF16 has no
# numpy dtype: it is read as float32 and cannot be written from numpy.
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_SIZES = dict({k: v.itemsize for k, v in _DTYPES.items()}, BF16=2)
_MAX_HEADER = 100_000_000


class FormatError(ValueError):
    """A file that is not a valid safetensors file (the message says why)."""


def _dtype_name(dt):
    dt = np.dtype(dt)
    for name, d in _DTYPES.items():
        if d == dt.newbyteorder("<") or d == dt:
            return name
    raise TypeError(f"safetensors has no dtype for numpy {dt}")


def write(path, tensors, metadata=None):
    """Writes {name: numpy array} (in that order) and {str: str} metadata.

    Atomic: writes path + ".tmp", fsyncs, then renames it over path."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"bad tensor name {name!r}")
        arr = np.asarray(arr)
        dt = _dtype_name(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=_DTYPES[dt]).tobytes()
        header[name] = {
            "dtype": dt,
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def read(path):
    """Returns ({name: numpy array} in data order, {str: str} metadata).

    BF16 tensors come back as float32. Raises FormatError for a broken file,
    with the file name and what is wrong."""
    with open(path, "rb") as f:
        buf = f.read()

    def bad(msg):
        return FormatError(f"{path}: {msg}")

    if len(buf) < 8:
        raise bad(f"{len(buf)} bytes, too few for the header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise bad(f"header length {n} is larger than the rest of the file ({len(buf) - 8} bytes)")
    if n > _MAX_HEADER:
        raise bad(f"header length {n} is over the limit")
    def no_duplicates(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise FormatError(f"{path}: key {k!r} appears twice in the header")
            d[k] = v
        return d

    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise bad(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad("__metadata__ must be an object of strings")
    data = memoryview(buf)[8 + n:]
    entries = []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {name!r}: expected dtype, shape and data_offsets")
        dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dt not in _SIZES:
            raise bad(f"tensor {name!r}: unknown dtype {dt!r}")
        if not isinstance(shape, list) or not all(
                type(d) is int and d >= 0 for d in shape):
            raise bad(f"tensor {name!r}: bad shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(type(o) is int and o >= 0 for o in offs)):
            raise bad(f"tensor {name!r}: bad data_offsets {offs!r}")
        b, end = offs
        need = _SIZES[dt] * int(np.prod(shape, dtype=np.int64))
        if b > end or end > len(data):
            raise bad(f"tensor {name!r}: data_offsets {offs} out of range "
                      f"({len(data)} bytes of data)")
        if end - b != need:
            raise bad(f"tensor {name!r}: data_offsets {offs} hold {end - b} bytes, "
                      f"{dt} {shape} needs {need}")
        entries.append((b, end, name, dt, shape))
    entries.sort()
    last_end, last_name = 0, None
    for b, end, name, _, _ in entries:
        if b == end:
            continue
        if b < last_end:
            raise bad(f"tensors {last_name!r} and {name!r} overlap")
        last_end, last_name = end, name
    out = {}
    for b, end, name, dt, shape in entries:
        raw = data[b:end]
        if dt == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, _DTYPES[dt]).copy()
        out[name] = arr.reshape(shape)
    return out, dict(meta)


# ---- the recurrent layer's metadata ----

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
RECURRENT_KEYS = ("format", "recur_version", "kind", "mode", "input_size", "hidden_size",
                  "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                  "proj_size")


def recurrent_metadata(mode, input_size, hidden_size, num_layers=1, bias=True,
                       batch_first=False, dropout=0.0, bidirectional=False, proj_size=0):
    """The __metadata__ of a recurrent layer's file, every value a string."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if proj_size and mode != "LSTM":
        raise ValueError(f"proj_size is for LSTM only (mode {mode})")

    def b(x):
        return "true" if x else "false"

    return {
        "format": "recur",
        "recur_version": RECUR_VERSION,
        "kind": "recurrent",
        "mode": mode,
        "input_size": str(int(input_size)),
        "hidden_size": str(int(hidden_size)),
        "num_layers": str(int(num_layers)),
        "bias": b(bias),
        "batch_first": b(batch_first),
        "dropout": repr(float(dropout)),
        "bidirectional": b(bidirectional),
        "proj_size": str(int(proj_size)),
    }


def parse_recurrent_metadata(meta, where="file"):
    """The configuration from recurrent_metadata's strings, checked strictly.

    Returns a dict with mode (str), input_size, hidden_size, num_layers,
    proj_size (int), bias, batch_first, bidirectional (bool), dropout
    (float). Raises FormatError naming the key and value."""

    def get(key):
        if key not in meta:
            raise FormatError(f"{where}: metadata has no {key!r}")
        return meta[key]

    def as_int(key, lo):
        v = get(key)
        if not (v.isascii() and v.isdigit()) or int(v) < lo:
            raise FormatError(f"{where}: metadata {key!r} is {v!r}, expected an integer >= {lo}")
        return int(v)

    def as_bool(key):
        v = get(key)
        if v not in ("true", "false"):
            raise FormatError(f"{where}: metadata {key!r} is {v!r}, expected 'true' or 'false'")
        return v == "true"

    if get("format") != "recur":
        raise FormatError(f"{where}: metadata 'format' is {meta['format']!r}, expected 'recur'")
    if get("kind") != "recurrent":
        raise FormatError(f"{where}: metadata 'kind' is {meta['kind']!r}, expected 'recurrent'")
    mode = get("mode")
    if mode not in MODES:
        raise FormatError(f"{where}: metadata 'mode' is {mode!r}, expected one of "
                          f"{', '.join(MODES)}")
    try:
        dropout = float(get("dropout"))
    except ValueError:
        dropout = -1.0
    if not 0.0 <= dropout <= 1.0:
        raise FormatError(f"{where}: metadata 'dropout' is {meta['dropout']!r}, expected a "
                          "number in [0, 1]")
    cfg = {
        "mode": mode,
        "input_size": as_int("input_size", 1),
        "hidden_size": as_int("hidden_size", 1),
        "num_layers": as_int("num_layers", 1),
        "bias": as_bool("bias"),
        "batch_first": as_bool("batch_first"),
        "dropout": dropout,
        "bidirectional": as_bool("bidirectional"),
        "proj_size": as_int("proj_size", 0),
    }
    if cfg["proj_size"] and mode != "LSTM":
        raise FormatError(f"{where}: proj_size {cfg['proj_size']} is for LSTM only (mode {mode})")
    if cfg["proj_size"] and cfg["proj_size"] >= cfg["hidden_size"]:
        raise FormatError(f"{where}: proj_size {cfg['proj_size']} must be smaller than "
                          f"hidden_size {cfg['hidden_size']}")
    return cfg


def recurrent_param_shapes(cfg):
    """{name: shape} of a recurrent layer's parameters in PyTorch's order."""
    gates = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}[cfg["mode"]]
    h, p = cfg["hidden_size"], cfg["proj_size"] or cfg["hidden_size"]
    dirs = 2 if cfg["bidirectional"] else 1
    shapes = {}
    for layer in range(cfg["num_layers"]):
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            inp = cfg["input_size"] if layer == 0 else p * dirs
            shapes["weight_ih" + sfx] = (gates * h, inp)
            shapes["weight_hh" + sfx] = (gates * h, p)
            if cfg["bias"]:
                shapes["bias_ih" + sfx] = (gates * h,)
                shapes["bias_hh" + sfx] = (gates * h,)
            if cfg["proj_size"]:
                shapes["weight_hr" + sfx] = (cfg["proj_size"], h)
    return shapes
