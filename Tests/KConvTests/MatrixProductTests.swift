import Foundation
import Testing
@testable import KConvEngine
@testable import KConv

/// The engine's matrix products (BLAS.gemm: oneDNN's sgemm, and NativeKernels' row product for one row)
/// against the naive sum, on sizes that are no multiple of any kernel's tile, with transposed operands,
/// offsets, row strides, accumulation and splits across cores.
@Suite struct MatrixProductTests {
    struct Shape: CustomStringConvertible, Sendable {
        var m, n, k: Int
        var transposeA = false, transposeB = false
        var description: String { "\(m)×\(k)·\(k)×\(n)\(transposeA ? " aᵀ" : "")\(transposeB ? " bᵀ" : "")" }
    }

    static let shapes: [Shape] = [
        // One row (NativeKernels for whole vectors of columns, oneDNN otherwise) and a recurrent step.
        Shape(m: 1, n: 16, k: 1), Shape(m: 1, n: 48, k: 7), Shape(m: 1, n: 272, k: 33), Shape(m: 1, n: 10, k: 5),
        Shape(m: 1, n: 32, k: 0), Shape(m: 3, n: 48, k: 9), Shape(m: 32, n: 512, k: 128),
        // Odd sizes, transposed operands, and rows enough to split across cores.
        Shape(m: 37, n: 45, k: 61), Shape(m: 13, n: 33, k: 129, transposeA: true),
        Shape(m: 29, n: 17, k: 70, transposeB: true), Shape(m: 7, n: 31, k: 3, transposeA: true, transposeB: true),
        Shape(m: 257, n: 45, k: 61), Shape(m: 301, n: 67, k: 39, transposeA: true, transposeB: true),
    ]

    /// Each shape with and without accumulating, inside larger operands (offsets and row strides): every
    /// value within float rounding of the sum in doubles, nothing written outside `c`'s rows.
    @Test(arguments: shapes)
    func productsMatchNaive(_ shape: Shape) throws {
        var random = SplitMix64(seed: UInt64(shape.m * 1_000_003 + shape.n * 1009 + shape.k))
        let (m, n, k) = (shape.m, shape.n, shape.k)
        let (aRows, aCols) = shape.transposeA ? (k, m) : (m, k)
        let (bRows, bCols) = shape.transposeB ? (n, k) : (k, n)
        let lda = aCols + 3, ldb = bCols + 5, ldc = n + 1, aOffset = 2, bOffset = 3, cOffset = 1
        let a = random.values(aOffset + max(aRows, 1) * lda), b = random.values(bOffset + max(bRows, 1) * ldb)
        func aValue(_ row: Int, _ i: Int) -> Double { Double(a[aOffset + (shape.transposeA ? i * lda + row : row * lda + i)]) }
        func bValue(_ i: Int, _ column: Int) -> Double { Double(b[bOffset + (shape.transposeB ? column * ldb + i : i * ldb + column)]) }
        for accumulate in [false, true] {
            let start = random.values(cOffset + m * ldc)
            var c = start
            BLAS.gemm(m: m, n: n, k: k, a: a, aOffset: aOffset, lda: lda, transposeA: shape.transposeA,
                      b: b, bOffset: bOffset, ldb: ldb, transposeB: shape.transposeB,
                      c: &c, cOffset: cOffset, ldc: ldc, beta: accumulate ? 1 : 0)
            var worst = 0.0
            for row in 0 ..< m {
                for column in 0 ..< n {
                    var want = accumulate ? Double(start[cOffset + row * ldc + column]) : 0
                    for i in 0 ..< k { want += aValue(row, i) * bValue(i, column) }
                    worst = max(worst, abs(Double(c[cOffset + row * ldc + column]) - want) / max(1, abs(want)))
                }
            }
            #expect(worst <= 1e-5, "\(shape) accumulate \(accumulate): relative error \(worst)")
            let untouched = (0 ..< c.count).filter { index in
                index < cOffset || (index - cOffset) % ldc >= n || index >= cOffset + m * ldc
            }
            #expect(untouched.allSatisfy { c[$0] == start[$0] }, "\(shape) wrote outside c's rows")
        }
    }

    /// The row product (NativeKernels) at every instruction-set level this machine runs.
    @Test func rowProductAtEveryLevel() throws {
        for level in 0 ... NativeKernels.cpuLevel {
            try NativeKernels.withCPULevel(level) {
                #expect(NativeKernels.cpuLevel == level)
                for shape in Self.shapes where shape.m == 1 { try productsMatchNaive(shape) }
            }
        }
    }

    /// oneDNN picks its kernels once per process, from cpuid, capped by its DNNL_MAX_CPU_ISA variable: each
    /// instruction set this machine runs is forced in a process of its own, which reports it (`kconv bench
    /// --json`) and verifies a model whose products run on it against Keras's outputs (a Bidirectional LSTM
    /// under TimeDistributed Dense: input projections, recurrent steps at batch > 1, a batched Dense).
    @Test func oneDNNVerifiesAtEveryInstructionSet() throws {
        let folder = Fixtures.cases.appendingPathComponent("seed_bidir_lstm_td_dense")
        let model = folder.appendingPathComponent("keras2.h5").path
        let levels = [("SSE41", "SSE4.1", 0), ("AVX2", "AVX2", 1), ("AVX512_CORE", "AVX-512", 2)]
        for (isa, name, level) in levels where level <= NativeKernels.cpuLevel {
            let environment = ["DNNL_MAX_CPU_ISA": isa]
            let bench = try CommandLineTests.run(["bench", model, "--json", "--runs", "1", "--warmup", "0", "--batch", "3"], environment: environment)
            #expect(bench.status == 0, "\(isa): \(bench.stderr)")
            #expect(bench.stdout.contains("\"oneDNN ") && bench.stdout.contains(" \(name)\""), "\(isa): \(bench.stdout)")
            let verify = try CommandLineTests.run(["verify", model, "--reference", folder.appendingPathComponent("keras2.ref.npz").path],
                                                  environment: environment)
            #expect(verify.status == 0, "\(isa): \(verify.stdout)\(verify.stderr)")
        }
    }
}
