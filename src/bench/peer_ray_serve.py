"""Ray Serve as a peer in `npm run bench -- --peers`: the way its docs serve an ONNX model.

    python peer_ray_serve.py <model.onnx> <port> <threads> <max_batch_size>

One Serve deployment (one replica) holding an onnxruntime InferenceSession, with @serve.batch
gathering concurrent requests into one run (up to 32, batch_wait_timeout_s 5 ms).
It answers Open Inference Protocol v2 JSON at /v2/models/m/infer, so the same request body drives
it, mlserve and MLServer. Ray runs locally (ray.init with this machine's cores, no dashboard).
Prints READY when the application is up; runs until killed.
"""

import signal
import sys

import numpy as np
import onnxruntime as ort
import ray
from ray import serve
from starlette.requests import Request


def main() -> int:
    if len(sys.argv) != 5:
        print("usage: peer_ray_serve.py <model.onnx> <port> <threads> <max_batch_size>", file=sys.stderr)
        return 2
    model_path, port, threads, max_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

    @serve.deployment(max_ongoing_requests=max(100, 2 * max_batch))
    class OnnxModel:
        def __init__(self) -> None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self.session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
            self.input = self.session.get_inputs()[0].name
            self.output = self.session.get_outputs()[0].name

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=0.005)
        async def infer(self, xs: list) -> list:
            sizes = [x.shape[0] for x in xs]
            y = self.session.run([self.output], {self.input: np.concatenate(xs)})[0]
            return np.split(y, np.cumsum(sizes)[:-1])

        async def __call__(self, request: Request) -> dict:
            body = await request.json()
            tensor = body["inputs"][0]
            x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
            y = await self.infer(x)
            return {
                "model_name": "m",
                "outputs": [{"name": self.output, "shape": list(y.shape), "datatype": "FP32", "data": y.ravel().tolist()}],
            }

    ray.init(num_cpus=threads, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(OnnxModel.bind(), name="m", route_prefix="/v2/models/m/infer")
    print("READY", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
