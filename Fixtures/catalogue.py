#!/usr/bin/env python3
"""Generate the layer catalogue: one tiny model per Keras layer class and per notable option.

Usage (from the repository root):

    .venv/bin/python Fixtures/catalogue.py                 # both libraries (default)
    .venv/bin/python Fixtures/catalogue.py --lib keras3    # only the Keras 3 half

Writes Fixtures/catalogue/
    keras2.tar.xz    tf_keras 2.x models: <row>.h5 and <row>.ref.npz per row
    keras3.tar.xz    Keras 3 models: <row>.keras, <row>.h5 and <row>.ref.npz per row
    index.json       per library: every row (target class, option, the classes in the model,
                     files, count_params, whether Keras itself reloads each file), every layer
                     class and activation that library exports (with its rows, or the reason it
                     is excluded), and the formats a row could not be saved in, with why.

Scripts/catalogue.py runs kconv over the rows (see Fixtures/README.md).

What is enumerated: every public class of `keras.layers` / `tf_keras.layers` that subclasses
Layer (aliases such as MaxPool2D folded into their class), and every public function of
`keras.activations` / `tf_keras.activations`. Each must be covered by a row of TABLE below
(or, for activations, by the generated activation rows) or be listed in EXCLUDED with a
reason; the generator stops if a class is neither, so a new Keras version shows up as work.
A class counts as covered when a saved model's config names it at any depth (wrapped layers
and RNN cells included).

Rows: a single layer between Input(s) and the output unless the row has its own builder.
Weights are seeded random as in Fixtures/generate.py (normal x 0.3, BatchNormalization
moving_variance uniform 0.5-1.5), except rows with randomize=False (adapted preprocessing
state); inputs are Fixtures/generate.py's seeded inputs (batch 3) unless the row's feeds say
otherwise. The ref.npz files have the fixtures' format (in_0.., out_0..; model.predict
outputs); string inputs and outputs are stored as numpy unicode arrays.

Why archives: every Keras file carries ~12 KB of fixed HDF5 structure, mostly zeros and alike
from file to file, so the ~1,300 files take 15 MB unpacked, 1.8 MB zipped one by one and
0.6 MB as one xz stream per library. The members are exactly the files Keras wrote
(Scripts/catalogue.py unpacks them to run kconv).

Deterministic: seeds per row, Keras name counters reset per row, members in name order with
fixed tar metadata, a .keras member whose content only differs by save date and
shared_object_ids kept as it was, and an archive whose members all come out the same kept
byte for byte (so another xz build cannot churn it): a rerun leaves git clean.

Like generate.py, the parent process never imports TensorFlow: it runs one child per library
(one after the other; --parallel runs both at once) and merges what they wrote.
"""

import argparse
import io
import json
import lzma
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate as gen  # noqa: E402  (env setup, Lib adapter, seeds, weights, inputs, JSON layout)

OUT_DIR = HERE / "catalogue"
LIBS = gen.LIBS
K2, K3 = ("keras2",), ("keras3",)
FORMATS = {"keras2": ("h5",), "keras3": ("keras", "h5")}

# Input shapes (batch dimension left out).
VEC, SEQ, IMG, VOL = (4,), (5, 3), (6, 6, 2), (4, 4, 4, 2)
PICTURE = (8, 8, 3)                       # image preprocessing rows, pixels in [0, 255)
PIXELS = {0: {"uniform": (0.0, 255.0)}}
WORDS = ["cat", "dog", "fish", "bird", "frog"]


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

class Row:
    """One catalogue model.

    cls: the layer class the row is about (its line in the coverage table), or
        "activation:<name>" for the generated activation rows.
    kw: that layer's arguments (kw2 / kw3: additions for one library); the model is
        Input(s) of `inputs` -> cls(**kw) -> output, unless build(k) makes the model itself.
    inputs: shapes, or (shape, dtype) pairs (only for rows without build).
    libs: the libraries that build the row.
    feeds: {input index: spec}: generate.py's {"int": n}, {"int": n, "pad": True},
        {"zero_tail": True}, or {"uniform": (lo, hi)}, {"words": [...]} (strings drawn from the
        list plus one unknown word). Arrays are then cast to the model input's dtype.
    randomize=False keeps the layer's own state (adapted preprocessing layers).
    unsafe: the .keras file needs safe_mode=False to reload (Lambda).
    scale: multiply the float inputs, to reach an activation's far regions.
    keras_fails: {lib: reason}: building or running is expected to fail in that library
        (recorded in index.json; the class must then be covered by another row or excluded).
    doc: the option in words (default: the kw).
    """

    def __init__(self, name, cls, kw=None, *, inputs=(VEC,), build=None, libs=LIBS, kw2=None, kw3=None,
                 feeds=None, randomize=True, unsafe=False, scale=None, keras_fails=None, doc=""):
        self.name, self.cls, self.kw = name, cls, kw or {}
        self.inputs = [input_spec(s) for s in inputs]
        self.build_fn, self.libs = build, libs
        self.kw_by_lib = {"keras2": kw2 or {}, "keras3": kw3 or {}}
        self.feeds = feeds or {}
        self.randomize, self.unsafe, self.scale = randomize, unsafe, scale
        self.keras_fails = keras_fails or {}
        self.doc = doc

    def kwargs(self, lib):
        return {**self.kw, **self.kw_by_lib[lib]}

    def option(self, lib):
        if self.doc:
            return self.doc
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs(lib).items()) or "defaults"

    def build(self, k):
        if self.build_fn:
            return self.build_fn(k)
        return functional(k, [shape for shape in self.inputs], lambda k, *xs: getattr(k.L, self.cls)(
            **self.kwargs(k.lib))(xs[0] if len(xs) == 1 else list(xs)))


TABLE = []


def row(name, cls, kw=None, **options):
    """Adds a Row (see there) to the table."""
    assert all(r.name != name for r in TABLE), name
    TABLE.append(Row(name, cls, kw, **options))


def input_spec(s):
    """(shape, dtype) from a shape or a (shape, dtype) pair."""
    return s if len(s) == 2 and isinstance(s[1], str) else (s, "float32")


def functional(k, inputs, body):
    """Model from Input(s) of `inputs` through body(k, *tensors); several outputs as a list."""
    xs = [k.Input(shape=shape, dtype=dtype) for shape, dtype in map(input_spec, inputs)]
    y = body(k, *xs)
    return k.Model(xs[0] if len(xs) == 1 else xs, list(y) if isinstance(y, tuple) else y)


# -- core -------------------------------------------------------------------
row("dense", "Dense", dict(units=3))
row("dense_no_bias", "Dense", dict(units=3, use_bias=False))
row("dense_on_sequence", "Dense", dict(units=3), inputs=[SEQ], doc="units=3 on a 3-D input (last axis)")
row("einsum_dense", "EinsumDense", dict(equation="ab,bc->ac", output_shape=3, bias_axes="c"))
row("einsum_dense_sequence", "EinsumDense", dict(equation="abc,cd->abd", output_shape=(5, 4), bias_axes="d"),
    inputs=[SEQ])
