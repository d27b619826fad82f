#!/usr/bin/env bash
# Sets up what the tests need and runs the whole test suite. `.ci/run` calls exactly this.
#
#   Scripts/test.sh              Swift tests, a fuzz smoke, then the parity checks with the real Keras 2 and Keras 3
#   Scripts/test.sh --no-parity  Swift tests and the fuzz smoke only (python3, standard library only)
#
# The parity checks convert every fixture to every target kconv writes and load the results with the real
# libraries: Scripts/parity.py with the pinned tf-keras and Keras 3 of Fixtures/requirements.txt, and
# Scripts/tfjs_parity.py with tensorflowjs's own loader, in the virtual environment Scripts/python-env.sh
# creates (a few minutes the first time) or reuses. Scripts/catalogue.py then runs kconv on every model of
# the generated layer catalogue, and each row it runs as ONNX in onnxruntime, and fails on any row (or ONNX
# status) that regressed from Fixtures/catalogue/status.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

Scripts/setup.sh
swift build --build-tests
swift test --skip-build
# Fuzz smoke: 500 fixed mutants (seed 1) through inspect, convert and verify; fails on any crash, hang or unclean
# exit. About a minute; Python's standard library only.
python3 Scripts/fuzz.py --kconv .build/debug/kconv --count 500 --seed 1 --jobs 2

if [ "${1:-}" != "--no-parity" ]; then
    python="$(Scripts/python-env.sh)"
    jobs="$(nproc)"
    "$python" Scripts/parity.py --kconv .build/debug/kconv --jobs "$(( jobs < 4 ? jobs : 4 ))" \
        --target h5 --target keras --target json2 --target json3 --target onnx --target onnx16
    "$python" Scripts/tfjs_parity.py --kconv .build/debug/kconv
    "$python" Scripts/catalogue.py --kconv .build/debug/kconv --jobs "$jobs" --onnx
fi
