import ArgumentParser
import Foundation
import KConv
import KConvEngine
import KConvIO
import KConvKeras

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a model's forward pass on generated inputs: median latency per batch and samples/s.",
        discussion: """
        Warm-up runs, then timed runs; each phase stops after its number of runs or after --seconds, whichever \
        comes first (always at least one run), so a slow model is measured in bounded time. On a terminal, a \
        progress line on stderr shows the runs so far.
        """
    )

    @OptionGroup var model: ModelOptions

    @OptionGroup var threads: ThreadOptions

    @Option(help: "Samples per batch.")
    var batch = 1

    @Option(help: "Length given to unknown (None) sequence dimensions.")
    var length = 7

    @Option(help: "Timed runs at most.")
    var runs = 200

    @Option(help: "Warm-up runs (not timed) at most.")
    var warmup = 20

    @Option(help: "Seconds each phase (warm-up, timed runs) may take at most.")
    var seconds = 3.0

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        try requirePositive(["--batch": batch, "--length": length, "--runs": runs])
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0, found \(warmup)") }
        guard seconds.isFinite, seconds > 0 else { throw ValidationError("--seconds must be a positive number, found \(seconds)") }
    }

    func run() throws {
        try withCleanErrors(file: model.model) {
            let loaded = try model.loadForInference()
            let inputs = InputGenerator(batch: batch, unknownLength: length).arrays(for: loaded)
            let progress = Progress(label: model.model)
            if warmup > 0 {
                _ = try timedRuns(upTo: warmup) { done in progress.show("warm-up \(done)/\(warmup)") ; _ = try loaded.predict(arrays: inputs) }
            }
            var timings = try timedRuns(upTo: runs) { done in progress.show("run \(done)/\(runs)"); _ = try loaded.predict(arrays: inputs) }
            progress.clear()
            timings.sort()
            let median = timings[timings.count / 2]
            // The spread: the fastest run and the 90th percentile.
            let fastest = timings[0], slow = timings[min(timings.count - 1, timings.count * 9 / 10)]
            let kernels = "\(NativeKernels.instructionSet) kernels, \(BLAS.library), \(Parallel.workers) threads"
            if json {
                let object: JSONValue = [
                    "model": .string(model.model), "batch": .int(Int64(batch)), "runs": .int(Int64(timings.count)),
                    "median_ms": .double(median * 1000), "min_ms": .double(fastest * 1000), "p90_ms": .double(slow * 1000),
                    "samples_per_s": .double(Double(batch) / median), "instruction_set": .string(NativeKernels.instructionSet),
                    "blas": .string(BLAS.library), "threads": .int(Int64(Parallel.workers)),
                ]
                print(object.serialized())
            } else {
                print(String(format: "%@: batch %d, median %.4f ms per batch (fastest %.4f, 90th percentile %.4f), %.0f samples/s (%d runs; %@)",
                             model.model, batch, median * 1000, fastest * 1000, slow * 1000, Double(batch) / median, timings.count, kernels))
            }
        }
    }

    /// Runs `body` up to `limit` times, stopping once `seconds` have passed (after at least one run), and
    /// returns each run's duration in seconds.
    private func timedRuns(upTo limit: Int, _ body: (Int) throws -> Void) throws -> [Double] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(seconds))
        var timings: [Double] = []
        while timings.count < limit, timings.isEmpty || clock.now < deadline {
            let elapsed = try clock.measure { try body(timings.count) }
            timings.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return timings
    }
}

/// One line on stderr rewritten in place, shown only when stderr is a terminal (never in a pipe or a log).
struct Progress {
    let label: String
    /// The user's terminal, also from the worker process whose standard error is a pipe.
    private let terminal = WorkerProcess.progressDescriptor.map { FileHandle(fileDescriptor: $0, closeOnDealloc: false) }

    init(label: String) { self.label = label }

    func show(_ state: String) {
        terminal?.write(Data("\r\u{1B}[K\(terminalSafe(label)): \(state)".utf8))
    }

    func clear() {
        terminal?.write(Data("\r\u{1B}[K".utf8))
    }
}
