// Windowed max and average pooling, per output cell one pass over the channels of each input cell of its
// window; built per instruction-set level so that those passes use the CPU's widest vectors.
#include "kernels.h"
#include "window_walk.h"
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define KCONV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KCONV_CLONES
#endif

KCONV_CLONES void kconv_pool(float *output, const float *input, const kconv_window *w, int average,
                             ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2], channels = w->channels;
    cell_position p = position_of(first_row, w);
    for (ptrdiff_t row = 0; row < row_count; row++, advance(&p, w)) {
        float *out = output + row * channels;
        ptrdiff_t counted = 0;
        for (ptrdiff_t t0 = 0; t0 < k0; t0++) {
            const ptrdiff_t i0 = p.o0 * w->strides[0] - w->pad_before[0] + t0 * w->dilation[0];
            if (i0 < 0 || i0 >= in0) continue;
            for (ptrdiff_t t1 = 0; t1 < k1; t1++) {
                const ptrdiff_t i1 = p.o1 * w->strides[1] - w->pad_before[1] + t1 * w->dilation[1];
                if (i1 < 0 || i1 >= in1) continue;
                for (ptrdiff_t t2 = 0; t2 < k2; t2++) {
                    const ptrdiff_t i2 = p.o2 * w->strides[2] - w->pad_before[2] + t2 * w->dilation[2];
                    if (i2 < 0 || i2 >= in2) continue;
                    const float *cell = input + (((p.sample * in0 + i0) * in1 + i1) * in2 + i2) * channels;
                    if (counted++ == 0) {
                        memcpy(out, cell, (size_t)channels * sizeof(float));
                    } else if (average) {
                        for (ptrdiff_t c = 0; c < channels; c++) out[c] += cell[c];
                    } else {
                        // As Swift's max(out, cell): a NaN already in `out` stays, a NaN in `cell` is skipped.
                        for (ptrdiff_t c = 0; c < channels; c++) out[c] = cell[c] >= out[c] ? cell[c] : out[c];
                    }
                }
            }
        }
        if (counted == 0) memset(out, 0, (size_t)channels * sizeof(float));
        if (average && counted > 1) {
            const float count = (float)counted;
            for (ptrdiff_t c = 0; c < channels; c++) out[c] /= count;
        }
    }
}
