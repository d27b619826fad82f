#!/usr/bin/env bash
# Installs the system libraries kconv links against (HDF5, json-c, oneDNN) when they are missing.
# Safe to run repeatedly: it does nothing when everything is present.
set -euo pipefail

packages=(pkg-config libhdf5-dev libjson-c-dev libdnnl-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1 && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "kconv needs a Swift 6 toolchain on PATH (or at /opt/swift)" >&2
    exit 1
fi
