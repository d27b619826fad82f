#!/usr/bin/env python3
"""Generate kconv's test fixtures with the real Keras.

Usage (from the repository root):

    .venv/bin/python Fixtures/generate.py                 # everything (default)
    .venv/bin/python Fixtures/generate.py --lib keras2    # only the Keras 2 half of each case
    .venv/bin/python Fixtures/generate.py --case seed_td_lstm --case merge

Writes
    Fixtures/cases/<case>/   one small model per case, saved by tf_keras (Keras 2) and by
                             keras 3 in every format each can write, with expected.json
                             (layer/param/shape facts from Keras itself) and reference
                             inputs/outputs (*.ref.npz).
    Fixtures/bad/            deliberately broken files derived from the real fixtures.

A full run (no --lib/--case) deletes and rewrites both folders.  Output is deterministic:
every case seeds its weights and inputs from its own name, and Keras's name counters are
reset before each case, so running a subset with --case gives the same files as a full
run, byte for byte.  The one exception is .keras archives (date_saved, zip timestamps,
id()-based shared_object_id values); an archive whose content is otherwise unchanged is
put back as it was, so a rerun leaves git clean.

Structure: the parent process never imports TensorFlow.  It starts one child process
per library (`--child keras2`, `--child keras3`; run concurrently), each of which builds
every case with its library and writes `cases/<case>/.expected-<lib>.json`.  The parent
then merges those halves into `expected.json`, adds a Keras 2 vs Keras 3 output
comparison, and derives Fixtures/bad/ from the real files with h5py/zipfile only.

Case definitions are the `@case(...)` functions below.  Each receives `k`, a small
adapter over the library being used (k.L = layers, k.Model, k.Sequential, k.Input,
k.lib = "keras2" | "keras3"), and returns a built model.  Both libraries run the same
function, so the same architecture is produced by each.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

# Quiet, CPU-only, reproducible TensorFlow; must be set before TensorFlow is imported.
for _k, _v in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("CUDA_VISIBLE_DEVICES", ""),
               ("KERAS_BACKEND", "tensorflow"), ("TF_ENABLE_ONEDNN_OPTS", "0"),
               ("TF_USE_LEGACY_KERAS", "0")):
    os.environ.setdefault(_k, _v)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Scripts"))
import keras_reference  # noqa: E402  (the per-layer outputs users get, computed the same way)
CASES_DIR = HERE / "cases"
BAD_DIR = HERE / "bad"
LIBS = ("keras2", "keras3")

BATCH = 3          # batch size of the reference inputs
NONE_DIM = 7       # concrete length used for every unknown (None) non-batch dimension
WEIGHT_STD = 0.3   # random weights ~ N(0, 0.3^2); BN moving_variance ~ U(0.5, 1.5)
# tf_keras's own .keras archive (an extra dialect: Keras 2 config + Keras 3 style weights)
# is written only for models up to this many parameters, to bound the fixtures' size.
KERAS2_ARCHIVE_MAX_PARAMS = 5000


def crc(text):
    """A stable 32-bit seed derived from a string (Python's hash() is salted)."""
    return zlib.crc32(text.encode("utf-8"))


# ---------------------------------------------------------------------------
# Case registry
# ---------------------------------------------------------------------------

class Case:
    def __init__(self, name, build, doc, feeds, skip, must_fail, unsupported, load_unsafe, layer_outputs,
                 reference=None, subclassed_inputs=None, one_file=False):
        self.name = name
        self.build = build
        self.doc = doc
        self.feeds = feeds or {}              # input index -> how to draw that input
        self.skip = skip or {}                # lib -> reason (case deliberately not built)
        self.must_fail = must_fail or {}      # lib -> why building genuinely fails there
        self.unsupported = list(unsupported)  # features kconv is expected to reject
        self.load_unsafe = load_unsafe        # needs safe_mode=False to reload (Lambda)
        self.layer_outputs = layer_outputs    # also write every layer's output (<lib>.layers.npz)
        self.reference = reference            # builds the model whose outputs are the reference
        self.subclassed_inputs = subclassed_inputs  # a Model subclass's input shapes (it has no graph inputs)
        self.one_file = one_file              # only tf-keras's .h5 and Keras 3's .keras (a large model)


CASES = []


def case(name, doc, *, feeds=None, skip=None, must_fail=None, unsupported=(),
         load_unsafe=False, layer_outputs=False, reference=None, subclassed_inputs=None, one_file=False):
    """Register a fixture case.

    feeds: {input_index: spec} for inputs that are not plain float32 noise:
        {"int": n}                 integers in [0, n) (Embedding inputs), stored as int32
        {"int": n, "pad": True}    integers in [1, n) with trailing zeros (padding for
                                   Embedding(mask_zero=True)); sample b keeps a different length
        {"zero_tail": True}        float noise whose trailing timesteps are all 0.0 (Masking)
        {"words": [...]}           strings drawn from the list plus one unknown word (string inputs),
                                   stored as a numpy unicode array
    skip: {lib: reason} -- the case is not built with that library at all.
    must_fail: {lib: reason} -- building is attempted and must raise; the error is recorded.
    layer_outputs: also write <lib>.layers.npz: the reference plus every layer's output as
        layer/<name>, as Scripts/keras_reference.py --layers does (for kconv verify's localisation).
    reference: fn(k) building the model Keras runs in place of the saved one (a GPU-only class such
        as CuDNNLSTM), which loads the saved model's weights through Keras's own conversion; the
        saved files are then not reloaded and run.
    subclassed_inputs: [shape, ...] (batch axis None) -- the case builds a Model subclass, whose structure
        is its Python call() and whose only facts in a file are its constructor arguments and weights:
        expected.json records its class, count_params and every weight's path and shape instead of layers.
    one_file: save only the file each library's users save (tf-keras's .h5, Keras 3's .keras), to keep a
        large model's fixture small; the small cases cover the other formats.
    """
    def register(fn):
        assert all(c.name != name for c in CASES), name
        CASES.append(Case(name, fn, doc, feeds, skip, must_fail, unsupported, load_unsafe, layer_outputs, reference,
                          subclassed_inputs, one_file))
        return fn
    return register


# ---------------------------------------------------------------------------
# Seed examples: the models from the user's blog posts (/work/shared/seeds).
# Sizes follow the posts exactly unless a comment says otherwise.
# ---------------------------------------------------------------------------

@case("seed_td_lstm",
      "Seed 000: Sequential TimeDistributed(LSTM(32)) + TimeDistributed(Dense(1, sigmoid)); "
      "the post's summary says 4352 + 33 = 4385 params. The post's input_shape=(10, 1) "
      "cannot work (TimeDistributed(LSTM) needs 4-D input), so input_shape=(10, 5, 1).")
def seed_td_lstm(k):
    L = k.L
    return k.Sequential([
        L.TimeDistributed(L.LSTM(32), input_shape=(10, 5, 1)),
        L.TimeDistributed(L.Dense(1, activation="sigmoid")),
    ])


@case("seed_lstm_one_to_one",
      "Seed 001 one_to_one(): Sequential LSTM(5, input_shape=(1, 1)) + Dense(1).")
def seed_lstm_one_to_one(k):
    L = k.L
    return k.Sequential([L.LSTM(units=5, input_shape=(1, 1)), L.Dense(1)])


@case("seed_lstm_many_to_one",
      "Seed 001 many_to_one(): Sequential LSTM(5, input_shape=(5, 1)) + Dense(5).")
def seed_lstm_many_to_one(k):
    L = k.L
    return k.Sequential([L.LSTM(units=5, input_shape=(5, 1)), L.Dense(5)])


@case("seed_lstm_many_to_many",
      "Seed 001 many_to_many(): Sequential LSTM(5, return_sequences=True, input_shape=(5, 1)) "
      "+ TimeDistributed(Dense(1)).")
def seed_lstm_many_to_many(k):
    L = k.L
    return k.Sequential([
        L.LSTM(units=5, return_sequences=True, input_shape=(5, 1)),
        L.TimeDistributed(L.Dense(1)),
    ])


@case("seed_attention",
      "Seed 001 (appended answer): dot-product attention over a BiLSTM. Input(shape=(None,)) "
      "(float32, as in the post) -> Embedding -> Bidirectional(LSTM, return_sequences) -> "
      "Permute((2,1)) -> Dot(axes=[2,1]) -> Activation('softmax') -> Dot(axes=[2,1]) -> "
      "Concatenate(axis=2) -> TimeDistributed(Dense(relu)) -> TimeDistributed(Dense(softmax)). "
      "The post leaves sizes undefined; chosen: vocab 50, embedding 8, lstm 16, dense 16, "
      "output vocab 12. Reference inputs are integer token ids (int32) fed to a float32 input.",
      feeds={0: {"int": 50}}, layer_outputs=True)
def seed_attention(k):
    L = k.L
    vocab_size, embedding_dim, lstm_units, dense_units, output_vocab_size = 50, 8, 16, 16, 12

    def attention(a, b):
        a_reshape = L.Permute((2, 1))(a)
        score = L.Dot(axes=[2, 1])([b, a_reshape])
        alignment = L.Activation("softmax")(score)
        context = L.Dot(axes=[2, 1])([alignment, a])
        return context

    input_layer = L.Input(shape=(None,))
    embedding_layer = L.Embedding(input_dim=vocab_size, output_dim=embedding_dim)(input_layer)
    lstm_layer = L.Bidirectional(L.LSTM(units=lstm_units, return_sequences=True))(embedding_layer)
    attention_layer = attention(lstm_layer, lstm_layer)
    concat_layer = L.Concatenate(axis=2)([lstm_layer, attention_layer])
    dense_layer = L.TimeDistributed(L.Dense(units=dense_units, activation="relu"))(concat_layer)
    output_layer = L.TimeDistributed(L.Dense(units=output_vocab_size, activation="softmax"))(dense_layer)
    return k.Model(inputs=[input_layer], outputs=[output_layer])


# Seed 002 uses Embedding(output_dim=512, input_dim=10000, input_length=100). That table
# alone would be 20 MB per file, so vocabulary and embedding width are shrunk to 100 x 16;
# the LSTM/Dense sizes and the sequence length stay as posted.
SEED002_VOCAB, SEED002_EMBED = 100, 16


def _embedding_100(k):
    # input_length is a Keras 2 argument (Keras 3 deprecates and ignores it).
    extra = {"input_length": 100} if k.lib == "keras2" else {}
    return k.L.Embedding(output_dim=SEED002_EMBED, input_dim=SEED002_VOCAB, **extra)


@case("seed_bidir_embedding_lstm",
      "Seed 002 first snippet: Input((100,), int32, name='main_input') -> Embedding -> "
      "Bidirectional(LSTM(32)). Embedding shrunk from 10000x512 to 100x16.",
      feeds={0: {"int": SEED002_VOCAB}})
def seed_bidir_embedding_lstm(k):
    L = k.L
    main_input = L.Input(shape=(100,), dtype="int32", name="main_input")
    x = _embedding_100(k)(main_input)
    x = L.Bidirectional(L.LSTM(32))(x)
    return k.Model(inputs=main_input, outputs=x)


@case("seed_bidir_lstm_td_dense_int_input",
      "Seed 002 second snippet exactly as posted: Input((5,1), dtype='int32') -> "
      "Bidirectional(LSTM(32, return_sequences=True)) -> TimeDistributed(Dense(2)). "
      "The int32 input goes straight into the LSTM.",
      feeds={0: {"int": 10}},
      must_fail={"keras2": "tf_keras does not cast an int32 input for LSTM's MatMul"})
def seed_bidir_lstm_td_dense_int_input(k):
    L = k.L
    main_input = L.Input(shape=(5, 1), dtype="int32", name="main_input")
    lstm = L.Bidirectional(L.LSTM(32, return_sequences=True))(main_input)
    timedistributed = L.TimeDistributed(L.Dense(2))(lstm)
    return k.Model(inputs=main_input, outputs=timedistributed)


@case("seed_bidir_lstm_td_dense",
      "Seed 002 second snippet with a float32 input (what the post evidently means; the int32 "
      "version is seed_bidir_lstm_td_dense_int_input): Input((5,1)) -> "
      "Bidirectional(LSTM(32, return_sequences=True)) -> TimeDistributed(Dense(2)).")
def seed_bidir_lstm_td_dense(k):
    L = k.L
    main_input = L.Input(shape=(5, 1), name="main_input")
    lstm = L.Bidirectional(L.LSTM(32, return_sequences=True))(main_input)
    timedistributed = L.TimeDistributed(L.Dense(2))(lstm)
    return k.Model(inputs=main_input, outputs=timedistributed)


@case("seed_bidir_embedding_td_softmax",
      "Seed 002 third snippet: Input((100,), int32) -> Embedding -> "
      "Bidirectional(LSTM(64, return_sequences=True)) -> TimeDistributed(Dense(10, softmax)). "
      "Embedding shrunk from 10000x512 to 100x16.",
      feeds={0: {"int": SEED002_VOCAB}})
def seed_bidir_embedding_td_softmax(k):
    L = k.L
    main_input = L.Input(shape=(100,), dtype="int32", name="main_input")
    x = _embedding_100(k)(main_input)
    x = L.Bidirectional(L.LSTM(64, return_sequences=True))(x)
    output = L.TimeDistributed(L.Dense(10, activation="softmax"))(x)
    return k.Model(inputs=main_input, outputs=output)


@case("seed_lstm_sequences",
      "Seed 003 example 1: Input((2, 3)) -> LSTM(4, return_sequences=True) (functional; the "
      "post's Keras 1 Model(input=, output=) spelled inputs=/outputs=).")
def seed_lstm_sequences(k):
    L = k.L
    model_input = L.Input(shape=(2, 3))
    model_output = L.LSTM(4, return_sequences=True)(model_input)
    return k.Model(inputs=model_input, outputs=model_output)


@case("seed_lstm_last_step",
      "Seed 003 example 2: Input((2, 3)) -> LSTM(4, return_sequences=False).")
def seed_lstm_last_step(k):
    L = k.L
    model_input = L.Input(shape=(2, 3))
    model_output = L.LSTM(4, return_sequences=False)(model_input)
    return k.Model(inputs=model_input, outputs=model_output)


@case("seed_td_conv2d_video",
      "Seed 004: TimeDistributed(Conv2D(16, kernel_size=3)) over video frames. The post's "
      "PyTorch input is (3, 5, 3, 256, 256) channels-first; here 5 frames of 8x8x3 "
      "channels-last (frames shrunk to keep the reference outputs small).")
def seed_td_conv2d_video(k):
    L = k.L
    return k.Sequential([
        k.input_layer((5, 8, 8, 3)),
        L.TimeDistributed(L.Conv2D(16, kernel_size=3)),
    ])


# ---------------------------------------------------------------------------
# Recurrent layers and their wrappers
# ---------------------------------------------------------------------------

@case("bidir_merge_modes",
      "Bidirectional(LSTM(4, return_sequences=True)) once per merge_mode: concat, sum, mul, "
      "ave and None (None gives two outputs, forward then backward). Six model outputs.")
def bidir_merge_modes(k):
    L = k.L
    x = L.Input(shape=(6, 3), name="seq")
    outputs = []
    for mode in ("concat", "sum", "mul", "ave"):
        outputs.append(L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=mode,
                                       name=f"bidir_{mode}")(x))
    fwd, bwd = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=None,
                               name="bidir_none")(x)
    return k.Model(x, outputs + [fwd, bwd])