row("einsum_dense_heads", "EinsumDense", dict(equation="abc,cde->abde", output_shape=(5, 2, 2), bias_axes="de"),
    inputs=[SEQ])
row("embedding", "Embedding", dict(input_dim=10, output_dim=3), inputs=[((6,), "int32")], feeds={0: {"int": 10}})
row("embedding_mask_zero", "Embedding",
    build=lambda k: functional(k, [((6,), "int32")],
                               lambda k, x: k.L.SimpleRNN(2)(k.L.Embedding(10, 3, mask_zero=True)(x))),
    feeds={0: {"int": 10, "pad": True}}, doc="mask_zero=True, the mask consumed by SimpleRNN(2)")
row("reversible_embedding", "ReversibleEmbedding", dict(input_dim=10, output_dim=3), libs=K3,
    inputs=[((6,), "int32")], feeds={0: {"int": 10}})
row("reversible_embedding_reverse", "ReversibleEmbedding", libs=K3,
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.ReversibleEmbedding(10, 3)(x, reverse=True)),
    doc="called with reverse=True: logits against the embedding table")
row("identity", "Identity")
row("masking", "Masking",
    build=lambda k: functional(k, [(6, 3)], lambda k, x: k.L.LSTM(3)(k.L.Masking(mask_value=0.0)(x))),
    feeds={0: {"zero_tail": True}}, doc="mask_value=0.0, the mask consumed by LSTM(3)")
# Keras marshals the lambda's code object, which names its source file and line: compiled from a
# string, it names neither this checkout's path nor a line that moves when the table is edited.
LAMBDA_SOURCE = "lambda t: t * 2.0 + 1.0"
row("lambda", "Lambda", unsafe=True,
    build=lambda k: functional(k, [VEC], lambda k, x: k.L.Lambda(
        eval(compile(LAMBDA_SOURCE, "<catalogue>", "eval")))(x)),
    doc=f"Lambda({LAMBDA_SOURCE}): Python bytecode in the file")
row("activation_layer", "Activation", dict(activation="tanh"))
row("activity_regularization", "ActivityRegularization", dict(l1=0.01, l2=0.01))

# -- regularisation (identity at inference) -----------------------------------
row("dropout", "Dropout", dict(rate=0.5))
row("gaussian_dropout", "GaussianDropout", dict(rate=0.5))
row("gaussian_noise", "GaussianNoise", dict(stddev=0.5))
row("alpha_dropout", "AlphaDropout", dict(rate=0.5))
row("spatial_dropout1d", "SpatialDropout1D", dict(rate=0.5), inputs=[SEQ])
row("spatial_dropout2d", "SpatialDropout2D", dict(rate=0.5), inputs=[IMG])
row("spatial_dropout3d", "SpatialDropout3D", dict(rate=0.5), inputs=[VOL])

# -- reshaping ----------------------------------------------------------------
row("flatten", "Flatten", inputs=[IMG])
row("flatten_channels_first", "Flatten", dict(data_format="channels_first"), inputs=[(3, 4, 2)])
row("reshape", "Reshape", dict(target_shape=(3, 5)), inputs=[SEQ])
row("reshape_infer", "Reshape", dict(target_shape=(-1, 2)), inputs=[IMG])
row("permute", "Permute", dict(dims=(2, 1)), inputs=[SEQ])
row("permute_3d", "Permute", dict(dims=(3, 1, 2)), inputs=[IMG])
row("repeat_vector", "RepeatVector", dict(n=3))
row("cropping1d", "Cropping1D", dict(cropping=(1, 2)), inputs=[(6, 3)])
row("cropping2d", "Cropping2D", dict(cropping=((1, 0), (2, 1))), inputs=[IMG])
row("cropping3d", "Cropping3D", dict(cropping=((1, 0), (0, 1), (1, 1))), inputs=[VOL])
row("zero_padding1d", "ZeroPadding1D", dict(padding=(1, 2)), inputs=[SEQ])
row("zero_padding2d", "ZeroPadding2D", dict(padding=((1, 0), (2, 1))), inputs=[IMG])
row("zero_padding3d", "ZeroPadding3D", dict(padding=1), inputs=[VOL])
row("up_sampling1d", "UpSampling1D", dict(size=2), inputs=[SEQ])
row("up_sampling2d", "UpSampling2D", dict(size=(2, 3)), inputs=[IMG])
row("up_sampling2d_bilinear", "UpSampling2D", dict(size=2, interpolation="bilinear"), inputs=[IMG])
row("up_sampling2d_bicubic", "UpSampling2D", dict(size=2, interpolation="bicubic"), inputs=[IMG])
row("up_sampling3d", "UpSampling3D", dict(size=2), inputs=[VOL])

# -- convolutions -------------------------------------------------------------
SEQ4, IMG4 = (7, 4), (6, 6, 4)
row("conv1d", "Conv1D", dict(filters=3, kernel_size=3), inputs=[SEQ])
row("conv1d_same_strides", "Conv1D", dict(filters=3, kernel_size=3, padding="same", strides=2), inputs=[SEQ4])
row("conv1d_causal_dilation", "Conv1D", dict(filters=3, kernel_size=2, padding="causal", dilation_rate=2),
    inputs=[SEQ4])
row("conv1d_groups", "Conv1D", dict(filters=4, kernel_size=3, groups=2), inputs=[SEQ4])
CPU_NCHW = "TensorFlow's CPU convolution has no channels_first kernel"
row("conv1d_channels_first", "Conv1D", dict(filters=3, kernel_size=2, data_format="channels_first"),
    inputs=[(3, 6)], keras_fails={"keras2": CPU_NCHW, "keras3": CPU_NCHW})
row("conv2d", "Conv2D", dict(filters=3, kernel_size=3), inputs=[IMG])
row("conv2d_same_strides", "Conv2D", dict(filters=3, kernel_size=3, padding="same", strides=2), inputs=[IMG])
row("conv2d_dilation", "Conv2D", dict(filters=3, kernel_size=(3, 2), dilation_rate=(2, 1)), inputs=[IMG])
row("conv2d_groups", "Conv2D", dict(filters=4, kernel_size=2, groups=2), inputs=[IMG4])
row("conv2d_no_bias", "Conv2D", dict(filters=3, kernel_size=2, use_bias=False), inputs=[IMG])
row("conv2d_channels_first", "Conv2D", dict(filters=3, kernel_size=2, data_format="channels_first"),
    inputs=[(2, 6, 6)], keras_fails={"keras2": CPU_NCHW, "keras3": CPU_NCHW})
row("conv3d", "Conv3D", dict(filters=2, kernel_size=2), inputs=[VOL])
row("conv3d_same_strides", "Conv3D", dict(filters=2, kernel_size=3, padding="same", strides=2), inputs=[VOL])
row("conv1d_transpose", "Conv1DTranspose", dict(filters=3, kernel_size=3), inputs=[SEQ])
row("conv1d_transpose_same_strides", "Conv1DTranspose", dict(filters=3, kernel_size=3, padding="same", strides=2),
    inputs=[SEQ])
row("conv1d_transpose_output_padding", "Conv1DTranspose",
    dict(filters=3, kernel_size=3, strides=2, output_padding=1), inputs=[SEQ])
