#!/usr/bin/env python3
"""Parity with the real Keras libraries for `kconv convert`.

    python Scripts/parity.py [--kconv PATH] [--case NAME ...] [--source h5|keras|json ...]
                             [--target h5|keras|json2|json3|onnx|onnx16 ...] [--wild ../shared/wild [--no-fixtures]]
                             [--jobs N]

For every fixture case and every model file Keras wrote for it (Fixtures/cases/<case>/expected.json lists
them), converts the file with kconv to each target, loads the result with the real library — tf_keras 2.x for
.h5 and Keras 2 JSON, Keras 3 for .keras and Keras 3 JSON, onnxruntime for ONNX (after onnx's full
checker) — runs the fixture's reference inputs (in_* of the
source library's ref.npz) and compares with the outputs the source library computed (out_*) at atol 1e-5,
rtol 1e-4. Prints one row per conversion and exits non-zero if any fails.

The onnx16 target is `kconv convert --float16`: weights stored as float16, computation in float32. Rounding a
weight to float16 moves it by up to 2^-11 of itself, and the outputs move with it, so that target is compared at
ONNX16_ATOL/ONNX16_RTOL (atol 1e-2, rtol 1e-2): the fixtures' largest error at float16 weights measured
4.7e-3 (see the constant's comment); the graph itself is checked at float32's tolerance by the onnx target.

Some conversions are refused by design (a Lambda's Python bytecode cannot move between versions, a class the
target Keras lacks): those are listed in EXPECTED_REFUSALS and must be refused.
With --wild, published model files that have a reference are converted too; there a refusal is reported,
not failed (old files use hard_sigmoid, Lambdas and custom classes), and a hard_sigmoid refusal is retried
with --approximate-hard-sigmoid to show how far the approximation lands. Both libraries are imported once
per process (TensorFlow's start-up takes ~10 s); --jobs N splits the cases between N processes. Models run
with a direct call in inference mode rather than predict(), whose per-model tracing costs seconds.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "Fixtures", "cases")
sys.path.insert(0, os.path.join(ROOT, "Fixtures"))
from generate import user_classes  # noqa: E402  (the fixtures' own classes, which loading their files needs)
ATOL, RTOL = 1e-5, 1e-4
# Measured over every fixture (342 conversions from every source file, Keras 2 and 3): |float16-weights ONNX
# - Keras| had a median of 1e-4 and a largest of 4.7e-3 (conv2d: five stacked convolutions and transposed
# convolutions), against ~1e-6 for float32 weights; the tolerance leaves 2x room over the largest, as
# 1e-5/1e-4 does over float32's rounding. The float32 target still checks the graph itself at 1e-5.
ONNX16_ATOL, ONNX16_RTOL = 1e-2, 1e-2

# (case, source library, target library) -> why kconv must refuse.
LAMBDA = "a Lambda holds Python bytecode for one Keras version"
HASHING = "ONNX has no operator that formats numbers as strings or computes FarmHash"
MHA_MASKS = ("Keras 3's MultiHeadAttention clears the masks of the tensors it reads, so a masked tensor read again by "
             "a second attention layer is masked in tf-keras and not in Keras 3: kconv's check finds the outputs differ")
EXPECTED_REFUSALS = {
    ("lambda_layer", "keras2", "keras3"): LAMBDA,
    ("lambda_layer", "keras2", "onnxruntime"): LAMBDA,
    ("hashing", "keras2", "onnxruntime"): HASHING,
    ("hashing", "keras3", "onnxruntime"): HASHING,
    ("preprocessing_layouts", "keras3", "keras2"): "tf-keras's image preprocessing layers are channels_last only",
    ("multi_head_attention_masks", "keras2", "keras3"): MHA_MASKS,
    ("multi_head_attention_masks", "keras3", "keras2"): MHA_MASKS,
    ("keras3_attention", "keras3", "keras2"): "GroupedQueryAttention and MultiHeadAttention's use_gate have no tf-keras equivalent",
    ("preprocessing_keras3", "keras3", "keras2"): "its layers (RandomHue, RMSNormalization, adaptive pooling, ...) have no tf-keras class",
}
# Keras 3 records a functional Masking's mask as operation nodes, which kconv does not write into Keras 2 yet
# (issue #12 item 3).
MASK_NODES = "Keras 2 has no layer for the Keras 3 mask operations NotEqual/Any"
EXPECTED_REFUSALS.update({(case, "keras3", "keras2"): MASK_NODES for case in ("conv_lstm2d_mask",)})
EXPECTED_REFUSALS.update({("rnn_stacked_cells_mask", library, "onnxruntime"):
                          "ONNX takes RNN masks as sequence lengths, which cannot hold a reversed mask" for library in ("keras2", "keras3")})
# A Model subclass computes in Python code that no file holds: kconv shows it and refuses to run or convert it.
EXPECTED_REFUSALS.update({("subclassed_model", source, target): "a subclassed model's call() is Python code the file does not hold"
                          for source in ("keras2", "keras3") for target in ("keras2", "keras3", "onnxruntime")})

# Cases whose layer is a user's class kconv does not know: kconv may refuse (to run it, to translate its config
# to the other Keras generation, to place its variables in a .weights.h5), and what it does convert must pass.
MAY_REFUSE = {"custom_layer_functional"}

# (case, source library, target library) -> why the target library itself cannot run the converted model,
# and a phrase of the error it gives.
TARGET_CANNOT_RUN = {
    ("seed_bidir_lstm_td_dense_int_input", "keras3", "keras2"):
        ("tf_keras does not cast an int32 input for LSTM's MatMul (the case's keras2 build fails the same way)",
         "Exception encountered when calling layer"),
}

# Cases whose Lambda needs Keras's unsafe deserialization (as Fixtures/generate.py loads them).
UNSAFE = {"lambda_layer"}

# target name -> (file name, library, extra kconv arguments)
TARGETS = {
    "h5": ("model.h5", "keras2", []),
    "keras": ("model.keras", "keras3", []),
    "json2": ("model.json", "keras2", ["--keras", "2"]),
    "json3": ("model.json", "keras3", ["--keras", "3"]),
    "onnx": ("model.onnx", "onnxruntime", []),
    "onnx16": ("model.onnx", "onnxruntime", ["--float16"]),
}
# target name -> (atol, rtol), where not ATOL, RTOL.
TOLERANCES = {"onnx16": (ONNX16_ATOL, ONNX16_RTOL)}


def default_kconv():
    """The most recently built kconv (release or debug)."""
    built = [os.path.join(ROOT, ".build", config, "kconv") for config in ("release", "debug")]
    built = [path for path in built if os.path.exists(path)]
    if not built:
        sys.exit("no built kconv: run `swift build` (or pass --kconv)")
    return max(built, key=os.path.getmtime)


def sources(case, wanted):
    """(library, format, model path, weights path) for each model file of a case."""
    with open(os.path.join(CASES, case, "expected.json")) as handle:
        expected = json.load(handle)
    for library in ("keras2", "keras3"):
        files = expected.get(library, {}).get("files")
        if not files:
            continue
        path = lambda key: os.path.join(CASES, case, files[key]) if key in files else None  # noqa: E731
        for fmt in ("h5", "keras"):
            if fmt in wanted and path(fmt):
                yield library, fmt, path(fmt), None
        if "json" in wanted and path("json"):
            yield library, "json", path("json"), path("weights_h5")


def load(libraries, library, path, unsafe):
    keras = libraries[library]
    if path.endswith(".json"):
        with open(path) as handle:
            text = handle.read()
        if unsafe and library == "keras2":
            from tf_keras.src.saving.serialization_lib import SafeModeScope
            with SafeModeScope(False):
                model = keras.models.model_from_json(text)
        else:
            model = keras.models.model_from_json(text)
        model.load_weights(path[: -len(".json")] + ".weights.h5")
        return model
    return keras.models.load_model(path, compile=False, **({"safe_mode": False} if unsafe and library == "keras3" else {}))


def run_onnx(path, reference):
    """Checks an ONNX file with onnx's full checker (shape inference included) and runs it in onnxruntime on
    the reference inputs, each cast to the dtype the graph's input declares."""
    import onnx
    import onnxruntime
    onnx.checker.check_model(onnx.load(path), full_check=True)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    dtypes = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
              "tensor(double)": np.float64, "tensor(float16)": np.float16, "tensor(bool)": np.bool_,
              "tensor(string)": np.str_}
    feeds = {model_input.name: reference[f"in_{index}"].astype(dtypes[model_input.type])
             for index, model_input in enumerate(session.get_inputs())}
    return session.run(None, feeds)


