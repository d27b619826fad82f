#!/usr/bin/env bash
# Sets up what the tests need and runs the whole test suite. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

Scripts/setup.sh
swift build --build-tests
swift test --skip-build