row("conv2d_transpose", "Conv2DTranspose", dict(filters=3, kernel_size=3), inputs=[IMG])
row("conv2d_transpose_same_strides", "Conv2DTranspose",
    dict(filters=3, kernel_size=3, padding="same", strides=2), inputs=[IMG])
row("conv2d_transpose_output_padding", "Conv2DTranspose",
    dict(filters=2, kernel_size=3, strides=2, output_padding=1), inputs=[IMG])
row("conv2d_transpose_dilation", "Conv2DTranspose", dict(filters=2, kernel_size=2, dilation_rate=2), inputs=[IMG],
    keras_fails={"keras3": "Keras 3 on TensorFlow rejects a dilated transposed convolution when it runs"})
row("conv3d_transpose", "Conv3DTranspose", dict(filters=2, kernel_size=2), inputs=[VOL])
row("conv3d_transpose_same_strides", "Conv3DTranspose",
    dict(filters=2, kernel_size=3, padding="same", strides=2), inputs=[VOL])
row("depthwise_conv1d", "DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2), inputs=[SEQ])
row("depthwise_conv1d_same_strides", "DepthwiseConv1D", dict(kernel_size=3, padding="same", strides=2),
    inputs=[SEQ4])
row("depthwise_conv2d", "DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2), inputs=[IMG])
row("depthwise_conv2d_same_strides", "DepthwiseConv2D", dict(kernel_size=3, padding="same", strides=2),
    inputs=[IMG])
row("depthwise_conv2d_dilation", "DepthwiseConv2D", dict(kernel_size=2, dilation_rate=2), inputs=[IMG])
row("separable_conv1d", "SeparableConv1D", dict(filters=3, kernel_size=3), inputs=[SEQ])
row("separable_conv1d_same_multiplier", "SeparableConv1D",
    dict(filters=3, kernel_size=3, padding="same", depth_multiplier=2), inputs=[SEQ])
row("separable_conv2d", "SeparableConv2D", dict(filters=3, kernel_size=3), inputs=[IMG])
row("separable_conv2d_same_strides", "SeparableConv2D",
    dict(filters=3, kernel_size=3, padding="same", strides=2, depth_multiplier=2), inputs=[IMG])
row("separable_conv2d_dilation", "SeparableConv2D", dict(filters=2, kernel_size=2, dilation_rate=2),
    inputs=[IMG])
row("locally_connected1d", "LocallyConnected1D", dict(filters=2, kernel_size=3), libs=K2, inputs=[SEQ])
row("locally_connected1d_implementation2", "LocallyConnected1D", dict(filters=2, kernel_size=3, implementation=2),
    libs=K2, inputs=[SEQ])
row("locally_connected2d", "LocallyConnected2D", dict(filters=2, kernel_size=3), libs=K2, inputs=[IMG])
row("locally_connected1d_implementation3_same", "LocallyConnected1D",
    dict(filters=2, kernel_size=3, strides=2, padding="same", implementation=3), libs=K2, inputs=[SEQ])
row("locally_connected2d_implementation2_channels_first", "LocallyConnected2D",
    dict(filters=2, kernel_size=(2, 3), data_format="channels_first", implementation=2, activation="tanh"),
    libs=K2, inputs=[(3, 5, 4)])
row("locally_connected2d_implementation3", "LocallyConnected2D",
    dict(filters=2, kernel_size=2, strides=(1, 2), padding="same", implementation=3), libs=K2, inputs=[IMG])

# -- pooling ------------------------------------------------------------------
for dims, shape in ((1, (7, 3)), (2, (6, 5, 2)), (3, (4, 5, 4, 2))):
    for kind in ("Max", "Average"):
        cls = f"{kind}Pooling{dims}D"
        base = f"{kind.lower()}_pooling{dims}d"
        row(base, cls, dict(pool_size=2), inputs=[shape])
        row(f"{base}_same_strides", cls, dict(pool_size=3, strides=2 if dims == 1 else (2, 1) + (1,) * (dims - 2),
                                              padding="same"), inputs=[shape])
        row(f"global_{base}", f"Global{kind}Pooling{dims}D", inputs=[shape])
        row(f"global_{base}_keepdims", f"Global{kind}Pooling{dims}D", dict(keepdims=True), inputs=[shape])
        row(f"adaptive_{base}", f"Adaptive{kind}Pooling{dims}D", dict(output_size=(3, 2, 2)[:dims]),
            inputs=[shape], libs=K3)
row("max_pooling2d_channels_first", "MaxPooling2D", dict(pool_size=2, data_format="channels_first"),
    inputs=[(2, 6, 6)], keras_fails={"keras2": "TensorFlow's CPU pooling has no channels_first kernel "
                                               "(Keras 3 transposes around it)"})

# -- merging ------------------------------------------------------------------
PAIR = [(4, 5), (4, 5)]
for cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
    row(cls.lower(), cls, inputs=PAIR)
row("add_three", "Add", inputs=PAIR + [(4, 5)])
row("concatenate_axis1", "Concatenate", dict(axis=1), inputs=PAIR)
row("dot", "Dot", dict(axes=2), inputs=PAIR)
row("dot_normalize", "Dot", dict(axes=(1, 1), normalize=True), inputs=PAIR)

# -- normalisation ------------------------------------------------------------
row("batch_normalization", "BatchNormalization", inputs=[SEQ])
row("batch_normalization_no_center_scale", "BatchNormalization", dict(center=False, scale=False, epsilon=0.01),
    inputs=[SEQ])
row("batch_normalization_axis1", "BatchNormalization", dict(axis=1), inputs=[IMG])
row("layer_normalization", "LayerNormalization", inputs=[SEQ])
row("layer_normalization_axes", "LayerNormalization", dict(axis=[1, 2]), inputs=[SEQ])
row("layer_normalization_no_center_scale", "LayerNormalization", dict(center=False, scale=False), inputs=[SEQ])
row("layer_normalization_rms_scaling", "LayerNormalization", dict(rms_scaling=True), inputs=[SEQ], libs=K3)
row("group_normalization", "GroupNormalization", dict(groups=2), inputs=[IMG4])
row("group_normalization_instance", "GroupNormalization", dict(groups=-1), inputs=[IMG4])
row("unit_normalization", "UnitNormalization", inputs=[SEQ])
row("unit_normalization_axes", "UnitNormalization", dict(axis=[1, 2]), inputs=[SEQ])
row("rms_normalization", "RMSNormalization", inputs=[SEQ], libs=K3)
SPECTRAL_K2 = ("tf_keras 2.21 fails to build it: it checks the wrapped layer's input_spec against another "
               "InputSpec class")
row("spectral_normalization", "SpectralNormalization",
    build=lambda k: functional(k, [VEC], lambda k, x: k.L.SpectralNormalization(k.L.Dense(3))(x)),
    doc="wrapping Dense(3)", keras_fails={"keras2": SPECTRAL_K2})

# -- activation layers --------------------------------------------------------
row("elu", "ELU", dict(alpha=0.5), scale=3)
row("leaky_relu", "LeakyReLU", kw2=dict(alpha=0.2), kw3=dict(negative_slope=0.2), scale=3)
row("prelu", "PReLU", inputs=[SEQ], scale=3)
row("prelu_shared_axes", "PReLU", dict(shared_axes=[1]), inputs=[SEQ], scale=3)
row("relu", "ReLU", scale=3)
row("relu_options", "ReLU", dict(max_value=2.0, negative_slope=0.2, threshold=0.3), scale=3)
row("softmax", "Softmax", scale=3)
row("softmax_axis1", "Softmax", dict(axis=1), inputs=[SEQ], scale=3)
row("thresholded_relu", "ThresholdedReLU", dict(theta=0.5), libs=K2, scale=3)

# -- attention ----------------------------------------------------------------
QV = [(4, 3), (5, 3)]        # query, value
SELF = [(4, 4)]
row("attention", "Attention", inputs=QV, doc="[query, value]")
row("attention_use_scale", "Attention", dict(use_scale=True), inputs=QV)
row("attention_concat", "Attention", dict(score_mode="concat"), inputs=QV)
row("attention_key", "Attention", inputs=QV + [(5, 3)], doc="[query, value, key]")
row("attention_causal", "Attention", doc="use_causal_mask=True",
    build=lambda k: functional(k, [(4, 3), (4, 3)], lambda k, q, v: k.L.Attention()([q, v], use_causal_mask=True)))
row("attention_scores", "Attention", doc="return_attention_scores=True: two outputs",
    build=lambda k: functional(k, QV, lambda k, q, v: k.L.Attention()([q, v], return_attention_scores=True)))
row("additive_attention", "AdditiveAttention", inputs=QV, doc="[query, value]")
row("additive_attention_no_scale", "AdditiveAttention", dict(use_scale=False), inputs=QV)
row("multi_head_attention", "MultiHeadAttention", doc="self-attention, 2 heads of 2",
    build=lambda k: functional(k, SELF, lambda k, x: k.L.MultiHeadAttention(2, 2)(x, x)))
row("multi_head_attention_cross_key", "MultiHeadAttention",
    doc="query, value and key of other shapes; value_dim=3, output_shape=5",
    build=lambda k: functional(k, QV + [(5, 2)], lambda k, q, v, key: k.L.MultiHeadAttention(
        2, 2, value_dim=3, output_shape=5)(q, v, key=key)))
row("multi_head_attention_scores", "MultiHeadAttention", doc="return_attention_scores=True: two outputs",
    build=lambda k: functional(k, QV, lambda k, q, v: k.L.MultiHeadAttention(2, 2)(
        q, v, return_attention_scores=True)))
row("multi_head_attention_causal", "MultiHeadAttention", doc="self-attention, use_causal_mask=True",
    build=lambda k: functional(k, SELF, lambda k, x: k.L.MultiHeadAttention(2, 2)(x, x, use_causal_mask=True)))
row("multi_head_attention_axes", "MultiHeadAttention", doc="attention_axes=(1, 2) on a 4-D input, use_bias=False",
    build=lambda k: functional(k, [(3, 4, 4)], lambda k, x: k.L.MultiHeadAttention(
        2, 2, attention_axes=(1, 2), use_bias=False)(x, x)))
row("grouped_query_attention", "GroupedQueryAttention", libs=K3,
    doc="head_dim=2, num_query_heads=4, num_key_value_heads=2",
    build=lambda k: functional(k, QV, lambda k, q, v: k.L.GroupQueryAttention(2, 4, 2)(q, v)))
row("grouped_query_attention_causal", "GroupedQueryAttention", libs=K3, doc="self-attention, use_causal_mask=True",
    build=lambda k: functional(k, SELF, lambda k, x: k.L.GroupQueryAttention(2, 4, 2)(x, x, use_causal_mask=True)))

# -- recurrent ----------------------------------------------------------------
for cls, base in (("SimpleRNN", "simple_rnn"), ("LSTM", "lstm"), ("GRU", "gru")):
    row(base, cls, dict(units=3), inputs=[SEQ])
    row(f"{base}_return_sequences", cls, dict(units=3, return_sequences=True), inputs=[SEQ])
    row(f"{base}_return_state", cls, dict(units=3, return_sequences=True, return_state=True), inputs=[SEQ])
    row(f"{base}_go_backwards", cls, dict(units=3, return_sequences=True, go_backwards=True), inputs=[SEQ])
    row(f"{base}_unroll", cls, dict(units=2, unroll=True), inputs=[SEQ])
row("lstm_hard_sigmoid", "LSTM", dict(units=3, recurrent_activation="hard_sigmoid", activation="relu"),
    inputs=[SEQ])
row("gru_reset_before", "GRU", dict(units=3, reset_after=False), inputs=[SEQ])
row("gru_no_bias", "GRU", dict(units=3, use_bias=False), inputs=[SEQ])
for cell in ("SimpleRNNCell", "LSTMCell", "GRUCell"):
    row(f"rnn_{cell.lower()}", "RNN", doc=f"RNN({cell}(3), return_sequences=True)",
        build=lambda k, cell=cell: functional(k, [SEQ], lambda k, x: k.L.RNN(
            getattr(k.L, cell)(3), return_sequences=True)(x)))
row("rnn_stacked_cells", "StackedRNNCells", doc="RNN(StackedRNNCells([LSTMCell(3), GRUCell(2)]))",
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.RNN(k.L.StackedRNNCells(
        [k.L.LSTMCell(3), k.L.GRUCell(2)]))(x)))
row("rnn_cell_list", "RNN", doc="RNN([SimpleRNNCell(3), SimpleRNNCell(2)], return_state=True)",
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.RNN(
        [k.L.SimpleRNNCell(3), k.L.SimpleRNNCell(2)], return_state=True)(x)))
