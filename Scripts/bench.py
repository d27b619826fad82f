#!/usr/bin/env python3
"""Benchmark kconv against Keras and onnxruntime on the same models, in one run, on this machine.

    python Scripts/bench.py [--kconv .build/release/kconv] [--runs 200] [--seconds 1.5] [--rounds 3]
                            [--models NAME ...] [--scaling]

For each model and batch size (1 and 32) it measures, in --rounds interleaved rounds keeping each runtime's
best, the median latency of:
  - Keras 2 (tf-keras on TensorFlow CPU) as a serving user runs it: the model wrapped in tf.function, warm;
  - onnxruntime (2 intra-op threads) on the model converted with tf2onnx;
  - onnxruntime (the same options) on kconv's own ONNX export of the model (`kconv convert m.h5 m.onnx`);
  - `kconv bench` (its own warm-up and timing loop, the same statistic);
and prints the latencies and the ratios kconv/Keras, kconv/onnxruntime and kconv's ONNX / tf2onnx's ONNX (both
in onnxruntime). Each measurement is up to --runs runs after up to 20 warm-up runs, each phase stopping after
--seconds, so the large models get fewer runs. It also checks that kconv's outputs and its ONNX file's outputs
in onnxruntime match Keras's on the benchmark inputs (max abs error), so a fast wrong answer cannot hide. Where
tf2onnx cannot convert a model, its row says why and the other runtimes are still measured. The first lines
name the machine (CPU model, its vector features, cores, load), the kernels kconv chose there and the
libraries' versions: the numbers mean little without them. The last line gives the worst ratios against the
targets of issue #13.

--scaling adds a table for the models in SCALING_MODELS: batch 1, 8, 32 and 128 on 1 and 2 threads
(`kconv bench --threads`, onnxruntime's intra_op_num_threads), ms per batch and samples/s.

Models: the committed fixtures named in SMALL_MODELS, plus models built here with fixed seeds (they are
not committed): two stacked Bidirectional(LSTM(128, return_sequences=True)) over 64 steps of 32 features
with TimeDistributed(Dense(16)), the same with two GRU(128) layers, a CNN on 64x64x3 (4 conv layers of 32-64
filters, 2 poolings, Dense 128), keras.applications MobileNetV2 (alpha 0.35), ResNet50 and EfficientNetB0
(64x64, weights=None, 100 classes) and a small CNN with BatchNormalization on 16x16x1, their BatchNormalization
statistics random. Needs the packages in Scripts/bench-requirements.txt.
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
# The models --scaling measures at batch 1 to 128 on 1 and 2 threads: the large ones people deploy.
SCALING_MODELS = ["resnet50_large", "efficientnetb0_large", "mobilenetv2_large", "gru_large", "bilstm_large"]


def randomise_batch_norm(model, L, rng):
    """Gives every BatchNormalization random statistics, so that none is an identity (untrained models have
    mean 0, variance 1, γ 1, β 0, which a wrong folding would not show)."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.5, 0.5, beta.shape),
                               rng.uniform(-0.5, 0.5, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])


def build_large_models(tf_keras, directory):
    """The large benchmark models, saved as Keras 2 .h5 files with seeded random weights."""
    L = tf_keras.layers
    tf_keras.utils.set_random_seed(7)
    bilstm = tf_keras.Sequential([
        L.Bidirectional(L.LSTM(128, return_sequences=True), input_shape=(64, 32)),
        L.Bidirectional(L.LSTM(128, return_sequences=True)),
        L.TimeDistributed(L.Dense(16)),
    ], name="bilstm_large")
    gru = tf_keras.Sequential([
        L.GRU(128, return_sequences=True, input_shape=(64, 32)),
        L.GRU(128, return_sequences=True),
        L.TimeDistributed(L.Dense(16)),
    ], name="gru_large")
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
    # keras.applications models as deployed, untrained (MobileNetV2 α 0.35; all at 64×64), and a small CNN
    # with BatchNormalization.
    applications = tf_keras.applications
    mobilenet = applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, weights=None, classes=100)
    resnet = applications.ResNet50(input_shape=(64, 64, 3), weights=None, classes=100)
    efficientnet = applications.EfficientNetB0(input_shape=(64, 64, 3), weights=None, classes=100)
    for model, name in ((mobilenet, "mobilenetv2_large"), (resnet, "resnet50_large"), (efficientnet, "efficientnetb0_large")):
        model._name = name
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
    for model in (mobilenet, resnet, efficientnet, cnn_bn):
        randomise_batch_norm(model, L, rng)
    paths = {}
    for model in (bilstm, gru, cnn, mobilenet, resnet, efficientnet, cnn_bn):
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


