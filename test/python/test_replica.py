"""Unit tests of the pure helpers in src/runtime/python/mlserve_replica.py (unittest only).

    <pyfunc env python> -m unittest discover -s test/python -p 'test_*.py' -v

Run from test/unit/python-replica.test.ts, which also hands over a frame made by the TypeScript
encoder (src/runtime/frame.ts):
    MLSERVE_TS_FRAME       the frame's bytes
    MLSERVE_TS_FRAME_JSON  what it holds: {header, tensors: [{name, datatype, shape, data}]}
    MLSERVE_PY_FRAME_OUT   where to write this side's encoding of the same tensors (for TS to decode)
Without them the cross-language tests fail (they are not skipped), unless MLSERVE_PY_UNIT_ONLY=1.
"""

import json
import os
import socket
import struct
import sys
import threading
import types
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "src" / "runtime" / "python"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import mlserve_replica as r  # noqa: E402

ALL_NUMPY = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
CROSS = os.environ.get("MLSERVE_PY_UNIT_ONLY") != "1"


def sample_tensors():
    return [
        r.Tensor("b", "BOOL", [3], np.array([True, False, True])),
        r.Tensor("u8", "UINT8", [1, 3], np.array([[0, 128, 255]], dtype=np.uint8)),
        r.Tensor("u64", "UINT64", [2], np.array([0, 2**64 - 1], dtype=np.uint64)),
        r.Tensor("i64", "INT64", [2], np.array([-(2**63), 2**63 - 1], dtype=np.int64)),
        r.Tensor("f16", "FP16", [3], np.array([1.0, np.inf, 6e-8], dtype=np.float16)),
        r.Tensor("f32", "FP32", [2, 2], np.array([[1.5, -2], [np.nan, np.inf]], dtype=np.float32)),
        r.Tensor("f64", "FP64", [3], np.array([0.1, -1e300, 5e-324])),
        r.Tensor("s", "BYTES", [4], np.array(["", "a", "héllo wörld", "日本"], dtype=object)),
        r.Tensor("empty", "FP32", [0, 3], np.zeros((0, 3), dtype=np.float32)),
    ]


def joined(parts):
    return b"".join(bytes(p) for p in parts)


class DtypeMapping(unittest.TestCase):
    def test_numpy_to_oip_and_back(self):
        expected = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
                    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16",
                    "float32": "FP32", "float64": "FP64"}
        for name in ALL_NUMPY:
            oip = r.oip_from_numpy(np.dtype(name))
            self.assertEqual(oip, expected[name])
            self.assertEqual(r.OIP_TO_NUMPY[oip], name)
            self.assertEqual(np.dtype(name).itemsize, r.OIP_SIZE[oip])

    def test_strings_objects_and_dates_are_bytes(self):
        for dt in (np.dtype("<U3"), np.dtype("S2"), np.dtype(object), np.dtype("datetime64[ns]")):
            self.assertEqual(r.oip_from_numpy(dt), "BYTES")

    def test_complex_has_no_datatype(self):
        with self.assertRaisesRegex(ValueError, "complex128"):
            r.oip_from_numpy(np.dtype("complex128"))

    def test_mlflow_column_types(self):
        table = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "boolean": "BOOL",
                 "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}
        for col, oip in table.items():
            self.assertEqual(r.column_type_to_oip(col), oip)
        self.assertEqual(r.column_type_to_oip(None), "BYTES")  # Array / Object / Map columns