row("conv_lstm1d", "ConvLSTM1D", dict(filters=2, kernel_size=3), inputs=[(3, 6, 2)])
row("conv_lstm1d_sequences_same", "ConvLSTM1D", dict(filters=2, kernel_size=3, padding="same",
                                                     return_sequences=True), inputs=[(3, 6, 2)])
row("conv_lstm2d", "ConvLSTM2D", dict(filters=2, kernel_size=3), inputs=[(3, 5, 5, 2)])
row("conv_lstm2d_sequences_same", "ConvLSTM2D", dict(filters=2, kernel_size=3, padding="same",
                                                     return_sequences=True), inputs=[(3, 5, 5, 2)])
row("conv_lstm3d", "ConvLSTM3D", dict(filters=2, kernel_size=2), inputs=[(2, 3, 3, 3, 1)])

for mode in ("concat", "sum", "mul", "ave"):
    row(f"bidirectional_{mode}", "Bidirectional", doc=f"LSTM(3, return_sequences=True), {mode}",
        build=lambda k, mode=mode: functional(k, [SEQ], lambda k, x: k.L.Bidirectional(
            k.L.LSTM(3, return_sequences=True), merge_mode=mode)(x)))
row("bidirectional_none", "Bidirectional", doc="GRU(3), merge_mode=None: two outputs",
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.Bidirectional(k.L.GRU(3), merge_mode=None)(x)))
row("bidirectional_backward_layer", "Bidirectional",
    doc="SimpleRNN(3) forward, explicit backward_layer SimpleRNN(3, relu, go_backwards=True)",
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.Bidirectional(
        k.L.SimpleRNN(3), backward_layer=k.L.SimpleRNN(3, activation="relu", go_backwards=True))(x)))
