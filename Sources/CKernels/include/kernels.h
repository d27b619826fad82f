#ifndef KCONV_KERNELS_H
#define KCONV_KERNELS_H
// The engine's innermost loops that Swift cannot make fast: Swift compiles for the baseline instruction set
// (SSE2) only, while these are built for several x86-64 levels (SSE2, AVX2+FMA, AVX-512) and picked at load
// time for the running CPU, or use the C library's CPU-specific memcpy. Called only through
// KConv/Engine/NativeKernels.swift, which checks every bound first.
#include <stddef.h>

// ---- activations.c: in-place elementwise activations

// Each function updates `rows` runs of `count` floats, run r starting at values + r·stride.

/// x = 1 / (1 + e^-x)
void kconv_sigmoid(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count);
/// x = tanh(x)
void kconv_tanh(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count);
/// x = x · sigmoid(x)
void kconv_swish(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count);
/// Each run as a row: e^(x − max) / Σ e^(x − max) (the sum in any order).
void kconv_softmax(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count);

/// One LSTM step's gate maths with Keras's default activations (sigmoid gates, tanh), all in one pass: for
/// each sample s with keep[s], its gate row at gates + s·stride holds the pre-activations [i f c̃ o], each
/// `units` wide, and its states are the rows of `units` at carry + s·units and output + s·units:
/// c = σ(f)·c + σ(i)·tanh(c̃), h = σ(o)·tanh(c). Samples without keep[s] are left as they are.
void kconv_lstm_cell(const float *gates, ptrdiff_t stride, const _Bool *keep, ptrdiff_t batch, ptrdiff_t units,
                     float *carry, float *output);

/// One GRU step's gate maths with Keras's default activations (sigmoid gates, tanh), all in one pass: for
/// each sample s with keep[s], its gate row at gates + s·stride holds [z r ĥ], each `units` wide, and its
/// state is the row of `units` at state + s·units, updated to h = z·h + (1 − z)·ĥ.
/// reset_after: `recurrent` holds each sample's h·U (3·units at recurrent + s·3·units) and `bias` the
/// recurrent bias (3·units); the gate row holds the input projection, and z = σ(x_z + hU_z + b_z),
/// r = σ(x_r + hU_r + b_r), ĥ = tanh(x_h + r·(hU_h + b_h)).
/// reset_before: `recurrent` and `bias` are null and the gate row already holds the pre-activations:
/// z = σ(row_z), ĥ = tanh(row_ĥ). Samples without keep[s] are left as they are.
void kconv_gru_cell(const float *gates, ptrdiff_t stride, const float *recurrent, const float *bias,
                    const _Bool *keep, ptrdiff_t batch, ptrdiff_t units, float *state);

// ---- the epilogue of the register-tiled convolutions

/// What a convolution kernel does to each result as it stores it, while the tile is still in registers
/// (the activation after the layer and a BatchNormalization after that, fused): clamp to [low, high] — ReLU
/// is [0, +inf], ReLU6 [0, 6] — then, unless `scale` is null, times scale[f] plus shift[f] for output
/// channel f, both holding the channels rounded up to a multiple of 16. A null epilogue stores the results
/// as they are.
typedef struct {
    float low, high;
    const float *scale, *shift;
} kconv_epilogue;

// ---- im2col.c

/// A convolution window over three spatial axes (missing leading axes of size 1), channels_last.
typedef struct {
    ptrdiff_t input_size[3];
    ptrdiff_t output_size[3];
    ptrdiff_t kernel[3];
    ptrdiff_t strides[3];
    ptrdiff_t dilation[3];
    ptrdiff_t pad_before[3];
    ptrdiff_t channels;
} kconv_window;

/// im2col for one group and no dilation along the last axis: writes the window of each output cell
/// first_row ..< first_row + row_count (flat, batch-major) as one row of `columns`, from row 0, laid out
/// [taps][channels]; taps in the padding are zeros. `input` holds every sample those rows read.
void kconv_im2col(float *columns, const float *input, const kconv_window *window,
                  ptrdiff_t first_row, ptrdiff_t row_count);

/// col2im, the inverse: adds each tap's `filters` values of the column rows first_row ..< first_row +
/// row_count (from row 0 of `columns`, laid out [taps][filters]) into `output` (channels_last, spatial sizes
/// window->input_size, `filters` channels) at the cell the tap lands on; taps in the padding are dropped.
void kconv_col2im(float *output, const float *columns, const kconv_window *window, ptrdiff_t filters,
                  ptrdiff_t first_row, ptrdiff_t row_count);

/// `count` copies of the `width` floats at `row`, one after the other, from `target`.
void kconv_repeat_row(float *target, const float *row, ptrdiff_t width, ptrdiff_t count);

// ---- pooling.c

/// Max (average = 0) or average pooling of output cells first_row ..< first_row + row_count (flat,
/// batch-major), written from row 0 of `output` as rows of window->channels values: per channel, the max
/// or mean of the window's input cells that lie inside the input (padding never counts; zero for a window
/// wholly in the padding).
void kconv_pool(float *output, const float *input, const kconv_window *window, int average,
                ptrdiff_t first_row, ptrdiff_t row_count);