@case("bidir_return_state",
      "Bidirectional(LSTM(5, return_sequences=True, return_state=True)) in a functional model: "
      "outputs are the merged sequence plus forward h, forward c, backward h, backward c; "
      "a Bidirectional(GRU(3, return_state=True)) adds merged output + 2 states.")
def bidir_return_state(k):
    L = k.L
    x = L.Input(shape=(6, 3), name="seq")
    seq, h_f, c_f, h_b, c_b = L.Bidirectional(
        L.LSTM(5, return_sequences=True, return_state=True), name="bidir_lstm_state")(x)
    g, gh_f, gh_b = L.Bidirectional(L.GRU(3, return_state=True), name="bidir_gru_state")(x)
    return k.Model(x, [seq, h_f, c_f, h_b, c_b, g, gh_f, gh_b])


@case("bidir_custom_backward",
      "Bidirectional with an explicit backward_layer (LSTM with go_backwards=True and a "
      "different activation, relu) -> its config carries backward_layer in both versions.")
def bidir_custom_backward(k):
    L = k.L
    forward = L.LSTM(4, return_sequences=True, name="custom_forward")
    backward = L.LSTM(4, return_sequences=True, go_backwards=True, activation="relu",
                      name="custom_backward")
    return k.Sequential([
        L.Bidirectional(forward, backward_layer=backward, input_shape=(6, 3)),
        L.Dense(2),
    ])


@case("rnn_go_backwards",
      "go_backwards=True on plain RNNs: LSTM with return_sequences (its output stays in "
      "reversed time order), then SimpleRNN and GRU returning the last step.")
def rnn_go_backwards(k):
    L = k.L
    return k.Sequential([
        L.LSTM(4, return_sequences=True, go_backwards=True, input_shape=(6, 3)),
        L.SimpleRNN(3, return_sequences=True, go_backwards=True),
        L.GRU(3, go_backwards=True),
    ])


@case("bidir_forward_go_backwards",
      "Bidirectional(SimpleRNN(3, return_sequences=True, go_backwards=True)): the wrapped "
      "layer itself runs backwards, so Keras 2's generated backward layer runs forwards.",
      must_fail={"keras3": "Keras 3 always gives the generated backward layer "
                           "go_backwards=True, so it rejects a forward layer that already "
                           "goes backwards"})
def bidir_forward_go_backwards(k):
    L = k.L
    return k.Sequential([
        L.Bidirectional(L.SimpleRNN(3, return_sequences=True, go_backwards=True),
                        input_shape=(6, 3)),
        L.Dense(2),
    ])


@case("bidir_gru_simplernn",
      "Bidirectional(GRU(4, return_sequences=True)) -> Bidirectional(SimpleRNN(3)) -> Dense(2).")
def bidir_gru_simplernn(k):
    L = k.L
    return k.Sequential([
        L.Bidirectional(L.GRU(4, return_sequences=True), input_shape=(6, 3)),
        L.Bidirectional(L.SimpleRNN(3)),
        L.Dense(2),
    ])


@case("gru_reset_after",
      "GRU reset_after=True (bias shape (2, 3u)) and reset_after=False (bias (3u)) side by "
      "side on the same input; two outputs.")
def gru_reset_after(k):
    L = k.L
    x = L.Input(shape=(6, 3))
    a = L.GRU(5, reset_after=True, return_sequences=True, name="gru_reset_after")(x)
    b = L.GRU(5, reset_after=False, name="gru_reset_before")(x)
    return k.Model(x, [a, b])


@case("simple_rnn",
      "SimpleRNN(6, return_sequences=True) -> SimpleRNN(4, activation='relu') -> Dense(1).")
def simple_rnn(k):
    L = k.L
    return k.Sequential([
        L.SimpleRNN(6, return_sequences=True, input_shape=(6, 3)),
        L.SimpleRNN(4, activation="relu"),
        L.Dense(1),
    ])


@case("lstm_hard_sigmoid",
      "LSTM(5, recurrent_activation='hard_sigmoid'): the name means clip(0.2x+0.5) in Keras 2 "
      "but relu6(x+3)/6 in Keras 3, so the two reference outputs differ.")
def lstm_hard_sigmoid(k):
    L = k.L
    return k.Sequential([
        L.LSTM(5, recurrent_activation="hard_sigmoid", return_sequences=True, input_shape=(6, 3)),
        L.LSTM(4, recurrent_activation="hard_sigmoid", activation="relu"),
    ])


@case("hard_sigmoid_layers",
      "hard_sigmoid wherever an affine map of the weights is its argument: Dense, Conv1D, SeparableConv1D "
      "and TimeDistributed(Dense) activations, SimpleRNN's activation, GRU's (reset_after both ways) "
      "activation and recurrent_activation, Bidirectional(LSTM)'s recurrent_activation. Rescaling(6) "
      "first, so that arguments reach both clip edges and the linear part between. Keras 2 and 3 "
      "compute different functions by that name; kconv converts each exactly by scaling the weights.")
def hard_sigmoid_layers(k):
    L = k.L
    x = L.Input(shape=(6, 3))
    h = L.Rescaling(6.0)(x)
    dense = L.Dense(4, activation="hard_sigmoid")(h)
    conv = L.Conv1D(4, 2, padding="same", activation="hard_sigmoid")(h)
    separable = L.SeparableConv1D(4, 2, padding="same", activation="hard_sigmoid")(h)
    distributed = L.TimeDistributed(L.Dense(3, activation="hard_sigmoid"))(h)
    simple = L.SimpleRNN(3, activation="hard_sigmoid", return_sequences=True)(h)
    gru = L.GRU(3, activation="hard_sigmoid", recurrent_activation="hard_sigmoid", reset_after=True,
                return_sequences=True)(h)
    gru_v1 = L.GRU(3, recurrent_activation="hard_sigmoid", reset_after=False, return_sequences=True)(h)
    lstm = L.Bidirectional(L.LSTM(3, recurrent_activation="hard_sigmoid", return_sequences=True))(h)
    return k.Model(x, L.Concatenate()([dense, conv, separable, distributed, simple, gru, gru_v1, lstm]))


@case("hard_activations",
      "Standalone Activation('hard_sigmoid') (Keras 2: clip(0.2x+0.5, 0, 1); Keras 3: clip(x/6+0.5, 0, 1)) and, "
      "in Keras 3 only (tf-keras has no such activation), Activation('hard_swish') and its alias 'hard_silu' "
      "(x * clip(x/6+0.5, 0, 1)). Rescaling(4) first, so that arguments reach both clip edges and the linear "
      "part between. No weights feed them, so kconv writes each for the other Keras as layers it has: a "
      "Rescaling before hard_sigmoid, and for hard_swish a Multiply by the input.")
def hard_activations(k):
    L = k.L
    x = L.Input(shape=(6,))
    h = L.Rescaling(4.0)(x)
    names = ["hard_sigmoid"] + (["hard_swish", "hard_silu"] if k.lib == "keras3" else [])
    return k.Model(x, [L.Activation(name, name=f"act_{name}")(h) for name in names])


@case("slash_names",
      "Layer names with '/', as tf-keras's applications give them (MobileNetV3's 'expanded_conv/depthwise/pad' "
      "before 'expanded_conv/depthwise' and 'expanded_conv/depthwise/BatchNorm'): tf-keras stores each layer's "
      "weights in a group of that path, in name order; Keras 3 refuses such names, so kconv renames them for it "
      "('/' -> '_'), and 'block_conv', a name taken already, makes 'block/conv' become 'block_conv_1'.",
      skip={"keras3": "Keras 3 refuses layer names containing '/'"})
def slash_names(k):
    L = k.L
    x = L.Input(shape=(6, 6, 2))
    h = L.ZeroPadding2D(1, name="block/conv/pad")(x)
    h = L.Conv2D(3, 3, name="block/conv")(h)
    h = L.BatchNormalization(name="block/conv/BatchNorm")(h)
    h = L.Conv2D(3, 1, name="block_conv")(h)
    return k.Model(x, L.GlobalAveragePooling2D(name="pool")(h))


@case("masking_lstm",
      "Masking(mask_value=0.0) -> LSTM(5, return_sequences=True) -> LSTM(4). Reference inputs "
      "have trailing all-zero timesteps (masked).",
      feeds={0: {"zero_tail": True}})
def masking_lstm(k):
    L = k.L
    return k.Sequential([
        L.Masking(mask_value=0.0, input_shape=(6, 3)),
        L.LSTM(5, return_sequences=True),
        L.LSTM(4),
    ])