row("bidirectional_return_state", "Bidirectional", doc="LSTM(2, return_state=True): five outputs",
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.Bidirectional(k.L.LSTM(2, return_state=True))(x)))
row("time_distributed_dense", "TimeDistributed", doc="Dense(2)",
    build=lambda k: functional(k, [SEQ], lambda k, x: k.L.TimeDistributed(k.L.Dense(2))(x)))
row("time_distributed_conv2d", "TimeDistributed", doc="Conv2D(2, 3)",
    build=lambda k: functional(k, [(3, 5, 5, 2)], lambda k, x: k.L.TimeDistributed(k.L.Conv2D(2, 3))(x)))

# -- preprocessing: numbers -----------------------------------------------------
ADAPT = np.random.default_rng(gen.crc("catalogue|adapt")).standard_normal((20, 4)).astype(np.float32) * 2 + 1


def adapted(layer, data):
    layer.adapt(data)
    return layer


row("normalization_adapted", "Normalization", randomize=False, doc="adapt() on 20 seeded samples: mean/variance",
    build=lambda k: functional(k, [VEC], lambda k, x: adapted(k.L.Normalization(), ADAPT)(x)))
row("normalization_mean_variance", "Normalization", dict(mean=[0.5, -1.0, 0.0, 2.0], variance=[1.0, 4.0, 0.25, 2.0]),
    randomize=False)
row("normalization_invert", "Normalization", dict(mean=[0.5, -1.0, 0.0, 2.0], variance=[1.0, 4.0, 0.25, 2.0],
                                                  invert=True), randomize=False)
row("discretization", "Discretization", dict(bin_boundaries=[-0.5, 0.0, 0.5]), randomize=False)
row("discretization_adapted", "Discretization", randomize=False, doc="num_bins=4 from adapt()",
    build=lambda k: functional(k, [VEC], lambda k, x: adapted(k.L.Discretization(num_bins=4), ADAPT)(x)))
row("discretization_one_hot", "Discretization", dict(bin_boundaries=[-0.5, 0.5], output_mode="one_hot"),
    inputs=[(1,)], randomize=False)
INTS = ((3,), "int32")
row("category_encoding_one_hot", "CategoryEncoding", dict(num_tokens=6, output_mode="one_hot"),
    inputs=[((1,), "int32")], feeds={0: {"int": 6}})
row("category_encoding_multi_hot", "CategoryEncoding", dict(num_tokens=6, output_mode="multi_hot"),
    inputs=[INTS], feeds={0: {"int": 6}})
row("category_encoding_count", "CategoryEncoding", dict(num_tokens=6, output_mode="count"),
    inputs=[INTS], feeds={0: {"int": 6}})
row("hashing", "Hashing", dict(num_bins=5), inputs=[INTS], feeds={0: {"int": 100}})
row("hashing_strings_salt", "Hashing", dict(num_bins=5, salt=7), inputs=[((3,), "string")],
    feeds={0: {"words": WORDS}})
row("hashed_crossing", "HashedCrossing", dict(num_bins=7), inputs=[((1,), "int32"), ((1,), "int32")],
    feeds={0: {"int": 10}, 1: {"int": 10}})
INT_VOCAB = [3, 5, 7, 9, 11]
INT64S = ((4,), "int64")
row("integer_lookup", "IntegerLookup", dict(vocabulary=INT_VOCAB), inputs=[INT64S], randomize=False,
    feeds={0: {"int": 13}})
row("integer_lookup_adapted", "IntegerLookup", randomize=False, feeds={0: {"int": 13}},
    doc="vocabulary from adapt()",
    build=lambda k: functional(k, [INT64S], lambda k, x: adapted(
        k.L.IntegerLookup(), np.array([[3, 5, 5, 7], [7, 7, 9, 11]], dtype=np.int64))(x)))
row("integer_lookup_one_hot", "IntegerLookup", dict(vocabulary=INT_VOCAB, output_mode="one_hot"),
    inputs=[((1,), "int64")], randomize=False, feeds={0: {"int": 13}})
row("integer_lookup_invert", "IntegerLookup", dict(vocabulary=INT_VOCAB, invert=True), inputs=[INT64S],
    randomize=False, feeds={0: {"int": 6}})
row("integer_lookup_tf_idf", "IntegerLookup", dict(vocabulary=INT_VOCAB, idf_weights=[0.5, 1.5, 2.0, 0.25, 1.0],
                                                   output_mode="tf_idf"), inputs=[INT64S], randomize=False,
    feeds={0: {"int": 13}}, doc="idf_weights given: the OOV slot weighs their average")
STRINGS = ((4,), "string")
row("string_lookup", "StringLookup", dict(vocabulary=WORDS[:4]), inputs=[STRINGS], randomize=False,
    feeds={0: {"words": WORDS}})
row("string_lookup_adapted", "StringLookup", randomize=False, feeds={0: {"words": WORDS}},
    doc="vocabulary from adapt()",
    build=lambda k: functional(k, [STRINGS], lambda k, x: adapted(
        k.L.StringLookup(), np.array([WORDS[:3], ["dog", "dog", "cat"]]))(x)))
row("string_lookup_multi_hot", "StringLookup", dict(vocabulary=WORDS[:4], output_mode="multi_hot"),
    inputs=[STRINGS], randomize=False, feeds={0: {"words": WORDS}})
row("string_lookup_tf_idf", "StringLookup", dict(vocabulary=["[UNK]"] + WORDS[:4], idf_weights=[0.7, 0.5, 1.5, 2.0, 0.25],
                                                 output_mode="tf_idf"), inputs=[STRINGS], randomize=False,
    feeds={0: {"words": WORDS}}, doc="vocabulary starting with its OOV token, which has its own idf weight")
row("string_lookup_invert", "StringLookup", dict(vocabulary=WORDS[:4], invert=True), inputs=[((4,), "int64")],
    randomize=False, feeds={0: {"int": 5}})
SENTENCES = ["the cat sat", "a dog ran far", "cat and dog", "the fish", "birds sing loud songs"]
TEXT = ((1,), "string")
row("text_vectorization", "TextVectorization", dict(vocabulary=["the", "cat", "dog", "sat", "a"],
                                                    output_sequence_length=4),
    inputs=[TEXT], randomize=False, feeds={0: {"words": SENTENCES}})
row("text_vectorization_adapted_tf_idf", "TextVectorization", libs=K3, randomize=False,
    feeds={0: {"words": SENTENCES}}, doc="output_mode='tf_idf', vocabulary and idf weights from adapt() "
                                          "(tf_keras cannot save this layer as .h5)",
    build=lambda k: functional(k, [TEXT], lambda k, x: adapted(
        k.L.TextVectorization(output_mode="tf_idf"), np.array(SENTENCES[:3]))(x)))
