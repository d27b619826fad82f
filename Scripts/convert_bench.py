#!/usr/bin/env python3
"""Conversion speed (issue #13 item 4): `kconv convert` of VGG16 against copying the file and one forward pass.

    python Scripts/convert_bench.py [--kconv .build/release/kconv] [--directory /tmp/kconv-convert-bench]

Builds keras.applications VGG16 (tf_keras, weights=None, 224x224, with its classifier: 138 M parameters, a
553 MB Keras 2 .h5) in --directory unless it is there already (it is never committed), then times with
/usr/bin/time (wall, user+system CPU, peak memory) in one run, each the best of --repeat:
  - `cp` of the file (with the page cache warm, as for every row), the floor for reading and writing its bytes;
  - `kconv bench --batch 2 --runs 1` and `kconv inspect`: one forward pass at the check's batch and a read,
    what the check may cost at most per issue #13;
  - `kconv convert` to .h5, .keras and .onnx, with and without its check (--no-check),
and prints each time's ratio to the copy (target: within 3x without the check) and, for the checked ones, the
check's own time (checked − unchecked) against one forward pass plus a read (target: at most 1x).
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_vgg16(path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    tf_keras.utils.set_random_seed(7)
    tf_keras.applications.VGG16(weights=None, input_shape=(224, 224, 3)).save(path)


def timed(command):
    """(wall seconds, CPU seconds, peak resident MB) of `command`, measured by /usr/bin/time."""
    result = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M"] + command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr}")
    wall, user, system, peak = re.findall(r"TIME (\S+) (\S+) (\S+) (\S+)", result.stderr)[-1]
    return float(wall), float(user) + float(system), int(peak) / 1024


def best(command, repeat):
    return min((timed(command) for _ in range(repeat)), key=lambda row: row[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=os.path.join(ROOT, ".build/release/kconv"))
    parser.add_argument("--directory", default="/tmp/kconv-convert-bench")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the fastest counts")
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)
    source = os.path.join(args.directory, "vgg16.h5")
    if not os.path.exists(source):
        build_vgg16(source)
    out = lambda name: os.path.join(args.directory, name)  # noqa: E731
    print(f"{source}: {os.path.getsize(source) / 1e6:.0f} MB; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")

    copy = best(["cp", source, out("copy.h5")], args.repeat)
    forward = best([args.kconv, "bench", source, "--batch", "2", "--runs", "1", "--warmup", "0"], args.repeat)
    rows = [("cp", copy), ("forward pass + read (bench --batch 2 --runs 1)", forward)]
    for extension in ("h5", "keras", "onnx"):
        command = [args.kconv, "convert", source, out("converted." + extension), "--force"]
        unchecked, checked = best(command + ["--no-check"], args.repeat), best(command, args.repeat)
        rows += [(f"convert .{extension} --no-check", unchecked), (f"convert .{extension} (checked)", checked),
                 (f"  its check alone (checked − unchecked)", (checked[0] - unchecked[0], checked[1] - unchecked[1], None))]
    print(f"{'':50} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'/ cp':>6} {'/ fwd+read':>10}")
    for name, (wall, cpu, peak) in rows:
        print(f"{name:50} {wall:8.2f} {cpu:8.2f} {peak if peak is not None else float('nan'):8.0f} "
              f"{wall / copy[0]:6.2f} {wall / forward[0]:10.2f}")
    for extension in ("h5", "keras", "onnx"):
        path = out("converted." + extension)
        if os.path.exists(path):
            os.remove(path)
    os.remove(out("copy.h5"))


if __name__ == "__main__":
    sys.exit(main())