# ---------------------------------------------------------------------------
# Generic RNN over cells, ConvLSTM, and Keras 2's cuDNN layers
# ---------------------------------------------------------------------------

@case("rnn_cells",
      "RNN over each cell: RNN(SimpleRNNCell(3), return_sequences) -> RNN(LSTMCell(4), go_backwards, "
      "return_sequences) -> RNN(GRUCell(3), return_state) and RNN(GRUCell(2, reset_after=False)).")
def rnn_cells(k):
    L = k.L
    x = L.Input(shape=(6, 3))
    h = L.RNN(L.SimpleRNNCell(3), return_sequences=True)(x)
    h = L.RNN(L.LSTMCell(4), go_backwards=True, return_sequences=True)(h)
    out, state = L.RNN(L.GRUCell(3), return_state=True)(h)
    other = L.RNN(L.GRUCell(2, reset_after=False))(h)
    return k.Model(x, [out, state, other])


@case("rnn_stacked_cells_mask",
      "Masking -> RNN(StackedRNNCells([LSTMCell(4), GRUCell(3)]), return_sequences, return_state) "
      "(every cell's states returned) -> RNN([SimpleRNNCell(3), LSTMCell(2)], go_backwards): the mask "
      "reaches stacked cells, backwards. Reference inputs have trailing all-zero timesteps.",
      feeds={0: {"zero_tail": True}})
def rnn_stacked_cells_mask(k):
    L = k.L
    x = L.Input(shape=(6, 3))
    m = L.Masking(mask_value=0.0)(x)
    outputs = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), return_sequences=True, return_state=True)(m)
    last = L.RNN([L.SimpleRNNCell(3), L.LSTMCell(2)], go_backwards=True)(outputs[0])
    return k.Model(x, [last] + flatten(outputs[1:]))


@case("rnn_cells_bidirectional",
      "Masking -> Bidirectional(RNN(LSTMCell(3), return_sequences)) -> Bidirectional(RNN(GRUCell(2)), "
      "merge_mode='sum'). Reference inputs have trailing all-zero timesteps.",
      feeds={0: {"zero_tail": True}})
def rnn_cells_bidirectional(k):
    L = k.L
    return k.Sequential([
        k.input_layer((6, 3)),
        L.Masking(mask_value=0.0),
        L.Bidirectional(L.RNN(L.LSTMCell(3), return_sequences=True)),
        L.Bidirectional(L.RNN(L.GRUCell(2)), merge_mode="sum"),
    ])


@case("conv_lstm1d",
      "ConvLSTM1D(3, 3, padding='same', return_sequences) -> ConvLSTM1D(2, 2, strides=2, go_backwards, "
      "return_state) with the library's default recurrent_activation (tf-keras hard_sigmoid, Keras 3 "
      "sigmoid), and ConvLSTM1D(2, 3, dilation_rate=2) on the input.")
def conv_lstm1d(k):
    L = k.L
    x = L.Input(shape=(4, 9, 2))
    h = L.ConvLSTM1D(3, 3, padding="same", return_sequences=True)(x)
    out, h_state, c_state = L.ConvLSTM1D(2, 2, strides=2, go_backwards=True, return_state=True)(h)
    dilated = L.ConvLSTM1D(2, 3, dilation_rate=2, recurrent_activation="sigmoid")(x)
    return k.Model(x, [out, h_state, c_state, dilated])


@case("conv_lstm2d",
      "ConvLSTM2D(3, 3, return_sequences, sigmoid gates) -> ConvLSTM2D(2, 2, strides=2, padding='same', "
      "go_backwards, relu activation, sigmoid gates).")
def conv_lstm2d(k):
    L = k.L
    return k.Sequential([
        k.input_layer((3, 7, 6, 2)),
        L.ConvLSTM2D(3, 3, return_sequences=True, recurrent_activation="sigmoid"),
        L.ConvLSTM2D(2, 2, strides=2, padding="same", go_backwards=True, activation="relu",
                     recurrent_activation="sigmoid"),
    ])


@case("conv_lstm2d_mask",
      "ConvLSTM2D(2, 3, padding='same', return_sequences) called with mask=any(x != 0) over each "
      "step (Keras 3 operation nodes), then ConvLSTM2D(2, 2) reading the mask the first passes on. "
      "Reference inputs have trailing all-zero timesteps.",
      feeds={0: {"zero_tail": True}},
      skip={"keras2": "tf-keras records the mask's tf.* calls as TFOpLambda layers, which kconv does not run yet"})
def conv_lstm2d_mask(k):
    L, ops = k.L, k.K.ops
    x = L.Input(shape=(5, 4, 4, 2))
    mask = ops.any(ops.not_equal(x, 0.0), axis=(2, 3, 4))
    h = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True)(x, mask=mask)
    return k.Model(x, L.ConvLSTM2D(2, 2, recurrent_activation="sigmoid")(h))


@case("conv_lstm3d",
      "ConvLSTM3D(2, 2, return_sequences, sigmoid gates) on (3, 4, 4, 3, 1) steps.")
def conv_lstm3d(k):
    L = k.L
    return k.Sequential([
        k.input_layer((3, 4, 4, 3, 1)),
        L.ConvLSTM3D(2, 2, return_sequences=True, recurrent_activation="sigmoid"),
    ])


def cudnn_equivalent(k):
    """The LSTM/GRU model Keras 2's loader converts cudnn_rnn's weights into."""
    L = k.L
    return k.Sequential([
        k.input_layer((5, 3)),
        L.LSTM(4, return_sequences=True, recurrent_activation="sigmoid"),
        L.GRU(3, reset_after=True, recurrent_activation="sigmoid"),
    ])


@case("cudnn_rnn",
      "Keras 2's GPU-only CuDNNLSTM(4, return_sequences) -> CuDNNGRU(3), saved by tf-keras; the "
      "reference is LSTM/GRU(reset_after=True) loading that file's weights through Keras's own "
      "cuDNN conversion (_convert_rnn_weights).",
      skip={"keras3": "Keras 3 has no CuDNNLSTM or CuDNNGRU"},
      reference=cudnn_equivalent)
def cudnn_rnn(k):
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM
    return k.Sequential([
        k.input_layer((5, 3)),
        CuDNNLSTM(4, return_sequences=True),
        CuDNNGRU(3),
    ])


@case("embedding_mask_gru",
      "Embedding(20, 6, mask_zero=True) -> GRU(5, return_sequences=True) -> GRU(4) -> Dense(2). "
      "Reference token ids are zero-padded at the end.",
      feeds={0: {"int": 20, "pad": True}})
def embedding_mask_gru(k):
    L = k.L
    x = L.Input(shape=(8,), dtype="int32", name="tokens")
    h = L.Embedding(20, 6, mask_zero=True)(x)
    h = L.GRU(5, return_sequences=True)(h)
    h = L.GRU(4)(h)
    return k.Model(x, L.Dense(2)(h))


@case("td_bidir_lstm",
      "TimeDistributed(Bidirectional(LSTM(4))) over (batch, 4, 6, 3): a wrapper of a wrapper.")
def td_bidir_lstm(k):
    L = k.L
    return k.Sequential([
        L.TimeDistributed(L.Bidirectional(L.LSTM(4)), input_shape=(4, 6, 3)),
        L.TimeDistributed(L.Dense(2)),
    ])


@case("bidir_over_td",
      "Bidirectional RNN over TimeDistributed outputs: TimeDistributed(Dense(6, tanh)) -> "
      "TimeDistributed(Dropout) -> Bidirectional(LSTM(4)) -> Dense(3).")
def bidir_over_td(k):
    L = k.L
    return k.Sequential([
        L.TimeDistributed(L.Dense(6, activation="tanh"), input_shape=(5, 4)),
        L.TimeDistributed(L.Dropout(0.3)),
        L.Bidirectional(L.LSTM(4)),
        L.Dense(3),
    ])


# ---------------------------------------------------------------------------
# Model structure: nesting, sharing, several inputs/outputs, Sequential styles
# ---------------------------------------------------------------------------

@case("nested_sequential_in_functional",
      "A Sequential (Dense(5, relu) -> BatchNormalization -> Dense(3)) used as a layer of a "
      "Functional model: Input(6) -> Dense(6) -> [Sequential] -> Dense(2).")
def nested_sequential_in_functional(k):
    L = k.L
    inner = k.Sequential([
        L.Dense(5, activation="relu", input_shape=(6,)),
        L.BatchNormalization(),
        L.Dense(3),
    ], name="inner_sequential")
    x = L.Input(shape=(6,), name="features")
    h = L.Dense(6, activation="tanh")(x)
    h = inner(h)
    return k.Model(x, L.Dense(2)(h), name="outer_functional")


@case("nested_functional_in_sequential",
      "A Functional model (two Dense branches added) used as a layer of a Sequential: "
      "InputLayer(5) -> [Functional] -> Dense(2).")
def nested_functional_in_sequential(k):
    L = k.L
    i = L.Input(shape=(5,), name="inner_input")
    a = L.Dense(4, activation="relu")(i)
    b = L.Dense(4, activation="sigmoid")(i)
    inner = k.Model(i, L.Add()([a, b]), name="inner_functional")
    return k.Sequential([
        k.input_layer((5,)),
        inner,
        L.Dense(2),
    ], name="outer_sequential")


@case("td_sequential",
      "TimeDistributed(Sequential([Dense(5, relu), Dense(3)])) over (batch, 6, 4) -> "
      "GlobalAveragePooling1D.")
def td_sequential(k):
    L = k.L
    inner = k.Sequential([k.input_layer((4,)), L.Dense(5, activation="relu"), L.Dense(3)],
                         name="per_step")
    return k.Sequential([
        k.input_layer((6, 4)),
        L.TimeDistributed(inner),
        L.GlobalAveragePooling1D(),
    ])


@case("shared_layers",
      "Two inputs through one shared LSTM(4) and one shared Dense(3) (each layer has two "
      "inbound nodes); outputs Concatenate and Subtract of the two branches.")
def shared_layers(k):
    L = k.L
    a = L.Input(shape=(5, 3), name="left")
    b = L.Input(shape=(5, 3), name="right")
    lstm = L.LSTM(4, name="shared_lstm")
    dense = L.Dense(3, name="shared_dense")
    oa = dense(lstm(a))
    ob = dense(lstm(b))
    return k.Model([a, b], [L.Concatenate(name="joined")([oa, ob]),
                            L.Subtract(name="difference")([oa, ob])])


@case("shared_submodels",
      "Sub-models called at several nodes, nested two deep: a Functional 'encoder' (a Sequential "
      "'inner_block' (Dense(4, tanh) -> Dense(4)) called on two Dense(5) projections of its input, added to "
      "a Dense(4) skip) called on two inputs, then a Sequential 'head' (Dense(3, relu) -> Dense(2)) called on both encodings; "
      "outputs Concatenate and Subtract of the two heads, then the second encoding and the first head "
      "themselves (model outputs that name a sub-model's call). Keras 2 and 3 number the sub-models' "
      "nodes differently (Keras 2 counts a nested model's own internal node first).")
def shared_submodels(k):
    L = k.L
    inner = k.Sequential([k.input_layer((5,)), L.Dense(4, activation="tanh"), L.Dense(4)],
                         name="inner_block")
    e_in = L.Input(shape=(6,), name="encoder_input")
    h = L.Dense(5, activation="relu", name="encoder_dense")(e_in)
    g = L.Dense(5, activation="sigmoid", name="encoder_gate")(e_in)
    encoder = k.Model(e_in, L.Add(name="encoder_add")([inner(h), inner(g), L.Dense(4, name="skip")(e_in)]),
                      name="encoder")
    head = k.Sequential([k.input_layer((4,)), L.Dense(3, activation="relu"), L.Dense(2)], name="head")
    a = L.Input(shape=(6,), name="left")
    b = L.Input(shape=(6,), name="right")
    ha = head(encoder(a))
    eb = encoder(b)
    hb = head(eb)
    return k.Model([a, b], [L.Concatenate(name="joined")([ha, hb]),
                            L.Subtract(name="difference")([ha, hb]), eb, ha])


