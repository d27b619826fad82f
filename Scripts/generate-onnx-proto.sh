#!/usr/bin/env bash
# Regenerates Sources/ONNXProto/onnx.pb.swift, the Swift types of the ONNX schema, from Scripts/onnx/onnx.proto.
#
#   Scripts/generate-onnx-proto.sh                       regenerate from the committed schema
#   ONNX_VERSION=1.21.0 Scripts/generate-onnx-proto.sh   first replace Scripts/onnx/onnx.proto with onnx/onnx.proto
#                                                        from that version's onnx wheel on PyPI (pin the same onnx
#                                                        in Fixtures/requirements.txt), then regenerate
#
# Run it by hand only when the schema changes, and commit what it writes. Never run it in CI or from
# Scripts/test.sh: the package needs only the SwiftProtobuf runtime, while this needs the protoc-gen-swift plugin,
# which takes 3 to 10 minutes to build on 2 cores.
#
# It installs Debian's protobuf-compiler (protoc) if protoc is missing, and builds protoc-gen-swift from
# swift-protobuf at the version Package.swift depends on, from the local copy under /opt/swift-packages, in a
# temporary folder. Environment:
#   SWIFT_PROTOBUF_DIR  keep that checkout and its built plugin in this folder instead, and reuse them next time
#   SWIFT_PROTOBUF_GIT  clone swift-protobuf from here (default /opt/swift-packages/apple/swift-protobuf.git)
#
# The committed onnx.pb.swift was written by protoc 3.21.12 (Debian 12's protobuf-compiler) with protoc-gen-swift
# 1.39.0; the same pair reproduces it byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

swift_protobuf_version=1.39.0  # keep equal to the swift-protobuf version in Package.swift
swift_protobuf_git="${SWIFT_PROTOBUF_GIT:-/opt/swift-packages/apple/swift-protobuf.git}"
schema=Scripts/onnx/onnx.proto
output=Sources/ONNXProto/onnx.pb.swift

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# 1. The schema: with ONNX_VERSION, the plain (not ONNX-ML) proto2 schema that onnx's own wheel ships, under a
#    header that says where it came from.
if [ -n "${ONNX_VERSION:-}" ]; then
    echo "Taking onnx/onnx.proto from the onnx $ONNX_VERSION wheel" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        "onnx==$ONNX_VERSION" -d "$tmp/wheel" >&2
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("onnx/onnx.proto"))' \
        "$tmp"/wheel/onnx-*.whl > "$tmp/onnx.proto"
    digest="$(sha256sum "$tmp/onnx.proto" | cut -d' ' -f1)"
    {
        echo "// kconv: the ONNX schema that Sources/ONNXProto/onnx.pb.swift is generated from, by"
        echo "// Scripts/generate-onnx-proto.sh. Below this header, byte for byte, is onnx/onnx.proto from the"
        echo "// onnx $ONNX_VERSION wheel on PyPI (the version Fixtures/requirements.txt pins; sha256 of that file"
        echo "// $digest). It is the plain schema"
        echo "// (package onnx, without the ONNX-ML additions) in proto2, the syntax ONNX itself compiles: the wheel"
        echo "// ships no onnx.proto3. \`ONNX_VERSION=x.y.z Scripts/generate-onnx-proto.sh\` replaces it."
        echo
        cat "$tmp/onnx.proto"
    } > "$schema"
fi

# 2. protoc.
if ! command -v protoc >/dev/null 2>&1; then
    echo "Installing protobuf-compiler" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq protobuf-compiler >/dev/null
fi
if [ "$(protoc --version)" != "libprotoc 3.21.12" ]; then
    echo "note: $(protoc --version), not the libprotoc 3.21.12 the committed file was made with" >&2
fi

# 3. protoc-gen-swift, built from the tagged swift-protobuf (only its plugin product, in release mode).
checkout="${SWIFT_PROTOBUF_DIR:-$tmp/swift-protobuf}"
if [ ! -d "$checkout/.git" ]; then
    git -c advice.detachedHead=false clone --quiet --branch "$swift_protobuf_version" "$swift_protobuf_git" "$checkout"
elif [ "$(git -C "$checkout" rev-parse HEAD)" != "$(git -C "$checkout" rev-parse "$swift_protobuf_version^{commit}")" ]; then
    git -C "$checkout" -c advice.detachedHead=false checkout --quiet "$swift_protobuf_version"
fi
echo "Building protoc-gen-swift $swift_protobuf_version in $checkout (minutes, unless already built there)" >&2
swift build --package-path "$checkout" -c release --product protoc-gen-swift >&2
plugin="$(swift build --package-path "$checkout" -c release --show-bin-path)/protoc-gen-swift"
if [ "$("$plugin" --version)" != "protoc-gen-swift $swift_protobuf_version" ]; then
    echo "error: $plugin is $("$plugin" --version), not protoc-gen-swift $swift_protobuf_version" >&2
    exit 1
fi

# 4. The Swift types, `package`-visible: kconv's own targets use them, its library's clients do not.
mkdir "$tmp/out"
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=Visibility=Package:"$tmp/out" \
    -I "$(dirname "$schema")" "$(basename "$schema")"
mv "$tmp/out/onnx.pb.swift" "$output"
echo "Wrote $output from $schema" >&2
