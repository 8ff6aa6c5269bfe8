"""The models of `npm run bench -- --peers`, made with PyTorch, torchvision and MLflow's own client.

    python peer_models.py <out_dir>

For each model: a PyTorch module with seeded random weights (no download: torchvision's
architectures with weights=None), exported to ONNX (opset 17, dynamic batch), logged with
mlflow.onnx.log_model into a local file store and registered as peer_<name> version 1.
Every server in the comparison serves the same files: mlserve resolves models:/peer_<name>/1 in the
file store, MLServer and `mlflow models serve` load the logged model directory, and Ray Serve and the
raw/naive rows open its model.onnx.

  tiny_mlp      Linear 64-256-256-10 with ReLUs        input [-1, 64]
  mobilenet_v2  torchvision.models.mobilenet_v2         input [-1, 3, 224, 224]
  resnet50      torchvision.models.resnet50             input [-1, 3, 224, 224]

Writes <out_dir>/models.json last (via a rename): the tracking URI and, per model, its registered
name and version, model directory, ONNX file, input name and per-row shape.
"""

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

# The file store is mlserve's embedded default; MLflow 3.17 refuses it unless told that it is wanted.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402


def tiny_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10),
    )


MODELS = {
    "tiny_mlp": (tiny_mlp, [64]),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), [3, 224, 224]),
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), [3, 224, 224]),
}


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: peer_models.py <out_dir>", file=sys.stderr)
        return 2
    out = Path(sys.argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    uri = (out / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("mlserve-bench-peers")
    torch.manual_seed(0)
    doc = {"trackingUri": uri, "torch": torch.__version__, "torchvision": torchvision.__version__, "mlflow": mlflow.__version__, "models": {}}
    for name, (build, row_shape) in MODELS.items():
        started = time.time()
        module = build().eval()
        onnx_file = out / f"{name}.onnx"
        example = torch.randn(1, *row_shape)
        torch.onnx.export(
            module, (example,), str(onnx_file), dynamo=False, opset_version=17,
            input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
        model = onnx.load(str(onnx_file))
        x = np.random.default_rng(1).standard_normal((2, *row_shape)).astype(np.float32)
        with torch.no_grad():
            y = module(torch.from_numpy(x)).numpy()
        registered = f"peer_{name}"
        with mlflow.start_run(run_name=registered):
            info = mlflow.onnx.log_model(
                model, name="model", signature=infer_signature(x, y), registered_model_name=registered,
                save_as_external_data=False, pip_requirements=["onnxruntime", f"onnx=={onnx.__version__}"],
            )
        location = mlflow.get_logged_model(info.model_id).artifact_location
        model_dir = unquote(urlparse(location).path)
        if not os.path.isfile(os.path.join(model_dir, "MLmodel")):
            raise RuntimeError(f"{model_dir} has no MLmodel (artifact location {location})")
        doc["models"][name] = {
            "registeredName": registered, "version": int(info.registered_model_version), "modelDir": model_dir,
            "onnx": str(onnx_file), "input": "input", "rowShape": row_shape,
        }
        print(f"peer_models: {name} in {time.time() - started:.1f}s -> {model_dir}", flush=True)
    tmp = out / "models.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out / "models.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