def run(model, reference):
    inputs = []
    for index, model_input in enumerate(model.inputs):
        array = reference[f"in_{index}"]
        if array.dtype.kind == "U":  # strings: Keras takes them as a tf.string tensor
            import tensorflow as tf
            inputs.append(tf.constant(array))
            continue
        dtype = getattr(model_input, "dtype", "float32")
        dtype = getattr(dtype, "name", dtype)
        inputs.append(array.astype(dtype))
    # A direct call runs what predict() would (inference mode, one batch) without predict()'s per-model
    # tf.function tracing, which costs seconds per file.
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(output) for output in outputs]


def compare(outputs, reference, tolerance=(ATOL, RTOL)):
    """(passed, max abs error, message), within |got - want| <= atol + rtol*|want| for `tolerance` (atol, rtol);
    strings must be equal."""
    atol, rtol = tolerance
    wanted = sorted((k for k in reference.files if k.startswith("out_")), key=lambda k: int(k[4:]))
    if len(outputs) != len(wanted):
        return False, float("nan"), f"{len(outputs)} outputs, reference has {len(wanted)}"
    worst, passed = 0.0, True
    for got, key in zip(outputs, wanted):
        want = reference[key]
        got = np.asarray(got).reshape(want.shape) if np.asarray(got).size == want.size else np.asarray(got)
        if got.shape != want.shape:
            return False, float("nan"), f"{key}: shape {got.shape}, reference {want.shape}"
        if want.dtype.kind == "U":  # text compares exactly (onnxruntime gives str objects)
            passed &= bool(np.array_equal(got.astype(str), want))
            continue
        error = np.abs(got.astype(np.float64) - want.astype(np.float64))
        worst = max(worst, float(error.max()) if error.size else 0.0)
        passed &= bool(np.all(error <= atol + rtol * np.abs(want)))
    return passed, worst, "" if passed else "outside tolerance"


