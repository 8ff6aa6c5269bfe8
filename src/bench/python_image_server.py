"""The image service mlserve's pipelines replace, for `npm run bench -- --only pipeline`.

    <pyfunc env python> python_image_server.py <model.onnx> <labels.txt> <threads>

A FastAPI app as such services are written: POST /predict takes the image bytes, PIL decodes,
torchvision's Resize(256) + CenterCrop(224) + ToTensor + Normalize make the tensor, onnxruntime
runs the model (one image per call, no batching; calls run in FastAPI's thread pool), softmax and top-5 with labels answer
JSON. Served by uvicorn (one process). Prints {"port": N} on stdout once it listens.
"""

import io
import json
import socket
import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool
from torchvision import transforms

model_file, labels_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
session = ort.InferenceSession(model_file, opts, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
labels = open(labels_file).read().splitlines()
preprocess = transforms.Compose([
    transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])
app = FastAPI()


def work(body: bytes) -> dict:
    x = preprocess(Image.open(io.BytesIO(body)).convert("RGB")).unsqueeze(0).numpy()
    logits = session.run(None, {input_name: x})[0][0]
    e = np.exp(logits - logits.max())
    p = e / e.sum()
    top = np.argsort(-p)[:5]
    return {"label": labels[top[0]], "score": float(p[top[0]]), "top": [{"index": int(i), "label": labels[i], "score": float(p[i])} for i in top]}


@app.post("/predict")
async def predict(request: Request):
    # The decode, transforms and model run off the event loop (FastAPI's thread pool), as a
    # careful service does; onnxruntime and PIL release the GIL while they work.
    return await run_in_threadpool(work, await request.body())


sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
config = uvicorn.Config(app, log_level="warning", access_log=False)
uvicorn.Server(config).run(sockets=[sock])
