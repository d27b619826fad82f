import KConvGraph
import KConvIO

/// Keras's image layers that change an image's height and width at inference, all through
/// `tf.image.resize` and the same centred crop (`smart_resize`), so one type holds their rules:
///
/// - `Resizing(height, width, interpolation, crop_to_aspect_ratio)`, and in Keras 3 `pad_to_aspect_ratio`
///   (`fill_value` on both sides) and `antialias`. kconv computes bilinear, nearest and bicubic without
///   antialiasing, the defaults.
/// - `CenterCrop(height, width)`: the centred window when the image is at least that large in both
///   directions, else `smart_resize` (crop to the target's aspect ratio, then bilinear).
/// - `RandomCrop(height, width)`, the subclass `RandomCrop` below.
///
/// Read in keras 3.15 `image_preprocessing/{resizing,center_crop,random_crop}.py` and
/// `backend/tensorflow/image.py`, and tf-keras 2.21 `layers/preprocessing/image_preprocessing.py` and
/// `utils/image_utils.py`. None supports masking: the mask stops.
package class ImageResizing: Layer {
    package override class var kerasClassNames: [String] { ["Resizing", "CenterCrop"] }
    package override class var examples: [LayerExample] {
        kerasClassNames.map { LayerExample($0, ["height": 2, "width": 3], inputs: [[4, 4, 3]]) }
    }
    package let height: Int
    package let width: Int
    package let interpolation: String
    package let cropToAspectRatio: Bool
    package let padToAspectRatio: Bool
    package let fillValue: Double
    package let antialias: Bool
    package let channelsFirst: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        height = try config.positiveInt("height", default: 0)
        width = try config.positiveInt("width", default: 0)
        interpolation = context.className == "Resizing" ? try config.string("interpolation", default: "bilinear") : "bilinear"
        cropToAspectRatio = try config.bool("crop_to_aspect_ratio", default: false)
        padToAspectRatio = try config.bool("pad_to_aspect_ratio", default: false)
        fillValue = try config.double("fill_value", default: 0)
        antialias = try config.bool("antialias", default: false)
        channelsFirst = try config.channelsFirst()
        if cropToAspectRatio && padToAspectRatio {
            throw ModelError(field: "config.pad_to_aspect_ratio", "expected at most one of crop_to_aspect_ratio and pad_to_aspect_ratio, found both")
        }
        try super.init(context)
    }

    /// Whether the images pass unchanged (Keras 3's RandomCrop).
    fileprivate var isIdentity: Bool { false }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try singleInput(inputShapes)
        try requireRank(shape, 4...4, "a 4-D image batch")
        guard !isIdentity else { return [shape] }
        let first = channelsFirst ? 2 : 1
        shape[first] = height
        shape[first + 1] = width
        return [shape]
    }

    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("data_format", onlyIn: .keras3, value: "channels_last", why: "tf-keras images are channels_last"),
         VersionOnlyKey("pad_to_aspect_ratio", onlyIn: .keras3, value: false, why: "tf-keras cannot pad to the aspect ratio"),
         VersionOnlyKey("fill_mode", onlyIn: .keras3, value: "constant", why: "tf-keras cannot pad to the aspect ratio"),
         VersionOnlyKey("fill_value", onlyIn: .keras3, why: "used only when padding to the aspect ratio"),
         VersionOnlyKey("antialias", onlyIn: .keras3, value: false, why: "tf-keras's Resizing does not antialias"),
         VersionOnlyKey("rng_type", onlyIn: .keras2, why: "a tf-keras random-generator setting, unused at inference")]
    }

    override package var unsupportedReason: String? {
        if ResizeOp.Interpolation(rawValue: interpolation) == nil { return "interpolation '\(interpolation)'" }
        if antialias { return "antialiased resizing" }
        if let mode = config["fill_mode"]?.stringValue, mode != "constant" { return "fill_mode '\(mode)'" }
        return nil
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        guard !isIdentity else { return [LoweredTensor(value: input, mask: nil)] }
        guard let method = ResizeOp.Interpolation(rawValue: interpolation) else {
            throw ModelError(layer: label, field: "config.interpolation", "kconv computes \(ResizeOp.Interpolation.allCases.map(\.rawValue).joined(separator: ", ")), found '\(interpolation)'")
        }
        let fit: ResizeOp.Fit = switch className {
        case "CenterCrop": .centerCrop
        case "RandomCrop": .cropToAspectRatio
        default: cropToAspectRatio ? .cropToAspectRatio : padToAspectRatio ? .padToAspectRatio(fill: Float(fillValue)) : .stretch
        }
        let op = ResizeOp(target: .size(height: height, width: width), interpolation: method, fit: fit, channelsFirst: channelsFirst)
        return lowerUnmasked(.resize(op), input, call, into: &graph)
    }
}

/// `RandomCrop(height, width)`, whose inference differs by version: tf-keras 2.21 `smart_resize`s every
/// image (its `call` takes the random crop only `if training`); Keras 3.15's `transform_images` returns the
/// images unchanged when not training — its `compute_output_shape` declares the target size, but `predict`
/// gives the input's size, which kconv follows. So a RandomCrop is not converted between the versions.
package final class RandomCrop: ImageResizing {
    package override class var kerasClassNames: [String] { ["RandomCrop"] }
    package override class var inferenceDiffersBetweenGenerations: String? {
        "at inference tf-keras's RandomCrop crops to the target's aspect ratio and resizes, Keras 3's leaves images unchanged: converting it would change the outputs"
    }

    fileprivate override var isIdentity: Bool { dialect >= .keras3 }
}
