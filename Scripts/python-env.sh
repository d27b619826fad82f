#!/usr/bin/env bash
# Creates, or reuses, the virtual environment `.venv` with the pinned Keras packages of
# Fixtures/requirements.txt (the parity checks and the fixture generator need them) and the tensorflowjs
# package of Scripts/tfjs-requirements.txt, and prints the path of its python. Rebuilt when the requirements
# change; installs Debian's python3-venv first if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
tensorflowjs="tensorflowjs==4.22.0"  # without its dependencies: see Scripts/tfjs-requirements.txt
stamp="$venv/requirements.txt"
wanted="$(cat Fixtures/requirements.txt Scripts/tfjs-requirements.txt; echo "$tensorflowjs")"
if [ -x "$venv/bin/python" ] && [ "$wanted" = "$(cat "$stamp" 2>/dev/null)" ]; then
    echo "$PWD/$venv/bin/python"
    exit 0
fi

if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    echo "Installing python3 and python3-venv" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv >/dev/null
fi
echo "Creating $venv with the pinned Keras and tensorflowjs (a few minutes the first time)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r Fixtures/requirements.txt -r Scripts/tfjs-requirements.txt >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "$tensorflowjs" >&2
echo "$wanted" > "$stamp"
echo "$PWD/$venv/bin/python"
