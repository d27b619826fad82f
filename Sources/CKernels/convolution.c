// Direct convolution over a channels_last input, for one group, in blocks of 16 filters (the kernel and
// bias padded with zeros to a whole block; only the real filters are stored). Padding is never
// materialised: taps that fall in it are skipped, per kernel row for the outer axes and, for the few
// output cells at the ends of a line whose windows reach into it, per tap along the last axis.
// A tile of consecutive output cells of one line × one or two blocks of 16 filters accumulates in
// registers (GCC/Clang vector types, lowered to the CPU's vectors) while the taps and input channels stream
// past: per input value one broadcast and one multiply-add per accumulator; no im2col buffer, no packing.
// The tile is sized per instruction-set level to fill, not overflow, its vector registers, and the level
// is picked at run time. With 1–4 input channels and a window 3 wide of stride 1 along the last axis (a first
// layer on an image), a tap is a handful of multiply-adds: those run unrolled, the channel count constant,
// each value's address a constant offset (convolve_few_channels).
#include "kernels.h"
#include "register_tiles.h"

// Multiply-adds fuse where the CPU has FMA (as in BLAS and TensorFlow's kernels): results may differ in
// the last bit between machines, never between runs.
#pragma clang fp contract(fast)

enum { MAX_CELLS = 8, MAX_BLOCKS = 2 };

/// One tile: `cells` consecutive output cells of a line from (o0, o1, o2) × `blocks` blocks of 16 filters
/// from filter `fb` (`wt`, rows of `kernel_stride`), stored at `out` (rows of `filters`), the last block's first `width`
/// lanes only. Taps in the padding are skipped: along the last axis only with `check_columns` (one cell at
/// a time; otherwise every tap of every cell must be inside). `cells`, `blocks` and `check_columns` are
/// constants wherever this is inlined, so the loops unroll and the accumulators live in registers.
__attribute__((always_inline)) static inline void convolve_tile(
    float *out, const float *input, const float *wt, const float *bias, const kconv_window *w, ptrdiff_t filters,
    ptrdiff_t kernel_stride, ptrdiff_t fb, ptrdiff_t sample, ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t o2, const kconv_epilogue *epilogue, int width,
    int check_columns, int cells, int blocks) {
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2];
    const ptrdiff_t channels = w->channels, step = w->strides[2] * channels;
    v16 acc[MAX_CELLS][MAX_BLOCKS];
    for (int b = 0; b < blocks; b++) {
        v16 start = {0};
        if (bias) LOAD16(start, bias + b * LANES);
        for (int r = 0; r < cells; r++) acc[r][b] = start;
    }
    for (ptrdiff_t t0 = 0; t0 < k0; t0++) {
        const ptrdiff_t i0 = o0 * w->strides[0] - w->pad_before[0] + t0 * w->dilation[0];
        if (i0 < 0 || i0 >= in0) continue;
        for (ptrdiff_t t1 = 0; t1 < k1; t1++) {
            const ptrdiff_t i1 = o1 * w->strides[1] - w->pad_before[1] + t1 * w->dilation[1];
            if (i1 < 0 || i1 >= in1) continue;
            const float *line = input + ((sample * in0 + i0) * in1 + i1) * in2 * channels;
            for (ptrdiff_t t2 = 0; t2 < k2; t2++) {
                const ptrdiff_t i2 = o2 * w->strides[2] - w->pad_before[2] + t2 * w->dilation[2];
                if (check_columns && (i2 < 0 || i2 >= in2)) continue;
                const float *src = line + i2 * channels;
                const float *tap = wt + ((t0 * k1 + t1) * k2 + t2) * channels * kernel_stride;
                for (ptrdiff_t c = 0; c < channels; c++) {
                    v16 weights[MAX_BLOCKS];
                    for (int b = 0; b < blocks; b++) LOAD16(weights[b], tap + c * kernel_stride + b * LANES);
                    for (int r = 0; r < cells; r++) {
                        const float value = src[r * step + c];
                        for (int b = 0; b < blocks; b++) acc[r][b] += value * weights[b];
                    }
                }
            }
        }
    }
    if (epilogue)
        for (int r = 0; r < cells; r++)
            for (int b = 0; b < blocks; b++) apply_epilogue(&acc[r][b], epilogue, fb + b * LANES);
    for (int r = 0; r < cells; r++) {
        for (int b = 0; b < blocks - 1; b++) STORE16(out + r * filters + b * LANES, acc[r][b]);
        store_lanes(out + r * filters + (blocks - 1) * LANES, &acc[r][blocks - 1], width);
    }
}

