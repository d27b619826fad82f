import KConvGraph
import KConvIO
import KConvKeras

/// A Keras model read from a file, of any format and Keras generation kconv reads: a full-model `.h5`
/// (Keras 1, 2 or 3), a `.keras` archive, a JSON config with its weights file, or a TensorFlow.js
/// `model.json` (or its folder).
///
/// Loading reads the structure and the weights' shapes only; nothing in the file is executed, and weight
/// values are read when the model first runs or is converted. Errors thrown by its methods describe
/// themselves as `kconv inspect` and `kconv convert` report them: the file, then the layer and the field at
/// fault. The library does not isolate libhdf5 as the command line does: a program reading untrusted `.h5`
/// files should run this in a process of its own.
public final class LoadedModel {
    package let source: KerasModel

    /// Reads the model at `path`; `weights` names the weights file that goes with a JSON config.
    public convenience init(contentsOf path: String, weights: String? = nil) throws {
        self.init(try KerasModel.load(path, weights: weights))
    }

    package init(_ source: KerasModel) {
        self.source = source
    }

    // MARK: Inspecting

    /// One tensor a model reads or gives.
    public struct TensorSpec: Sendable {
        /// The input layer's name, or the name of the layer giving the output.
        public var name: String
        /// Batch first; nil for a dimension any size may take (`None` in Keras), the whole shape nil when
        /// kconv cannot tell it (after a layer it cannot compute, where the file records nothing).
        public var shape: [Int?]?
        /// The Keras dtype name (`float32`, `int32`, ...).
        public var dtype: String
    }

    /// One layer, as `kconv inspect` and Keras's `model.summary()` list it.
    public struct LayerSummary: Sendable {
        public var name: String
        /// The Keras class (`Conv2D`).
        public var className: String
        /// The class name the file gave, where kconv reads it as `className` (Keras 1's `Convolution2D`).
        public var fileClassName: String?
        /// The shapes of each call's outputs: one list per call of the layer, one shape per output (nil where
        /// it cannot be told).
        public var outputShapes: [[[Int?]?]]
        public var parameterCount: Int
        public var trainableParameterCount: Int
        /// Why kconv cannot compute the layer (a Lambda's Python code, a class it does not implement), or nil.
        public var unsupportedReason: String?
        /// The layers it holds: a wrapper's inner layer, a nested model's layers.
        public var sublayers: [LayerSummary]
    }

    /// The path the model was read from.
    public var path: String { source.path }
    /// The container, as `kconv inspect` names it (`Keras HDF5 (.h5)`).
    public var format: String { source.format.rawValue }
    /// The Keras version that wrote the file, when it says.
    public var kerasVersion: String? { source.kerasVersion }
    public var name: String { source.model.name }
    public var inputs: [TensorSpec] { summary.inputs.map(Self.spec) }
    public var outputs: [TensorSpec] { summary.outputs.map(Self.spec) }
    /// The layers in the order Keras lists them (Keras 3's operation nodes included, as its summary shows them).
    public var layers: [LayerSummary] { summary.rows.map(Self.layer) }
    public var parameterCount: Int { summary.totalParams }
    public var trainableParameterCount: Int { summary.trainableParams }
    /// What `kconv inspect` prints.
    public var summaryText: String { summary.text }
    /// What `kconv inspect --json` prints.
    public var summaryJSON: String { summary.json.serialized(pretty: true) }

    private var summary: ModelSummary { ModelSummary(source) }

    private static func spec(_ tensor: ModelSummary.Tensor) -> TensorSpec {
        TensorSpec(name: tensor.name, shape: tensor.shape, dtype: tensor.dtype)
    }

    private static func layer(_ row: ModelSummary.Row) -> LayerSummary {
        LayerSummary(name: row.name, className: row.className, fileClassName: row.fileClassName, outputShapes: row.outputShapes,
                     parameterCount: row.params, trainableParameterCount: row.trainableParams,
                     unsupportedReason: row.unsupportedReason, sublayers: row.children.map(layer))
    }

    // MARK: Running

