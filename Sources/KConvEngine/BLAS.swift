import KConvGraph
import CDNNL

/// Matrix products through oneDNN's `dnnl_sgemm`: the only code that imports CDNNL. Operands are row-major
/// `[Float]` arrays with element offsets, so callers stay in safe Swift; bounds are checked here once per call.
///
/// oneDNN picks its kernels from the CPU's features (cpuid: SSE4.1, AVX2, AVX-512 …), never from a table of
/// CPU models, and needs no environment variable: on an Intel VM with AVX-512, which Debian's OpenBLAS
/// 0.3.21 did not know and ran with its SSE3 (Prescott) kernels, it is 4–10× faster than that OpenBLAS and
/// 2–7× faster than BLIS or a register-tiled kernel of kconv's own on the recurrent and Dense shapes
/// (README, Speed; Benchmarks/products).
///
/// Each call runs on its calling thread (oneDNN's OpenMP team is set to one thread there): the engine splits
/// large products by rows of `c` across cores itself (`splitRows`), and runs independent work (the two
/// directions of a Bidirectional, the batch rows of a recurrence) concurrently, which an OpenMP team of its
/// own would contend with.
///
/// A product of one row (a recurrent step or a Dense layer at batch 1) runs on NativeKernels instead.
package enum BLAS {
    /// The library and the instruction set its kernels use, as `kconv bench` reports it: `oneDNN 2.6.3 AVX-512`.
    package static var library: String {
        let version = dnnl_version().pointee
        let isa: String
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: isa = "SSE4.1"
        case dnnl_cpu_isa_avx: isa = "AVX"
        case dnnl_cpu_isa_avx2, dnnl_cpu_isa_avx2_vnni: isa = "AVX2"
        case dnnl_cpu_isa_avx512_core, dnnl_cpu_isa_avx512_core_vnni, dnnl_cpu_isa_avx512_core_bf16, dnnl_cpu_isa_avx512_core_amx:
            isa = "AVX-512"
        default: isa = "baseline"
        }
        return "oneDNN \(version.major).\(version.minor).\(version.patch) \(isa)"
    }

    /// `c[cOffset...] = op(a) · op(b) + beta · c`, with `op(a)` m×k, `op(b)` k×n, `c` m×n, row-major.
    /// `lda`/`ldb`/`ldc` are row strides (defaults: dense rows).
    package static func gemm(
        m: Int, n: Int, k: Int,
        a: [Float], aOffset: Int = 0, lda: Int? = nil, transposeA: Bool = false,
        b: [Float], bOffset: Int = 0, ldb: Int? = nil, transposeB: Bool = false,
        c: inout [Float], cOffset: Int = 0, ldc: Int? = nil,
        beta: Float = 0, splitRows: Bool = true
    ) {
        guard m > 0, n > 0 else { return }
        if m == 1, !transposeA, !transposeB, beta == 0 || beta == 1, n % NativeKernels.vectorLanes == 0 {
            return NativeKernels.rowProduct(into: &c, at: cOffset, row: a, at: aOffset, times: b, at: bOffset, ldb: ldb ?? n,
                                            n: n, k: k, accumulate: beta == 1)
        }
        if k == 0 {  // an empty sum: c = beta · c (oneDNN refuses the zero-width operands)
            precondition(cOffset + (m - 1) * (ldc ?? n) + n <= c.count, "gemm: c is too small")
            for row in 0 ..< m {
                let start = cOffset + row * (ldc ?? n)
                for index in start ..< start + n { c[index] = beta == 0 ? 0 : beta * c[index] }
            }
            return
        }
        let lda = lda ?? (transposeA ? m : k)
        let ldb = ldb ?? (transposeB ? k : n)
        let ldc = ldc ?? n
        let aRows = transposeA ? k : m, aCols = transposeA ? m : k
        let bRows = transposeB ? n : k, bCols = transposeB ? k : n
        precondition(lda >= max(1, aCols) && ldb >= max(1, bCols) && ldc >= n, "gemm: a row stride is shorter than its row")
        precondition(aOffset >= 0 && aOffset + (aRows - 1) * lda + aCols <= a.count, "gemm: a is too small")
        precondition(bOffset >= 0 && bOffset + (bRows - 1) * ldb + bCols <= b.count, "gemm: b is too small")
        precondition(cOffset + (m - 1) * ldc + n <= c.count, "gemm: c is too small")
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    // The parts read `a` and `b` and write disjoint rows of `c`, all borrowed for this call.
                    nonisolated(unsafe) let a = a.baseAddress.map { $0 + aOffset }
                    nonisolated(unsafe) let b = b.baseAddress.map { $0 + bOffset }
                    nonisolated(unsafe) let c = c.baseAddress.map { $0 + cOffset }
                    // Rows of `c` are independent: each part computes its rows as one call over them would.
                    let parts = splitRows ? Parallel.parts(work: m * n * k, rows: m) : 1
                    Parallel.forEach(parts) { part in
                        let first = m * part / parts, rows = m * (part + 1) / parts - first
                        omp_set_num_threads(1)  // this thread's setting: no OpenMP team behind the engine's threads
                        let status = dnnl_sgemm(CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")),
                                                Int64(rows), Int64(n), Int64(k), 1,
                                                a.map { $0 + (transposeA ? first : first * lda) }, Int64(lda),
                                                b, Int64(ldb), beta,
                                                c.map { $0 + first * ldc }, Int64(ldc))
                        // The arguments were checked above; oneDNN refuses only invalid ones.
                        precondition(status == dnnl_success, "dnnl_sgemm failed (status \(status.rawValue))")
                    }
                }
            }
        }
    }
}

/// Heap policy for forward passes. A pass allocates its activations afresh, and glibc by default hands
/// every freed buffer above its mmap threshold (128 KB, adapting up to 32 MB) straight back to the
/// kernel, so each pass page-faults and zero-fills its large buffers again: ~10k faults and ~18% of a
/// batch-32 pass of a 4-convolution CNN, measured. Serving large buffers from the heap, and keeping
/// freed memory there for the next pass, removes that; the price is that the process keeps its peak
/// heap (glibc still reuses it for any allocation).
package enum Memory {
    /// Applied once, on the first forward pass. A no-op outside Linux (glibc). Lives here because mallopt comes through the CDNNL shim.
    package static let reuseFreedBuffers: Void = {
        #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)  // glibc's largest: buffers up to 32 MB come from the heap
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)  // keep up to 1 GB of freed heap instead of trimming it
        _ = mallopt(M_TOP_PAD, 64 << 20)  // grow the heap in 64 MB steps
        #endif
    }()
}