/// Whether every tap of output cell `o2` of a line lies inside the input along the last axis.
static inline int columns_inside(const kconv_window *w, ptrdiff_t o2) {
    const ptrdiff_t first = o2 * w->strides[2] - w->pad_before[2];
    return first >= 0 && first + (w->kernel[2] - 1) * w->dilation[2] < w->input_size[2];
}

/// Every tile of the rows: `tile_cells` × `tile_blocks` where they fit, smaller at line and filter ends,
/// and one cell at a time, checking each tap, where a window reaches into the padding of the last axis.
__attribute__((always_inline)) static inline void convolve_rows(
    float *output, const float *input, const float *kernel, const float *bias, const kconv_window *w,
    ptrdiff_t filters, ptrdiff_t first_row, ptrdiff_t row_count, const kconv_epilogue *epilogue, int tile_cells, int tile_blocks) {
    const ptrdiff_t kernel_stride = round_up_to_lanes(filters);
    const ptrdiff_t out0 = w->output_size[0], out1 = w->output_size[1], out2 = w->output_size[2];
    const ptrdiff_t end = first_row + row_count;
    for (ptrdiff_t row = first_row; row < end;) {
        const ptrdiff_t o2 = row % out2, line = row / out2;
        const ptrdiff_t o1 = line % out1, o0 = line / out1 % out0, sample = line / (out1 * out0);
        const ptrdiff_t line_cells = out2 - o2 < end - row ? out2 - o2 : end - row;
        for (ptrdiff_t x = 0; x < line_cells;) {
            // The cells from x on that read no padding along the last axis, at most a tile's worth.
            int cells = 0;
            while (cells < tile_cells && x + cells < line_cells && columns_inside(w, o2 + x + cells)) cells++;
            const int check = cells == 0;
            if (check) cells = 1;
            float *out = output + (row - first_row + x) * filters;
            for (ptrdiff_t fb = 0; fb < filters;) {
                const float *bias_block = bias ? bias + fb : 0;
                if (fb + tile_blocks * LANES <= filters && cells == tile_cells) {
                    convolve_tile(out + fb, input, kernel + fb, bias_block, w, filters, kernel_stride, fb, sample, o0, o1,
                                  o2 + x, epilogue, LANES, 0, tile_cells, tile_blocks);
                    fb += tile_blocks * LANES;
                    continue;
                }
                // Fewer cells, the last filters, or a cell reaching into the padding: one block at a time,
                // each count its own unrolled tile.
                const int width = filters - fb < LANES ? (int)(filters - fb) : LANES;
                if (check) {
                    convolve_tile(out + fb, input, kernel + fb, bias_block, w, filters, kernel_stride, fb, sample, o0, o1,
                                  o2 + x, epilogue, width, 1, 1, 1);
                } else {
                    switch (cells) {
#define TILE(n) case n: convolve_tile(out + fb, input, kernel + fb, bias_block, w, filters, kernel_stride, fb, sample, o0, o1, \
                                      o2 + x, epilogue, width, 0, n, 1); break;
                    TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8)
#undef TILE
                    }
                }
                fb += LANES;
            }
            x += cells;
        }
        row += line_cells;
    }
}

