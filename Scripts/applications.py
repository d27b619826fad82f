#!/usr/bin/env python3
"""kconv on the keras.applications models, as each Keras generation builds them.

    python Scripts/applications.py [--kconv PATH] [--model NAME ...] [--source keras2|keras3 ...] [--keep DIR]

For each model of MODELS (MobileNet α0.25 ... VGG16, each at the smallest input it accepts), builds it with
weights=None and logits out (classifier_activation=None) in tf_keras 2 (saved as .h5) and in Keras 3 (saved as
.keras), with every BatchNormalization's moving statistics, scale and offset drawn from a seeded generator (at
initialisation they are 0 and 1, which makes a BatchNormalization nearly the identity and hides its mistakes).
Keras computes the reference on seeded inputs (batch 2, uniform in the range the model's first layer expects).
Then, per source file:

  kconv    `kconv verify` against Keras's own outputs (|got - want| <= atol·scale + rtol·|want|, below);
  h5/keras `kconv convert` to the other generation's format, loaded by that real library, compared the same way;
  onnx     `kconv convert` to ONNX, checked by onnx's full checker, run in onnxruntime, compared the same way.

The tolerance is Scripts/parity.py's (atol 1e-5, rtol 1e-4) with atol scaled by the output's largest magnitude,
scale = max(1, max|want|): float32 rounding in the sums that make a logit grows with the size of the values summed,
not of the logit, so a logit near 0 among logits up to 27 carries the rounding of 27. Measured on RegNetX002
(tf-keras's outputs up to 27): tf-keras's own float32 outputs are 2.1e-5 from the same model run in float64, and
Keras 3 running kconv's .keras (weights bit-identical) differs from tf-keras by 2.3e-5 at a logit of -0.09, 8.5e-7 of
the largest output, as tf-keras is from float64 (7.6e-7). On outputs within ±1 the two tolerances are the same.

Prints one row per (model, source, target) with the result, the max absolute error and the seconds the row took
(conversion and loading included), and exits non-zero if any row fails. The models are large (ResNet50 is 100 MB a
file), so they are built in a temporary folder (or --keep DIR) and never committed; building and checking all of
them takes tens of minutes, so this is not part of Scripts/test.sh.
"""
import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

from parity import ATOL, RTOL, Parity, default_kconv, finish, run, table_line  # sets TensorFlow's environment first
from generate import layer_scale_class  # (parity puts Fixtures/ on the path)

import numpy as np

SEED = 1234
BATCH = 2
# name -> (input side, input range, extra constructor arguments). The side is the smallest each accepts with
# weights=None; models that rescale their own input (include_preprocessing, a Rescaling stem) get [0, 255), and so
# does VGG16: it has no BatchNormalization, and on [-1, 1) its logits stay below 2e-3, under the 1e-5 atol's scale.
PIXELS, UNIT = (0.0, 255.0), (-1.0, 1.0)
MODELS = {
    "MobileNet": (32, UNIT, {"alpha": 0.25}),
    "MobileNetV2": (32, UNIT, {"alpha": 0.35}),
    "MobileNetV3Small": (32, PIXELS, {}),
    "EfficientNetB0": (32, PIXELS, {}),
    "EfficientNetV2B0": (32, PIXELS, {}),
    "RegNetX002": (32, PIXELS, {}),
    "ResNet50": (32, UNIT, {}),
    "DenseNet121": (32, UNIT, {}),
    "NASNetMobile": (32, UNIT, {}),
    "ConvNeXtTiny": (32, PIXELS, {}),
    "InceptionV3": (75, UNIT, {}),
    "Xception": (71, UNIT, {}),
    "VGG16": (32, PIXELS, {}),
}
# source library -> (file name, the other generation's parity target)
SOURCES = {"keras2": ("model.h5", "keras"), "keras3": ("model.keras", "h5")}
COLUMNS = ("model/source", "target", "result", "max err", "seconds", "note")
WIDTHS = (24, 6, 8, 9, 7)


def builder(keras, name):
    """The application's constructor, or None if this Keras does not have it (Keras 3 has no RegNet)."""
    return getattr(keras.applications, name, None)


def randomise_batch_norms(keras, model, rng):
    """Draws every BatchNormalization's gamma, beta, moving mean and variance (nested models included)."""
    draws = {"gamma": lambda s: rng.uniform(0.5, 1.5, s), "beta": lambda s: rng.normal(0, 0.2, s),
             "moving_mean": lambda s: rng.normal(0, 0.2, s), "moving_variance": lambda s: rng.uniform(0.5, 1.5, s)}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            randomise_batch_norms(keras, layer, rng)
        elif type(layer).__name__ == "BatchNormalization":
            values = []
            for weight in layer.weights:
                kind = next(k for k in draws if k in (getattr(weight, "path", None) or weight.name).split("/")[-1])
                values.append(draws[kind](tuple(weight.shape)).astype(np.float32))
            layer.set_weights(values)