@case("multi_io",
      "Three inputs (float vector, float sequence, int tokens) and three outputs whose order "
      "differs from the layer order.",
      feeds={2: {"int": 12}})
def multi_io(k):
    L = k.L
    vec = L.Input(shape=(8,), name="vec")
    seq = L.Input(shape=(5, 6), name="seq")
    tok = L.Input(shape=(4,), dtype="int32", name="tok")
    v = L.Dense(4, activation="relu", name="vec_dense")(vec)
    s = L.GRU(4, name="seq_gru")(seq)
    t = L.Flatten(name="tok_flat")(L.Embedding(12, 3, name="tok_embed")(tok))
    joined = L.Concatenate(name="joined")([v, s, t])
    out_cls = L.Dense(3, activation="softmax", name="class_out")(joined)
    out_reg = L.Dense(1, name="reg_out")(s)
    out_aux = L.Dense(2, activation="sigmoid", name="aux_out")(v)
    return k.Model([vec, seq, tok], [out_reg, out_cls, out_aux])


@case("sequential_input_layer",
      "Sequential whose first entry is an explicit InputLayer((8,)): Dense(6, relu) -> "
      "Dense(4, use_bias=False) -> Dense(2, softmax).")
def sequential_input_layer(k):
    L = k.L
    return k.Sequential([
        k.input_layer((8,)),
        L.Dense(6, activation="relu"),
        L.Dense(4, use_bias=False),
        L.Dense(2, activation="softmax"),
    ])


@case("sequential_input_shape",
      "Sequential with input_shape=(8,) on the first layer (Keras 2 stores batch_input_shape "
      "on the Dense; Keras 3 turns it into an InputLayer entry).")
def sequential_input_shape(k):
    L = k.L
    return k.Sequential([
        L.Dense(6, activation="relu", input_shape=(8,)),
        L.Dense(3, activation="sigmoid"),
    ])


# ---------------------------------------------------------------------------
# Layer families
# ---------------------------------------------------------------------------

# Every built-in activation name asked for (plus mish); a name a library lacks is left out.
ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
               "swish", "silu", "gelu", "hard_sigmoid", "exponential", "linear", "relu6", "mish"]


@case("activations",
      "One Activation layer per built-in activation name, each on the same Dense(5) output, "
      "concatenated. 'swish' and 'silu' are both used: Keras 2 serialises both as 'swish', "
      "Keras 3 both as 'silu'.")
def activations(k):
    L = k.L
    x = L.Input(shape=(4,))
    h = L.Dense(5, name="pre")(x)
    branches = [L.Activation(name, name=f"act_{name}")(h)
                for name in ACTIVATIONS if k.has_activation(name)]
    return k.Model(x, L.Concatenate()(branches))


@case("advanced_activations",
      "ReLU (max_value; negative_slope; threshold; all three), LeakyReLU(0.2), PReLU "
      "(per-element alpha and shared_axes=[1]), ELU(alpha=0.5), Softmax(axis=1) on (batch, 4, 6).")
def advanced_activations(k):
    L = k.L
    x = L.Input(shape=(4, 6))
    leaky = L.LeakyReLU(alpha=0.2) if k.lib == "keras2" else L.LeakyReLU(negative_slope=0.2)
    outs = [
        L.ReLU(max_value=1.5)(x),
        L.ReLU(negative_slope=0.1)(x),
        L.ReLU(threshold=0.2)(x),
        L.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.3)(x),  # Keras 2 forbids < 0
        leaky(x),
        L.PReLU()(x),
        L.PReLU(shared_axes=[1])(x),
        L.ELU(alpha=0.5)(x),
        L.Softmax(axis=1)(x),
    ]
    return k.Model(x, L.Concatenate(axis=-1)(outs))


@case("core_reshaping",
      "Dense, Dropout, GaussianNoise (identity at inference), Flatten, RepeatVector, Reshape "
      "(incl. -1), Permute on (batch, 4, 6).")
def core_reshaping(k):
    L = k.L
    return k.Sequential([
        L.Dense(6, activation="relu", input_shape=(4, 6)),
        L.Dropout(0.5),
        L.GaussianNoise(0.1),
        L.Flatten(),                 # (24,)
        L.Dense(8),
        L.RepeatVector(3),           # (3, 8)
        L.Reshape((4, 6)),           # (4, 6)
        L.Permute((2, 1)),           # (6, 4)
        L.Reshape((-1, 2)),          # (12, 2)
        L.Dense(3),
    ])


@case("conv1d",
      "Conv1D valid / same+strides=2 / causal+dilation=2 / strides=2 without bias, with "
      "SpatialDropout1D, on (batch, 16, 3).")
def conv1d(k):
    L = k.L
    return k.Sequential([
        L.Conv1D(4, 3, padding="valid", activation="relu", input_shape=(16, 3)),  # (14, 4)
        L.Conv1D(5, 3, padding="same", strides=2),                                 # (7, 5)
        L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh"),      # (7, 4)
        L.SpatialDropout1D(0.3),
        L.Conv1D(3, 2, strides=2, use_bias=False),                                 # (3, 3)
    ])


@case("conv2d",
      "Conv2D valid / same+strides=2 / same+dilation (2,1) with a non-square kernel, "
      "SpatialDropout2D, Conv2DTranspose (same, strides 2) and (valid, kernel (2,3)) "
      "on (batch, 12, 12, 3).")
def conv2d(k):
    L = k.L
    return k.Sequential([
        L.Conv2D(4, 3, padding="valid", activation="relu", input_shape=(12, 12, 3)),  # 10x10x4
        L.Conv2D(5, 3, padding="same", strides=2),                                     # 5x5x5
        L.Conv2D(4, (3, 2), padding="same", dilation_rate=(2, 1)),                     # 5x5x4
        L.SpatialDropout2D(0.3),
        L.Conv2DTranspose(3, 3, strides=2, padding="same"),                            # 10x10x3
        L.Conv2DTranspose(2, (2, 3), padding="valid"),                                 # 11x12x2
    ])


@case("conv3d",
      "Conv3D same and valid, MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D and "
      "GlobalAveragePooling3D on (batch, 6, 8, 8, 2).")
def conv3d(k):
    L = k.L
    x = L.Input(shape=(6, 8, 8, 2))
    h = L.Conv3D(3, 3, padding="same", activation="relu")(x)   # 6x8x8x3
    h = L.MaxPooling3D(2)(h)                                     # 3x4x4x3
    h = L.Conv3D(4, (2, 2, 2), padding="valid")(h)              # 2x3x3x4
    h = L.AveragePooling3D((1, 2, 2), padding="same")(h)        # 2x2x2x4
    return k.Model(x, L.Concatenate()([L.GlobalMaxPooling3D()(h),
                                       L.GlobalAveragePooling3D()(h)]))


@case("separable_depthwise",
      "SeparableConv2D(depth_multiplier=2, same), DepthwiseConv2D(depth_multiplier=2, valid, "
      "strides 2) and SeparableConv1D(causal-free, valid); two inputs, two outputs.")
def separable_depthwise(k):
    L = k.L
    img = L.Input(shape=(10, 10, 3), name="image")
    sig = L.Input(shape=(12, 3), name="signal")
    a = L.SeparableConv2D(4, 3, depth_multiplier=2, padding="same", activation="relu")(img)
    a = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="valid")(a)  # 4x4x8
    b = L.SeparableConv1D(5, 3, depth_multiplier=1, padding="valid")(sig)       # 10x5
    b = L.SeparableConv1D(2, 2, strides=2, depth_multiplier=2, padding="same")(b)  # 5x2
    return k.Model([img, sig], [a, b])


@case("conv_batchnorm",
      "BatchNormalization after linear Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose and "
      "Dense (what an ONNX export folds into their weights), one after a relu Conv2D (not foldable), "
      "ZeroPadding2D and UpSampling2D between convolutions, a residual Add, on (batch, 8, 8, 3).")
def conv_batchnorm(k):
    L = k.L
    x = L.Input(shape=(8, 8, 3), name="image")
    h = L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(x))               # 8x8x4
    h = L.ReLU()(h)
    h = L.ZeroPadding2D(((1, 0), (0, 1)))(h)                                     # 9x9x4
    h = L.BatchNormalization()(L.DepthwiseConv2D(2, depth_multiplier=2)(h))      # 8x8x8
    r = L.BatchNormalization()(L.SeparableConv2D(8, 3, padding="same", use_bias=False)(h))
    h = L.Add()([h, r])
    h = L.BatchNormalization()(L.Conv2D(4, 1, activation="relu")(h))            # not foldable
    h = L.MaxPooling2D(2)(h)                                                     # 4x4x4
    h = L.UpSampling2D(2)(h)                                                     # 8x8x4
    h = L.BatchNormalization(epsilon=0.01)(L.Conv2DTranspose(3, 2, strides=2)(h))  # 16x16x3
    h = L.GlobalAveragePooling2D()(h)
    h = L.BatchNormalization()(L.Dense(5)(h))
    return k.Model(x, L.Dense(3)(h))


@case("pooling",
      "MaxPooling1D/2D and AveragePooling1D/2D (valid and same padding, strides) and "
      "GlobalMax/GlobalAveragePooling1D/2D; two inputs, four outputs.")
def pooling(k):
    L = k.L
    s = L.Input(shape=(11, 4), name="seq")
    im = L.Input(shape=(7, 7, 3), name="image")
    s1 = L.MaxPooling1D(2)(s)                                      # 5x4
    s2 = L.AveragePooling1D(3, strides=2, padding="same")(s)       # 6x4 (edge windows are partial)
    s3 = L.Concatenate()([L.GlobalMaxPooling1D()(s), L.GlobalAveragePooling1D()(s)])
    i1 = L.MaxPooling2D((2, 2), padding="same")(im)                # 4x4x3
    i2 = L.AveragePooling2D((3, 2), strides=(2, 1))(im)           # 3x6x3
    i3 = L.Concatenate()([L.GlobalMaxPooling2D()(im), L.GlobalAveragePooling2D()(im)])
    return k.Model([s, im], [s1, s2, L.Concatenate()([s3, i3]), i1, i2])


@case("normalization",
      "BatchNormalization plain / center=False / scale=False (random moving mean and "
      "variance), and LayerNormalization over the last axis and over axes [1, 2].")
def normalization(k):
    L = k.L
    return k.Sequential([
        L.Dense(6, input_shape=(5, 4)),
        L.BatchNormalization(),
        L.BatchNormalization(center=False),
        L.BatchNormalization(scale=False, epsilon=0.01),
        L.LayerNormalization(),
        L.LayerNormalization(axis=[1, 2]),
    ])


@case("merge",
      "Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate (axis -1 and 1), "
      "Dot(axes=2), Dot(axes=(1, 1), normalize=True) on two (batch, 4, 5) inputs plus a third "
      "for a 3-way Add.")
def merge(k):
    L = k.L
    a = L.Input(shape=(4, 5), name="a")
    b = L.Input(shape=(4, 5), name="b")
    c = L.Input(shape=(4, 5), name="c")
    elementwise = L.Concatenate(axis=-1, name="elementwise")([
        L.Add()([a, b]), L.Subtract()([a, b]), L.Multiply()([a, b]),
        L.Average()([a, b]), L.Maximum()([a, b]), L.Minimum()([a, b]),
        L.Add(name="add3")([a, b, c]),
    ])
    stacked = L.Concatenate(axis=1, name="stacked")([a, b])        # (8, 5)
    dot_t = L.Dot(axes=2)([a, b])                                  # (4, 4)
    dot_n = L.Dot(axes=(1, 1), normalize=True)([a, b])             # (5, 5) cosine
    return k.Model([a, b, c], [elementwise, stacked, dot_t, dot_n])


@case("padding_cropping_upsampling",
      "ZeroPadding1D/2D (asymmetric), Cropping1D/2D (asymmetric), UpSampling1D, "
      "UpSampling2D nearest (2, 3) and bilinear.")
