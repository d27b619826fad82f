import KConvGraph
import KConvIO

/// tf-keras `LocallyConnected1D/2D`: a convolution whose weights differ at every output position.
///
/// tf-keras stores the weights in one of three layouts, by `implementation`: 1, a kernel per output
/// position `(outputs, kernel window · channels, filters)` (`backend.local_conv`, `valid` padding only); 2,
/// a dense kernel from every input element to every output element, zeroed outside each window by a mask it
/// recomputes (`local_conv_matmul`); 3, the connected entries only, in sorted `(output, input)` order
/// (`local_conv_sparse_matmul`). Whatever the layout, the layer is one linear map from the flattened input to
/// the flattened output, then the bias (added in the output's memory order: tf-keras reshapes a
/// channels_first bias without transposing it) and the activation: kconv computes it as that Dense, its
/// kernel built from the stored layout.
package final class LocallyConnected: Layer {
    package override class var kerasClassNames: [String] { ["LocallyConnected1D", "LocallyConnected2D"] }
    package override class var examples: [LayerExample] {
        kerasClassNames.map { ConvolutionBase.spatialExample($0, ["filters": 2, "kernel_size": 2]) }
    }
    package override class var absentIn: [KerasDialect: String] {
        [.keras3: "Keras 3 has no locally connected layers (tf-keras 2 was the last to have them)"]
    }
    package let rank: Int
    package let filters: Int
    package let kernelSize: [Int]
    package let strides: [Int]
    package let padding: String
    package let channelsFirst: Bool
    package let useBias: Bool
    package let activation: Activation
    package let implementation: Int

    package required init(_ context: LayerContext) throws {
        let config = context.config
        rank = ConvolutionBase.spatialRank(context.className)
        filters = try config.int("filters")
        kernelSize = try config.positiveInts("kernel_size", count: rank)
        strides = try config.positiveInts("strides", count: rank, default: Array(repeating: 1, count: rank))
        padding = try config.choice("padding", ["valid", "same"], default: "valid")
        channelsFirst = try config.channelsFirst()
        useBias = try config.bool("use_bias", default: true)
        activation = config.activation("activation", default: "linear", dialect: context.dialect)
        implementation = try config.int("implementation", default: 1)
        guard (1...3).contains(implementation) else {
            throw config.error("implementation", expected: "1, 2 or 3", found: config.object["implementation"])
        }
        if implementation == 1, padding != "valid" {
            throw config.error("padding", expected: "valid (tf-keras's implementation 1 has no other)", found: .string(padding))
        }
        guard filters > 0 else { throw config.error("filters", expected: "a positive number", found: .int(Int64(filters))) }
        try super.init(context)
    }

    override package var unsupportedReason: String? { activation.inPlaceUnsupportedReason }

    package override func affineArguments(of key: String) -> [WeightScaling]? { key == "activation" ? allWeightsScaled : nil }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let geometry = try Geometry(self, input: singleInput(inputShapes))
        let kernelShape: [Int] = switch implementation {
        case 1: [geometry.outputSpatial.product, kernelSize.product * geometry.channels, filters]
        case 2: channelsFirst ? [geometry.channels] + geometry.inputSpatial + [filters] + geometry.outputSpatial
                              : geometry.inputSpatial + [geometry.channels] + geometry.outputSpatial + [filters]
        default: [geometry.connectionCount]
        }
        var specs = [weight("kernel", kernelShape, index: 0)]
        if useBias { specs.append(weight("bias", geometry.outputSpatial + [filters], index: 1)) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        let geometry = try Geometry(self, input: input)
        let spatial = geometry.outputSpatial.map(Optional.some)
        return [channelsFirst ? [input[0], filters] + spatial : [input[0]] + spatial + [filters]]
    }

    /// The input flattened, the dense map, the result shaped as Keras's output; no mask flows on.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        guard let inputShape = builtInputShapes?.first, weights.count == weightSpecs.count else {
            throw EngineError("no weights loaded: give the weights file that goes with this config")
        }
        let geometry = try Geometry(self, input: inputShape)
        let (inputs, outputs) = (geometry.inputSpatial.product * geometry.channels, geometry.outputSpatial.product * filters)
        guard let count = checkedElementCount([inputs, outputs]), count <= largestTensor else {
            throw ModelError(layer: label, "its dense equivalent would hold \(inputs) × \(outputs) values, more than the \(largestTensor) kconv allows a tensor")
        }
        let kernel = weights[0]
        let dense = graph.constant(Constant(origin: label, name: "kernel", shape: [inputs, outputs]) { [self] in
            try denseKernel(geometry, stored: kernel.values())
        })
        let bias = useBias ? weights[1] : nil
        let biasValue = bias.map { bias in graph.constant(Constant(origin: label, name: "bias", shape: [outputs], read: bias.values)) }
        let batch = graph.type(of: input).shape?.first
        let flat = addNode(.reshape(keepingAxes: 1, to: [inputs]), [input], shape: batch.map { [$0, .size(outputs)] }, into: &graph)
        let product = addNode(.dense(activation: activation), [flat, dense, biasValue], shape: batch.map { [$0, .size(outputs)] }, into: &graph)
        let shape = call.outputShapes?.first
        let output = addNode(.reshape(keepingAxes: 1, to: (shape?.dropFirst() ?? []).map { $0 ?? -1 }), [product], shape: shape?.dims, into: &graph)
        return [LoweredTensor(value: output, mask: nil)]
    }

    /// The `(inputs, outputs)` matrix, row-major, from the stored kernel in this layer's layout.
    private func denseKernel(_ geometry: Geometry, stored: [Float]) throws -> [Float] {
        let connections = geometry.connections()
        let outputs = geometry.outputSpatial.product * filters
        guard stored.count == (implementation == 2 ? geometry.inputSpatial.product * geometry.channels * outputs
                                                     : connections.count) else {
            throw ModelError(layer: label, field: "weight 'kernel'", "expected the values of its declared shape, found \(stored.count)")
        }
        var matrix = [Float](repeating: 0, count: geometry.inputSpatial.product * geometry.channels * outputs)
        // Implementation 3 stores its values in the order of the sorted (output, input) pairs.
        let order = implementation == 3 ? connections.sorted { ($0.output, $0.input) < ($1.output, $1.input) } : connections
        for (position, connection) in order.enumerated() {
            let entry = connection.input * outputs + connection.output
            matrix[entry] = switch implementation {
            case 1: stored[connection.windowEntry]
            case 2: stored[entry]
            default: stored[position]
            }
        }
        return matrix
    }

    /// The layer's sizes for one input shape, and which input elements each output element reads.
    private struct Geometry {
        let layer: LocallyConnected
        let inputSpatial: [Int]
        let channels: Int
        let outputSpatial: [Int]

        init(_ layer: LocallyConnected, input: TensorShape) throws {
            let shape = try SpatialShape(input, rank: layer.rank, channelsFirst: layer.channelsFirst, of: layer)
            guard let channels = shape.channels, case let spatial = shape.spatial.compactMap({ $0 }), spatial.count == layer.rank else {
                throw ModelError(layer: layer.label, "the input's spatial and channel sizes must be known: the weights differ per position, found \(input.kerasDescription)")
            }
            self.layer = layer
            self.channels = channels
            inputSpatial = spatial
            outputSpatial = spatial.indices.map { axis in
                convOutputLength(spatial[axis], kernel: layer.kernelSize[axis], padding: layer.padding, stride: layer.strides[axis], dilation: 1) ?? 0
            }
            guard outputSpatial.allSatisfy({ $0 > 0 }) else {
                throw ModelError(layer: layer.label, "the window does not fit the input \(input.kerasDescription): the output would be empty")
            }
        }

        /// The number of (input element, output element) pairs a weight joins.
        var connectionCount: Int { connections().count }

        /// Every weighted pair in tf-keras's `conv_kernel_idxs` order: per output position, each input position
        /// in its window (`conv_connected_inputs`, which centres a `same` window on `position · stride`), each
        /// input channel, each filter. Indices are into the flattened input and output (channels first or last as
        /// the data are); `windowEntry` is the pair's index in an implementation 1 kernel.
        func connections() -> [Connection] {
            let (kernel, strides, filters) = (layer.kernelSize, layer.strides, layer.filters)
            let windowSize = kernel.product * channels
            var result = [Connection]()
            for (outputFlat, position) in positions(outputSpatial).enumerated() {
                let ranges = position.indices.map { axis in
                    let left = kernel[axis] / 2
                    let centre = position[axis] * strides[axis] + (layer.padding == "valid" ? left : 0)
                    return max(0, centre - left) ..< min(inputSpatial[axis], centre + kernel[axis] - left)
                }
                for inputPosition in positions(ranges.map(\.count)).map({ zip($0, ranges).map { $0 + $1.lowerBound } }) {
                    let inputFlat = ravel(inputPosition, inputSpatial)
                    let offset = ravel(zip(inputPosition, position.indices).map { $0 - position[$1] * strides[$1] }, kernel)
                    for channel in 0 ..< channels {
                        let windowIndex = layer.channelsFirst ? channel * kernel.product + offset : offset * channels + channel
                        for filter in 0 ..< filters {
                            result.append(Connection(
                                input: layer.channelsFirst ? channel * inputSpatial.product + inputFlat : inputFlat * channels + channel,
                                output: layer.channelsFirst ? filter * outputSpatial.product + outputFlat : outputFlat * filters + filter,
                                windowEntry: (outputFlat * windowSize + windowIndex) * filters + filter))
                        }
                    }
                }
            }
            return result
        }
    }

    private struct Connection {
        var input: Int
        var output: Int
        var windowEntry: Int
    }
}

/// Every index of an array of these sizes, in row-major order.
private func positions(_ sizes: [Int]) -> [[Int]] {
    sizes.reduce([[]]) { prefixes, size in prefixes.flatMap { prefix in (0 ..< size).map { prefix + [$0] } } }
}

/// The row-major flat index of `index` in an array of these sizes.
private func ravel(_ index: [Int], _ sizes: [Int]) -> Int {
    zip(index, sizes).reduce(0) { $0 * $1.1 + $1.0 }
}

private extension Array where Element == Int {
    var product: Int { reduce(1, *) }
}
