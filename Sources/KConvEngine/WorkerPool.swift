import Dispatch
import Foundation
import Synchronization

/// The engine's own worker threads, kept waiting between calls so that handing out the parts of a kernel
/// costs a store and a load, not a futex wake-up and a context switch (DispatchQueue.concurrentPerform: a
/// fifth of a MobileNetV2 forward pass went to waking its threads, which a kernel call does ~100 times).
///
/// Each worker has a mailbox. A call writes its body and part count, posts to as many workers as it has
/// parts beyond its own, and claims parts from a shared counter itself; a worker that finds its mailbox
/// posted marks it running, claims parts the same way and marks it done. When the parts run out, the caller
/// takes back every post not yet picked up (so a worker descheduled on a busy machine holds nobody up) and
/// waits for the running ones only: no worker reads the call's body after the call returns.
///
/// After its last part a worker spins on its mailbox for `spinTime`, then sleeps on a semaphore until posted.
/// One call at a time: a call that finds the pool in use (another thread's call, or a part that splits its
/// own work) is refused, and `Parallel` runs it on Dispatch instead.
final class WorkerPool: @unchecked Sendable {
    // @unchecked: `body` and `parts` are written only by the call holding `inUse`, before it posts to any
    // mailbox (a releasing store the workers acquire) and after every worker it posted to is done or
    // revoked; everything else is atomic or locked.
    private final class Worker: Sendable {
        let mailbox = Atomic<Int>(WorkerPool.idle)
        let sleeping = Mutex(false)
        let wake = DispatchSemaphore(value: 0)
    }

    private static let idle = 0, posted = 1, running = 2, done = 3

    /// How long a worker keeps spinning for its next job before it sleeps: longer than the gaps between the
    /// kernels of one forward pass, short enough not to hold a core once the engine is idle.
    static let spinTime = Duration.microseconds(2000)

    /// One thread fewer than the cores (the caller is the other), at most 7.
    static let shared = WorkerPool(threads: max(0, min(ProcessInfo.processInfo.activeProcessorCount, 8) - 1))

    private let workers: [Worker]
    private let inUse = Atomic<Bool>(false)
    private let nextPart = Atomic<Int>(0)
    private var body: (@Sendable (Int) -> Void)?
    private var parts = 0

    private init(threads: Int) {
        workers = (0 ..< threads).map { _ in Worker() }
        for worker in workers {
            let thread = Thread { [unowned self] in serve(worker) }
            thread.name = "kconv worker"
            thread.start()
        }
    }

    /// Whether a call now would run on the workers (they exist and no call is running).
    var isFree: Bool { !workers.isEmpty && !inUse.load(ordering: .relaxed) }

    /// Runs `body(0)` … `body(count − 1)` on the calling thread and up to `count − 1` workers; false, having
    /// run nothing, when the pool is in use or has no workers.
    func run(_ count: Int, _ body: @Sendable (Int) -> Void) -> Bool {
        guard !workers.isEmpty, inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { inUse.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            parts = count
            nextPart.store(0, ordering: .relaxed)
            let helpers = workers.prefix(count - 1)
            for worker in helpers {
                worker.mailbox.store(Self.posted, ordering: .releasing)
                let asleep = worker.sleeping.withLock { sleeping in
                    defer { sleeping = false }
                    return sleeping
                }
                if asleep { worker.wake.signal() }
            }
            claimParts()
            for worker in helpers {
                if worker.mailbox.compareExchange(expected: Self.posted, desired: Self.idle, ordering: .relaxed).exchanged { continue }
                var spins = 0
                while worker.mailbox.load(ordering: .acquiring) != Self.done {
                    spins += 1
                    if spins % 4096 == 0 { sched_yield() } else { NativeKernels.spinPause() }
                }
                worker.mailbox.store(Self.idle, ordering: .relaxed)
            }
            self.body = nil
        }
        return true
    }

    /// Runs parts of the current call until none is left.
    private func claimParts() {
        guard let body else { return }
        while case let part = nextPart.wrappingAdd(1, ordering: .relaxed).oldValue, part < parts {
            body(part)
        }
    }

    /// A worker's loop: wait for a post (spinning, then asleep), run parts, report done.
    private func serve(_ worker: Worker) {
        while true {
            var deadline = ContinuousClock.now + Self.spinTime
            var spins = 0
            while worker.mailbox.load(ordering: .relaxed) != Self.posted {
                spins += 1
                NativeKernels.spinPause()
                guard spins % 256 == 0, ContinuousClock.now > deadline else { continue }
                // Sleep unless posted meanwhile: a call posts before it looks at `sleeping`, under the same lock.
                let sleep = worker.sleeping.withLock { sleeping in
                    sleeping = worker.mailbox.load(ordering: .relaxed) != Self.posted
                    return sleeping
                }
                if sleep { worker.wake.wait() }
                deadline = ContinuousClock.now + Self.spinTime
            }
            guard worker.mailbox.compareExchange(expected: Self.posted, desired: Self.running, ordering: .acquiring).exchanged else { continue }
            claimParts()
            worker.mailbox.store(Self.done, ordering: .releasing)
        }
    }
}
