import KConvGraph
import CBLAS

/// Matrix products through OpenBLAS: the only code that imports CBLAS. Operands are row-major `[Float]`
/// arrays with element offsets, so callers stay in safe Swift; bounds are checked here once per call.
///
/// OpenBLAS itself runs single-threaded: its thread pool made the small products of a forward pass
/// slower (hand-off and spin-wait cost more than the product), and the engine parallelises at a coarser
/// grain instead (Parallel.swift). A large product is split here by rows of `c` (`splitRows`).
///
/// A product of one row (a recurrent step or a Dense layer at batch 1) runs on NativeKernels instead:
/// OpenBLAS's small-matrix path reads `b` at well below what the cache delivers (about 25% slower).
package enum BLAS {
    /// Set once, before the first product.
    private static let singleThreaded: Void = openblas_set_num_threads(1)

    /// The library and the kernels it chose for this CPU: `OpenBLAS Prescott` where it does not know the CPU.
    package static var library: String {
        guard let core = openblas_get_corename() else { return "OpenBLAS" }
        return "OpenBLAS " + String(cString: core)
    }

    /// `c[cOffset...] = alpha · op(a) · op(b) + beta · c`, with `op(a)` m×k, `op(b)` k×n, `c` m×n, row-major.
    /// `lda`/`ldb`/`ldc` are row strides (defaults: dense rows).
    package static func gemm(
        m: Int, n: Int, k: Int,
        a: [Float], aOffset: Int = 0, lda: Int? = nil, transposeA: Bool = false,
        b: [Float], bOffset: Int = 0, ldb: Int? = nil, transposeB: Bool = false,
        c: inout [Float], cOffset: Int = 0, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0, splitRows: Bool = true
    ) {
        guard m > 0, n > 0 else { return }
        if m == 1, !transposeA, !transposeB, alpha == 1, beta == 0 || beta == 1, n % NativeKernels.vectorLanes == 0 {
            return NativeKernels.rowProduct(into: &c, at: cOffset, row: a, at: aOffset, times: b, at: bOffset, ldb: ldb ?? n,
                                            n: n, k: k, accumulate: beta == 1)
        }
        _ = singleThreaded
        let lda = lda ?? (transposeA ? m : k)
        let ldb = ldb ?? (transposeB ? k : n)
        let ldc = ldc ?? n
        let aRows = transposeA ? k : m, aCols = transposeA ? m : k
        let bRows = transposeB ? n : k, bCols = transposeB ? k : n
        precondition(k == 0 || aOffset + (aRows - 1) * lda + aCols <= a.count, "gemm: a is too small")
        precondition(k == 0 || bOffset + (bRows - 1) * ldb + bCols <= b.count, "gemm: b is too small")
        precondition(cOffset + (m - 1) * ldc + n <= c.count, "gemm: c is too small")
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    // The parts read `a` and `b` and write disjoint rows of `c`, all borrowed for this call.
                    nonisolated(unsafe) let a = a.baseAddress.map { $0 + aOffset }
                    nonisolated(unsafe) let b = b.baseAddress.map { $0 + bOffset }
                    nonisolated(unsafe) let c = c.baseAddress.map { $0 + cOffset }
                    // Rows of `c` are independent: each part computes its rows exactly as one call would.
                    let parts = splitRows ? Parallel.parts(work: m * n * k, rows: m) : 1
                    Parallel.forEach(parts) { part in
                        let first = m * part / parts, rows = m * (part + 1) / parts - first
                        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                                    Int32(rows), Int32(n), Int32(k), alpha,
                                    a.map { $0 + (transposeA ? first : first * lda) }, Int32(lda),
                                    b, Int32(ldb), beta,
                                    c.map { $0 + first * ldc }, Int32(ldc))
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
    /// Applied once, on the first forward pass. A no-op outside Linux (glibc). Lives here because mallopt comes through the CBLAS shim.
    package static let reuseFreedBuffers: Void = {
        #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)  // glibc's largest: buffers up to 32 MB come from the heap
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)  // keep up to 1 GB of freed heap instead of trimming it
        _ = mallopt(M_TOP_PAD, 64 << 20)  // grow the heap in 64 MB steps
        #endif
    }()
}