row("text_vectorization_adapted_multi_hot", "TextVectorization", randomize=False,
    feeds={0: {"words": SENTENCES}}, doc="output_mode='multi_hot', vocabulary from adapt()",
    build=lambda k: functional(k, [TEXT], lambda k, x: adapted(
        k.L.TextVectorization(output_mode="multi_hot"), np.array(SENTENCES[:3]))(x)))

# -- preprocessing: images and audio -------------------------------------------
row("rescaling", "Rescaling", dict(scale=1 / 127.5, offset=-1.0), inputs=[PICTURE], feeds=PIXELS)
row("resizing", "Resizing", dict(height=4, width=5), inputs=[PICTURE], feeds=PIXELS)
row("resizing_nearest", "Resizing", dict(height=5, width=3, interpolation="nearest"), inputs=[PICTURE],
    feeds=PIXELS)
row("resizing_bicubic", "Resizing", dict(height=5, width=6, interpolation="bicubic"), inputs=[PICTURE],
    feeds=PIXELS)
row("resizing_crop_to_aspect_ratio", "Resizing", dict(height=4, width=6, crop_to_aspect_ratio=True),
    inputs=[PICTURE], feeds=PIXELS)
row("center_crop", "CenterCrop", dict(height=4, width=5), inputs=[PICTURE], feeds=PIXELS)
row("pipeline", "Pipeline", libs=K3, feeds=PIXELS, doc="[Rescaling(1/255), CenterCrop(4, 4)]",
    build=lambda k: functional(k, [PICTURE], lambda k, x: k.L.Pipeline(
        [k.L.Rescaling(1 / 255), k.L.CenterCrop(4, 4)])(x)))
row("mel_spectrogram", "MelSpectrogram", dict(fft_length=16, sequence_stride=8, sequence_length=16,
                                              sampling_rate=800, num_mel_bins=4), libs=K3, inputs=[(64,)])
# window=None (rectangular): the default 'hann' window needs scipy, which the pinned environment lacks.
row("stft_spectrogram", "STFTSpectrogram", dict(mode="log", frame_length=16, frame_step=8, window=None), libs=K3,
    inputs=[(64, 1)])
# Image augmentation: identity (or a fixed transform) at inference; each must still be read.
IMAGE_LAYERS = [
    ("RandomBrightness", dict(factor=0.2), LIBS), ("RandomContrast", dict(factor=0.2), LIBS),
    ("RandomCrop", dict(height=4, width=5), LIBS), ("RandomFlip", {}, LIBS),
    ("RandomRotation", dict(factor=0.1), LIBS), ("RandomTranslation", dict(height_factor=0.1, width_factor=0.1), LIBS),
    ("RandomZoom", dict(height_factor=0.1), LIBS),
    ("RandomHeight", dict(factor=0.2), K2), ("RandomWidth", dict(factor=0.2), K2),
    ("RandomColorDegeneration", dict(factor=0.2), K3), ("RandomColorJitter", dict(brightness_factor=0.2), K3),
    ("RandomElasticTransform", {}, K3), ("RandomErasing", {}, K3), ("RandomGaussianBlur", {}, K3),
    ("RandomGrayscale", {}, K3), ("RandomHue", dict(factor=0.2), K3), ("RandomInvert", {}, K3),
    ("RandomPerspective", {}, K3), ("RandomPosterization", dict(factor=(1, 4)), K3),
    ("RandomSaturation", dict(factor=0.2), K3), ("RandomSharpness", dict(factor=0.2), K3),
    ("RandomShear", dict(x_factor=0.2), K3), ("RandAugment", {}, K3), ("AugMix", {}, K3), ("CutMix", {}, K3),
    ("MixUp", {}, K3), ("AutoContrast", {}, K3), ("Equalization", {}, K3),
    ("Solarization", dict(threshold_factor=0.5), K3),
    ("ContrastLimitedAdaptiveHistogramEqualization", dict(tile_grid_size=(2, 2)), K3),
    ("MaxNumBoundingBoxes", dict(max_number=3), K3),
]


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


NO_NODE = ("its compute_output_spec returns the input tensor itself, so a functional model cannot record "
           "the layer (Keras reports a graph cycle)")
for cls, kw, libs in IMAGE_LAYERS:
    row(snake(cls).replace("contrast_limited_adaptive_histogram_equalization", "clahe"), cls, kw, libs=libs,
        inputs=[PICTURE], feeds=PIXELS, randomize=False,
        keras_fails={"keras3": NO_NODE} if cls == "Equalization" else None)


# ---------------------------------------------------------------------------
# Exclusions: enumerated classes and functions that get no row, and why
# ---------------------------------------------------------------------------

EXCLUDED = {
    "keras2": {
        "Layer": "abstract base class of every layer: nothing to compute by itself",
        "Wrapper": "abstract base of Bidirectional and TimeDistributed (covered through them)",
        "AbstractRNNCell": "abstract base of RNN cells (the concrete cells are covered through RNN)",
        "DenseFeatures": "needs tf.feature_column objects (a TensorFlow API outside Keras) to describe a dict "
                         "of raw features; not a layer of models built from Keras layers",
        "SpectralNormalization": f"{SPECTRAL_K2} (row spectral_normalization records the error)",
    },
    "keras3": {
        "Layer": "abstract base class of every layer: nothing to compute by itself",
        "Wrapper": "abstract base of Bidirectional and TimeDistributed (covered through them)",
        "FlaxLayer": "wraps a Flax module: JAX backend only (the catalogue is written on TensorFlow), and the "
                     "module is Python code that is not serialised",
        "JaxLayer": "wraps a JAX function: JAX backend only, and the function is Python code that is not "
                    "serialised",
        "TorchModuleWrapper": "wraps a torch.nn.Module: PyTorch backend only, needs the Python module class",
        "TFSMLayer": "calls a TensorFlow SavedModel exported elsewhere: the model file stores only that "
                     "SavedModel's path, not its computation",
        "Equalization": f"Keras 3.15 cannot build a model with it: {NO_NODE} (row equalization records the error)",
    },
}
NOT_ACTIVATIONS = {"get": "looks an activation up by name", "serialize": "serialisation helper",
                   "deserialize": "serialisation helper"}
# Activation functions whose string form cannot work: Dense(activation=name) calls fn(x) alone.
STRING_EXCLUDED = {"threshold": "needs threshold and default_value arguments, which an activation "
                                "string cannot carry (covered as an operation with arguments)"}
OP_ARGUMENTS = {"threshold": {"threshold": 0.1, "default_value": -1.0}}
# Activation functions that Keras 3 cannot apply to a symbolic tensor (their string form is covered).
TF_ONLY = "it calls TensorFlow directly, which refuses a symbolic KerasTensor"
OP_KERAS_FAILS = {"hard_silu": TF_ONLY, "mish": TF_ONLY, "sparsemax": TF_ONLY}


