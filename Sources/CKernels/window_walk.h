#ifndef KCONV_WINDOW_WALK_H
#define KCONV_WINDOW_WALK_H
// Walking the output cells of a window in flat, batch-major order (internal to CKernels).
#include "kernels.h"

/// An output cell's coordinates: its sample and its position along the three spatial axes.
typedef struct { ptrdiff_t sample, o0, o1, o2; } cell_position;

static inline cell_position position_of(ptrdiff_t row, const kconv_window *w) {
    const ptrdiff_t out0 = w->output_size[0], out1 = w->output_size[1], out2 = w->output_size[2];
    cell_position p = {row / (out2 * out1 * out0), row / (out2 * out1) % out0, row / out2 % out1, row % out2};
    return p;
}

/// The next cell in flat, batch-major order (no division: rows are visited in order).
static inline void advance(cell_position *p, const kconv_window *w) {
    if (++p->o2 < w->output_size[2]) return;
    p->o2 = 0;
    if (++p->o1 < w->output_size[1]) return;
    p->o1 = 0;
    if (++p->o0 < w->output_size[0]) return;
    p->o0 = 0;
    p->sample++;
}

/// Runs the statements given after `p` for every tap of the output cell at `p` that lies inside the input,
/// with `in_offset` (where the input cell's channels start) and `tap` (the tap's flat index) in scope.
#define FOR_EACH_TAP_INSIDE(w, p, ...)                                                                          \
    for (ptrdiff_t t0 = 0; t0 < (w)->kernel[0]; t0++) {                                                        \
        const ptrdiff_t i0 = (p).o0 * (w)->strides[0] - (w)->pad_before[0] + t0 * (w)->dilation[0];             \
        if (i0 < 0 || i0 >= (w)->input_size[0]) continue;                                                       \
        for (ptrdiff_t t1 = 0; t1 < (w)->kernel[1]; t1++) {                                                    \
            const ptrdiff_t i1 = (p).o1 * (w)->strides[1] - (w)->pad_before[1] + t1 * (w)->dilation[1];         \
            if (i1 < 0 || i1 >= (w)->input_size[1]) continue;                                                   \
            for (ptrdiff_t t2 = 0; t2 < (w)->kernel[2]; t2++) {                                                \
                const ptrdiff_t i2 = (p).o2 * (w)->strides[2] - (w)->pad_before[2] + t2 * (w)->dilation[2];     \
                if (i2 < 0 || i2 >= (w)->input_size[2]) continue;                                               \
                const ptrdiff_t in_offset =                                                                     \
                    ((((p).sample * (w)->input_size[0] + i0) * (w)->input_size[1] + i1) * (w)->input_size[2] + i2) \
                    * (w)->channels;                                                                            \
                const ptrdiff_t tap = (t0 * (w)->kernel[1] + t1) * (w)->kernel[2] + t2;                         \
                __VA_ARGS__                                                                                     \
            }                                                                                                   \
        }                                                                                                       \
    }

#endif
