import ArgumentParser
import KConv
import KConvKeras
import KConvGraph

/// The model arguments every subcommand shares.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a .h5 file, a .keras archive, a JSON config (model.to_json()), or a TensorFlow.js model.json (or its directory).")
    var model: String

    @Option(help: "A weights file for a JSON config: a save_weights .h5 or a Keras 3 .weights.h5.")
    var weights: String?

    func load() throws -> KerasModel { try KerasModel.load(model, weights: weights) }

    /// Loads the model and reads its weights, ready to run; a model kconv cannot run is refused naming the file.
    func loadForInference() throws -> Model {
        let loaded = try load().model
        try locating(file: model) { try loaded.prepareForInference() }
        return loaded
    }
}