class Signatures(unittest.TestCase):
    def test_columns(self):
        from mlflow.types import ColSpec, Schema
        from mlflow.types.schema import Array

        schema = Schema([ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("string", "c"),
                         ColSpec("boolean", "d"), ColSpec("float", "e"), ColSpec("integer", "f"),
                         ColSpec("binary", "g"), ColSpec("datetime", "h"), ColSpec(Array("double"), "arr")])
        self.assertEqual(r.schema_specs(schema, "input"), [
            {"name": "a", "datatype": "FP64", "shape": [-1]},
            {"name": "b", "datatype": "INT64", "shape": [-1]},
            {"name": "c", "datatype": "BYTES", "shape": [-1]},
            {"name": "d", "datatype": "BOOL", "shape": [-1]},
            {"name": "e", "datatype": "FP32", "shape": [-1]},
            {"name": "f", "datatype": "INT32", "shape": [-1]},
            {"name": "g", "datatype": "BYTES", "shape": [-1]},
            {"name": "h", "datatype": "BYTES", "shape": [-1]},
            {"name": "arr", "datatype": "BYTES", "shape": [-1]},
        ])

    def test_tensors_named_and_unnamed(self):
        from mlflow.types import Schema, TensorSpec

        unnamed = Schema([TensorSpec(np.dtype(np.float32), (-1, 4))])
        self.assertEqual(r.schema_specs(unnamed, "input"), [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
        self.assertEqual(r.schema_specs(unnamed, "output"), [{"name": "output", "datatype": "FP32", "shape": [-1, 4]}])
        named = Schema([TensorSpec(np.dtype(np.int64), (-1,), "ids"), TensorSpec(np.dtype(np.uint8), (-1, 2, 2), "img")])
        self.assertEqual(r.schema_specs(named, "input"), [
            {"name": "ids", "datatype": "INT64", "shape": [-1]},
            {"name": "img", "datatype": "UINT8", "shape": [-1, 2, 2]},
        ])
        self.assertEqual(r.schema_specs(None, "input"), [])

    def test_params_and_kind(self):
        from mlflow.models import Model
        from mlflow.models.signature import ModelSignature
        from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

        sig = ModelSignature(inputs=Schema([ColSpec("string", "text")]),
                             params=ParamSchema([ParamSpec("suffix", "string", ""), ParamSpec("k", "long", 3),
                                                 ParamSpec("ws", "double", [0.5, 1.0], (-1,))]))
        meta = Model(signature=sig)
        self.assertEqual(r.params_specs(meta), [
            {"name": "suffix", "type": "string", "default": "", "shape": None},
            {"name": "k", "type": "long", "default": 3, "shape": None},
            {"name": "ws", "type": "double", "default": [0.5, 1.0], "shape": [-1]},
        ])
        self.assertEqual(r.signature_kind(meta), "columns")
        self.assertEqual(r.signature_kind(Model()), "none")
        self.assertIsNone(r.params_specs(Model()))
        tensors = Model(signature=ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 4))])))
        self.assertEqual(r.signature_kind(tensors), "tensors")


