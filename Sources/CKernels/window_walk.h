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

#endif