def padding_cropping_upsampling(k):
    L = k.L
    s = L.Input(shape=(8, 3), name="seq")
    im = L.Input(shape=(6, 6, 2), name="image")
    s1 = L.ZeroPadding1D((1, 2))(s)                        # 11x3
    s1 = L.Cropping1D((2, 1))(s1)                          # 8x3
    s1 = L.UpSampling1D(2)(s1)                             # 16x3
    i1 = L.ZeroPadding2D(((1, 0), (2, 1)))(im)             # 7x9x2
    i1 = L.Cropping2D(((0, 1), (1, 1)))(i1)                # 6x7x2
    i1 = L.UpSampling2D((2, 3))(i1)                        # 12x21x2
    i2 = L.UpSampling2D(2, interpolation="bilinear")(im)   # 12x12x2
    return k.Model([s, im], [s1, i1, i2])


@case("rescaling",
      "Rescaling (y = x * scale + offset) on (batch, 6, 6, 3): scalar scale and offset; per-channel "
      "scale and offset lists (Keras 3 is given the scale as a numpy array, which it serialises as a "
      "__numpy__ object; tf_keras gets the same values as a list, as it cannot reload that object); a "
      "(6, 1) nested-list scale broadcasting over the last two axes with a scalar offset; then "
      "Conv2D, GlobalAveragePooling2D and Dense use the result.")
def rescaling(k):
    L = k.L
    channel_scale = [0.5, 2.0, -1.0]
    if k.lib == "keras3":
        channel_scale = np.array(channel_scale, dtype="float32")
    x = L.Input(shape=(6, 6, 3))
    h = L.Rescaling(1.0 / 127.5, offset=-1.0)(x)
    h = L.Rescaling(channel_scale, offset=[0.1, 0.2, 0.3])(h)
    h = L.Rescaling([[1.0], [0.5], [2.0], [-1.0], [0.25], [3.0]], offset=0.5)(h)
    h = L.Conv2D(4, 3, activation="relu")(h)
    h = L.GlobalAveragePooling2D()(h)
    return k.Model(x, L.Dense(2)(h))


@case("preprocessing_image",
      "Image preprocessing and per-sample normalisation on (batch, 8, 10, 3): Normalization with a "
      "per-channel mean and variance (and its inverse), Resizing bilinear to 5x6, nearest with "
      "crop_to_aspect_ratio to 4x4, bicubic to 6x5, CenterCrop 6x6 and (larger than the image) 9x12, "
      "the random augmentations both versions have (the identity at inference; not RandomBrightness, "
      "which Keras 3 cannot save as .h5), then Conv2D, "
      "GroupNormalization(2), UnitNormalization and UpSampling2D(bicubic).")
def preprocessing_image(k):
    L = k.L
    x = L.Input(shape=(8, 10, 3), name="image")
    n = L.Normalization(mean=[0.5, -0.2, 0.1], variance=[2.0, 0.5, 1.5], name="standardize")(x)
    back = L.Normalization(mean=[0.5, -0.2, 0.1], variance=[2.0, 0.5, 1.5], invert=True, name="unstandardize")(n)
    bilinear = L.Resizing(5, 6, name="bilinear")(n)
    nearest = L.Resizing(4, 4, interpolation="nearest", crop_to_aspect_ratio=True, name="nearest")(n)
    bicubic = L.Resizing(6, 5, interpolation="bicubic", name="bicubic")(n)
    crop = L.CenterCrop(6, 6, name="crop")(n)
    smart = L.CenterCrop(9, 12, name="smart")(n)
    h = n
    for layer in (L.RandomFlip(), L.RandomRotation(0.2), L.RandomZoom(0.2), L.RandomTranslation(0.1, 0.1),
                  L.RandomContrast(0.3)):
        h = layer(h)
    h = L.Conv2D(4, 3, name="conv")(h)
    h = L.GroupNormalization(groups=2, name="groups")(h)
    h = L.UnitNormalization(name="unit")(h)
    h = L.UpSampling2D(2, interpolation="bicubic", name="upsample")(h)
    return k.Model(x, [back, bilinear, nearest, bicubic, crop, smart, h])


@case("preprocessing_keras3",
      "Keras 3's own preprocessing on (batch, 6, 9, 3): Resizing with pad_to_aspect_ratio (fill_value "
      "0.5), RMSNormalization, AdaptiveAveragePooling2D(4, 3) and AdaptiveMaxPooling2D(3, 5) (uneven, "
      "overlapping windows), Keras 3-only augmentations, SpectralNormalization(Dense) at inference, and "
      "AutoContrast(value_range=(-3, 3)), which computes at inference too.",
      skip={"keras2": "pad_to_aspect_ratio, RMSNormalization, adaptive pooling and SpectralNormalization are Keras 3 only"})
def preprocessing_keras3(k):
    L = k.L
    x = L.Input(shape=(6, 9, 3), name="image")
    padded = L.Resizing(8, 8, pad_to_aspect_ratio=True, fill_value=0.5, name="padded")(x)
    h = L.RandomHue(0.2, value_range=(-3, 3))(x)
    h = L.RandomInvert(value_range=(-3, 3))(h)
    h = L.RMSNormalization(name="rms")(h)
    average = L.AdaptiveAveragePooling2D((4, 3), name="average")(h)
    maximum = L.AdaptiveMaxPooling2D((3, 5), name="maximum")(h)
    dense = L.SpectralNormalization(L.Dense(3), name="spectral")(L.Flatten()(average))
    contrast = L.AutoContrast(value_range=(-3, 3), name="contrast")(x)
    return k.Model(x, [padded, average, maximum, dense, contrast])


@case("preprocessing_layouts",
      "Preprocessing on other axes and layouts, Keras 3 on (batch, 3, 6, 8) channels_first images: "
      "Normalization over axis 1 and over no axis (one mean for everything); GroupNormalization(axis=1); "
      "UnitNormalization over (2, 3); "
      "Resizing, crop_to_aspect_ratio and CenterCrop, and AdaptiveAveragePooling2D, all channels_first.",
      skip={"keras2": "tf-keras's image preprocessing layers are channels_last only"})
def preprocessing_layouts(k):
    L = k.L
    x = L.Input(shape=(3, 6, 8), name="image")
    per_channel = L.Normalization(axis=1, mean=[0.1, -0.3, 0.5], variance=[0.5, 2.0, 1.0], name="per_channel")(x)
    overall = L.Normalization(axis=None, mean=0.25, variance=4.0, name="overall")(x)
    groups = L.GroupNormalization(groups=3, axis=1, name="groups")(x)
    unit = L.UnitNormalization(axis=(2, 3), name="unit")(x)
    resized = L.Resizing(4, 5, data_format="channels_first", name="resized")(x)
    cropped = L.Resizing(4, 4, crop_to_aspect_ratio=True, data_format="channels_first", name="cropped")(x)
    centre = L.CenterCrop(4, 6, data_format="channels_first", name="centre")(x)
    pooled = L.AdaptiveAveragePooling2D((4, 3), data_format="channels_first", name="pooled")(x)
    return k.Model(x, [per_channel, overall, groups, unit, resized, cropped, centre, pooled])


def first_column(L, x, width):
    """(batch, width) -> (batch, 1): each sample's first value, through Reshape and Cropping1D (both
    Kerases' one-hot encodings take at most rank 2 with a trailing axis of 1)."""
    return L.Reshape((1,))(L.Cropping1D((0, width - 1))(L.Reshape((width, 1))(x)))


@case("preprocessing_lookup",
      "Whole-number preprocessing: IntegerLookup over a vocabulary (int indices, multi_hot, and the "
      "inverse lookup of those indices), CategoryEncoding count of the raw integers in [0, 12) and one_hot of the first, "
      "and Discretization of a float input (int buckets, and one_hot of the first value).",
      feeds={0: {"int": 12}})
def preprocessing_lookup(k):
    L = k.L
    tokens = L.Input(shape=(5,), dtype="int64", name="tokens")
    values = L.Input(shape=(4,), name="values")
    vocabulary = [2, 4, 6, 8, 10]
    indices = L.IntegerLookup(vocabulary=vocabulary, name="lookup")(tokens)
    multi = L.IntegerLookup(vocabulary=vocabulary, output_mode="multi_hot", name="lookup_multi_hot")(tokens)
    restored = L.IntegerLookup(vocabulary=vocabulary, invert=True, name="restore")(indices)
    counts = L.CategoryEncoding(12, output_mode="count", name="counts")(tokens)
    one_hot = L.CategoryEncoding(12, output_mode="one_hot", name="one_hot")(first_column(L, tokens, 5))
    buckets = L.Discretization(bin_boundaries=[-1.0, 0.0, 0.5], name="buckets")(values)
    hot_buckets = L.Discretization(bin_boundaries=[-0.5, 0.5], output_mode="one_hot", name="hot_buckets")(
        first_column(L, values, 4))
    return k.Model([tokens, values], [indices, multi, restored, counts, one_hot, buckets, hot_buckets])


@case("hashing",
      "Hashing of whole numbers in [0, 12): into 7 bins, into 5 with mask_value=4 as multi_hot, and one_hot "
      "into 3 bins of each sample's first number.",
      feeds={0: {"int": 12}})
def hashing(k):
    L = k.L
    tokens = L.Input(shape=(5,), dtype="int64", name="tokens")
    hashed = L.Hashing(num_bins=7, name="hashed")(tokens)
    masked = L.Hashing(num_bins=5, mask_value=4, output_mode="multi_hot", name="masked")(tokens)
    one_hot = L.Hashing(num_bins=3, output_mode="one_hot", name="one_hot")(first_column(L, tokens, 5))
    return k.Model(tokens, [hashed, masked, one_hot])


WORDS = ["cat", "dog", "fish", "bird", "frog"]


@case("string_embedding",
      "Words into numbers: string inputs drawn from five words and an unknown one, a StringLookup (the unknown "
      "word takes the OOV index 0) feeding Embedding, GlobalAveragePooling1D and a softmax Dense, and the same "
      "words as a multi_hot bag.",
      feeds={0: {"words": WORDS}})
def string_embedding(k):
    L = k.L
    words = L.Input(shape=(6,), dtype="string", name="words")
    indices = L.StringLookup(vocabulary=WORDS, name="lookup")(words)
    embedded = L.Embedding(len(WORDS) + 1, 4, name="embedding")(indices)
    scores = L.Dense(3, activation="softmax", name="scores")(L.GlobalAveragePooling1D(name="pooled")(embedded))
    bag = L.StringLookup(vocabulary=WORDS, output_mode="multi_hot", name="bag")(words)
    return k.Model(words, [scores, bag])


@case("attention_masks",
      "Attention and AdditiveAttention over Embedding(mask_zero=True) tokens, query (6 steps) and value "
      "(5 steps) zero-padded: the value mask leaves padded steps out of the softmax, the query mask zeroes "
      "padded rows and flows on. Dot scores with use_scale and return_attention_scores=True; additive scores "
      "over [query, value, key]; concat scores with use_causal_mask=True over the query itself.",
      feeds={0: {"int": 20, "pad": True}, 1: {"int": 20, "pad": True}})
def attention_masks(k):
    L = k.L
    query_tokens = L.Input(shape=(6,), dtype="int32", name="query_tokens")
    value_tokens = L.Input(shape=(5,), dtype="int32", name="value_tokens")
    query = L.Embedding(20, 4, mask_zero=True, name="query_embed")(query_tokens)
    value = L.Embedding(20, 4, mask_zero=True, name="value_embed")(value_tokens)
    dot, scores = L.Attention(use_scale=True, name="dot_attention")([query, value], return_attention_scores=True)
    additive = L.AdditiveAttention(name="additive_attention")([query, value, value])
    concat = L.Attention(score_mode="concat", name="concat_attention")([query, query], use_causal_mask=True)
    return k.Model([query_tokens, value_tokens], [dot, scores, additive, concat])


