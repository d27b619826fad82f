#!/usr/bin/env bash
# Builds and runs the matrix-product comparison (products.c) with 2 and 1 threads. Needs the candidates'
# Debian packages (kconv itself links libdnnl-dev; the others only this comparison): libblis-dev libpthreadpool-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cc=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
out=$(mktemp -d)
"$cc" -O2 -I"$here" \
    "$here/products.c" "$here/register_tiled_gemm.c" "$root/Sources/CKernels/cpu_level.c" \
    -I"$root/Sources/CKernels" -I"$root/Sources/CKernels/include" -o "$out/products" \
    -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis \
    -lpthreadpool -ldnnl -lm
grep -m1 "model name" /proc/cpuinfo
echo "cores: $(nproc)"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # idle OpenMP threads (BLIS, oneDNN) must not spin on the cores the others use
# oneDNN and BLIS thread through OpenMP, which reads its thread count from the environment at load time.
for threads in 2 1; do OMP_NUM_THREADS=$threads "$out/products" "$threads" "${ROUNDS:-5}"; done