class Frames(unittest.TestCase):
    def assertTensorsEqual(self, got, want):
        self.assertEqual([t.name for t in got], [t.name for t in want])
        for g, w in zip(got, want):
            self.assertEqual(g.datatype, w.datatype, g.name)
            self.assertEqual(list(g.shape), list(w.shape), g.name)
            self.assertEqual(tuple(g.data.shape), tuple(w.shape), g.name)
            if w.datatype == "BYTES":
                self.assertEqual(list(g.data.reshape(-1)), list(np.asarray(w.data).reshape(-1)), g.name)
            else:
                self.assertEqual(g.data.dtype, np.dtype(r.OIP_TO_NUMPY[w.datatype]), g.name)
                np.testing.assert_array_equal(g.data, w.data, err_msg=g.name)

    def test_round_trip(self):
        tensors = sample_tensors()
        frame = bytearray(joined(r.encode_frame({"t": "result", "id": 7, "computeMs": 1.5}, tensors)))
        (rest, header_len) = struct.unpack_from("<II", frame)
        self.assertEqual(rest + 4, len(frame))
        self.assertEqual((8 + header_len) % 8, 0, "the payload starts 8-aligned")
        self.assertTrue(bytes(frame[8:8 + header_len]).endswith(b" ") or (header_len + 8) % 8 == 0)
        header, got = r.decode_frame(frame)
        self.assertEqual(header, {"t": "result", "id": 7, "computeMs": 1.5})
        self.assertTensorsEqual(got, tensors)
        infos = json.loads(bytes(frame[8:8 + header_len]))["tensors"]
        self.assertTrue(all(i["offset"] % 8 == 0 for i in infos))

    def test_views_are_zero_copy_and_writable(self):
        t = r.Tensor("x", "FP64", [4], np.arange(4.0))
        frame = bytearray(joined(r.encode_frame({"t": "infer", "id": 1}, [t])))
        _, (got,) = r.decode_frame(frame)
        self.assertFalse(got.data.flags.owndata)
        self.assertTrue(got.data.flags.writeable)
        got.data[0] = 42.0  # writes into the frame's own bytes
        self.assertEqual(r.decode_frame(frame)[1][0].data[0], 42.0)

    def test_raw_bytes_tensor(self):
        t = r.Tensor("__mlflow_request__", "BYTES", [2], np.array(['{"a": 1}', "é"], dtype=object))
        frame = joined(r.encode_frame({"t": "infer", "id": 1}, [t]))
        _, (got,) = r.decode_frame(frame, raw_bytes_names=("__mlflow_request__",))
        self.assertEqual(list(got.data), [b'{"a": 1}', "é".encode()])

    def test_broken_frames(self):
        good = bytearray(joined(r.encode_frame({"t": "x"}, [r.Tensor("x", "FP32", [2], np.zeros(2, np.float32))])))
        bad_len = bytearray(good)
        struct.pack_into("<I", bad_len, 4, len(good))
        with self.assertRaisesRegex(r.FrameError, "runs past the frame"):
            r.decode_frame(bad_len)
        with self.assertRaises(r.FrameError):
            r.decode_frame(b"\x04\x00\x00\x00")
        _, header_len = struct.unpack_from("<II", good)
        for patch, pattern, err in [
            ({"byteLength": 4}, "expected 8", ValueError),
            ({"offset": 4096}, "run past the", r.FrameError),
            ({"datatype": "FP8"}, "bad tensor descriptor", r.FrameError),
            ({"shape": [-1]}, "bad tensor descriptor", r.FrameError),
        ]:
            header = json.loads(bytes(good[8:8 + header_len]))
            header["tensors"][0].update(patch)
            js = json.dumps(header).encode()
            js += b" " * (r.align8(8 + len(js)) - 8 - len(js))
            payload = good[8 + header_len:]
            frame = struct.pack("<II", 4 + len(js) + len(payload), len(js)) + js + payload
            with self.assertRaisesRegex(err, pattern):
                r.decode_frame(frame)

    def test_bytes_tensor_checks(self):
        body = r.encode_bytes(["ab", "c"])
        self.assertEqual(body, b"\x02\x00\x00\x00ab\x01\x00\x00\x00c")
        with self.assertRaisesRegex(ValueError, "runs past"):
            r.decode_bytes(body, 0, len(body), 3, "s")
        with self.assertRaisesRegex(ValueError, "left after"):
            r.decode_bytes(body, 0, len(body), 1, "s")

    def test_channel_reads_aligned_frames_and_eof(self):
        a, b = socket.socketpair()
        try:
            ch = r.Channel(a)
            t = r.Tensor("x", "FP32", [3, 4], np.arange(12, dtype=np.float32).reshape(3, 4))
            parts = r.encode_frame({"t": "infer", "id": 3, "pad": "x" * 5}, [t, t])

            def writer():
                data = joined(parts) * 2
                for i in range(0, len(data), 7):  # dribble it in small pieces
                    b.sendall(data[i:i + 7])
                b.shutdown(socket.SHUT_WR)

            th = threading.Thread(target=writer)
            th.start()
            for _ in range(2):
                frame = ch.read_frame()
                header, got = r.decode_frame(frame)
                self.assertEqual(header, {"t": "infer", "id": 3, "pad": "xxxxx"})
                self.assertEqual(got[0].data.ctypes.data % 64, 0, "the first tensor is 64-byte aligned")
                self.assertEqual(got[1].data.ctypes.data % 8, 0)
                np.testing.assert_array_equal(got[1].data, t.data)
            self.assertIsNone(ch.read_frame())
            th.join()
            # and the other way: Channel.send writes whole frames
            ch2 = r.Channel(b)
            ch.send({"t": "pong", "id": 9}, [t])
            a.shutdown(socket.SHUT_WR)
        finally:
            a.close()
        try:
            header, got = r.decode_frame(ch2.read_frame())
            self.assertEqual(header, {"t": "pong", "id": 9})
            np.testing.assert_array_equal(got[0].data, t.data)
        finally:
            b.close()

    @unittest.skipUnless(CROSS, "MLSERVE_PY_UNIT_ONLY=1")
    def test_frame_from_the_typescript_encoder(self):
        path = os.environ.get("MLSERVE_TS_FRAME")
        desc_path = os.environ.get("MLSERVE_TS_FRAME_JSON")
        self.assertTrue(path and desc_path, "MLSERVE_TS_FRAME / MLSERVE_TS_FRAME_JSON are not set (run via vitest)")
        ts_bytes = Path(path).read_bytes()
        desc = json.loads(Path(desc_path).read_text())
        header, got = r.decode_frame(bytearray(ts_bytes))
        self.assertEqual(header, desc["header"])
        want = []
        for d in desc["tensors"]:
            dt = d["datatype"]
            if dt == "BYTES":
                data = np.array(d["data"], dtype=object)
            elif dt == "FP16":  # raw half bits in TS
                data = np.array(d["data"], dtype=np.uint16).view(np.float16)
            elif dt in ("FP32", "FP64"):
                data = np.array([float(v) for v in d["data"]], dtype=r.OIP_TO_NUMPY[dt])
            elif dt in ("INT64", "UINT64"):
                data = np.array([int(v) for v in d["data"]], dtype=r.OIP_TO_NUMPY[dt])
            else:
                data = np.array(d["data"], dtype=r.OIP_TO_NUMPY[dt])
            want.append(r.Tensor(d["name"], dt, d["shape"], data.reshape(d["shape"])))
        self.assertTensorsEqual(got, want)
        # The same header and tensors encoded here are the same bytes.
        mine = joined(r.encode_frame(header, got))
        self.assertEqual(mine, ts_bytes)
        out = os.environ.get("MLSERVE_PY_FRAME_OUT")
        if out:
            Path(out).write_bytes(joined(r.encode_frame({"t": "result", "id": 5, "computeMs": 0.25, "from": "python"}, got)))


