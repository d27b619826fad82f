import CBLAS

/// Matrix products through OpenBLAS: the only code that imports CBLAS. Operands are row-major `[Float]`
/// arrays with element offsets, so callers stay in safe Swift; bounds are checked here once per call.
enum BLAS {
    /// `c[cOffset...] = alpha · op(a) · op(b) + beta · c`, with `op(a)` m×k, `op(b)` k×n, `c` m×n, row-major.
    /// `lda`/`ldb`/`ldc` are row strides (defaults: dense rows).
    static func gemm(
        m: Int, n: Int, k: Int,
        a: [Float], aOffset: Int = 0, lda: Int? = nil, transposeA: Bool = false,
        b: [Float], bOffset: Int = 0, ldb: Int? = nil, transposeB: Bool = false,
        c: inout [Float], cOffset: Int = 0, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
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
                    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                                Int32(m), Int32(n), Int32(k), alpha,
                                a.baseAddress.map { $0 + aOffset }, Int32(lda),
                                b.baseAddress.map { $0 + bOffset }, Int32(ldb), beta,
                                c.baseAddress.map { $0 + cOffset }, Int32(ldc))
                }
            }
        }
    }
}