/// One tile of `cells` output cells of a line × one block of 16 filters, for `channels` input channels and a
/// window 3 wide of stride and dilation 1 along the last axis (constants wherever this is inlined): the
/// cells' windows start at `first` in each of the `count` input lines `lines`, whose kernel rows start at
/// `rows`; every tap of every cell lies inside (`check` 0), or, for one cell (`check` 1), taps outside
/// 0 ..< in2 from `x` are skipped. Each value's address is a constant offset from its line's.
__attribute__((always_inline)) static inline void few_channels_tile(
    float *out, const float *const *lines, const float *const *rows, ptrdiff_t count, ptrdiff_t first, ptrdiff_t in2,
    ptrdiff_t kernel_stride, const float *bias, ptrdiff_t fb, const kconv_epilogue *epilogue, ptrdiff_t filters, int width,
    int channels, int cells, int check) {
    v16 acc[MAX_CELLS];
    v16 start = {0};
    if (bias) LOAD16(start, bias);
    for (int r = 0; r < cells; r++) acc[r] = start;
    for (ptrdiff_t j = 0; j < count; j++) {
        const float *line = lines[j] + first * channels, *row = rows[j];
        for (int t2 = 0; t2 < 3; t2++) {
            if (check && (first + t2 < 0 || first + t2 >= in2)) continue;
            for (int c = 0; c < channels; c++) {
                v16 weights;
                LOAD16(weights, row + (t2 * channels + c) * kernel_stride);
                for (int r = 0; r < cells; r++) acc[r] += line[(r + t2) * channels + c] * weights;
            }
        }
    }
    // Unrolled, each value a copy stored whole where it can be: a loop over the array, or a store of variable
    // width from it, kept the accumulators in memory (1 → 16 channels, 16 samples of 16×16, one thread: 24.7 →
    // 20.6 µs).
#pragma clang loop unroll(full)
    for (int r = 0; r < cells; r++) {
        v16 value = acc[r];
        if (epilogue) apply_epilogue(&value, epilogue, fb);
        if (width == LANES) STORE16(out + r * filters, value);
        else store_lanes(out + r * filters, &value, width);
    }
}

/// convolve_rows for `channels` (1 to 4) input channels, a 2-D window 3 wide of stride and dilation 1 along
/// the last axis (a first layer on an image): `tile_cells` cells of one block of 16 filters at a time, the
/// cells whose windows reach into the padding of the last axis one at a time.
__attribute__((always_inline)) static inline void convolve_few_channels(
    float *output, const float *input, const float *kernel, const float *bias, const kconv_window *w,
    ptrdiff_t filters, ptrdiff_t first_row, ptrdiff_t row_count, const kconv_epilogue *epilogue, int tile_cells, int channels) {
    const ptrdiff_t kernel_stride = round_up_to_lanes(filters);
    const ptrdiff_t in1 = w->input_size[1], in2 = w->input_size[2], out1 = w->output_size[1], out2 = w->output_size[2];
    const ptrdiff_t k1 = w->kernel[1], pad2 = w->pad_before[2];
    const ptrdiff_t end = first_row + row_count;
    enum { MAX_ROWS = 16 };
    for (ptrdiff_t row = first_row; row < end;) {
        const ptrdiff_t o2 = row % out2, line = row / out2, o1 = line % out1, sample = line / out1;
        const ptrdiff_t line_cells = out2 - o2 < end - row ? out2 - o2 : end - row;
        // The kernel rows inside the input, and their input lines.
        const float *lines[MAX_ROWS], *rows[MAX_ROWS];
        ptrdiff_t count = 0;
        for (ptrdiff_t t1 = 0; t1 < k1; t1++) {
            const ptrdiff_t i1 = o1 * w->strides[1] - w->pad_before[1] + t1 * w->dilation[1];
            if (i1 < 0 || i1 >= in1) continue;
            lines[count] = input + (sample * in1 + i1) * in2 * channels;
            rows[count++] = kernel + t1 * 3 * channels * kernel_stride;
        }
        for (ptrdiff_t fb = 0; fb < filters; fb += LANES) {
            const int width = filters - fb < LANES ? (int)(filters - fb) : LANES;
            const float *bias_block = bias ? bias + fb : 0;
            const float *block_rows[MAX_ROWS];
            for (ptrdiff_t j = 0; j < count; j++) block_rows[j] = rows[j] + fb;
            for (ptrdiff_t x = 0; x < line_cells;) {
                const ptrdiff_t first = o2 + x - pad2;
                float *out = output + (row - first_row + x) * filters + fb;
                // Cells from x whose windows lie inside the last axis, at most a tile's worth.
                int cells = 0;
                while (cells < tile_cells && x + cells < line_cells && first + cells >= 0 && first + cells + 2 < in2) cells++;
                if (cells == tile_cells) {
                    few_channels_tile(out, lines, block_rows, count, first, in2, kernel_stride, bias_block, fb, epilogue, filters,
                                      width, channels, tile_cells, 0);
                } else if (cells == 0) {
                    few_channels_tile(out, lines, block_rows, count, first, in2, kernel_stride, bias_block, fb, epilogue, filters,
                                      width, channels, 1, 1);
                    cells = 1;
                } else {
                    switch (cells) {
#define TILE(n) case n: few_channels_tile(out, lines, block_rows, count, first, in2, kernel_stride, bias_block, fb, epilogue, \
                                          filters, width, channels, n, 0); break;
                    TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7)
#undef TILE
                    }
                }
                x += cells;
            }
        }
        row += line_cells;
    }
}