@case("multi_head_attention_masks",
      "MultiHeadAttention over Embedding(mask_zero=True) tokens (zero-padded; the last sample keeps one): "
      "self-attention whose padded query rows are fully masked (Keras 3's dot_product_attention path gives "
      "them uniform weights); cross-attention with dropout=0.1 and return_attention_scores=True (Keras 3's "
      "Softmax path, which zeroes them); then use_causal_mask=True with an attention_mask given as an int32 "
      "model input of 0s and 1s.",
      feeds={0: {"int": 20, "pad": True}, 1: {"int": 2}})
def multi_head_attention_masks(k):
    L = k.L
    tokens = L.Input(shape=(6,), dtype="int32", name="tokens")
    allowed = L.Input(shape=(6, 6), dtype="int32", name="allowed")
    x = L.Embedding(20, 4, mask_zero=True, name="embed")(tokens)
    h = L.MultiHeadAttention(2, 3, name="self")(x, x)
    h, scores = L.MultiHeadAttention(2, 3, dropout=0.1, name="cross")(h, x, return_attention_scores=True)
    h = L.MultiHeadAttention(2, 2, name="causal")(h, h, use_causal_mask=True, attention_mask=allowed)
    return k.Model([tokens, allowed], [h, scores])


@case("keras3_attention",
      "Keras 3's attention extras over Embedding(mask_zero=True) tokens (zero-padded): GroupQueryAttention("
      "head_dim=2, 4 query heads, 2 key/value heads) with use_causal_mask=True, and MultiHeadAttention(2, 2, "
      "use_gate=True) returning its scores.",
      skip={"keras2": "GroupQueryAttention and MultiHeadAttention's use_gate are Keras 3 only"},
      feeds={0: {"int": 20, "pad": True}})
def keras3_attention(k):
    L = k.L
    tokens = L.Input(shape=(6,), dtype="int32", name="tokens")
    x = L.Embedding(20, 4, mask_zero=True, name="embed")(tokens)
    h = L.GroupQueryAttention(2, 4, 2, name="grouped")(x, x, use_causal_mask=True)
    h, scores = L.MultiHeadAttention(2, 2, use_gate=True, name="gated")(h, x, return_attention_scores=True)
    return k.Model(tokens, [h, scores])


@case("tensor_ops",
      "Tensor operations called on symbolic tensors: Keras 3 records keras.ops calls (add, subtract, "
      "multiply, divide, power, maximum, minimum, where, comparisons, cast, reshape, transpose, "
      "expand_dims, squeeze, concatenate, stack, x[...] slicing, mean/sum/max/min, matmul, softmax) as "
      "operation nodes; tf-keras records the same tf.* calls as TFOpLambda and x[...] as SlicingOpLambda.")
def tensor_ops(k):
    L = k.L
    x = L.Input(shape=(4, 6), name="x")
    y = L.Input(shape=(4, 6), name="y")
    h = L.Dense(6, name="proj")(x)
    if k.lib == "keras3":
        from keras import ops as o
        reduce_mean, reduce_sum, reduce_max, reduce_min = o.mean, o.sum, o.max, o.min
        softmax, concat = o.softmax, o.concatenate
    else:
        import tensorflow as o
        reduce_mean, reduce_sum = o.math.reduce_mean, o.math.reduce_sum
        reduce_max, reduce_min = o.math.reduce_max, o.math.reduce_min
        softmax, concat = o.nn.softmax, o.concat
    a = o.add(h, y)
    b = o.subtract(a, 0.5)
    c = o.multiply(b, y)
    d = o.divide(c, 3.0)
    e = o.pow(d, 2.0) if k.lib == "keras2" else o.power(d, 2.0)
    f = o.maximum(e, y)
    g = o.minimum(f, 1.5)
    w = o.where(o.greater(g, 0.1), g, o.negative(y))
    flags = o.cast(o.less_equal(h, y), "float32")
    t = o.transpose(w, (0, 2, 1))
    squeezed = o.squeeze(o.expand_dims(w, 1), 1) if k.lib == "keras3" else o.squeeze(o.expand_dims(w, 1), [1])
    return k.Model([x, y], [
        o.reshape(w, (-1, 24)), t, concat([w, squeezed], axis=-1), o.stack([w, flags], axis=1),
        w[:, -1], w[:, 1:3, ::2],
        reduce_mean(w, axis=1), reduce_sum(w, axis=-1, keepdims=True), reduce_max(w, axis=(1, 2)),
        reduce_min(w, axis=1), softmax(o.matmul(w, t), axis=-1),
        a + y, h * 2.0, -h,
    ])


@case("lambda_layer",
      "Dense(4) -> Lambda(lambda x: x * 2) -> Dense(2). Keras 2 stores the lambda as "
      "marshalled Python bytecode, which kconv cannot run: an unsupported-layer case.",
      skip={"keras3": "Lambda case is Keras 2 only by design (Keras 3 pickles the lambda as "
                      "__lambda__ bytecode and refuses to load it in safe mode)"},
      unsupported=["lambda"], load_unsafe=True)
def lambda_layer(k):
    L = k.L
    return k.Sequential([
        L.Dense(4, input_shape=(3,)),
        L.Lambda(lambda x: x * 2),
        L.Dense(2),
    ])


@case("layer_scale",
      "A ConvNeXt block as keras.applications builds it, on (batch, 8, 8, 3): a nested Sequential stem "
      "(Conv2D 2x2 stride 2, LayerNormalization) built by its call, DepthwiseConv2D, LayerNormalization, "
      "Dense gelu, Dense, ConvNeXt's LayerScale (x * gamma per channel; each Keras defines it in "
      "applications/convnext.py), a residual Add, a nested Sequential downsampling (LayerNormalization, "
      "Conv2D 2x2 stride 2), GlobalAveragePooling2D and Dense.")
def layer_scale(k):
    L = k.L
    x = k.Input(shape=(8, 8, 3))
    h = k.Sequential([L.Conv2D(4, 2, strides=2), L.LayerNormalization(epsilon=1e-6)], name="stem")(x)
    y = L.DepthwiseConv2D(3, padding="same")(h)
    y = L.LayerNormalization(epsilon=1e-6)(y)
    y = L.Dense(8, activation="gelu")(y)
    y = L.Dense(4)(y)
    y = layer_scale_class(k.K)(1e-6, 4, name="layer_scale")(y)
    h = L.Add()([h, y])
    h = k.Sequential([L.LayerNormalization(epsilon=1e-6), L.Conv2D(6, 2, strides=2)], name="downsampling")(h)
    h = L.GlobalAveragePooling2D()(h)
    return k.Model(x, L.Dense(2)(h))


def application(name, side, **arguments):
    """Builds keras.applications.<name> with weights=None, 10 classes and logits out, on side x side x 3."""
    def build(k):
        return getattr(k.K.applications, name)(weights=None, input_shape=(side, side, 3), classes=10,
                                               classifier_activation=None, **arguments)
    return build


case("app_mobilenet",
     "keras.applications.MobileNet(alpha=0.25) as each Keras builds it, on (batch, 32, 32, 3) with 10 classes "
     "and logits out: ZeroPadding2D, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU(6), "
     "GlobalAveragePooling2D(keepdims), Dropout, a 1x1 Conv2D classifier and Reshape. Saved only as tf-keras's "
     ".h5 and Keras 3's .keras (1.2 MB each).",
     one_file=True)(application("MobileNet", 32, alpha=0.25))
case("app_mobilenet_v2",
     "keras.applications.MobileNetV2(alpha=0.35) as each Keras builds it, on (batch, 32, 32, 3) with 10 classes "
     "and logits out: inverted residual blocks (expand Conv2D, DepthwiseConv2D, project Conv2D, Add), "
     "BatchNormalization, ReLU(6), ZeroPadding2D, GlobalAveragePooling2D and Dense. Saved only as tf-keras's "
     ".h5 and Keras 3's .keras (2.2 MB each).",
     one_file=True)(application("MobileNetV2", 32, alpha=0.35))


# ---------------------------------------------------------------------------
# User-defined classes: what a file holds of code kconv cannot see.
# ---------------------------------------------------------------------------

