import KConvGraph
import Dispatch
import Foundation
import Synchronization

/// Engine-level parallelism. Matrix products run single-threaded inside oneDNN (BLAS.swift): its own
/// threads cost more than they save on the small products a forward pass is made of (one recurrent step,
/// one im2col block), so the engine splits work it knows to be independent instead — batch rows of an RNN,
/// the two directions of a Bidirectional, row blocks of a large GEMM.
///
/// Every split is over independent outputs (rows, directions), never over a reduction, and depends only on
/// the shapes and the number of cores, so results repeat from run to run. A product's kernel (and so the
/// order of a row's sum, to the last bit) may depend on how many rows its part has.
package enum Parallel {
    /// Parts work may be split into: the active processors, at most 8, unless `setWorkers` chose a count.
    package static var workers: Int { chosenWorkers.load(ordering: .relaxed) }

    private static let chosenWorkers = Atomic<Int>(max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)))

    /// Splits work into at most `count` parts from now on (`kconv bench --threads`); 1 runs every kernel on
    /// the calling thread. oneDNN adds no threads of its own (BLAS.swift), so this is the engine's whole count.
    package static func setWorkers(_ count: Int) { chosenWorkers.store(max(1, count), ordering: .relaxed) }

    /// Multiply-adds below which a part is not worth a thread hand-off (a few microseconds): smaller
    /// work runs on the calling thread.
    package static let minimumWorkPerPart = 1 << 18

    /// How many parts `work` multiply-adds over `rows` independent rows should be split into: 1 unless
    /// each part gets at least `minimumWork`.
    package static func parts(work: Int, rows: Int, minimumWork: Int = minimumWorkPerPart) -> Int {
        max(1, min(workers, rows, work / minimumWork))
    }

    /// `(0 ..< count).map(body)` with the calls run concurrently; the first error thrown (by index) is
    /// rethrown after all calls finish.
    package static func map<T: Sendable, E: Error>(_ count: Int, _ body: @Sendable (Int) throws(E) -> T) throws(E) -> [T] {
        guard count > 1 else { return try (0 ..< count).map(body) }
        let results = Mutex<[Int: Result<T, E>]>([:])
        forEach(count) { index in
            let result = Result { () throws(E) -> T in try body(index) }
            results.withLock { $0[index] = result }
        }
        let stored = results.withLock { $0 }
        return try (0 ..< count).map { index throws(E) -> T in try stored[index]!.get() }
    }

    /// `body(0)`, ..., `body(count − 1)` run concurrently, on the engine's waiting workers (WorkerPool) or,
    /// when they are in use, on Dispatch's; a single call runs on the calling thread, without waking a worker.
    package static func forEach(_ count: Int, _ body: @Sendable (Int) -> Void) {
        if count == 1 { return body(0) }
        guard !WorkerPool.shared.run(count, body) else { return }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }

    /// Whether the engine's worker threads are free for a new split: false while a split's parts are running,
    /// whose own splits would go to Dispatch, whose thread wake-ups cost more than small parts save.
    package static var workersAreFree: Bool { WorkerPool.shared.isFree }

    /// `rows` split into `parts` contiguous ranges of near-equal size, in order.
    package static func split(_ rows: Int, into parts: Int) -> [Range<Int>] {
        (0 ..< parts).map { part in rows * part / parts ..< rows * (part + 1) / parts }
    }
}
