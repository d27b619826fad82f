#!/usr/bin/env bash
# Creates, or reuses, the virtual environment `.venv` with the pinned Keras packages of
# Fixtures/requirements.txt (the parity checks and the fixture generator need them) and prints the path of
# its python. Rebuilt when the requirements change; installs Debian's python3-venv first if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/requirements.txt"
if [ -x "$venv/bin/python" ] && cmp -s Fixtures/requirements.txt "$stamp"; then
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
echo "Creating $venv with Fixtures/requirements.txt (a few minutes the first time)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r Fixtures/requirements.txt >&2
cp Fixtures/requirements.txt "$stamp"
echo "$PWD/$venv/bin/python"
