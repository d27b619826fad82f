#!/usr/bin/env bash
# Builds and runs the kernel-library comparison (kernels.c) with 2 and 1 threads. Needs the candidates'
# Debian packages, which kconv itself does not: libxnnpack-dev libpthreadpool-dev libdnnl-dev libblis-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cc=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
out=$(mktemp -d)
"$cc" -O2 -I"$root/Sources/CKernels/include" \
    "$here/kernels.c" "$root"/Sources/CKernels/*.c -o "$out/kernels" \
    -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis \
    -lXNNPACK -lpthreadpool -lcpuinfo -ldnnl -lm
grep -m1 "model name" /proc/cpuinfo
echo "cores: $(nproc)"
for threads in 2 1; do "$out/kernels" "$threads" "${ROUNDS:-5}"; done
