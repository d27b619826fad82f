#!/usr/bin/env python3
"""Write a reference file for `kconv verify`: seeded inputs and the outputs your Keras computes.

    python Scripts/keras_reference.py MODEL REF.npz [--weights W] [--keras 2|3] [--samples N] [--length L] [--layers]

The model is loaded with your own Keras: Keras 3 (`keras`) by default, or Keras 2 (`tf_keras`) with
--keras 2 — use the one that can load the file. Inputs are drawn from the model's input spec with a
fixed seed: integer inputs that feed an Embedding are drawn within its vocabulary, unknown (None)
dimensions get --length. The file holds in_0, in_1, ... and out_0, out_1, ...; with --layers also every
layer's output as layer/<name> (layer/<name>:<i> for layers with several outputs), so that
`kconv verify` can name the first layer that diverges.
"""
import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# oneDNN reorders float sums (and mishandles a few rare layouts): references should be plain TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def load_keras(generation):
    if generation == "2":
        import tf_keras as keras
    else:
        import keras
    return keras


def load_model(keras, path, weights):
    if path.endswith(".json"):
        with open(path) as handle:
            model = keras.models.model_from_json(handle.read())
        if weights:
            model.load_weights(weights)
        return model
    return keras.models.load_model(path, compile=False)


def embedding_vocabulary(model, model_input):
    """The smallest input_dim among Embedding layers reading this input directly, or None."""
    sizes = []
    for layer in model.layers:
        if type(layer).__name__ != "Embedding":
            continue
        for node in getattr(layer, "_inbound_nodes", []):
            tensors = getattr(node, "input_tensors", None) or []
            tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
            if any(t is model_input for t in tensors):
                sizes.append(layer.input_dim)
    if not sizes and len(model.inputs) == 1:
        # Sequential models: an Embedding first layer reads the only input.
        first = model.layers[0] if model.layers else None
        if first is not None and type(first).__name__ == "Embedding":
            sizes.append(first.input_dim)
    return min(sizes) if sizes else None


def draw_inputs(model, samples, length, seed):
    rng = np.random.default_rng(seed)
    inputs = []
    for model_input in model.inputs:
        shape = [samples] + [dim if dim is not None else length for dim in list(model_input.shape)[1:]]
        vocabulary = embedding_vocabulary(model, model_input)
        if vocabulary is not None:
            inputs.append(rng.integers(0, vocabulary, size=shape).astype("int32"))
        else:
            inputs.append(rng.uniform(-1, 1, size=shape).astype("float32"))
    return inputs


def layer_outputs(keras, model, inputs):
    """Every non-input layer's output on `inputs`, keyed layer/<name>[:<i>] (first call of shared layers)."""
    names, tensors = [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            output = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue
        outputs = output if isinstance(output, (list, tuple)) else [output]
        for index, tensor in enumerate(outputs):
            names.append(f"layer/{layer.name}" if len(outputs) == 1 else f"layer/{layer.name}:{index}")
            tensors.append(tensor)
    if not tensors:
        return {}
    probe = keras.Model(model.inputs, tensors)
    values = probe.predict(inputs, verbose=0)
    values = values if isinstance(values, list) else [values]
    return {name: np.asarray(value, dtype="float32") for name, value in zip(names, values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("reference")
    parser.add_argument("--weights")
    parser.add_argument("--keras", choices=["2", "3"], default="3")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--length", type=int, default=7, help="length for unknown (None) dimensions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", action="store_true", help="also write every layer's output")
    args = parser.parse_args()

    keras = load_keras(args.keras)
    model = load_model(keras, args.model, args.weights)
    inputs = draw_inputs(model, args.samples, args.length, args.seed)
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    arrays = {f"in_{i}": value for i, value in enumerate(inputs)}
    arrays.update({f"out_{i}": np.asarray(value, dtype="float32") for i, value in enumerate(outputs)})
    if args.layers:
        arrays.update(layer_outputs(keras, model, inputs if len(inputs) > 1 else inputs[0]))
    np.savez(args.reference, **arrays)
    print(f"wrote {args.reference}: {len(inputs)} inputs, {len(outputs)} outputs"
          + (f", {sum(k.startswith('layer/') for k in arrays)} layer outputs" if args.layers else ""))


if __name__ == "__main__":
    main()
