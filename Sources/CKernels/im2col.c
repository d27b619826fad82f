// im2col by runs: with one group and no dilation along the last axis, the taps along that axis read
// consecutive input cells into consecutive columns, so each (first, second axis) tap pair is one
// contiguous run, copied with memcpy (the C library picks the widest copy for the CPU) or, for the few
// floats of a small image's run, a plain loop. And col2im, which adds each tap's values back, and the
// bias rows the GEMM and col2im add into.
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

/// For `count` steps: the `filters` floats at `cell` += those at `source`, then both move on by their
/// step. Up to 4 filters with constant loops: a runtime-length loop per step costs more than its adds.
static inline void add_strided(float *cell, ptrdiff_t cell_step, const float *source, ptrdiff_t source_step,
                               ptrdiff_t count, ptrdiff_t filters) {
#define ADD_STRIDED(width) \
    for (ptrdiff_t n = 0; n < count; n++, cell += cell_step, source += source_step) \
        for (ptrdiff_t f = 0; f < (width); f++) cell[f] += source[f]; \
    return;
    switch (filters) {
    case 1: ADD_STRIDED(1)
    case 2: ADD_STRIDED(2)
    case 3: ADD_STRIDED(3)
    case 4: ADD_STRIDED(4)
    default: ADD_STRIDED(filters)
    }
#undef ADD_STRIDED
}

/// The taps along the last axis whose cells lie inside the input: output positions o with
/// 0 <= o·stride − pad + t·dilation < size, as the range [*first, *end) of 0 ..< outputs.
static void inside_range(ptrdiff_t offset, ptrdiff_t stride, ptrdiff_t size, ptrdiff_t outputs,
                         ptrdiff_t *first, ptrdiff_t *end) {
    // o·stride + offset >= 0  ⇔  o >= ⌈−offset / stride⌉;  o·stride + offset < size  ⇔  o < ⌈(size − offset) / stride⌉.
    ptrdiff_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    ptrdiff_t hi = size - offset <= 0 ? 0 : (size - offset + stride - 1) / stride;
    *first = lo;
    *end = hi < outputs ? hi : outputs;
}

void kconv_col2im(float *output, const float *columns, const kconv_window *w, ptrdiff_t filters,
                  ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t in0 = w->input_size[0], in1 = w->input_size[1], in2 = w->input_size[2];
    const ptrdiff_t k0 = w->kernel[0], k1 = w->kernel[1], k2 = w->kernel[2], row_width = k0 * k1 * k2 * filters;
    const ptrdiff_t out2 = w->output_size[2], stride2 = w->strides[2];
    // Tap by tap, line by line: within a line a tap's cells are evenly spaced, and the ones inside the
    // input are one range of the line's rows, so the additions run without per-cell checks.
    for (ptrdiff_t t0 = 0, tap = 0; t0 < k0; t0++) {
        for (ptrdiff_t t1 = 0; t1 < k1; t1++) {
            for (ptrdiff_t t2 = 0; t2 < k2; t2++, tap++) {
                const ptrdiff_t offset2 = t2 * w->dilation[2] - w->pad_before[2];
                ptrdiff_t inside_first, inside_end;
                inside_range(offset2, stride2, in2, out2, &inside_first, &inside_end);
                cell_position p = position_of(first_row, w);
                for (ptrdiff_t row = 0; row < row_count;) {
                    const ptrdiff_t line_cells = out2 - p.o2 < row_count - row ? out2 - p.o2 : row_count - row;
                    const ptrdiff_t i0 = p.o0 * w->strides[0] - w->pad_before[0] + t0 * w->dilation[0];
                    const ptrdiff_t i1 = p.o1 * w->strides[1] - w->pad_before[1] + t1 * w->dilation[1];
                    const ptrdiff_t first = inside_first > p.o2 ? inside_first : p.o2;
                    const ptrdiff_t end = inside_end < p.o2 + line_cells ? inside_end : p.o2 + line_cells;
                    if (i0 >= 0 && i0 < in0 && i1 >= 0 && i1 < in1 && first < end) {
                        float *cell = output + (((p.sample * in0 + i0) * in1 + i1) * in2 + first * stride2 + offset2) * filters;
                        const float *source = columns + (row + first - p.o2) * row_width + tap * filters;
                        add_strided(cell, stride2 * filters, source, row_width, end - first, filters);
                    }
                    row += line_cells;
                    p.o2 += line_cells - 1;
                    advance(&p, w);
                }
            }
        }
    }
}

void kconv_repeat_row(float *target, const float *row, ptrdiff_t width, ptrdiff_t count) {
    const ptrdiff_t total = width * count;
    if (total == 0) return;
    memcpy(target, row, (size_t)width * sizeof(float));
    // Each copy doubles the filled prefix: a few large copies instead of one small copy per row.
    for (ptrdiff_t filled = width; filled < total;) {
        const ptrdiff_t n = filled < total - filled ? filled : total - filled;
        memcpy(target + filled, target, (size_t)n * sizeof(float));
        filled += n;
    }
}
