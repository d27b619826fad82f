import ArgumentParser
import KConv
import KConvIO
import KConvKeras
import KConvGraph

/// The model arguments every subcommand shares.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a .h5 file, a .keras archive, a JSON config (model.to_json()), or a TensorFlow.js model.json (or its directory).")
    var model: String

    @Option(help: "A weights file for a JSON config: a save_weights .h5 or a Keras 3 .weights.h5.")
    var weights: String?

    @Option(help: ArgumentHelp("The most memory one buffer whose size the file declares may take (bytes, or with K, M or G).",
                               valueName: "bytes"))
    var maxMemory: String?

    /// Sets the memory budget every reader and the engine use, for the whole command.
    func validate() throws {
        guard let maxMemory else { return }
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let unit = maxMemory.last.flatMap { units[Character($0.uppercased())] }
        guard let number = Int(unit == nil ? maxMemory : String(maxMemory.dropLast())), number > 0,
              case let (bytes, overflow) = number.multipliedReportingOverflow(by: unit ?? 1), !overflow else {
            throw ValidationError("--max-memory: expected a positive number of bytes, optionally with K, M or G, found '\(maxMemory)'")
        }
        MemoryBudget.current = MemoryBudget(bytes: bytes)
    }

    func load() throws -> KerasModel { try KerasModel.load(model, weights: weights) }

    /// Loads the model and reads its weights, ready to run; a model kconv cannot run is refused naming the file.
    func loadForInference() throws -> Model {
        let loaded = try load().model
        try locating(file: model) { try loaded.prepareForInference() }
        return loaded
    }
}
