// Direct convolution over a zero-padded, channels_last input, for one group and filters in blocks of 16.
// Eight consecutive output cells of one line × 16 filters accumulate in registers (GCC/Clang vector
// types, lowered to the widest vectors of each clone) while the taps and input channels stream past:
// per input value one broadcast and one multiply-add per accumulator, no im2col buffer, no packing.
#include "kernels.h"
#include <string.h>

// Multiply-adds fuse where the CPU has FMA (as in BLAS and TensorFlow's kernels): results may differ in
// the last bit between machines, never between runs.
#pragma clang fp contract(fast)

#if defined(__x86_64__) && defined(__linux__)
#define KCONV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KCONV_CLONES
#endif

typedef float v16 __attribute__((vector_size(64)));

// Vectors move through memcpy (any alignment) and never by value across a call: each clone keeps its own
// vector ABI.
#define LOAD16(vector, source) memcpy(&(vector), (source), sizeof(v16))
#define STORE16(target, vector) memcpy((target), &(vector), sizeof(v16))

enum { CELLS = 8, LANES = 16 };

/// Adds the window of `cells` consecutive output cells (input cells `step` floats apart) to `acc` for
/// filters fb ..< fb + 16. `cells` is a constant at the unrolled call below.
__attribute__((always_inline)) static inline void accumulate(v16 *acc, const float *src, const float *wt, ptrdiff_t channels, ptrdiff_t filters,
                              ptrdiff_t step, int cells) {
    for (ptrdiff_t c = 0; c < channels; c++) {
        v16 weights;
        LOAD16(weights, wt + c * filters);
        for (int r = 0; r < cells; r++) acc[r] += src[r * step + c] * weights;
    }
}

KCONV_CLONES void kconv_convolve_direct(float *output, const float *input, const float *kernel, const float *bias,
                                        const kconv_window *w, ptrdiff_t filters,
                                        ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t out0 = w->output_size[0], out1 = w->output_size[1], out2 = w->output_size[2];
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2];
    const ptrdiff_t channels = w->channels, step = w->strides[2] * channels;
    const ptrdiff_t end = first_row + row_count;
    for (ptrdiff_t row = first_row; row < end;) {
        const ptrdiff_t o2 = row % out2, line = row / out2;
        const ptrdiff_t o1 = line % out1, o0 = line / out1 % out0, sample = line / (out1 * out0);
        const ptrdiff_t line_cells = out2 - o2 < end - row ? out2 - o2 : end - row;
        for (ptrdiff_t x = 0; x < line_cells; x += CELLS) {
            const int cells = line_cells - x < CELLS ? (int)(line_cells - x) : CELLS;
            float *out = output + (row - first_row + x) * filters;
            for (ptrdiff_t fb = 0; fb < filters; fb += LANES) {
                v16 acc[CELLS];
                v16 start = {0};
                if (bias) LOAD16(start, bias + fb);
                for (int r = 0; r < CELLS; r++) acc[r] = start;
                for (ptrdiff_t t0 = 0; t0 < k0; t0++) {
                    const ptrdiff_t i0 = o0 * w->strides[0] + t0 * w->dilation[0];
                    for (ptrdiff_t t1 = 0; t1 < k1; t1++) {
                        const ptrdiff_t i1 = o1 * w->strides[1] + t1 * w->dilation[1];
                        const float *line_start = input + ((sample * in0 + i0) * in1 + i1) * in2 * channels;
                        for (ptrdiff_t t2 = 0; t2 < k2; t2++) {
                            const float *src = line_start + ((o2 + x) * w->strides[2] + t2 * w->dilation[2]) * channels;
                            const float *wt = kernel + ((t0 * k1 + t1) * k2 + t2) * channels * filters + fb;
                            if (cells == CELLS) accumulate(acc, src, wt, channels, filters, step, CELLS);
                            else accumulate(acc, src, wt, channels, filters, step, cells);
                        }
                    }
                }
                for (int r = 0; r < cells; r++) STORE16(out + r * filters + fb, acc[r]);
            }
        }
        row += line_cells;
    }
}