WIDTHS = (58, 6, 8, 9)  # fixture, target, result, max err; then the note


def table_line(cells, widths):
    """One table line: each cell padded to its width, the last cell (the note) as it is."""
    return " ".join(f"{cell:{width}}" for cell, width in zip(cells, widths)) + f" {cells[-1]}"


def finish(headers, widths, rows, explanation):
    """Prints the rows (cells, then whether the row failed) under `headers`, how many passed with
    `explanation`, and exits non-zero if any failed."""
    print()
    print(table_line(headers, widths))
    print("-" * (sum(widths) + 40))
    for row in rows:
        print(table_line(row[:-1], widths))
    failures = sum(row[-1] for row in rows)
    print(f"\n{len(rows) - failures}/{len(rows)} passed ({explanation})")
    sys.exit(1 if failures else 0)


class Parity:
    """Converts, loads with the real library, compares; collects one row per conversion."""

    def __init__(self, kconv, libraries, scratch):
        self.kconv, self.libraries, self.scratch = kconv, libraries, scratch
        self.rows = []

    def add(self, label, target, outcome, worst, message, failed):
        self.rows.append((label, target, outcome, worst, message, bool(failed)))
        print(table_line((label, target, outcome, worst, message), WIDTHS), flush=True)

    def tolerance(self, target, reference):
        """(atol, rtol) for the outputs of `target` against `reference`."""
        return TOLERANCES.get(target, (ATOL, RTOL))

    def check(self, label, path, weights, reference, target, refusal=None, cannot_run=None, unsafe=False,
              refusal_is_finding=True, extra=(), approximation=False):
        name, target_library, target_args = TARGETS[target]
        out = os.path.join(self.scratch, "out", f"{len(self.rows)}", name)
        os.makedirs(os.path.dirname(out))
        command = [self.kconv, "convert", path, out] + (["--weights", weights] if weights else []) + target_args + list(extra)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "kconv failed"
            expected = refusal is not None or not refusal_is_finding
            self.add(label, target, "refused" if expected else "FAIL", "", refusal or message, not expected)
            return message
        if refusal:
            self.add(label, target, "FAIL", "", f"converted, but must refuse: {refusal}", True)
            return None
        try:
            if target_library == "onnxruntime":
                outputs = run_onnx(out, reference)
            else:
                outputs = run(load(self.libraries, target_library, out, unsafe), reference)
            passed, worst, message = compare(outputs, reference, self.tolerance(target, reference))
            outcome, worst = ("pass" if passed else "FAIL"), f"{worst:.2e}"
        except Exception as error:  # the library rejected the file: that is the finding
            passed, worst, outcome = False, "", "FAIL"
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            if cannot_run and cannot_run[1] in str(error):
                passed, outcome, message = True, "n/a", cannot_run[0]
        if approximation:  # informative: the maths were changed on purpose
            outcome, message, passed = "approx", f"with {' '.join(extra)} (expected to differ)", True
        self.add(label, target, outcome, worst, message, not passed)
        return None


def fixture_rows(parity, cases, wanted_sources, targets):
    for case in cases:
        for library, fmt, path, weights in sources(case, wanted_sources):
            reference = np.load(os.path.join(CASES, case, f"{library}.ref.npz"))
            for target in targets:
                target_library = TARGETS[target][1]
                parity.check(f"{case}/{library}.{fmt}", path, weights, reference, target,
                             refusal=EXPECTED_REFUSALS.get((case, library, target_library)),
                             cannot_run=TARGET_CANNOT_RUN.get((case, library, target_library)),
                             unsafe=case in UNSAFE, refusal_is_finding=case not in MAY_REFUSE)


