#!/usr/bin/env python3
"""Benchmark kconv against Keras and onnxruntime on the same models, in one run, on this machine.

    python Scripts/bench.py [--kconv .build/release/kconv] [--runs 200] [--rounds 3] [--models NAME ...]

For each model and batch size (1 and 32) it measures, in --rounds interleaved rounds keeping each runtime's
best, the median latency of:
  - Keras 2 (tf-keras on TensorFlow CPU) as a serving user runs it: the model wrapped in tf.function, warm;
  - onnxruntime (2 intra-op threads) on the model converted with tf2onnx;
  - onnxruntime (the same options) on kconv's own ONNX export of the model (`kconv convert m.h5 m.onnx`);
  - `kconv bench` (its own warm-up and timing loop, the same statistic);
and prints the latencies and the ratios kconv/Keras, kconv/onnxruntime and kconv's ONNX / tf2onnx's ONNX (both
in onnxruntime). It also checks that kconv's outputs and its ONNX file's outputs in onnxruntime match Keras's on
the benchmark inputs (max abs error), so a fast wrong answer cannot hide. Where tf2onnx cannot convert a model,
its row says why and the other runtimes are still measured. The first line names the machine (CPU, cores, load)
and the libraries' versions: the numbers mean little without them.

Models: the committed fixtures named in SMALL_MODELS, plus models built here with fixed seeds (they are
not committed): two stacked Bidirectional(LSTM(128, return_sequences=True)) over 64 steps of 32 features
with TimeDistributed(Dense(16)), a CNN on 64x64x3 (4 conv layers of 32-64 filters, 2 poolings, Dense 128),
keras.applications MobileNetV2 (alpha 0.35, 64x64, weights=None) and a small CNN with BatchNormalization on
16x16x1, their BatchNormalization statistics random. Needs the packages in Scripts/bench-requirements.txt.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_MODELS = ["seed_td_lstm", "seed_lstm_many_to_many", "seed_bidir_lstm_td_dense",
                "seed_bidir_embedding_td_softmax", "seed_attention", "conv2d"]


def build_large_models(tf_keras, directory):
    """The two large benchmark models, saved as Keras 2 .h5 files with seeded random weights."""
    L = tf_keras.layers
    tf_keras.utils.set_random_seed(7)
    bilstm = tf_keras.Sequential([
        L.Bidirectional(L.LSTM(128, return_sequences=True), input_shape=(64, 32)),
        L.Bidirectional(L.LSTM(128, return_sequences=True)),
        L.TimeDistributed(L.Dense(16)),
    ], name="bilstm_large")
    cnn = tf_keras.Sequential([
        L.Conv2D(32, 3, padding="same", activation="relu", input_shape=(64, 64, 3)),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.MaxPooling2D(4),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
    ], name="cnn_large")
    # keras.applications MobileNetV2 as deployed (α 0.35, 64×64, untrained weights), and a small CNN with
    # BatchNormalization; every BatchNormalization given random statistics so that none is an identity.
    mobilenet = tf_keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, weights=None, classes=100)
    mobilenet._name = "mobilenetv2_large"
    cnn_bn = tf_keras.Sequential([
        L.Conv2D(16, 3, padding="same", activation="relu", input_shape=(16, 16, 1)),
        L.BatchNormalization(),
        L.MaxPooling2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.GlobalAveragePooling2D(),
        L.Dense(10, activation="softmax"),
    ], name="cnn_bn_small")
    rng = np.random.default_rng(7)
    for model in (mobilenet, cnn_bn):
        for layer in model.layers:
            if isinstance(layer, L.BatchNormalization):
                gamma, beta, mean, variance = layer.get_weights()
                layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.5, 0.5, beta.shape),
                                   rng.uniform(-0.5, 0.5, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    paths = {}
    for model in (bilstm, cnn, mobilenet, cnn_bn):
        path = os.path.join(directory, model.name + ".h5")
        model.save(path)
        paths[model.name] = path
    return paths


def inputs_for(model, batch, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = [batch] + [d if d is not None else 7 for d in list(tensor.shape)[1:]]
        first = model.layers[0] if model.layers else None
        vocabulary = first.input_dim if first is not None and type(first).__name__ == "Embedding" else None
        if vocabulary is None:
            for layer in model.layers:
                if type(layer).__name__ == "Embedding":
                    vocabulary = layer.input_dim
        if vocabulary is not None and len(model.inputs) == 1:
            arrays.append(rng.integers(0, vocabulary, size=shape).astype("float32"))
        else:
            arrays.append(rng.uniform(-1, 1, size=shape).astype("float32"))
    return arrays


def median_seconds(function, runs, warmup=20):
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def keras_server(tf, model, inputs):
    """One Keras inference on `inputs` as a serving user runs it: the model in tf.function, outputs fetched."""
    serve = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    tensors = [tf.constant(x) for x in inputs]
    return lambda: [t.numpy() for t in tf.nest.flatten(serve(*tensors))]


def onnx_session(tf, tf2onnx, ort, model, batch_inputs, directory, name):
    """onnxruntime on tf2onnx's conversion of `model`."""
    signature = [tf.TensorSpec([None] + list(x.shape[1:]), tf.float32, name=f"in_{i}") for i, x in enumerate(batch_inputs)]
    path = os.path.join(directory, name + ".onnx")
    tf2onnx.convert.from_keras(model, input_signature=signature, opset=17, output_path=path)
    return ort_session(ort, path)