def activation_rows(lib, K, names):
    """The generated rows for each activation: Dense(4, activation=name) in both libraries and, in
    Keras 3, Dense(4) followed by keras.activations.<name>(tensor), which the functional graph
    records as an operation node (no layer)."""
    rows = []
    for name in names:
        if name not in STRING_EXCLUDED:
            rows.append(Row(f"activation_{name}", f"activation:{name}", scale=4,
                            build=lambda k, name=name: functional(k, [VEC], lambda k, x: k.L.Dense(
                                4, activation=name)(x)),
                            doc=f"Dense(4, activation='{name}')"))
        if lib == "keras3":
            fn, args = getattr(K.activations, name), OP_ARGUMENTS.get(name, {})
            shown = "".join(f", {a}={v!r}" for a, v in args.items())
            rows.append(Row(f"op_{name}", f"activation:{name}", libs=K3, scale=4,
                            build=lambda k, fn=fn, args=args: functional(k, [VEC], lambda k, x: fn(
                                k.L.Dense(4)(x), **args)),
                            keras_fails={"keras3": OP_KERAS_FAILS[name]} if name in OP_KERAS_FAILS else None,
                            doc=f"keras.activations.{name}(Dense(4)(x){shown}): an operation node"))
    return rows


# ===========================================================================
# Child process: build every row with one library
# ===========================================================================

def enumerate_layers(lib):
    """{class name: sorted aliases} for every public Layer subclass of lib.K.layers."""
    import inspect
    found = {}
    for name in dir(lib.K.layers):
        obj = getattr(lib.K.layers, name)
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, lib.K.layers.Layer):
            found.setdefault(obj, []).append(name)
    return {cls.__name__: sorted(n for n in names if n != cls.__name__) for cls, names in found.items()}


def enumerate_activations(lib):
    """{canonical name: sorted aliases} for the public functions of lib.K.activations (helpers left out).
    Aliases (swish = silu) are one function; the canonical name is the function's own."""
    import inspect
    found = {}
    for name in dir(lib.K.activations):
        obj = getattr(lib.K.activations, name)
        if not name.startswith("_") and inspect.isfunction(obj) and name not in NOT_ACTIVATIONS:
            found.setdefault(obj, []).append(name)
    result = {}
    for fn, names in found.items():
        canonical = fn.__name__ if fn.__name__ in names else sorted(names)[0]
        result[canonical] = sorted(n for n in names if n != canonical)
    return result


# Modules of Keras 3 operation nodes (keras.activations.relu records a ReLU operation, not the layer).
OPERATION_MODULES = ("keras.src.ops", "keras.src.activations")


def config_classes(model, layer_classes):
    """(layer classes, operations) named in the model's serialised config, at any depth (wrapped
    layers, RNN cells, nested models): what a reader of the file meets. Operations are Keras 3's
    functional-graph nodes that are not layers (OPERATION_MODULES). A config may use an
    alias (Keras 3 serialises GroupedQueryAttention as GroupQueryAttention). Layers a layer builds
    for itself without serialising them (RandAugment's) are not counted."""
    layers, operations = set(), set()
    canonical = {alias: cls for cls, aliases in layer_classes.items() for alias in [cls, *aliases]}

    def walk(node):
        if isinstance(node, dict):
            name = node.get("class_name")
            if isinstance(name, str) and "config" in node:
                if str(node.get("module", "")).startswith(OPERATION_MODULES):
                    operations.add(name)
                elif name in canonical:
                    layers.add(canonical[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(model.to_json()))
    return sorted(layers), sorted(operations)


def draw_inputs(r, model):
    """Seeded inputs: generate.py's for its feed kinds, plus uniform ranges, words and scaling."""
    shapes = [gen.tensor_shape(t) for t in model.inputs]
    basic = {i: spec for i, spec in r.feeds.items() if "uniform" not in spec and "words" not in spec}
    arrays = gen.make_inputs(_Feeds(r.name, basic), shapes)
    for i, (x, t) in enumerate(zip(arrays, model.inputs)):
        spec = r.feeds.get(i, {})
        rng = np.random.default_rng(gen.crc(f"{r.name}|input|{i}"))
        if "uniform" in spec:
            x = rng.uniform(*spec["uniform"], size=x.shape).astype(np.float32)
        elif "words" in spec:
            pool = np.array(list(spec["words"]) + ["unknown"])
            x = pool[rng.integers(0, len(pool), size=x.shape)]
        elif r.scale and x.dtype == np.float32:
            x = x * np.float32(r.scale)
        dtype = gen.tensor_dtype(t)
        if dtype not in ("string", "float32") and x.dtype != np.dtype(dtype):
            x = x.astype(dtype)
        arrays[i] = x
    return arrays


class _Feeds:
    """What generate.make_inputs reads from a case: its name (the seed) and feeds."""

    def __init__(self, name, feeds):
        self.name, self.feeds = name, feeds


def plain(y):
    """A model output as a numpy array npz can hold without pickling (strings as unicode)."""
    y = np.asarray(y)
    if y.dtype == object or y.dtype.kind == "S":
        y = np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v), otypes=[str])(y)
    return y


def tensors(xs):
    """Inputs as Keras takes them: string arrays as TensorFlow string tensors."""
    import tensorflow as tf
    return [tf.constant(x) if x.dtype.kind == "U" else x for x in xs]


def call(model, xs):
    xs = tensors(xs)
    ys = model(xs[0] if len(xs) == 1 else xs, training=False)
    return [plain(y) for y in gen.flatten(ys)]


def difference(got, want):
    """'ok' if Keras reproduced its outputs within the parity tolerance (atol 1e-5), else the max
    |got - want| (1.0 for differing strings), or the shapes if they differ."""
    worst = 0.0
    for a, b in zip(got, want):
        if a.shape != b.shape:
            return f"shape {a.shape} vs {b.shape}"
        if a.dtype.kind in "US" or b.dtype.kind in "US":
            worst = max(worst, 0.0 if np.array_equal(a, b) else 1.0)
        elif a.size:
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
    return "ok" if worst <= 1e-5 else worst


def weight_count(weights):
    """Number of values in `weights`, like generate.weight_size, but also for what tf_keras's
    preprocessing layers put there: a variable of unknown static shape (adapted Discretization
    boundaries) is measured by its value, a lookup table's VocabWeightHandler (no shape) counts 0."""
    total = 0
    for w in weights:
        shape = getattr(w, "shape", None)
        if shape is None:
            continue
        dims = list(shape)
        if any(d is None for d in dims):
            dims = np.shape(w.numpy())
        total += int(np.prod(dims))
    return total


