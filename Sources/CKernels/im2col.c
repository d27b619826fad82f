// im2col by runs: with one group and no dilation along the last axis, the taps along that axis read
// consecutive input cells into consecutive columns, so each (first, second axis) tap pair is one
// contiguous run, copied with memcpy (the C library picks the widest copy for the CPU) or, for the few
// floats of a small image's run, a plain loop. And col2im, which adds each tap's values back.
#include "kernels.h"
#include "window_walk.h"
#include <string.h>

/// Runs shorter than this are copied by a loop: a memcpy call costs more than it saves on them.
enum { SHORT_RUN = 32 };

/// target[i] = source[i] for i < count, count < SHORT_RUN (no_builtin: not turned back into a memcpy call).
__attribute__((no_builtin("memcpy"))) static inline void copy_short(float *target, const float *source, ptrdiff_t count) {
    for (ptrdiff_t i = 0; i < count; i++) target[i] = source[i];
}

void kconv_im2col(float *columns, const float *input, const kconv_window *w,
                  ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2];
    const ptrdiff_t channels = w->channels, run_width = k2 * channels;
    float *target = columns;
    cell_position p = position_of(first_row, w);
    for (ptrdiff_t row = 0; row < row_count; row++, advance(&p, w)) {
        const ptrdiff_t o0 = p.o0, o1 = p.o1, o2 = p.o2, sample = p.sample;
        const ptrdiff_t start0 = o0 * w->strides[0] - w->pad_before[0];
        const ptrdiff_t start1 = o1 * w->strides[1] - w->pad_before[1];
        const ptrdiff_t start2 = o2 * w->strides[2] - w->pad_before[2];
        // The columns of a run that come from inside the input along the last axis.
        ptrdiff_t first_inside = -start2 > 0 ? -start2 : 0;
        first_inside = (first_inside < k2 ? first_inside : k2) * channels;
        ptrdiff_t end_inside = in2 - start2 < k2 ? in2 - start2 : k2;
        end_inside = end_inside * channels > first_inside ? end_inside * channels : first_inside;
        for (ptrdiff_t t0 = 0; t0 < k0; t0++) {
            const ptrdiff_t i0 = start0 + t0 * w->dilation[0];
            for (ptrdiff_t t1 = 0; t1 < k1; t1++, target += run_width) {
                const ptrdiff_t i1 = start1 + t1 * w->dilation[1];
                if (i0 < 0 || i0 >= in0 || i1 < 0 || i1 >= in1 || first_inside >= end_inside) {
                    memset(target, 0, (size_t)run_width * sizeof(float));
                    continue;
                }
                const float *cell = input + (((sample * in0 + i0) * in1 + i1) * in2 + start2) * channels;
                memset(target, 0, (size_t)first_inside * sizeof(float));
                const ptrdiff_t inside = end_inside - first_inside;
                if (inside < SHORT_RUN) copy_short(target + first_inside, cell + first_inside, inside);
                else memcpy(target + first_inside, cell + first_inside, (size_t)inside * sizeof(float));
                memset(target + end_inside, 0, (size_t)(run_width - end_inside) * sizeof(float));
            }
        }
    }
}

void kconv_col2im(float *output, const float *columns, const kconv_window *w, ptrdiff_t filters,
                  ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2];
    const float *source = columns;
    cell_position p = position_of(first_row, w);
    for (ptrdiff_t row = 0; row < row_count; row++, advance(&p, w)) {
        const ptrdiff_t o0 = p.o0, o1 = p.o1, o2 = p.o2, sample = p.sample;
        for (ptrdiff_t t0 = 0; t0 < k0; t0++) {
            const ptrdiff_t i0 = o0 * w->strides[0] - w->pad_before[0] + t0 * w->dilation[0];
            for (ptrdiff_t t1 = 0; t1 < k1; t1++) {
                const ptrdiff_t i1 = o1 * w->strides[1] - w->pad_before[1] + t1 * w->dilation[1];
                for (ptrdiff_t t2 = 0; t2 < k2; t2++, source += filters) {
                    const ptrdiff_t i2 = o2 * w->strides[2] - w->pad_before[2] + t2 * w->dilation[2];
                    if (i0 < 0 || i0 >= in0 || i1 < 0 || i1 >= in1 || i2 < 0 || i2 >= in2) continue;
                    float *cell = output + (((sample * in0 + i0) * in1 + i1) * in2 + i2) * filters;
                    for (ptrdiff_t f = 0; f < filters; f++) cell[f] += source[f];
                }
            }
        }
    }
}
