#!/usr/bin/env python3
"""Parity with the real tensorflowjs package for `kconv convert --format tfjs`.

    .venv/bin/python Scripts/tfjs_parity.py [--kconv PATH] [--case NAME ...] [--source h5|keras|json ...]

(Scripts/python-env.sh sets up .venv; Scripts/test.sh runs this after parity.py.) For every fixture case and every model file Keras
wrote for it, converts the file with kconv to a TensorFlow.js layers model, loads that with tensorflowjs's own
loader (`tensorflowjs.converters.load_keras_model`, which builds the model with tf_keras from modelTopology and
binds the shards' weights by name), runs the fixture's reference inputs and compares with the outputs the
source library computed (out_* of its ref.npz, atol 1e-5, rtol 1e-4).

For a tf-keras .h5 source it also converts the same file with tensorflowjs's own converter
(`keras_h5_conversion.h5_merged_saved_model_to_tfjs_format` + `write_artifacts`, what `tensorflowjs_converter
--input_format keras` runs) and compares the two outputs: model.json keys, manifest (names, shapes, dtypes,
order) and shard bytes must be identical (the "vs converter" column; the topology itself may differ where
kconv's Keras 2 export drops keys tf-keras adds, and convertedBy names the writer).

No JavaScript runtime is involved: tfjs-layers itself is not run. Conversions kconv must refuse, and models
tf_keras cannot run, are those Scripts/parity.py lists for a Keras 2 target; a Lambda is loaded with Keras's
unsafe deserialization as parity.py does (tfjs-layers itself cannot run Python code). Exits non-zero if any
row fails.
"""
import argparse
import importlib.abc
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import (CASES, EXPECTED_REFUSALS, MAY_REFUSE, TARGET_CANNOT_RUN, UNSAFE, compare, default_kconv,  # noqa: E402
                    finish, run, sources, table_line, user_classes)

import numpy as np  # noqa: E402

# (case, source library, source format) -> why tensorflowjs's loader cannot bind kconv's output, and a phrase
# of its error. Reported as "gap", not failed: kconv's own round trip of these files is exact.
KNOWN_GAPS = {
    ("custom_layer_functional", "keras2", "keras"):
        ("a .keras file names a custom layer's weights by object path only (vars/0), so kconv cannot give them the "
         "names TensorFlow.js binds by (and TF.js needs the class itself in JavaScript anyway)", "KeyError"),
}

# Cases where kconv's TF.js files differ from tensorflowjs's converter by design, and why.
CONVERTER_DIFFERS = {
    "cudnn_rnn": "kconv writes the LSTM a CuDNNLSTM computes (tfjs-layers has no CuDNNLSTM); the converter copies "
                 "the cuDNN class and weights",
    "slash_names": "the converter's manifest leaves out the weights of 'block/conv/BatchNorm', whose group sits inside "
                   "'block/conv''s in the .h5 (a name extending another's); kconv lists every layer's weights",
}

WIDTHS = (58, 8, 9, 14)  # fixture, result, max err, vs converter; then the note


