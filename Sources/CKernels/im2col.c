// im2col by runs: with one group and no dilation along the last axis, the taps along that axis read
// consecutive input cells into consecutive columns, so each (first, second axis) tap pair is one
// contiguous run, copied with memcpy (the C library picks the widest copy for the CPU).
#include "kernels.h"
#include <string.h>

void kconv_im2col(float *columns, const float *input, const kconv_window *w,
                  ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t out0 = w->output_size[0], out1 = w->output_size[1], out2 = w->output_size[2];
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2];
    const ptrdiff_t channels = w->channels, run_width = k2 * channels;
    float *target = columns;
    for (ptrdiff_t row = first_row; row < first_row + row_count; row++) {
        const ptrdiff_t o2 = row % out2, o1 = row / out2 % out1, o0 = row / (out2 * out1) % out0;
        const ptrdiff_t sample = row / (out2 * out1 * out0);
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
                memcpy(target + first_inside, cell + first_inside, (size_t)(end_inside - first_inside) * sizeof(float));
                memset(target + end_inside, 0, (size_t)(run_width - end_inside) * sizeof(float));
            }
        }
    }
}