def user_classes(K):
    """The fixtures' user-defined classes for the library K (tf_keras or keras), registered by name as a
    user's custom_objects would be, so that Keras loads the files holding them (Scripts/parity.py too); with
    tf-keras, ConvNeXt's LayerScale too (see layer_scale_class)."""
    class Decoder(K.Model):
        def __init__(self, units=4, vocab=6, **kwargs):
            super().__init__(**kwargs)
            self.units, self.vocab = units, vocab
            self.lstm = K.layers.LSTM(units, return_sequences=True)
            self.dense = K.layers.Dense(vocab, activation="softmax")

        def call(self, x):
            return self.dense(self.lstm(x))

        def get_config(self):
            return {"units": self.units, "vocab": self.vocab, "name": self.name}

    class ChannelScale(K.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
            self.offset = self.add_weight(name="offset", shape=(input_shape[-1],), initializer="zeros",
                                          trainable=False)

        def call(self, x):
            return x * self.scale + self.offset

    classes = {cls.__name__: cls for cls in (Decoder, ChannelScale)}
    K.utils.get_custom_objects().update(classes)
    layer_scale_class(K)
    return classes


def layer_scale_class(K):
    """ConvNeXt's LayerScale as the library K defines it (in applications/convnext.py, registered by neither
    library): registered by name in tf-keras's custom objects, as a reader of its files must; Keras 3 imports
    it by the module its config names."""
    import importlib
    cls = importlib.import_module(f"{K.__name__}.src.applications.convnext").LayerScale
    if K.__name__ == "tf_keras":
        K.utils.get_custom_objects()["LayerScale"] = cls
    return cls


@case("subclassed_model",
      "A Model subclass Decoder(units=4, vocab=6): LSTM(4, return_sequences) then Dense(6, softmax) in its "
      "Python call(). Files hold its constructor arguments (get_config) and weights only, so kconv can "
      "inspect it but neither run nor convert it. tf-keras cannot save a subclassed model as .h5.",
      subclassed_inputs=[(None, 5, 3)], unsupported=["decoder"])
def subclassed_model(k):
    model = user_classes(k.K)["Decoder"](name="decoder")
    model(np.zeros((1, 5, 3), np.float32))   # creates its weights
    return model


@case("custom_layer_functional",
      "Input(4) -> Dense(3) -> ChannelScale (a user's Layer class with a trainable `scale` and a "
      "non-trainable `offset`, both (3,)) -> Dense(2). kconv does not know the class: it shows it with "
      "the parameters the file holds for it, and cannot run it.",
      unsupported=["channel_scale"])
def custom_layer_functional(k):
    x = k.Input(shape=(4,))
    h = k.L.Dense(3)(x)
    h = user_classes(k.K)["ChannelScale"](name="channel_scale")(h)
    return k.Model(x, k.L.Dense(2)(h))

def dump_json(obj, indent=0):
    """JSON with one key per line but short scalar lists (shapes) kept on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj) or all(
                isinstance(v, list) and all(not isinstance(e, (dict, list)) for e in v)
                for v in obj):
            return json.dumps(obj)
        items = [inner + dump_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


# ===========================================================================
# Child process: build every case with one library
# ===========================================================================

class Lib:
    """The few places where tf_keras and keras 3 spell things differently."""

    def __init__(self, lib):
        self.lib = lib
        if lib == "keras2":
            import tf_keras as K
        else:
            import keras as K
        self.K = K
        self.L = K.layers
        self.Model = K.Model
        self.Sequential = K.Sequential
        self.Input = K.layers.Input
        self.version = K.__version__

    def input_layer(self, shape):
        if self.lib == "keras2":
            return self.L.InputLayer(input_shape=shape)
        return self.L.InputLayer(shape=shape)

    def has_activation(self, name):
        try:
            self.K.activations.get(name)
            return True
        except Exception:
            return False

    def reset(self, seed):
        self.K.backend.clear_session()   # also resets auto-generated layer names
        self.K.utils.set_random_seed(seed)

    # -- saving and loading -------------------------------------------------
    def save_all(self, model, d, subclassed=False, one_file=False):
        """Write every format this library can (one_file: only .h5 for tf-keras, .keras for Keras 3); return
        {format: filename}."""
        if one_file:
            fmt = "h5" if self.lib == "keras2" else "keras"
            model.save(d / f"{self.lib}.{fmt}")
            return {fmt: f"{self.lib}.{fmt}"}
        files = {}
        if self.lib == "keras2":
            if not subclassed:   # tf-keras: "Saving the model to HDF5 format requires ... Functional ... or Sequential"
                model.save(d / "keras2.h5")
                files["h5"] = "keras2.h5"
            (d / "keras2.json").write_text(model.to_json())
            files["json"] = "keras2.json"
            # tf_keras treats a name ending in ".weights.h5" as the *new* (Keras 3 style,
            # layers/<x>/vars/<i>) weights format; the classic Keras 2 root layout
            # (layer_names / weight_names attributes) needs another name.
            model.save_weights(d / "keras2_weights.h5")
            files["weights_h5"] = "keras2_weights.h5"
            # tf_keras's own native .keras archive (Keras 2 config + vars-style weights).
            if model.count_params() <= KERAS2_ARCHIVE_MAX_PARAMS:
                model.save(d / "keras2.keras")
                files["keras"] = "keras2.keras"
        else:
            model.save(d / "keras3.h5")
            files["h5"] = "keras3.h5"
            model.save(d / "keras3.keras")
            files["keras"] = "keras3.keras"
            (d / "keras3.json").write_text(model.to_json())
            files["json"] = "keras3.json"
            model.save_weights(d / "keras3.weights.h5")
            files["weights_h5"] = "keras3.weights.h5"
        return files

    def reload(self, fmt, d, files, unsafe):
        K = self.K
        kw = {"safe_mode": False} if unsafe else {}
        if fmt == "h5":
            return K.models.load_model(d / files["h5"], compile=False)
        if fmt == "keras":
            return K.models.load_model(d / files["keras"], compile=False, **kw)
        if fmt == "json":
            text = (d / files["json"]).read_text()
            if unsafe and self.lib == "keras2":
                # model_from_json refuses a Lambda outside an explicit unsafe scope
                # (unlike load_model on the legacy .h5, which loads it silently).
                from tf_keras.src.saving.serialization_lib import SafeModeScope
                with SafeModeScope(False):
                    m = K.models.model_from_json(text)
            else:
                m = K.models.model_from_json(text)
            m.load_weights(d / files["weights_h5"])
            return m
        raise ValueError(fmt)


def flatten(x):
    if isinstance(x, dict):
        return [t for v in x.values() for t in flatten(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in flatten(v)]
    return [x]


def is_shape(x):
    return isinstance(x, (list, tuple)) and all(d is None or isinstance(d, (int, np.integer))
                                                for d in x)


def norm_shape(s):
    """TensorShape / tuple / nested lists of those -> JSON lists with None."""
    if hasattr(s, "as_list"):
        s = s.as_list() if s.rank is not None else None
    if s is None:
        return None
    if is_shape(s):
        return [None if d is None else int(d) for d in s]
    return [norm_shape(e) for e in s]


def tensor_shape(t):
    return norm_shape(t.shape)


def tensor_dtype(t):
    return getattr(t.dtype, "name", t.dtype)


def weight_size(ws):
    return int(sum(int(np.prod(w.shape)) for w in ws))


class Describer:
    """Builds the expected.json description of a model from Keras's own objects."""

    def __init__(self, lib):
        self.lib = lib
        self.K = lib.K

    def is_model(self, layer):
        return isinstance(layer, self.K.Model)

    def graph_nodes(self, model):
        """{layer: [node, ...]} for the nodes of this model's own graph, by node index."""
        graph = model
        if self.lib.lib == "keras3" and isinstance(model, self.K.Sequential):
            graph = model._functional
        found = {}
        for nodes in graph._nodes_by_depth.values():
            for node in nodes:
                layer = getattr(node, "operation", None) or getattr(node, "layer")
                found.setdefault(id(layer), []).append(node)
        for layer_id, nodes in found.items():
            layer = getattr(nodes[0], "operation", None) or getattr(nodes[0], "layer")
            nodes.sort(key=layer._inbound_nodes.index)
        return found

    @staticmethod
    def node_outputs(node):
        shapes = [tensor_shape(t) for t in flatten(node.output_tensors)]
        return shapes[0] if len(shapes) == 1 else shapes

    @staticmethod
    def node_input_shape(node):
        ins = flatten(node.input_tensors)
        return tensor_shape(ins[0]) if ins else None

    def compute_output_shape(self, layer, in_shape):
        if self.lib.lib == "keras2":
            import tensorflow as tf
            return norm_shape(layer.compute_output_shape(tf.TensorShape(in_shape)))
        return norm_shape(layer.compute_output_shape(tuple(in_shape)))

    def counts(self, layer):
        return {
            "name": layer.name,
            "class_name": layer.__class__.__name__,
            "params": int(layer.count_params()),
            "trainable_params": weight_size(layer.trainable_weights),
            "non_trainable_params": weight_size(layer.non_trainable_weights),
        }

    def layer(self, layer, in_shape, shape_entry):
        d = self.counts(layer)
        d.update(shape_entry)
        L = self.K.layers
        if self.is_model(layer):
            d["layers"] = self.model_layers(layer)
        elif isinstance(layer, L.Bidirectional):
            for key, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
                d[key] = self.layer(sub, in_shape,
                                    {"output_shape": self.compute_output_shape(sub, in_shape)})
        elif isinstance(layer, L.TimeDistributed):
            inner_in = [in_shape[0]] + in_shape[2:]
            d["inner"] = self.layer(layer.layer, inner_in,
                                    {"output_shape": self.compute_output_shape(layer.layer, inner_in)})
        elif isinstance(layer, getattr(L, "SpectralNormalization", ())):
            # Keras 3's wrapper runs its layer on the same inputs.
            d["inner"] = self.layer(layer.layer, in_shape,
                                    {"output_shape": self.compute_output_shape(layer.layer, in_shape)})
        return d

    def model_layers(self, model):
        nodes = self.graph_nodes(model)
        out = []
        for layer in model.layers:
            mine = nodes.get(id(layer), [])
            assert mine, f"{layer.name} has no node in {model.name}"
            if len(mine) == 1:
                entry = {"output_shape": self.node_outputs(mine[0])}
            else:
                entry = {"output_shapes": [self.node_outputs(n) for n in mine]}
            out.append(self.layer(layer, self.node_input_shape(mine[0]), entry))
        return out

    def model(self, model):
        def hist_layer(t):
            h = t._keras_history
            return getattr(h, "operation", None) or getattr(h, "layer")

        inputs = [{"name": hist_layer(t).name, "shape": tensor_shape(t), "dtype": tensor_dtype(t)}
                  for t in model.inputs]
        outputs = [{"name": hist_layer(t).name, "tensor_index": int(t._keras_history.tensor_index),
                    "shape": tensor_shape(t), "dtype": tensor_dtype(t)}
                   for t in model.outputs]
        return {
            "model_name": model.name,
            "model_class": model.__class__.__name__,
            "inputs": inputs,
            "outputs": outputs,
            "layers": self.model_layers(model),
            "total_params": int(model.count_params()),
            "trainable_params": weight_size(model.trainable_weights),
            "non_trainable_params": weight_size(model.non_trainable_weights),
        }


    def subclassed(self, model):
        """A Model subclass: its class, Keras's counts and its weights (no layer graph to describe)."""
        return {
            "model_name": model.name,
            "model_class": model.__class__.__name__,
            "subclassed": True,
            "total_params": int(model.count_params()),
            "trainable_params": weight_size(model.trainable_weights),
            "non_trainable_params": weight_size(model.non_trainable_weights),
            "weights": [{"path": getattr(w, "path", None) or w.name, "shape": norm_shape(w.shape)}
                        for w in model.weights],
        }


def randomize_weights(lib, model, case_name):
    """Give every weight seeded random values, independent of the library.

    Values depend only on (case, position of the owning layer in the model tree, index of
    the weight in that layer's `weights`, shape), so Keras 2 and Keras 3 builds of a case
    get the same numbers wherever their weight lists agree.
    """
    def walk(layer, path):
        if isinstance(layer, lib.K.Model):
            for i, sub in enumerate(layer.layers):
                walk(sub, f"{path}/{i}")
            return
        values = []
        for j, w in enumerate(layer.weights):
            rng = np.random.default_rng(crc(f"{case_name}|{path}|{j}"))
            name = getattr(w, "path", None) or w.name
            shape = tuple(int(d) for d in w.shape)
            if "moving_variance" in name:
                values.append(rng.uniform(0.5, 1.5, size=shape).astype(np.float32))
            else:
                values.append((rng.standard_normal(size=shape) * WEIGHT_STD).astype(np.float32))
        if values:
            layer.set_weights(values)

    walk(model, "")


def make_inputs(case_obj, shapes):
    """Seeded reference inputs: one array per model input, batch BATCH, None -> NONE_DIM."""
    rng = np.random.default_rng(crc(case_obj.name + "|inputs"))
    arrays = []
    for i, shape in enumerate(shapes):
        concrete = [BATCH] + [NONE_DIM if d is None else d for d in shape[1:]]
        spec = case_obj.feeds.get(i, {})
        if "words" in spec:
            pool = np.array(list(spec["words"]) + ["unknown"])
            x = pool[rng.integers(0, len(pool), size=concrete)]
        elif "int" in spec:
            n = spec["int"]
            if spec.get("pad"):
                x = rng.integers(1, n, size=concrete).astype(np.int32)
                length = concrete[1]
                for b in range(BATCH):   # keep length, ~half, 1 tokens
                    keep = max(1, length - b * (length // 2))
                    x[b, keep:] = 0
            else:
                x = rng.integers(0, n, size=concrete).astype(np.int32)
        else:
            x = rng.standard_normal(size=concrete).astype(np.float32)
            if spec.get("zero_tail"):
                length = concrete[1]
                for b in range(BATCH):
                    keep = max(1, length - b * (length // 2))
                    x[b, keep:] = 0.0
        arrays.append(x)
    return arrays


def run_model(model, xs):
    import tensorflow as tf  # a numpy unicode array is no Keras dtype: strings go in as a tf.string tensor
    xs = [tf.constant(x) if x.dtype.kind == "U" else x for x in xs]
    ys = model.predict(xs[0] if len(xs) == 1 else xs, batch_size=BATCH, verbose=0)
    return [np.asarray(y) for y in flatten(ys)]


def build_case(lib, c):
    """Build, randomise, save, reload-check and describe one case with one library."""
    d = CASES_DIR / c.name
    d.mkdir(parents=True, exist_ok=True)
    result = {"description": c.doc}

    if lib.lib in c.skip:
        result["skipped"] = c.skip[lib.lib]
        return result

    lib.reset(crc(c.name))
    if lib.lib in c.must_fail:
        try:
            c.build(lib)
        except Exception as e:  # the expected, genuine failure
            msg = " ".join(str(e).split())[:400]
            result["skipped"] = f"{c.must_fail[lib.lib]}: {type(e).__name__}: {msg}"
            return result
        raise AssertionError(f"{c.name}: {lib.lib} was expected to fail but built the model")

    model = c.build(lib)
    randomize_weights(lib, model, c.name)
    xs = make_inputs(c, c.subclassed_inputs or [tensor_shape(t) for t in model.inputs])
    runner = model
    if c.reference:
        runner = c.reference(lib)
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "source.h5")
            runner.load_weights(Path(tmp) / "source.h5")
    ys = run_model(runner, xs)

    result["keras_version"] = lib.version
    result["backend"] = "tensorflow"
    result["files"] = lib.save_all(model, d, subclassed=bool(c.subclassed_inputs), one_file=c.one_file)
    ref = f"{lib.lib}.ref.npz"
    np.savez(d / ref, **{f"in_{i}": x for i, x in enumerate(xs)},
             **{f"out_{i}": y for i, y in enumerate(ys)})
    result["files"]["ref"] = ref
    if c.layer_outputs:
        layers = f"{lib.lib}.layers.npz"
        per_layer = keras_reference.layer_outputs(lib.K, model, xs if len(xs) > 1 else xs[0])
        np.savez(d / layers, **{f"in_{i}": x for i, x in enumerate(xs)},
                 **{f"out_{i}": y for i, y in enumerate(ys)}, **per_layer)
        result["files"]["layers"] = layers
    describer = Describer(lib)
    result.update(describer.subclassed(model) if c.subclassed_inputs else describer.model(model))
    if c.unsupported:
        result["unsupported"] = c.unsupported

    # Round trip: each saved format must load back in the same library and reproduce
    # the reference outputs.
    reload = {}
    for fmt in ("h5", "json", "keras"):
        if fmt not in result["files"] or c.reference:
            continue
        try:
            again = run_model(lib.reload(fmt, d, result["files"], c.load_unsafe), xs)
            reload[fmt] = float(max(np.max(np.abs(a - b)) if a.size else 0.0
                                    for a, b in zip(again, ys)))
        except Exception as e:
            reload[fmt] = f"error: {type(e).__name__}: {str(e).strip()[:200]}"
            print(f"  WARNING {c.name} {lib.lib} reload {fmt}: {reload[fmt]}", flush=True)
    result["reload_max_abs_diff"] = reload
    return result


def child_main(lib_name, names):
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    lib = Lib(lib_name)
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    for c in CASES:
        if names and c.name not in names:
            continue
        print(f"[{lib_name}] {c.name}", flush=True)
        result = build_case(lib, c)
        (CASES_DIR / c.name / f".expected-{lib_name}.json").write_text(
            dump_json(result) + "\n")


# ===========================================================================
# Parent process: run the children, merge expected.json, write Fixtures/bad
# ===========================================================================

def merge_expected(names):
    for c in CASES:
        if names and c.name not in names:
            continue
        d = CASES_DIR / c.name
        path = d / "expected.json"
        expected = json.loads(path.read_text()) if path.exists() else {}
        for lib in LIBS:
            part = d / f".expected-{lib}.json"
            if part.exists():
                expected[lib] = json.loads(part.read_text())
                part.unlink()
        # Same weights and inputs went into both builds: record how far apart the
        # Keras 2 and Keras 3 outputs are (hard_sigmoid etc. differ on purpose).
        k2, k3 = expected.get("keras2", {}), expected.get("keras3", {})
        if "files" in k2 and "files" in k3:
            r2 = np.load(d / k2["files"]["ref"])
            r3 = np.load(d / k3["files"]["ref"])
            same_in = all(np.array_equal(r2[n], r3[n]) for n in r2.files if n.startswith("in_"))
            outs = sorted(n for n in r2.files if n.startswith("out_"))
            if same_in and all(n in r3.files and r2[n].shape == r3[n].shape for n in outs):
                k3["max_abs_diff_vs_keras2"] = float(max(np.max(np.abs(r2[n] - r3[n])) for n in outs))
        ordered = {lib: expected[lib] for lib in LIBS if lib in expected}
        path.write_text(dump_json(ordered) + "\n")


def h5_first_kernel(f):
    """(layer group, weight name) of the first weight ending in 'kernel' in a Keras 2 .h5."""
    g = f["model_weights"]
    for layer in g.attrs["layer_names"]:
        layer = layer.decode() if isinstance(layer, bytes) else str(layer)
        for w in g[layer].attrs["weight_names"]:
            w = w.decode() if isinstance(w, bytes) else str(w)
            if w.split("/")[-1].startswith("kernel"):
                return g[layer], w
    raise LookupError("no kernel")


def write_bad():
    """Broken files derived from real fixtures (h5py/zipfile only, no Keras)."""
    import h5py

    shutil.rmtree(BAD_DIR, ignore_errors=True)
    BAD_DIR.mkdir(parents=True)
    src = CASES_DIR / "seed_lstm_one_to_one"      # LSTM(5) + Dense(1): small and simple
    real_h5 = src / "keras2.h5"
    readme = ["# Broken fixtures", "",
              "Made by `Fixtures/generate.py` from `cases/seed_lstm_one_to_one` (LSTM(5) + Dense(1)).",
              "kconv must reject each with a clear error (never crash, hang or allocate absurdly).", ""]

    def note(name, what, error):
        readme.append(f"- `{name}`: {what} -> kconv must report {error}.")

    rng = np.random.default_rng(crc("bad"))
    (BAD_DIR / "not_a_model.h5").write_bytes(rng.integers(0, 256, 1024, dtype=np.uint8).tobytes())
    note("not_a_model.h5", "1024 random bytes with an .h5 name",
         "that the file is not HDF5 (unrecognised format), not a generic I/O failure")

    data = real_h5.read_bytes()
    (BAD_DIR / "truncated.h5").write_bytes(data[: len(data) // 2])
    note("truncated.h5", "the first half of a real Keras 2 `keras2.h5`",
         "a truncated/corrupt HDF5 file")

    data = (src / "keras3.keras").read_bytes()
    (BAD_DIR / "truncated.keras").write_bytes(data[: len(data) // 2])
    note("truncated.keras", "the first half of a real Keras 3 `.keras` zip (no central directory)",
         "a truncated/corrupt .keras archive")

    (BAD_DIR / "empty.json").write_text("")
    note("empty.json", "an empty file", "an empty model JSON")
    (BAD_DIR / "garbage.json").write_text("{not json")
    note("garbage.json", "`{not json`", "a JSON syntax error (with position)")

    def h5_copy(name):
        shutil.copyfile(real_h5, BAD_DIR / name)
        return h5py.File(BAD_DIR / name, "r+")

    with h5_copy("missing_weight.h5") as f:
        group, wname = h5_first_kernel(f)
        group_name = group.name
        del group[wname]
    note("missing_weight.h5", f"`{group_name}` still lists `{wname}` in weight_names but the "
         "dataset is deleted", f"a missing weight naming layer and weight (`{wname}`)")

    with h5_copy("wrong_shape.h5") as f:
        group, wname = h5_first_kernel(f)
        shape = group[wname].shape
        del group[wname]
        bad_shape = (shape[0] + 1,) + tuple(shape[1:])
        group.create_dataset(wname, data=np.zeros(bad_shape, np.float32))
    note("wrong_shape.h5", f"`{wname}` replaced by a {bad_shape} float32 dataset "
         f"(the model needs {tuple(shape)})", "a weight shape mismatch naming the weight, "
         "expected and actual shapes")

    with h5_copy("bad_dtype.h5") as f:
        group, wname = h5_first_kernel(f)
        shape = group[wname].shape
        del group[wname]
        group.create_dataset(wname, data=np.full(shape, b"0.5", dtype="S3"))
    note("bad_dtype.h5", f"`{wname}` stored as fixed-length strings (S3) of the right shape",
         "an unsupported weight dtype")

    with h5_copy("bad_dtype_complex.h5") as f:
        group, wname = h5_first_kernel(f)
        shape = group[wname].shape
        del group[wname]
        group.create_dataset(wname, data=np.zeros(shape, np.complex64))
    note("bad_dtype_complex.h5", f"`{wname}` stored as complex64 (an HDF5 compound type) of "
         "the right shape", "an unsupported weight dtype")

    with h5_copy("absurd_size.h5") as f:
        group, wname = h5_first_kernel(f)
        del group[wname]
        group.create_dataset(wname, shape=(2 ** 40, 2 ** 20), dtype="<f4", chunks=(1, 1024))
    note("absurd_size.h5", f"`{wname}` replaced by a chunked, never-written float32 dataset of "
         "shape (2**40, 2**20) (4 EiB declared; the file stays tiny)",
         "a size/shape error before allocating anything")

    with h5py.File(BAD_DIR / "no_model_config.h5", "w") as f:
        f.attrs["creator"] = "kconv fixtures"
        g = f.create_group("experiment/run_1")
        g.create_dataset("loss", data=np.linspace(1.0, 0.1, 10, dtype=np.float32))
        g.attrs["notes"] = "unrelated HDF5 content"
        f.create_dataset("table", data=np.arange(12, dtype=np.int64).reshape(3, 4))
    note("no_model_config.h5", "a valid HDF5 file with unrelated groups/datasets: no "
         "model_config, no layer_names, no model_weights",
         "that this HDF5 file is not a Keras model or weights file")

    cfg = json.loads((src / "keras2.json").read_text())
    for layer in cfg["config"]["layers"]:
        if "units" in layer["config"]:
            layer["config"]["units"] = str(layer["config"]["units"])
            break
    (BAD_DIR / "config_wrong_type.json").write_text(json.dumps(cfg))
    note("config_wrong_type.json", f"Keras 2 model JSON whose layer `{layer['config']['name']}` "
         f"has `\"units\": \"{layer['config']['units']}\"` (a string)",
         "a config type error naming the layer and the key")

    (BAD_DIR / "README.md").write_text("\n".join(readme) + "\n")


def archive_payload(path):
    """A .keras zip's members minus what changes on every save (for change detection):
    metadata.json's date_saved, and config.json's shared_object_id values, which are
    Python id()s of objects referenced by several layers (e.g. the DTypePolicy)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(members.pop("metadata.json", b"{}"))
    meta.pop("date_saved", None)
    ids = {}
    members["config.json"] = re.sub(
        rb'"shared_object_id": (\d+)',
        lambda m: b'"shared_object_id": %d' % ids.setdefault(m.group(1), len(ids)),
        members.get("config.json", b""))
    return members, meta


def keep_unchanged_archives(old_dir):
    """Put back old .keras files whose content only differs by save date and zip times,
    so that regenerating does not churn every archive in git."""
    for old in old_dir.glob("*/*.keras"):
        new = CASES_DIR / old.parent.name / old.name
        if new.exists() and archive_payload(old) == archive_payload(new):
            shutil.copyfile(old, new)


def parent_main(args):
    names = set(args.case or [])
    unknown = names - {c.name for c in CASES}
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}")
    libs = LIBS if args.lib == "all" else (() if args.lib == "bad" else (args.lib,))

    # Keep a copy of the current archives to undo date-only changes afterwards.
    old_archives = Path(tempfile.mkdtemp(prefix="kconv-fixtures-"))
    for p in CASES_DIR.glob("*/*.keras"):
        (old_archives / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, old_archives / p.parent.name / p.name)

    if args.lib == "all" and not names:
        shutil.rmtree(CASES_DIR, ignore_errors=True)
    else:
        for c in CASES:   # rewrite only the selected halves
            if names and c.name not in names:
                continue
            for lib in libs:
                for p in (CASES_DIR / c.name).glob(f"{lib}[._]*"):
                    p.unlink()
    CASES_DIR.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ, PYTHONHASHSEED="0")
    procs = []
    for lib in libs:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", lib]
        for n in sorted(names):
            cmd += ["--case", n]
        procs.append((lib, subprocess.Popen(cmd, env=env)))
        if not args.parallel:
            procs[-1][1].wait()
    failed = [lib for lib, p in procs if p.wait() != 0]
    try:
        if failed:
            sys.exit(f"generation failed for: {', '.join(failed)}")
        merge_expected(names)
        keep_unchanged_archives(old_archives)
    finally:
        shutil.rmtree(old_archives, ignore_errors=True)
    if args.lib in ("all", "bad") and not names:
        write_bad()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", choices=["all", "keras2", "keras3", "bad"], default="all",
                    help="which half to (re)generate; 'bad' rewrites only Fixtures/bad")
    ap.add_argument("--case", action="append", help="only this case (repeatable)")
    ap.add_argument("--no-parallel", dest="parallel", action="store_false",
                    help="run the Keras 2 and Keras 3 children one after the other")
    ap.add_argument("--child", choices=LIBS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args.child, set(args.case or []))
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