def one_line(error):
    """An exception in one deterministic line: no terminal colours, memory addresses, traceback
    frames (TensorFlow puts the Python stack, with this checkout's paths, in its graph errors) or
    traced-function numbers."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    text = re.sub(r' defined at \(most recent call last\):|\s*File "[^"]*", line \d+, in [^\n]*', "", text)
    text = re.sub(r"\s*\[Op:__inference_\w+\]", "", text)
    return f"{type(error).__name__}: {' '.join(text.split())[:300]}"


def build_row(lib, r, stage, layer_classes):
    """Build, randomise, run, save and reload-check one row; returns its index entry."""
    entry = {"class": r.cls, "option": r.option(lib.lib)}
    lib.reset(gen.crc(r.name))
    try:
        model = r.build(lib)
        if r.randomize:
            gen.randomize_weights(lib, model, r.name)
        xs = draw_inputs(r, model)
        ys = [plain(y) for y in gen.run_model(model, tensors(xs))]
    except Exception as error:
        if lib.lib not in r.keras_fails:
            raise
        entry["keras_fails"] = f"{r.keras_fails[lib.lib]}: {one_line(error)}"
        return entry
    if lib.lib in r.keras_fails:
        raise AssertionError(f"{r.name}: {lib.lib} was expected to fail but built and ran the model")

    entry["classes"], operations = config_classes(model, layer_classes)
    if operations:
        entry["operations"] = operations
    entry["count_params"] = int(model.count_params())
    entry["trainable_params"] = weight_count(model.trainable_weights)
    entry["non_trainable_params"] = weight_count(model.non_trainable_weights)
    entry["inputs"] = [{"shape": gen.tensor_shape(t), "dtype": gen.tensor_dtype(t)} for t in model.inputs]
    entry["outputs"] = [{"shape": gen.tensor_shape(t), "dtype": gen.tensor_dtype(t)} for t in model.outputs]
    entry["files"], skipped, reload = {}, {}, {}
    for fmt in FORMATS[lib.lib]:
        path = stage / f"{r.name}.{fmt}"
        try:
            model.save(path)
        except Exception as error:
            path.unlink(missing_ok=True)
            skipped[fmt] = f"Keras cannot save it: {one_line(error)}"
            continue
        entry["files"][fmt] = path.name
        try:
            kw = {"safe_mode": False} if r.unsafe and fmt == "keras" else {}
            again = lib.K.models.load_model(path, compile=False, **kw)
            reload[fmt] = difference(call(again, xs), ys)
        except Exception as error:
            reload[fmt] = f"error: {one_line(error)}"
    if skipped:
        entry["skipped_formats"] = skipped
    if entry["files"]:
        np.savez(stage / f"{r.name}.ref.npz", **{f"in_{i}": x for i, x in enumerate(xs)},
                 **{f"out_{i}": y for i, y in enumerate(ys)})
        entry["ref"] = f"{r.name}.ref.npz"
        entry["keras_reload"] = reload
    return entry


def child_main(lib_name, stage, only):
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    lib = gen.Lib(lib_name)
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)

    layers = enumerate_layers(lib)
    activations = enumerate_activations(lib)
    rows = [r for r in TABLE if lib_name in r.libs] + activation_rows(lib_name, lib.K, sorted(activations))
    for r in rows:
        if not r.cls.startswith("activation:") and r.cls not in layers:
            raise SystemExit(f"row {r.name}: {lib_name} has no layer class {r.cls}")
    stage.mkdir(parents=True, exist_ok=True)
    models = {}
    for r in rows:
        if only and r.name not in only:
            continue
        print(f"[{lib_name}] {r.name}", flush=True)
        models[r.name] = build_row(lib, r, stage, layers)

    covered, problems = {}, []
    for name, entry in models.items():
        if entry["class"] in layers and "classes" in entry and entry["class"] not in entry["classes"]:
            problems.append(f"row {name}: its file's config does not name {entry['class']}")
        if entry.get("files"):   # a row that no file could be saved for measures nothing
            for cls in entry["classes"]:
                covered.setdefault(cls, []).append(name)
    classes = {}
    for cls, aliases in sorted(layers.items()):
        info = {"aliases": aliases} if aliases else {}
        if cls in covered:
            info["rows"] = sorted(covered[cls])
            if cls in EXCLUDED[lib_name]:
                problems.append(f"{cls} is excluded but a row covers it")
        elif cls in EXCLUDED[lib_name]:
            info["excluded"] = EXCLUDED[lib_name][cls]
        else:
            problems.append(f"{cls} has no row and no exclusion")
        classes[cls] = info
    problems += [f"exclusion {cls} names no class" for cls in EXCLUDED[lib_name] if cls not in layers]
    acts = {}
    for name, aliases in sorted(activations.items()):
        info = {"aliases": aliases} if aliases else {}
        info["rows"] = sorted(n for n, e in models.items() if e["class"] == f"activation:{name}")
        if name in STRING_EXCLUDED:
            info["string_form_excluded"] = STRING_EXCLUDED[name]
        acts[name] = info
    if problems and not only:
        raise SystemExit(f"{lib_name} catalogue incomplete:\n  " + "\n  ".join(problems))
    part = {"keras_version": lib.version, "backend": "tensorflow", "formats": list(FORMATS[lib_name]),
            "classes": classes, "activations": acts, "not_activations": NOT_ACTIVATIONS, "models": models}
    (stage / "index-part.json").write_text(json.dumps(part, sort_keys=True))


# ===========================================================================
# Parent: run the children, pack the archives, write index.json
# ===========================================================================

def archive_members(path):
    """{name: bytes} of a catalogue archive, or {} if there is none."""
    if not path.exists():
        return {}
    with tarfile.open(path, "r:xz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def pack(lib, stage):
    """Write catalogue/<lib>.tar.xz from the staged files: plain members in name order with fixed
    metadata, one xz stream. A .keras member whose content matches the old archive's apart from
    save date and ids is kept byte for byte, and so is the whole archive if no member changed."""
    target = OUT_DIR / f"{lib}.tar.xz"
    old = archive_members(target)
    members = {}
    for path in sorted(stage.iterdir()):
        if path.name == "index-part.json":
            continue
        data = path.read_bytes()
        if path.suffix == ".keras" and path.name in old and \
                gen.archive_payload(io.BytesIO(old[path.name])) == gen.archive_payload(io.BytesIO(data)):
            data = old[path.name]
        members[path.name] = data
    if members == old:
        return
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    target.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))


def parent_main(args):
    libs = LIBS if args.lib == "all" else (args.lib,)
    OUT_DIR.mkdir(exist_ok=True)
    index_path = OUT_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    env = dict(os.environ, PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory(prefix="kconv-catalogue-") as scratch:
        procs = []
        for lib in libs:
            stage = Path(scratch) / lib
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", lib, "--stage", str(stage)]
            procs.append((lib, stage, subprocess.Popen(cmd, env=env)))
            if not args.parallel:
                procs[-1][2].wait()
        failed = [lib for lib, _, p in procs if p.wait() != 0]
        if failed:
            sys.exit(f"catalogue generation failed for: {', '.join(failed)}")
        for lib, stage, _ in procs:
            index[lib] = json.loads((stage / "index-part.json").read_text())
            pack(lib, stage)
    index = {lib: index[lib] for lib in LIBS if lib in index}
    index_path.write_text(gen.dump_json(index) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", choices=["all", *LIBS], default="all", help="which library's half to (re)generate")
    ap.add_argument("--parallel", action="store_true", help="run the Keras 2 and Keras 3 children at once")
    ap.add_argument("--child", choices=LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--stage", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--only", action="append", help=argparse.SUPPRESS)  # with --child: these rows (debugging)
    args = ap.parse_args()
    if args.child:
        child_main(args.child, args.stage, set(args.only or []))
        return
    started = time.time()
    parent_main(args)
    print(f"catalogue written in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
