import KConvGraph
import KConvIO

/// Keras's random image augmentations: each class's `call` (tf-keras) or `transform_images` (Keras 3)
/// changes the images only when `training` is true and returns them unchanged at inference, so they share
/// one rule: pass the images on. Read in keras-team/keras 3.15 `layers/preprocessing/image_preprocessing/` (the
/// base class's `transform_images` runs `_transform_images` only `if training`; the others test `training`
/// themselves) and tf-keras 2.21 `layers/preprocessing/image_preprocessing.py` (`if training: ... else:
/// return inputs`). Keras 3's MaxNumBoundingBoxes joins them: it pads or cuts bounding boxes, and its
/// `transform_images` returns the images as they are.
///
/// Not here because they compute at inference: RandomCrop (tf-keras resizes, see `RandomCrop`),
/// AutoContrast, Equalization and CLAHE (Keras 3 applies them whatever `training`). The images are cast to
/// the layer's float dtype, which kconv computes in anyway. Neither version supports masking here, so the
/// mask stops.
///
/// Three types, one per set of Keras generations that have the classes (so each declares where it is
/// absent): `RandomAugmentation` (both), `Keras3Augmentation` and `TFKerasAugmentation`.
package class RandomAugmentation: Layer {
    package override class var kerasClassNames: [String] {
        ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness"]
    }

    /// The config keys each class requires (the rest have defaults).
    private static let requiredKeys: [String: JSONObject] = [
        "RandomRotation": ["factor": 0.1], "RandomZoom": ["height_factor": 0.1], "RandomContrast": ["factor": 0.2],
        "RandomTranslation": ["height_factor": 0.1, "width_factor": 0.1], "RandomBrightness": ["factor": 0.2],
        "RandomHeight": ["factor": 0.2], "RandomWidth": ["factor": 0.2], "RandomHue": ["factor": 0.2],
        "RandomPosterization": ["factor": [1, 4]], "RandomSaturation": ["factor": 0.2], "RandomSharpness": ["factor": 0.2],
        "RandomColorDegeneration": ["factor": 0.2], "MaxNumBoundingBoxes": ["max_number": 3],
    ]

    package override class var examples: [LayerExample] {
        kerasClassNames.map { LayerExample($0, requiredKeys[$0] ?? [:], inputs: [[4, 4, 3]]) }
    }

    /// tf-keras's random layers record how they draw numbers; Keras 3's record the image layout, and its
    /// RandomContrast the pixel range. None of them matters at inference, so any value is dropped.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("rng_type", onlyIn: .keras2, why: "a tf-keras random-generator setting, unused at inference"),
         VersionOnlyKey("data_format", onlyIn: .keras3, why: "unused at inference")]
            + (className == "RandomContrast" ? [VersionOnlyKey("value_range", onlyIn: .keras3, why: "unused at inference")] : [])
    }

    /// The images flow on unchanged, without a mask.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        [LoweredTensor(value: try singleInput(call).value, mask: nil)]
    }
}

/// The augmentations only Keras 3 has (its `keras.layers` in 3.15).
package final class Keras3Augmentation: RandomAugmentation {
    package override class var kerasClassNames: [String] {
        ["RandomColorJitter", "RandomErasing", "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective",
         "RandomShear", "RandomGaussianBlur", "RandomElasticTransform", "RandomSaturation", "RandomSharpness",
         "RandomPosterization", "RandomColorDegeneration", "AugMix", "RandAugment", "CutMix", "MixUp", "Solarization",
         "MaxNumBoundingBoxes"]
    }
    package override class var absentIn: [KerasDialect: String] {
        [.keras2: "tf-keras has no such augmentation (the identity at inference: remove it from the model to convert)"]
    }
}

/// The augmentations only tf-keras has: Keras 3 dropped RandomHeight and RandomWidth.
package final class TFKerasAugmentation: RandomAugmentation {
    package override class var kerasClassNames: [String] { ["RandomHeight", "RandomWidth"] }
    package override class var absentIn: [KerasDialect: String] {
        [.keras3: "Keras 3 has no RandomHeight or RandomWidth (the identity at inference: remove it from the model to convert)"]
    }
}