#define DIRECT_ARGUMENTS float *output, const float *input, const float *kernel, const float *bias, \
    const kconv_window *w, ptrdiff_t filters, ptrdiff_t first_row, ptrdiff_t row_count, const kconv_epilogue *epilogue
#define DIRECT_CALL output, input, kernel, bias, w, filters, first_row, row_count, epilogue

/// Whether convolve_few_channels computes the window: 2-D (or 1-D), at most 4 channels, 3 wide of stride and
/// dilation 1 along the last axis, at most 16 kernel rows.
static inline int few_channels(const kconv_window *w) {
    return w->kernel[0] == 1 && w->kernel[1] <= 16 && w->kernel[2] == 3 && w->strides[2] == 1 && w->dilation[2] == 1
           && w->channels >= 1 && w->channels <= 4;
}

/// The level's kernel: convolve_few_channels with the channel count constant where it applies, else
/// convolve_rows.
#define CONVOLVE(tile_cells, tile_blocks, few_cells)                                                             \
    if (few_channels(w)) {                                                                                       \
        switch (w->channels) {                                                                                   \
        case 1: convolve_few_channels(DIRECT_CALL, few_cells, 1); return;                                        \
        case 2: convolve_few_channels(DIRECT_CALL, few_cells, 2); return;                                        \
        case 3: convolve_few_channels(DIRECT_CALL, few_cells, 3); return;                                        \
        case 4: convolve_few_channels(DIRECT_CALL, few_cells, 4); return;                                        \
        }                                                                                                        \
    }                                                                                                            \
    convolve_rows(DIRECT_CALL, tile_cells, tile_blocks);

#if defined(__x86_64__)
// 6 cells × 2 blocks = 12 accumulators and 2 weight vectors of the 32 registers; with few channels 8 cells.
AVX512_FUNCTION static void convolve_avx512(DIRECT_ARGUMENTS) { CONVOLVE(6, 2, 8) }
// 6 cells × 1 block = 12 of the 16 registers, 2 for the weights; with few channels 6 cells.
AVX2_FUNCTION static void convolve_avx2(DIRECT_ARGUMENTS) { CONVOLVE(6, 1, 6) }
#endif
// The baseline: 16 × 128-bit registers, four per 16 floats: 2 cells × 1 block.
static void convolve_baseline(DIRECT_ARGUMENTS) { CONVOLVE(2, 1, 2) }

void kconv_convolve_direct(DIRECT_ARGUMENTS) { RUN_FOR_CPU_LEVEL(convolve, DIRECT_CALL) }