class GpuFraction(unittest.TestCase):
    def fake_torch(self, available):
        calls = []
        cuda = types.SimpleNamespace(is_available=lambda: available,
                                     set_per_process_memory_fraction=lambda f, d: calls.append((f, d)))
        return types.SimpleNamespace(cuda=cuda), calls

    def test_sets_the_fraction_when_cuda_is_there(self):
        torch, calls = self.fake_torch(True)
        note = r.apply_gpu_fraction(torch, 0.25)
        self.assertEqual(calls, [(0.25, 0)])
        self.assertIn("set_per_process_memory_fraction(0.25, 0)", note)

    def test_nothing_without_cuda_or_torch_or_fraction(self):
        torch, calls = self.fake_torch(False)
        self.assertIn("CUDA is not available", r.apply_gpu_fraction(torch, 0.5))
        self.assertEqual(calls, [])
        self.assertIn("torch is not installed", r.apply_gpu_fraction(None, 0.5))
        self.assertIsNone(r.apply_gpu_fraction(torch, None))
        self.assertEqual(calls, [])

    def test_rejects_bad_fractions(self):
        torch, calls = self.fake_torch(True)
        for bad in (0, -0.1, 1.5):
            with self.assertRaises(ValueError):
                r.apply_gpu_fraction(torch, bad)
        self.assertEqual(calls, [])