def median_seconds(function, runs, seconds, warmup=20):
    """The median of up to `runs` timed calls after up to `warmup` untimed ones, each phase stopping after
    `seconds` (after at least one call), as `kconv bench --seconds` does: a large model is measured in bounded time."""
    def calls(limit):
        samples, deadline = [], time.perf_counter() + seconds
        while len(samples) < limit and (not samples or time.perf_counter() < deadline):
            start = time.perf_counter()
            function()
            samples.append(time.perf_counter() - start)
        return samples
    calls(warmup)
    return statistics.median(calls(runs))


def keras_server(tf, model, inputs):
    """One Keras inference on `inputs` as a serving user runs it: the model in tf.function, outputs fetched."""
    serve = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    tensors = [tf.constant(x) for x in inputs]
    return lambda: [t.numpy() for t in tf.nest.flatten(serve(*tensors))]


def tf2onnx_file(tf, tf2onnx, model, inputs, directory):
    """tf2onnx's conversion of `model` (batch dimension left free), or the reason it failed."""
    signature = [tf.TensorSpec([None] + list(x.shape[1:]), tf.float32, name=f"in_{i}") for i, x in enumerate(inputs)]
    path = os.path.join(directory, model.name + ".onnx")
    try:
        tf2onnx.convert.from_keras(model, input_signature=signature, opset=17, output_path=path)
        return path, None
    except Exception as error:  # tf2onnx's own refusal or crash: the row says why
        return None, f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"


def cpu_summary():
    """The CPU's model name and the vector features that decide which kernels run, from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as handle:
            fields = dict(line.split(":", 1) for line in handle.read().split("\n\n")[0].splitlines() if ":" in line)
    except OSError:
        return platform.processor() or platform.machine(), "unknown"
    name = fields.get("model name\t", platform.machine()).strip()
    flags = set(fields.get("flags\t\t", "").split())
    named = [("AVX2", {"avx2"}), ("FMA", {"fma"}), ("AVX-512", {"avx512f"}), ("AVX-512 BW/DQ/VL", {"avx512bw", "avx512dq", "avx512vl"}),
             ("VNNI", {"avx512_vnni"}), ("AVX-VNNI", {"avx_vnni"}), ("AVX-512 BF16", {"avx512_bf16"}), ("AMX", {"amx_tile"})]
    return name, " ".join(label for label, needed in named if needed <= flags) or "none of AVX2/FMA/AVX-512"


def machine(tf, tf2onnx, ort, kconv):
    """Lines naming the machine, the kernels kconv chose on it, and the versions measured."""
    cpu, flags = cpu_summary()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    probe = subprocess.run([kconv, "bench", os.path.join(ROOT, "Fixtures/cases/conv2d/keras2.h5"), "--runs", "1", "--warmup", "0", "--json"],
                           capture_output=True, text=True)
    kernels = json.loads(probe.stdout) if probe.returncode == 0 else {}
    return (f"machine: {cpu}, {os.cpu_count()} cores, load average {load}\n"
            f"cpu flags: {flags}\n"
            f"kconv kernels: {kernels.get('instruction_set', '?')}, {kernels.get('blas', '?')}, {kernels.get('threads', '?')} threads by default\n"
            f"versions: tensorflow {tf.__version__}, tf2onnx {tf2onnx.__version__}, onnxruntime {ort.__version__}")


def kconv_onnx_file(kconv, model_path, directory, name):
    """kconv's own ONNX export of the file."""
    path = os.path.join(directory, name + ".kconv.onnx")
    subprocess.run([kconv, "convert", model_path, path, "--force"], check=True, capture_output=True)
    return path