// ---- convolution.c

/// Cross-correlation of output cells first_row ..< first_row + row_count (flat, batch-major), written
/// from row 0 of `output` as rows of `filters` values: bias (or zero) plus, over the window's taps and
/// channels inside the input, input × kernel (taps in the padding read zero). `input` holds every sample
/// those rows read; `kernel` is [taps][channels][filters rounded up to a multiple of 16] and
/// `bias` (or null) [filters rounded up], the extra filters zero.
/// Each result passes through `epilogue` (if not null) as it is stored.
void kconv_convolve_direct(float *output, const float *input, const float *kernel, const float *bias,
                           const kconv_window *window, ptrdiff_t filters,
                           ptrdiff_t first_row, ptrdiff_t row_count, const kconv_epilogue *epilogue);

// ---- winograd.c: 3×3, stride-1, undilated 2-D convolutions as Winograd F(2×2, 3×3)

/// `kernel` ([3][3][channels][filters], as Keras stores it) transformed for kconv_winograd_convolve:
/// [16][channels][filters rounded up to a multiple of 16], the extra filters zero.
void kconv_winograd_kernel(float *transformed, const float *kernel, ptrdiff_t channels, ptrdiff_t filters);

/// Floats of scratch space one kconv_winograd_convolve call needs (written before read: need not be initialised).
ptrdiff_t kconv_winograd_scratch_count(ptrdiff_t channels, ptrdiff_t filters);

/// The cross-correlation of kconv_convolve_direct for a window of kernel (1, 3, 3), strides and dilation 1
/// and input_size[0] = output_size[0] = 1, computed per 2×2 tile of output cells: tiles first_tile ..<
/// first_tile + tile_count (flat, batch-major over ⌈output_size[1]/2⌉ × ⌈output_size[2]/2⌉ per sample).
/// Writes the tiles' cells that lie inside the output, at their place in the whole `output` (channels_last,
/// `filters` channels). `transformed` comes from kconv_winograd_kernel; `bias` (or null) is [filters
/// rounded up]; `scratch` holds kconv_winograd_scratch_count floats.
void kconv_winograd_convolve(float *output, const float *input, const float *transformed, const float *bias,
                             const kconv_window *window, ptrdiff_t filters, ptrdiff_t first_tile,
                             ptrdiff_t tile_count, const kconv_epilogue *epilogue, float *scratch);

// ---- depthwise.c

/// Depthwise cross-correlation of output cells first_row ..< first_row + row_count (flat, batch-major),
/// written from row 0 of `output` as rows of channels · multiplier values: output c · multiplier + m is
/// bias (or zero) plus, over the window's taps inside the input, input channel c × kernel[tap][c · multiplier
/// + m]. `kernel` is [taps][channels · multiplier] as Keras stores it; `bias` (or null) [channels · multiplier].
/// Each result passes through `epilogue` (if not null) as it is stored.
void kconv_depthwise(float *output, const float *input, const float *kernel, const float *bias, const kconv_window *window,
                     ptrdiff_t multiplier, ptrdiff_t first_row, ptrdiff_t row_count, const kconv_epilogue *epilogue);

// ---- cpu_level.c: which instruction-set level the register-tiled kernels (convolution, Winograd,
// depthwise, pooling, products) run at: 0 baseline (SSE2), 1 AVX2 + FMA, 2 AVX-512

/// The level they run at: the widest the CPU supports, at most the limit.
int kconv_cpu_level(void);

/// Lowers (or restores) the limit, for tests that check every level the machine can run. Not thread-safe
/// against kernels running at the same time (each call still computes correct results at either level).
void kconv_limit_cpu_level(int level);

// ---- elementwise.c

typedef enum { KCONV_ADD, KCONV_SUBTRACT, KCONV_MULTIPLY, KCONV_DIVIDE } kconv_arithmetic;

/// out = a ∘ b over an output of `rank` axes `dims` (row-major, contiguous), each operand stepping
/// strides_a[axis] (strides_b[axis]) values along each axis: 0 where it repeats (NumPy broadcasting).
void kconv_broadcast(kconv_arithmetic operation, float *out, const float *a, const float *b, ptrdiff_t rank,
                     const ptrdiff_t *dims, const ptrdiff_t *strides_a, const ptrdiff_t *strides_b);

// ---- spinning

/// Tells the CPU the calling thread is spin-waiting (x86 `pause`; nothing elsewhere), so a waiting worker
/// (Parallel.swift) yields the core's pipeline to its sibling and uses less power.
static inline void kconv_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// ---- products.c

/// c = a·B (c += a·B with `accumulate`) for one row: c has n values, a has k, B is k × n row-major with rows
/// ldb apart. n is a multiple of 16.
void kconv_row_product(float *c, const float *a, const float *b, ptrdiff_t ldb, ptrdiff_t n, ptrdiff_t k, int accumulate);

#endif
