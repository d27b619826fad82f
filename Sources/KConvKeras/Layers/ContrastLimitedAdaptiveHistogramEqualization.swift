import KConvGraph
import KConvIO

/// Keras 3's `ContrastLimitedAdaptiveHistogramEqualization(value_range, clip_limit, tile_grid_size,
/// data_format)` (keras 3.15 `image_preprocessing/clahe.py`), which unlike the random augmentations computes
/// at inference too: see `HistogramEqualizationOp`. A channels_first batch is equalized as channels_last
/// and turned back, as Keras does. The mask stops, as the layer does not support masking.
package final class ContrastLimitedAdaptiveHistogramEqualization: Layer {
    package override class var kerasClassNames: [String] { ["ContrastLimitedAdaptiveHistogramEqualization"] }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no ContrastLimitedAdaptiveHistogramEqualization"] }
    package override class var examples: [LayerExample] {
        [LayerExample("ContrastLimitedAdaptiveHistogramEqualization", ["tile_grid_size": [2, 2]], inputs: [[4, 6, 3]])]
    }
    package let operation: HistogramEqualizationOp
    package let channelsFirst: Bool
    private static let largestGrid = 1 << 24

    package required init(_ context: LayerContext) throws {
        let config = context.config
        let range = try config.valueRange()
        let grid = try config.positiveInts("tile_grid_size", count: 2, default: [8, 8])
        // More tiles than any image axis has pixels cannot run; the bound keeps the tile arithmetic from overflowing.
        guard grid.allSatisfy({ $0 <= Self.largestGrid }) else {
            throw config.error("tile_grid_size", expected: "at most \(Self.largestGrid) tiles per axis", found: config.object["tile_grid_size"])
        }
        let clipLimit = try config.double("clip_limit", default: 4)
        operation = HistogramEqualizationOp(low: Float(range.low), high: Float(range.high), clipLimit: clipLimit > 0 ? clipLimit : nil,
                                            gridHeight: grid[0], gridWidth: grid[1])
        channelsFirst = try config.channelsFirst()
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] { try imageBatchShape(inputShapes) }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        guard channelsFirst else { return lowerUnmasked(.histogramEqualization(operation), input, call, into: &graph) }
        let type = { (shape: [Dim]?) in [ValueType(dtype: .float32, shape: shape)] }
        let shape = call.outputShapes?.first?.dims
        let last = graph.add(.transpose([0, 2, 3, 1]), inputs: [input], outputs: type(shape.map { [$0[0], $0[2], $0[3], $0[1]] }), origin: label)[0]
        let equalized = graph.add(.histogramEqualization(operation), inputs: [last], outputs: [graph.type(of: last)], origin: label)[0]
        return [LoweredTensor(value: graph.add(.transpose([0, 3, 1, 2]), inputs: [equalized], outputs: type(shape), origin: label)[0], mask: nil)]
    }
}