class Environment(unittest.TestCase):
    def test_threads(self):
        env = {"MKL_NUM_THREADS": "7"}
        self.assertEqual(r.configure_threads(3, env), ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"])
        self.assertEqual(env, {"MKL_NUM_THREADS": "7", "OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"})
        self.assertEqual(r.configure_threads(None, env), [])
        with self.assertRaises(ValueError):
            r.configure_threads(0, {})

    def test_missing_module_message(self):
        err = ModuleNotFoundError("No module named 'mlflow'", name="mlflow")
        msg = r.missing_module_message(err, "/opt/py/bin/python")
        self.assertIn("cannot import 'mlflow'", msg)
        self.assertIn("/opt/py/bin/python -m pip install mlflow", msg)
        err = ModuleNotFoundError("No module named 'sklearn.linear_model'", name="sklearn.linear_model")
        self.assertIn("-m pip install scikit-learn", r.missing_module_message(err, "py"))


class Outputs(unittest.TestCase):
    def test_arrays(self):
        t = r.to_tensor("p", np.array([1, 2, 3], dtype=np.int64))
        self.assertEqual((t.datatype, t.shape), ("INT64", [3]))
        t = r.to_tensor("p", np.array(["a", "bé"]))
        self.assertEqual((t.datatype, list(t.data)), ("BYTES", ["a", "bé"]))
        t = r.to_tensor("p", 2.5)
        self.assertEqual((t.datatype, t.shape), ("FP64", [1]))
        t = r.to_tensor("p", [True, False])
        self.assertEqual(t.datatype, "BOOL")
        t = r.to_tensor("p", np.array(["2024-01-02T03:04:05"], dtype="datetime64[s]"))
        self.assertEqual((t.datatype, list(t.data)), ("BYTES", ["2024-01-02T03:04:05"]))

    def test_object_arrays_are_typed_when_they_can_be(self):
        self.assertEqual(r.to_tensor("p", np.array([1, 2], dtype=object)).datatype, "INT64")
        self.assertEqual(r.to_tensor("p", np.array([1, 2.5], dtype=object)).datatype, "FP64")
        t = r.to_tensor("p", np.array([{"a": 1}, "x"], dtype=object))
        self.assertEqual((t.datatype, list(t.data)), ("BYTES", ['{"a": 1}', "x"]))

    def test_pandas(self):
        df = pd.DataFrame({"upper": pd.Series(["A", "B"], dtype="string"), "length": [1, 2]})
        ts = r.predictions_to_tensors(df, ["upper", "length"])
        self.assertEqual([(t.name, t.datatype, t.shape) for t in ts], [("upper", "BYTES", [2]), ("length", "INT64", [2])])
        self.assertEqual(list(ts[0].data), ["A", "B"])
        (s,) = r.predictions_to_tensors(pd.Series([0.5, 1.5]), [])
        self.assertEqual((s.name, s.datatype), ("predictions", "FP64"))
        (one,) = r.predictions_to_tensors(np.zeros((2, 3), np.float32), ["scores"])
        self.assertEqual((one.name, one.datatype, one.shape), ("scores", "FP32", [2, 3]))
        d = r.predictions_to_tensors({"a": [1, 2], "b": np.array(["x", "y"])}, ["a", "b"])
        self.assertEqual([(t.name, t.datatype) for t in d], [("a", "INT64"), ("b", "BYTES")])

    def test_encode_of_outputs(self):
        ts = r.predictions_to_tensors(pd.DataFrame({"s": ["x", "yy"], "n": [1.0, 2.0]}), [])
        header, back = r.decode_frame(joined(r.encode_frame({"t": "result"}, ts)))
        self.assertEqual(list(back[0].data), ["x", "yy"])
        np.testing.assert_array_equal(back[1].data, [1.0, 2.0])

    def test_slice_rows(self):
        parts = r.slice_rows(np.arange(4), [1, 2, 1])
        self.assertEqual([p.tolist() for p in parts], [[0], [1, 2], [3]])
        parts = r.slice_rows(pd.DataFrame({"a": range(3)}), [2, 1])
        self.assertEqual([p.to_dict("records") for p in parts], [[{"a": 0}, {"a": 1}], [{"a": 2}]])
        self.assertEqual(list(parts[1].index), [0])
        self.assertEqual(r.slice_rows([1, 2, 3], [1, 2]), [[1], [2, 3]])
        self.assertIsNone(r.slice_rows(np.arange(3), [1, 1]))
        self.assertIsNone(r.slice_rows({"a": [1]}, [1]))


class Inputs(unittest.TestCase):
    def test_columns_in_signature_order(self):
        from mlflow.types import ColSpec, Schema

        schema = Schema([ColSpec("double", "a"), ColSpec("string", "b")])
        ts = [r.Tensor("b", "BYTES", [2], np.array(["x", "y"], dtype=object)),
              r.Tensor("a", "FP64", [2, 1], np.array([[1.0], [2.0]]))]
        df = r.build_model_input(ts, schema)
        self.assertEqual(list(df.columns), ["a", "b"])
        self.assertEqual(df["a"].tolist(), [1.0, 2.0])
        self.assertEqual(df["b"].tolist(), ["x", "y"])

    def test_tensors(self):
        from mlflow.types import Schema, TensorSpec

        one = Schema([TensorSpec(np.dtype(np.float32), (-1, 4))])
        x = r.Tensor("whatever", "FP32", [1, 4], np.zeros((1, 4), np.float32))
        self.assertIs(r.build_model_input([x], one), x.data)
        two = Schema([TensorSpec(np.dtype(np.float32), (-1, 4), "a"), TensorSpec(np.dtype(np.int64), (-1,), "b")])
        b = r.Tensor("b", "INT64", [1], np.zeros(1, np.int64))
        a = r.Tensor("a", "FP32", [1, 4], np.zeros((1, 4), np.float32))
        self.assertEqual(list(r.build_model_input([b, a], two)), ["a", "b"])

    def test_no_signature(self):
        cols = [r.Tensor("a", "FP64", [2], np.zeros(2)), r.Tensor("b", "INT64", [2], np.zeros(2, np.int64))]
        self.assertIsInstance(r.build_model_input(cols, None), pd.DataFrame)
        single = r.Tensor("x", "FP32", [2, 2], np.zeros((2, 2), np.float32))
        self.assertIs(r.build_model_input([single], None), single.data)
        mixed = [single, r.Tensor("y", "FP32", [2], np.zeros(2, np.float32))]
        self.assertEqual(sorted(r.build_model_input(mixed, None)), ["x", "y"])


class WarmUp(unittest.TestCase):
    def test_example_tensors_from_the_signature(self):
        specs = [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}, {"name": "n", "datatype": "INT64", "shape": [-1]},
                 {"name": "s", "datatype": "BYTES", "shape": [-1]}, {"name": "f", "datatype": "BOOL", "shape": [2, -1]}]
        x, n, s, f = r.example_tensors(specs)
        self.assertEqual((x.shape, x.data.dtype, x.data.tolist()), ([1, 4], np.float32, [[0.5] * 4]))
        self.assertEqual((n.shape, n.data.tolist()), ([1], [1]))
        self.assertEqual((s.shape, s.data.tolist()), ([1], ["example"]))
        self.assertEqual((f.shape, f.data.tolist()), ([2, 1], [[False], [False]]))

    def test_a_column_signature_warms_up_through_the_model_input(self):
        from mlflow.types import ColSpec, Schema

        schema = Schema([ColSpec("double", "a"), ColSpec("string", "b")])
        specs = r.schema_specs(schema, "input")
        df = r.build_model_input(r.example_tensors(specs), schema)
        self.assertEqual(df.to_dict("records"), [{"a": 0.5, "b": "example"}])

    def test_not_run_without_a_signature_or_when_off(self):
        calls = []
        model = types.SimpleNamespace(predict=lambda data: calls.append(data))
        rep = r.Replica.__new__(r.Replica)
        rep.config, rep.input_schema = {}, None
        self.assertIsNone(rep.warm_up(model, []))
        from mlflow.types import Schema, TensorSpec

        rep.input_schema = Schema([TensorSpec(np.dtype(np.float32), (-1, 2), "x")])
        inputs = r.schema_specs(rep.input_schema, "input")
        rep.config = {"warmup": False}
        self.assertIsNone(rep.warm_up(model, inputs))
        self.assertEqual(calls, [])
        rep.config = {}
        self.assertGreaterEqual(rep.warm_up(model, inputs), 0)
        self.assertEqual(len(calls), 1)


class LogStamps(unittest.TestCase):
    def test_every_line_starts_with_its_utc_time(self):
        import io
        import re

        buf = io.StringIO()
        s = r.StampedStream(buf)
        s.write("a\nb")
        s.write("c\n")
        s.write("")
        s.write("d\n")
        lines = buf.getvalue().split("\n")
        stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
        self.assertEqual([re.sub(stamp, "", line) for line in lines], ["a", "bc", "d", ""])
        self.assertTrue(all(re.match(stamp, line) for line in lines[:3]))


if __name__ == "__main__":
    unittest.main()