    /// Seeded inputs drawn from the model's input spec, as `kconv run --random` draws them: uniform values
    /// in [-1, 1), integer token ids within an Embedding's vocabulary; `length` stands for dimensions any
    /// size may take.
    public func randomInputs(batch: Int = 2, length: Int = 7, seed: UInt64 = 42) -> [ModelArray] {
        InputGenerator(batch: batch, unknownLength: length, seed: seed).arrays(for: source.model).map(ModelArray.init)
    }

    /// Runs the model in kconv's engine on `inputs` (one per model input, in input order, batch first) and
    /// gives its outputs in the dtypes Keras gives them. Integer inputs feeding integer input layers (token
    /// ids) stay exact; floating-point values compute in float32.
    public func predict(_ inputs: [ModelArray]) throws -> [ModelArray] {
        try locating(file: source.path) { try source.model.predictArrays(inputs.map(\.numpy)).map(ModelArray.init) }
    }

    // MARK: Converting and verifying

    /// Writes the model at `path` in `options.format`, staged beside it, read back and checked (weights bit for
    /// bit, outputs on seeded inputs) before it is put in place; a failure leaves no file changed.
    public func convert(to path: String, options: ConversionOptions) throws -> ConversionReport {
        try ModelConverter.convert(source, to: path, options: options)
    }

    /// Runs the model on a reference's inputs and compares its outputs with the reference's: a `.npz` holding
    /// `in_0`, `in_1`, ... (or the input layers' names) and `out_0`, ..., as `Scripts/keras_reference.py`
    /// writes from real Keras (with `--layers`, per-layer outputs too, which locate the first divergence).
    public func verify(reference path: String, atol: Float = 1e-5, rtol: Float = 1e-4) throws -> VerificationReport {
        let reference = try NumPy.readNPZ(path)
        return try locating(file: source.path) { try Verifier.verify(source.model, reference: reference, atol: atol, rtol: rtol) }
    }

    /// Runs this model and `other` on the same seeded inputs (drawn from this model's input spec) and compares
    /// their outputs: how a conversion is checked.
    public func compare(with other: LoadedModel, batch: Int = 2, seed: UInt64 = 42, atol: Float = 1e-5, rtol: Float = 1e-4) throws -> VerificationReport {
        try Verifier.compare(source.model, against: other.source.model, inputs: InputGenerator(batch: batch, seed: seed), atol: atol, rtol: rtol)
    }
}

/// An array a model reads or gives: its shape (batch first) and its values in C order, as float32 and, for
/// integer and bool arrays, also exactly.
public struct ModelArray: Equatable, Sendable {
    package var numpy: NumPyArray

    package init(_ numpy: NumPyArray) {
        self.numpy = numpy
    }

    /// A float32 array; `values` must fill `shape`.
    public init(shape: [Int], values: [Float]) throws {
        try Self.checkCount(values.count, shape)
        numpy = NumPyArray(shape: shape, values: values)
    }

    /// An int64 array (token ids, say); `values` must fill `shape`.
    public init(shape: [Int], integers: [Int64]) throws {
        try Self.checkCount(integers.count, shape)
        numpy = NumPyArray(shape: shape, dtype: .int64, values: integers.map(Float.init), integers: integers)
    }

    public var shape: [Int] { numpy.shape }
    /// NumPy's name of the element type: `float32`, `int64`, `bool`, ...
    public var dtype: String { "\(numpy.dtype)" }
    /// The values as float32 (integers beyond 2^24 rounded).
    public var values: [Float] { numpy.values }
    /// The exact values of an integer or bool array (bool as 0 and 1); nil for floating-point arrays.
    public var integers: [Int64]? { numpy.integers }

    /// The arrays of a NumPy `.npz` file, by name.
    public static func readNPZ(_ path: String) throws -> [(name: String, array: ModelArray)] {
        try NumPy.readNPZ(path).map { ($0.name, ModelArray($0.array)) }
    }

    /// Writes `arrays` as a NumPy `.npz` file, replacing one at `path`.
    public static func writeNPZ(_ arrays: [(name: String, array: ModelArray)], to path: String) throws {
        try NumPy.writeNPZ(arrays.map { ($0.name, $0.array.numpy) }, to: path)
    }

    private static func checkCount(_ count: Int, _ shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), checkedElementCount(shape) == count else {
            throw EngineError("\(count) values do not fill shape \(shape)")
        }
    }
}
