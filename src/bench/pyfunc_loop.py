"""The limit mlserve's Python replica is measured against: model.predict in a Python loop, in-process.

    <pyfunc env python> pyfunc_loop.py <model dir> <seconds> <batches, e.g. 1,8,32> '<rows json>'

Loads the model with mlflow.pyfunc.load_model, and for each batch size N builds a DataFrame of N rows
(the model's input columns, values cycled from <rows json>: a list of rows in the signature's column
order, the same values the suite sends to mlserve) once, then calls model.predict on it back to back
for <seconds> after a short warm-up. Prints one JSON object: the versions and, per N, rows/s (wall
clock) and the p50/p99 of one predict call.

Nothing else runs in this process. The environment (thread variables, MLflow's) is the caller's, as
for the replica mlserve starts and for `mlflow models serve`.
"""

import json
import platform
import sys
import time


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_dir, seconds, batches, rows = argv[0], float(argv[1]), [int(b) for b in argv[2].split(",")], json.loads(argv[3])
    import numpy as np
    import pandas as pd
    import mlflow
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_dir)
    schema = model.metadata.get_input_schema()
    columns = list(schema.input_names())
    runs = []
    for n in batches:
        data = [rows[i % len(rows)] for i in range(n)]
        frame = pd.DataFrame(np.asarray(data, dtype=np.float64), columns=columns)
        warm_end = time.perf_counter() + min(0.5, seconds / 4)
        while time.perf_counter() < warm_end:
            model.predict(frame)
        times = []
        start = time.perf_counter()
        end = start + seconds
        while True:
            t = time.perf_counter()
            if t >= end:
                break
            model.predict(frame)
            times.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
        times.sort()
        runs.append({
            "batch": n,
            "calls": len(times),
            "rowsPerSec": len(times) * n / elapsed,
            "p50Ms": times[len(times) // 2] * 1000,
            "p99Ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        })
    import sklearn

    print(json.dumps({
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "sklearn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "runs": runs,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