def ort_session(ort, path, threads=2):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_runner(session, inputs):
    """One onnxruntime inference of `session` on `inputs`, cast to the dtypes its inputs take."""
    feed = {spec.name: x.astype(dtype_of(spec)) for spec, x in zip(session.get_inputs(), inputs)}
    return lambda: session.run(None, feed)


def dtype_of(session_input):
    """The numpy dtype an onnxruntime input takes (kconv keeps an Embedding's int32 input)."""
    return {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}[session_input.type]


def kconv_latency(kconv, path, batch, runs, seconds, threads=None):
    command = [kconv, "bench", path, "--batch", str(batch), "--runs", str(runs), "--seconds", str(seconds), "--json"]
    result = subprocess.run(command + (["--threads", str(threads)] if threads else []), check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["median_ms"] / 1000


def kconv_max_error(kconv, path, inputs, expected, directory):
    """Largest |kconv − Keras| over all outputs, from `kconv run` on the benchmark inputs."""
    feed, result = os.path.join(directory, "bench_in.npz"), os.path.join(directory, "bench_out.npz")
    np.savez(feed, **{f"in_{i}": x for i, x in enumerate(inputs)})
    subprocess.run([kconv, "run", path, "--input", feed, "--output", result, "--force"], check=True, capture_output=True)
    with np.load(result) as got:
        return max(float(np.max(np.abs(got[f"out_{i}"] - want))) for i, want in enumerate(expected))


def settle():
    """kconv runs in a subprocess: first let the thread pools of this process (TensorFlow's, onnxruntime's),
    which spin for a while after work, go idle."""
    time.sleep(0.5)


def compare(name, batch, model, path, files, tf, ort, args, directory):
    """One row of the main table: Keras, onnxruntime on tf2onnx's and on kconv's ONNX, and kconv, at `batch`,
    in --rounds interleaved rounds keeping each one's best median; then kconv's and its ONNX's errors."""
    inputs = inputs_for(model, batch)
    (tf2onnx_path, tf2onnx_failure), own_path = files
    session = ort_session(ort, tf2onnx_path) if tf2onnx_path else None
    own = ort_session(ort, own_path)
    serve, own_run = keras_server(tf, model, inputs), ort_runner(own, inputs)
    onnx_run = ort_runner(session, inputs) if session else None
    kconv_s = onnx_s = own_s = keras_s = float("inf")
    for _ in range(args.rounds):
        # A burst of load from elsewhere on the machine then costs a round, not the result.
        settle()
        kconv_s = min(kconv_s, kconv_latency(args.kconv, path, batch, args.runs, args.seconds))
        if onnx_run:
            onnx_s = min(onnx_s, median_seconds(onnx_run, args.runs, args.seconds))
        own_s = min(own_s, median_seconds(own_run, args.runs, args.seconds))
        keras_s = min(keras_s, median_seconds(serve, args.runs, args.seconds))
    expected = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    error = kconv_max_error(args.kconv, path, inputs, expected, directory)
    own_error = max(float(np.max(np.abs(got - want))) for got, want in zip(own_run(), expected))
    versus_tf2onnx = f"ort(tf2onnx) {onnx_s * 1e3:9.4f} ms" if onnx_run else "ort(tf2onnx)    failed   "
    ratios = f"kconv/ort {kconv_s / onnx_s:6.2f}  ort kconv/tf2onnx {own_s / onnx_s:6.2f}  " if onnx_run else ""
    print(f"{name:34} b={batch:<3} keras {keras_s * 1e3:9.4f} ms  {versus_tf2onnx}  "
          f"ort(kconv) {own_s * 1e3:9.4f} ms  kconv {kconv_s * 1e3:9.4f} ms  "
          f"kconv/keras {kconv_s / keras_s:6.2f}  {ratios}"
          f"max|err| kconv {error:.2g}, its ONNX {own_error:.2g}"
          + (f"  tf2onnx failed: {tf2onnx_failure}" if tf2onnx_failure else ""), flush=True)
    return name, batch, keras_s, onnx_s, own_s, kconv_s


def scaling(name, model, path, files, ort, args):
    """The scaling table of one model: batch 1, 8, 32, 128 × 1 and 2 threads, kconv beside onnxruntime (its
    intra-op threads set to the same count) on tf2onnx's and kconv's ONNX; ms per batch, samples/s, ratios."""
    (tf2onnx_path, _), own_path = files
    for threads in (1, 2):
        sessions = {"tf2onnx": ort_session(ort, tf2onnx_path, threads) if tf2onnx_path else None,
                    "kconv's": ort_session(ort, own_path, threads)}
        for batch in (1, 8, 32, 128):
            inputs = inputs_for(model, batch)
            settle()
            kconv_s = kconv_latency(args.kconv, path, batch, args.runs, args.seconds, threads)
            ort_s = {key: median_seconds(ort_runner(session, inputs), args.runs, args.seconds) if session else float("inf")
                     for key, session in sessions.items()}
            cells = "  ".join(f"ort({key}) {seconds * 1e3:9.3f} ms {batch / seconds:8.1f}/s" if seconds < float("inf")
                              else f"ort({key})   failed" for key, seconds in ort_s.items())
            print(f"{name:22} threads {threads} b={batch:<3}  kconv {kconv_s * 1e3:9.3f} ms {batch / kconv_s:8.1f}/s  {cells}  "
                  + "  ".join(f"kconv/ort({key}) {kconv_s / seconds:5.2f}" for key, seconds in ort_s.items()), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=os.path.join(ROOT, ".build/release/kconv"))
    parser.add_argument("--runs", type=int, default=200, help="timed runs at most per measurement")
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="seconds each phase of a measurement (warm-up, timed runs) may take at most")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all four runtimes; each keeps its best median")
    parser.add_argument("--models", nargs="*", help="only these model names")
    parser.add_argument("--scaling", action="store_true",
                        help=f"also print the scaling table (batch 1-128, 1 and 2 threads) of {', '.join(SCALING_MODELS)}")
    args = parser.parse_args()

    import tensorflow as tf
    import tf_keras
    import tf2onnx
    import onnxruntime as ort
    tf.config.threading.set_intra_op_parallelism_threads(2)
    print(machine(tf, tf2onnx, ort, args.kconv), flush=True)

    with tempfile.TemporaryDirectory() as directory:
        models = {name: os.path.join(ROOT, "Fixtures/cases", name, "keras2.h5") for name in SMALL_MODELS}
        models.update(build_large_models(tf_keras, directory))
        rows, scaled = [], []
        for name, path in models.items():
            if args.models and name not in args.models:
                continue
            model = tf_keras.models.load_model(path, compile=False)
            files = (tf2onnx_file(tf, tf2onnx, model, inputs_for(model, 1), directory),
                     kconv_onnx_file(args.kconv, path, directory, name))
            rows += [compare(name, batch, model, path, files, tf, ort, args, directory) for batch in (1, 32)]
            if args.scaling and name in SCALING_MODELS:
                scaled.append((name, model, path, files))
        if scaled:
            print("\nscaling: ms per batch and samples/s; onnxruntime's intra-op threads = kconv's --threads")
        for name, model, path, files in scaled:
            scaling(name, model, path, files, ort, args)
        worst_keras = max(r[5] / r[2] for r in rows)
        # Rows where tf2onnx failed (its latency infinite) drop out of the comparisons with it.
        worst_ort = max((r[5] / r[3] for r in rows if r[3] < float("inf")), default=float("nan"))
        worst_export = max((r[4] / r[3] for r in rows if r[3] < float("inf")), default=float("nan"))
        print(f"\nworst kconv/keras {worst_keras:.2f} (target < 1), worst kconv/onnxruntime {worst_ort:.2f} (target <= 1.0), "
              f"worst onnxruntime on kconv's ONNX / on tf2onnx's {worst_export:.2f} (target <= 1)")


if __name__ == "__main__":
    sys.exit(main())
