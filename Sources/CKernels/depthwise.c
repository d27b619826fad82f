// Depthwise convolution over a channels_last input: each output cell's channels accumulate in vector
// registers, 16 at a time, while the window's taps stream past (per tap one input load and one multiply-add
// per 16 channels); taps in the padding are skipped. With a depth multiplier above 1 each input value feeds
// several neighbouring outputs, so those run one value at a time.
#include "kernels.h"
#include "register_tiles.h"
#include "window_walk.h"

// As in convolution.c: multiply-adds fuse where the CPU has FMA.
#pragma clang fp contract(fast)

enum { MAX_BLOCKS = 8, MAX_LISTED_TAPS = 64 };

/// Channels block ..< block + blocks · 16 of one output cell (the last block's first `lanes` only) in
/// registers over the `count` taps inside the input: input cells at `offsets`, kernel rows `taps`. `blocks`
/// is a constant wherever this is inlined.
__attribute__((always_inline)) static inline void depthwise_blocks(float *out, const float *input, const float *kernel,
                                                                   const float *bias, ptrdiff_t channels,
                                                                   const ptrdiff_t *offsets, const ptrdiff_t *taps,
                                                                   ptrdiff_t count, ptrdiff_t block, int blocks,
                                                                   ptrdiff_t lanes, const kconv_epilogue *epilogue) {
    v16 acc[MAX_BLOCKS];
    for (int b = 0; b < blocks; b++) {
        acc[b] = (v16){0};
        if (bias) load_lanes(&acc[b], bias + block + b * LANES, b == blocks - 1 ? lanes : LANES);
    }
    for (ptrdiff_t i = 0; i < count; i++) {
        const float *cell = input + offsets[i] + block, *weights = kernel + taps[i] * channels + block;
        for (int b = 0; b < blocks; b++) {
            v16 value, weight;
            load_lanes(&value, cell + b * LANES, b == blocks - 1 ? lanes : LANES);
            load_lanes(&weight, weights + b * LANES, b == blocks - 1 ? lanes : LANES);
            acc[b] += value * weight;
        }
    }
    if (epilogue)
        for (int b = 0; b < blocks; b++) apply_epilogue(&acc[b], epilogue, block + b * LANES);
    for (int b = 0; b < blocks; b++) store_lanes(out + block + b * LANES, &acc[b], b == blocks - 1 ? lanes : LANES);
}

/// One output cell with a depth multiplier of 1, its taps inside the input listed: chunks of `widest`
/// blocks of 16 channels while they fit, then the rest (at most `widest` blocks, the last partial) in one.
__attribute__((always_inline)) static inline void depthwise_cell(float *out, const float *input, const float *kernel,
                                                                 const float *bias, ptrdiff_t channels,
                                                                 const ptrdiff_t *offsets, const ptrdiff_t *taps,
                                                                 ptrdiff_t count, int widest,
                                                                 const kconv_epilogue *epilogue) {
    ptrdiff_t block = 0;
    for (; block + widest * LANES <= channels; block += widest * LANES)
        depthwise_blocks(out, input, kernel, bias, channels, offsets, taps, count, block, widest, LANES, epilogue);
    if (block == channels) return;
    const ptrdiff_t rest = channels - block, lanes = rest - (rest - 1) / LANES * LANES;
    switch ((rest + LANES - 1) / LANES) {
#define CHUNK(n) case n: if ((n) <= widest) depthwise_blocks(out, input, kernel, bias, channels, offsets, taps, count, block, (n), lanes, epilogue); break;
    CHUNK(1) CHUNK(2) CHUNK(3) CHUNK(4) CHUNK(5) CHUNK(6) CHUNK(7) CHUNK(8)
#undef CHUNK
    }
}

/// Every output cell of the rows. A cell's taps inside the input are listed once (offsets and kernel rows)
/// and reused for every chunk of its channels; a window of more than MAX_LISTED_TAPS taps, or a depth
/// multiplier above 1, walks the window per channel chunk instead.
__attribute__((always_inline)) static inline void depthwise_rows(float *output, const float *input, const float *kernel,
                                                                 const float *bias, const kconv_window *w,
                                                                 ptrdiff_t multiplier, ptrdiff_t first_row,
                                                                 ptrdiff_t row_count, const kconv_epilogue *epilogue,
                                                                 int widest) {
    const ptrdiff_t channels = w->channels, width = channels * multiplier;
    const int listed = w->kernel[0] * w->kernel[1] * w->kernel[2] <= MAX_LISTED_TAPS;
    ptrdiff_t offsets[MAX_LISTED_TAPS], taps[MAX_LISTED_TAPS];
    cell_position p = position_of(first_row, w);
    for (ptrdiff_t row = 0; row < row_count; row++, advance(&p, w)) {
        float *out = output + row * width;
        if (multiplier == 1 && listed) {
            ptrdiff_t count = 0;
            FOR_EACH_TAP_INSIDE(w, p, {
                offsets[count] = in_offset;
                taps[count++] = tap;
            })
            depthwise_cell(out, input, kernel, bias, channels, offsets, taps, count, widest, epilogue);
            continue;
        }
        for (ptrdiff_t j = 0; j < width; j++) out[j] = bias ? bias[j] : 0;
        FOR_EACH_TAP_INSIDE(w, p, {
            const float *cell = input + in_offset, *weights = kernel + tap * width;
            for (ptrdiff_t c = 0; c < channels; c++)
                for (ptrdiff_t m = 0; m < multiplier; m++) out[c * multiplier + m] += cell[c] * weights[c * multiplier + m];
        })
        if (epilogue)
            for (ptrdiff_t j = 0; j < width; j++) out[j] = epilogue_value(out[j], epilogue, j);
    }
}

#define DEPTHWISE_ARGUMENTS float *output, const float *input, const float *kernel, const float *bias, \
    const kconv_window *w, ptrdiff_t multiplier, ptrdiff_t first_row, ptrdiff_t row_count, const kconv_epilogue *epilogue
#define DEPTHWISE_CALL output, input, kernel, bias, w, multiplier, first_row, row_count, epilogue

#if defined(__x86_64__)
// 8 of the 32 registers accumulate 128 channels; on AVX2, 4 × 2 of the 16, 64 channels.
AVX512_FUNCTION static void depthwise_avx512(DEPTHWISE_ARGUMENTS) { depthwise_rows(DEPTHWISE_CALL, 8); }
AVX2_FUNCTION static void depthwise_avx2(DEPTHWISE_ARGUMENTS) { depthwise_rows(DEPTHWISE_CALL, 4); }
#endif
// 2 × 4 of the 16 SSE registers, 32 channels.
static void depthwise_baseline(DEPTHWISE_ARGUMENTS) { depthwise_rows(DEPTHWISE_CALL, 2); }

void kconv_depthwise(DEPTHWISE_ARGUMENTS) { RUN_FOR_CPU_LEVEL(depthwise, DEPTHWISE_CALL) }