class _AbsentOptionalModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty stand-ins for what tensorflowjs imports at package level but its Keras paths never call (its
    JAX, decision-forest and TF-Hub converters), so that it runs without those heavy packages."""
    roots = {"jax", "flax", "tensorflow_decision_forests", "tensorflow_hub"}

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__path__ = []


def import_tensorflowjs():
    # Keras 3 probes for JAX when imported: import it (and TensorFlow) before the stand-ins exist.
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    import tf_keras
    user_classes(tf_keras)  # the fixtures' own classes, registered as a user's custom objects would be
    sys.meta_path.insert(0, _AbsentOptionalModules())
    from tensorflowjs import version
    from tensorflowjs.converters import keras_h5_conversion, keras_tfjs_loader
    return version.version, keras_h5_conversion, keras_tfjs_loader


def load(loader, path, unsafe):
    """tensorflowjs's loader; with Keras's safe mode off for a Lambda, as Scripts/parity.py loads them."""
    if not unsafe:
        return loader.load_keras_model(path)
    from tf_keras.src.saving.serialization_lib import SafeModeScope
    with SafeModeScope(False):
        return loader.load_keras_model(path)


def shards(directory, document):
    return [open(os.path.join(directory, p), "rb").read() for g in document["weightsManifest"] for p in g["paths"]]


def same_as_converter(h5_conversion, h5_path, kconv_dir, scratch):
    """'same' if tensorflowjs's converter writes the same manifest and shard bytes, else what differs."""
    real_dir = os.path.join(scratch, "tensorflowjs")
    os.makedirs(real_dir)
    topology, groups = h5_conversion.h5_merged_saved_model_to_tfjs_format(h5_path)
    h5_conversion.write_artifacts(topology, groups, real_dir)
    with open(os.path.join(real_dir, "model.json")) as handle:
        real = json.load(handle)
    with open(os.path.join(kconv_dir, "model.json")) as handle:
        ours = json.load(handle)
    differences = [what for what, same in [
        ("keys", list(real) == list(ours)),
        ("topology keys", list(real["modelTopology"]) == list(ours["modelTopology"])),
        ("generatedBy", real["generatedBy"] == ours["generatedBy"]),
        ("manifest", real["weightsManifest"] == ours["weightsManifest"]),
        ("shard bytes", shards(real_dir, real) == shards(kconv_dir, ours)),
    ] if not same]
    return "same" if not differences else "differs: " + ", ".join(differences)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=None)
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    parser.add_argument("--source", action="append", choices=["h5", "keras", "json"], help="source formats (default all)")
    args = parser.parse_args()
    kconv = args.kconv or default_kconv()
    cases = sorted(args.case or [c for c in os.listdir(CASES) if os.path.exists(os.path.join(CASES, c, "expected.json"))])
    tfjs_version, h5_conversion, loader = import_tensorflowjs()
    print(f"kconv {kconv}; tensorflowjs {tfjs_version}", flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        # A private copy: a concurrent `swift build` may replace the built binary while this runs.
        kconv = shutil.copy2(kconv, os.path.join(scratch, "kconv"))
        for case in cases:
            for library, fmt, path, weights in sources(case, set(args.source or ["h5", "keras", "json"])):
                label = f"{case}/{library}.{fmt}"
                work = os.path.join(scratch, str(len(rows)))
                out = os.path.join(work, "kconv")
                os.makedirs(out)
                refusal = EXPECTED_REFUSALS.get((case, library, "keras2"))
                command = [kconv, "convert", path, out, "--format", "tfjs"] + (["--weights", weights] if weights else [])
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0 or refusal:
                    message = refusal or (result.stderr.strip().splitlines() or ["kconv failed"])[-1]
                    # A case of a user's class kconv does not know may be refused (parity.py's MAY_REFUSE).
                    failed = (result.returncode != 0) != bool(refusal) and case not in MAY_REFUSE
                    rows.append((label, "FAIL" if failed else "refused", "", "", message, failed))
                    continue
                reference = np.load(os.path.join(CASES, case, f"{library}.ref.npz"))
                cannot_run = TARGET_CANNOT_RUN.get((case, library, "keras2"))
                gap = KNOWN_GAPS.get((case, library, fmt))
                try:
                    model = load(loader, os.path.join(out, "model.json"), unsafe=case in UNSAFE)
                    passed, worst, message = compare(run(model, reference), reference)
                    outcome, worst = ("pass" if passed else "FAIL"), f"{worst:.2e}"
                    if case in UNSAFE:
                        message = (message + "; " if message else "") + "unsafe deserialization (tfjs-layers cannot run a Lambda)"
                except Exception as error:  # tensorflowjs rejected the files: that is the finding
                    passed, outcome, worst = False, "FAIL", ""
                    message = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
                    if cannot_run and cannot_run[1] in str(error):
                        passed, outcome, message = True, "n/a", cannot_run[0]
                    if gap and gap[1] in message:
                        passed, outcome, message = True, "gap", gap[0]
                versus = same_as_converter(h5_conversion, path, out, work) if (library, fmt) == ("keras2", "h5") else ""
                expected_difference = CONVERTER_DIFFERS.get(case)
                if expected_difference and versus.startswith("differs"):
                    message = (message + "; " if message else "") + expected_difference
                failed = not passed or (versus.startswith("differs") and not expected_difference)
                rows.append((label, outcome, worst, versus, message, failed))
                print(table_line((label, outcome, worst, versus, message), WIDTHS), flush=True)

    finish(("fixture", "result", "max err", "vs converter", "note"), WIDTHS, rows,
           "refused and n/a rows are expected: parity.py's EXPECTED_REFUSALS and TARGET_CANNOT_RUN for a Keras 2 "
           "target; gap rows are KNOWN_GAPS; loaded with tensorflowjs.converters.load_keras_model, compared with the "
           "source library's outputs; 'vs converter': kconv's manifest and shards against tensorflowjs's own "
           "conversion of the .h5")

if __name__ == "__main__":
    main()
