import Dispatch
import Synchronization
import Testing
@testable import KConvEngine

/// `Parallel.forEach` and `map` on the engine's waiting workers (WorkerPool): every part runs exactly once and
/// its results are seen by the caller, also when several threads call at once (all but one fall back to
/// Dispatch), when a part splits its own work, and for more parts than there are workers.
@Suite struct ParallelTests {
    @Test func everyPartRunsOnceFromConcurrentAndNestedCalls() {
        let callers = 6, parts = 37, inner = 5
        let counts = Mutex([Int](repeating: 0, count: callers * parts * inner))
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for _ in 0 ..< 20 {
                Parallel.forEach(parts) { part in
                    Parallel.forEach(inner) { index in
                        counts.withLock { $0[(caller * parts + part) * inner + index] += 1 }
                    }
                }
            }
        }
        #expect(counts.withLock { $0 } == [Int](repeating: 20, count: callers * parts * inner))
    }

    @Test func mapReturnsEachPartsResultInOrder() {
        for count in [1, 2, 3, 64] {
            let squares = Parallel.map(count) { $0 * $0 }
            #expect(squares == (0 ..< count).map { $0 * $0 })
        }
    }
}