def build(keras, library, name, folder):
    """Builds, randomises and saves one model; returns (path, reference {in_0, out_0})."""
    side, (low, high), extra = MODELS[name]
    keras.utils.set_random_seed(SEED)
    model = builder(keras, name)(weights=None, input_shape=(side, side, 3), classifier_activation=None, **extra)
    randomise_batch_norms(keras, model, np.random.default_rng(SEED))
    path = os.path.join(folder, f"{name}.{library}.{SOURCES[library][0].split('.')[-1]}")
    model.save(path)
    inputs = np.random.default_rng(SEED + 1).uniform(low, high, (BATCH, side, side, 3)).astype(np.float32)
    reference = {"in_0": inputs}
    reference["out_0"] = run(model, reference)[0]
    np.savez(path + ".ref.npz", **reference)
    return path, np.load(path + ".ref.npz")


VERIFY_ROW = re.compile(r"^out_\S*\s+\[[^\]]*\]\s+(\S+)\s", re.M)


def scaled_atol(reference):
    """ATOL scaled by the largest magnitude of the reference's outputs (at least 1): see the module's doc."""
    largest = max(float(np.abs(reference[key]).max()) for key in reference.files if key.startswith("out_"))
    return ATOL * max(1.0, largest)


class Applications(Parity):
    """Parity's conversions and checks, with `kconv verify` rows, the seconds each row took, and the atol
    scaled by the outputs' magnitude."""

    def tolerance(self, target, reference):
        return scaled_atol(reference), RTOL

    def add(self, label, target, outcome, worst, message, failed):
        seconds = f"{time.monotonic() - self.started:.1f}"
        self.rows.append((label, target, outcome, worst, seconds, message, bool(failed)))
        print(table_line(self.rows[-1][:-1], WIDTHS), flush=True)

    def timed(self, check, *arguments, **options):
        self.started = time.monotonic()
        return check(*arguments, **options)

    def verify(self, label, path, reference):
        result = subprocess.run([self.kconv, "verify", path, "--reference", path + ".ref.npz",
                                 "--atol", str(scaled_atol(reference)), "--rtol", str(RTOL)], capture_output=True, text=True)
        errors = [float(value) for value in VERIFY_ROW.findall(result.stdout) if value != "nan"]
        worst = f"{max(errors):.2e}" if errors else ""
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        message = "" if result.returncode == 0 else (lines[-1] if lines else "kconv failed")
        if result.returncode != 0 and "first layer out of tolerance" in result.stdout:
            message = next(line for line in result.stdout.splitlines() if line.startswith("first layer"))
        self.add(label, "kconv", "pass" if result.returncode == 0 else "FAIL", worst, message, result.returncode != 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=None)
    parser.add_argument("--model", action="append", choices=list(MODELS), help="only these models (repeatable)")
    parser.add_argument("--source", action="append", choices=list(SOURCES), help="only these builders (default both)")
    parser.add_argument("--keep", metavar="DIR", help="build the models in DIR and keep them (default: a temporary folder)")
    args = parser.parse_args()
    kconv = args.kconv or default_kconv()

    import keras as keras3
    import tf_keras as keras2
    libraries = {"keras2": keras2, "keras3": keras3}
    layer_scale_class(keras2)  # tf-keras loads a ConvNeXt file only with LayerScale among its custom objects
    print(f"kconv {kconv}; tf_keras {keras2.__version__}; keras {keras3.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or scratch
        os.makedirs(folder, exist_ok=True)
        private_kconv = os.path.join(scratch, "kconv")  # a concurrent `swift build` may replace the binary
        shutil.copy2(kconv, private_kconv)
        parity = Applications(private_kconv, libraries, scratch)
        for name in args.model or MODELS:
            for library in args.source or SOURCES:
                label = f"{name}/{library}"
                if builder(libraries[library], name) is None:
                    parity.started = time.monotonic()
                    parity.add(label, "-", "n/a", "", f"{library} has no applications.{name}", False)
                    continue
                parity.started = time.monotonic()
                try:
                    path, reference = build(libraries[library], library, name, folder)
                except Exception as error:  # Keras itself could not build, run or save it: reported, not hidden
                    parity.add(label, "build", "FAIL", "", f"{type(error).__name__}: {str(error)[:200]}", True)
                    continue
                parity.add(label, "build", "done", "", f"{os.path.getsize(path) / 1e6:.1f} MB; Keras's outputs up to "
                           f"{np.abs(reference['out_0']).max():.3g}", False)
                parity.timed(parity.verify, label, path, reference)
                for target in (SOURCES[library][1], "onnx"):
                    parity.timed(parity.check, label, path, None, reference, target)
    finish(COLUMNS, WIDTHS, parity.rows, f"tolerance |got - want| <= {ATOL}*max(1, max|want|) + {RTOL}*|want| against the source library's outputs")


if __name__ == "__main__":
    main()