def machine(tf, tf2onnx, ort):
    """One line naming the machine and the versions measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"machine: {cpu}, {os.cpu_count()} cores, load average {load}; tensorflow {tf.__version__}, "
            f"tf2onnx {tf2onnx.__version__}, onnxruntime {ort.__version__}")


def kconv_onnx_session(ort, kconv, model_path, directory, name):
    """onnxruntime on kconv's own ONNX export of the file."""
    path = os.path.join(directory, name + ".kconv.onnx")
    subprocess.run([kconv, "convert", model_path, path, "--force"], check=True, capture_output=True)
    return ort_session(ort, path)


def ort_session(ort, path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def dtype_of(session_input):
    """The numpy dtype an onnxruntime input takes (kconv keeps an Embedding's int32 input)."""
    return {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}[session_input.type]


def kconv_latency(kconv, path, batch, runs):
    result = subprocess.run([kconv, "bench", path, "--batch", str(batch), "--runs", str(runs), "--json"],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["median_ms"] / 1000


def kconv_max_error(kconv, path, inputs, expected, directory):
    """Largest |kconv − Keras| over all outputs, from `kconv run` on the benchmark inputs."""
    feed, result = os.path.join(directory, "bench_in.npz"), os.path.join(directory, "bench_out.npz")
    np.savez(feed, **{f"in_{i}": x for i, x in enumerate(inputs)})
    subprocess.run([kconv, "run", path, "--input", feed, "--output", result, "--force"], check=True, capture_output=True)
    with np.load(result) as got:
        return max(float(np.max(np.abs(got[f"out_{i}"] - want))) for i, want in enumerate(expected))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=os.path.join(ROOT, ".build/release/kconv"))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all three runtimes; each keeps its best median")
    parser.add_argument("--models", nargs="*", help="only these model names")
    args = parser.parse_args()

    import tensorflow as tf
    import tf_keras
    import tf2onnx
    import onnxruntime as ort
    tf.config.threading.set_intra_op_parallelism_threads(2)
    print(machine(tf, tf2onnx, ort), flush=True)

    with tempfile.TemporaryDirectory() as directory:
        models = {name: os.path.join(ROOT, "Fixtures/cases", name, "keras2.h5") for name in SMALL_MODELS}
        models.update(build_large_models(tf_keras, directory))
        rows = []
        for name, path in models.items():
            if args.models and name not in args.models:
                continue
            model = tf_keras.models.load_model(path, compile=False)
            for batch in (1, 32):
                # The large models at batch 32 take tens of milliseconds a run: fewer runs.
                runs = max(args.runs // 4, 20) if "large" in name and batch > 1 else args.runs
                inputs = inputs_for(model, batch)
                try:
                    session = onnx_session(tf, tf2onnx, ort, model, inputs, directory, f"{name}_{batch}")
                    tf2onnx_failure = None
                except Exception as error:  # tf2onnx's own refusal or crash: the row says why
                    session, tf2onnx_failure = None, f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
                own = kconv_onnx_session(ort, args.kconv, path, directory, f"{name}_{batch}")
                feed = {session.get_inputs()[i].name: x for i, x in enumerate(inputs)} if session else {}
                own_feed = {own.get_inputs()[i].name: x.astype(dtype_of(own.get_inputs()[i]))
                            for i, x in enumerate(inputs)}
                serve = keras_server(tf, model, inputs)
                # Rounds of all four, keeping each one's best median: a burst of load from elsewhere on the
                # machine then costs a round, not the result.
                kconv_s = onnx_s = own_s = keras_s = float("inf")
                for _ in range(args.rounds):
                    # kconv runs in a subprocess: first let the thread pools of this process (TensorFlow's,
                    # onnxruntime's), which spin for a while after work, go idle.
                    time.sleep(0.5)
                    kconv_s = min(kconv_s, kconv_latency(args.kconv, path, batch, runs))
                    if session:
                        onnx_s = min(onnx_s, median_seconds(lambda: session.run(None, feed), runs))
                    own_s = min(own_s, median_seconds(lambda: own.run(None, own_feed), runs))
                    keras_s = min(keras_s, median_seconds(serve, runs))
                expected = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
                expected = expected if isinstance(expected, list) else [expected]
                error = kconv_max_error(args.kconv, path, inputs, expected, directory)
                own_error = max(float(np.max(np.abs(got - want))) for got, want in zip(own.run(None, own_feed), expected))
                del session, own
                rows.append((name, batch, keras_s, onnx_s, own_s, kconv_s))
                versus_tf2onnx = (f"ort(tf2onnx) {onnx_s * 1e3:9.4f} ms" if not tf2onnx_failure else "ort(tf2onnx)    failed   ")
                ratios = (f"kconv/ort {kconv_s / onnx_s:6.2f}  ort kconv/tf2onnx {own_s / onnx_s:6.2f}  " if not tf2onnx_failure else "")
                print(f"{name:34} b={batch:<3} keras {keras_s * 1e3:9.4f} ms  {versus_tf2onnx}  "
                      f"ort(kconv) {own_s * 1e3:9.4f} ms  kconv {kconv_s * 1e3:9.4f} ms  "
                      f"kconv/keras {kconv_s / keras_s:6.2f}  {ratios}"
                      f"max|err| kconv {error:.2g}, its ONNX {own_error:.2g}"
                      + (f"  tf2onnx failed: {tf2onnx_failure}" if tf2onnx_failure else ""), flush=True)
        worst_keras = max(r[5] / r[2] for r in rows)
        # Rows where tf2onnx failed (its latency infinite) drop out of the comparisons with it.
        worst_ort = max((r[5] / r[3] for r in rows if r[3] < float("inf")), default=float("nan"))
        worst_export = max((r[4] / r[3] for r in rows if r[3] < float("inf")), default=float("nan"))
        print(f"\nworst kconv/keras {worst_keras:.2f} (target < 1), worst kconv/onnxruntime {worst_ort:.2f} (target <= 1.5), "
              f"worst onnxruntime on kconv's ONNX / on tf2onnx's {worst_export:.2f} (target <= 1)")


if __name__ == "__main__":
    sys.exit(main())