def wild_rows(parity, folder, targets):
    """Published files with a reference (MANIFEST.tsv has_ref): refusals are listed, not failures; a refused
    hard_sigmoid is converted again with --approximate-hard-sigmoid and its error shown (informative)."""
    with open(os.path.join(folder, "MANIFEST.tsv")) as handle:
        header, *lines = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    for line in lines:
        entry = dict(zip(header, line))
        if entry.get("has_ref") != "yes":
            continue
        path, weights = os.path.join(folder, entry["name"]), None
        if entry["kind"] == "weights":
            if not entry.get("paired_config"):
                continue
            path, weights = os.path.join(folder, entry["paired_config"]), path
        reference = np.load(os.path.join(folder, entry["name"] + ".ref.npz"))
        label = f"wild/{entry['name'][:53]}"
        for target in targets:
            message = parity.check(label, path, weights, reference, target, refusal_is_finding=False)
            if message and "--approximate-hard-sigmoid" in message:
                parity.check(label, path, weights, reference, target, refusal_is_finding=False,
                             extra=["--approximate-hard-sigmoid"], approximation=True)


def collect(args, cases, kconv):
    """Runs this process's share of the rows: [(label, target, outcome, max error, note, failed)]."""
    import keras as keras3
    import tf_keras as keras2
    for keras in (keras2, keras3):
        user_classes(keras)
    print(f"kconv {kconv}; tf_keras {keras2.__version__}; keras {keras3.__version__}", flush=True)
    targets = args.target or ["h5", "keras"]
    with tempfile.TemporaryDirectory() as scratch:
        # A private copy: a concurrent `swift build` may replace the built binary while this runs.
        private_kconv = os.path.join(scratch, "kconv")
        shutil.copy2(kconv, private_kconv)
        parity = Parity(private_kconv, {"keras2": keras2, "keras3": keras3}, scratch)
        if not args.no_fixtures:
            fixture_rows(parity, cases, set(args.source or ["h5", "keras", "json"]), targets)
        if args.wild:
            wild_rows(parity, args.wild, targets)
    return parity.rows


def collect_in_workers(args, cases, kconv):
    """Splits the cases between `args.jobs` worker processes (each imports TensorFlow once) and joins
    their rows in case order; the published files, if asked for, go to the first worker."""
    shares = [cases[worker::args.jobs] for worker in range(args.jobs)]
    passed_on = sum(([f"--{name}", value] for name, values in (("source", args.source), ("target", args.target))
                     for value in values or []), [])
    with tempfile.TemporaryDirectory() as scratch:
        workers = []
        for index, share in enumerate(shares):
            rows_file = os.path.join(scratch, f"rows{index}.json")
            command = [sys.executable, os.path.abspath(__file__), "--kconv", kconv, "--rows-out", rows_file, *passed_on]
            command += sum((["--case", case] for case in share), []) if share else ["--no-fixtures"]
            if args.no_fixtures:
                command.append("--no-fixtures")
            if args.wild and index == 0:
                command += ["--wild", args.wild]
            workers.append((subprocess.Popen(command), rows_file))
        rows = []
        for process, rows_file in workers:
            if process.wait() not in (0, 1) or not os.path.exists(rows_file):
                sys.exit(f"a parity worker failed (exit {process.returncode})")
            with open(rows_file) as handle:
                rows += [tuple(row) for row in json.load(handle)]
    order = {case: index for index, case in enumerate(cases)}
    return sorted(rows, key=lambda row: order.get(row[0].split("/")[0], len(order)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=None)
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    parser.add_argument("--source", action="append", choices=["h5", "keras", "json"], help="source formats (default all)")
    parser.add_argument("--target", action="append", choices=list(TARGETS), help="targets (default h5, keras)")
    parser.add_argument("--wild", metavar="DIR", help="also the published files in DIR (../shared/wild) that have a reference")
    parser.add_argument("--no-fixtures", action="store_true", help="skip the fixtures (with --wild)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--rows-out", help=argparse.SUPPRESS)  # a worker's rows, as JSON, for --jobs
    args = parser.parse_args()
    kconv = args.kconv or default_kconv()
    cases = sorted(args.case or [c for c in os.listdir(CASES) if os.path.exists(os.path.join(CASES, c, "expected.json"))])

    if args.rows_out:
        rows = collect(args, cases, kconv)
        with open(args.rows_out, "w") as handle:
            json.dump(rows, handle)
        sys.exit(0)
    rows = collect_in_workers(args, cases, kconv) if args.jobs > 1 else collect(args, cases, kconv)

    finish(("fixture", "target", "result", "max err", "note"), WIDTHS, rows,
           "refused and n/a rows are expected: EXPECTED_REFUSALS, TARGET_CANNOT_RUN; approx rows are informative; "
           f"tolerance |got - want| <= {ATOL} + {RTOL}*|want| against the source library's outputs"
           f" ({ONNX16_ATOL} + {ONNX16_RTOL}*|want| for onnx16's float16 weights)")

if __name__ == "__main__":
    main()
