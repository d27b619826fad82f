import ArgumentParser
import Foundation
import KConv
import KConvKeras

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a model's forward pass on generated inputs: median latency per batch and samples/s."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Samples per batch.")
    var batch = 1

    @Option(help: "Length given to unknown (None) sequence dimensions.")
    var length = 7

    @Option(help: "Timed runs after warm-up.")
    var runs = 200

    @Option(help: "Warm-up runs, not timed.")
    var warmup = 20

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        try withCleanErrors {
            let loaded = try model.loadForInference()
            let inputs = InputGenerator(batch: batch, unknownLength: length).inputs(for: loaded)
            for _ in 0..<warmup { _ = try loaded.predict(inputs) }
            var seconds: [Double] = []
            seconds.reserveCapacity(runs)
            let clock = ContinuousClock()
            for _ in 0..<max(runs, 1) {
                let elapsed = try clock.measure { _ = try loaded.predict(inputs) }
                seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            }
            seconds.sort()
            let median = seconds[seconds.count / 2]
            let milliseconds = median * 1000
            if json {
                print("{\"model\": \"\(model.model)\", \"batch\": \(batch), \"median_ms\": \(milliseconds), \"samples_per_s\": \(Double(batch) / median)}")
            } else {
                print(String(format: "%@: batch %d, median %.4f ms per batch, %.0f samples/s (%d runs)",
                             model.model, batch, milliseconds, Double(batch) / median, seconds.count))
            }
        }
    }
}
