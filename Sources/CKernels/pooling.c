// Windowed max and average pooling: each output cell's channels reduce in vector registers, 16 at a time,
// while the window's taps inside the input stream past (per tap one load and one max or add per 16
// channels), and are stored once; built per instruction-set level, picked at run time.
#include "kernels.h"
#include "register_tiles.h"
#include "window_walk.h"

/// Channels block ..< block + `lanes` of the output cell at `p`: the max (as Swift's max(out, cell): a NaN
/// already kept stays, a NaN read later is skipped) or mean of the window's cells inside the input, in tap
/// order; zero for a window wholly in the padding.
__attribute__((always_inline)) static inline void pool_block(float *out, const float *input, const kconv_window *w, cell_position p,
                                                             int average, ptrdiff_t block, ptrdiff_t lanes) {
    v16 acc = {0};
    ptrdiff_t counted = 0;
    FOR_EACH_TAP_INSIDE(w, p, {
        (void)tap;
        v16 value;
        load_lanes(&value, input + in_offset + block, lanes);
        if (counted++ == 0) {
            acc = value;
        } else if (average) {
            acc += value;
        } else {
            const v16i greater = value >= acc;
            acc = (v16)(((v16i)value & greater) | ((v16i)acc & ~greater));
        }
    })
    if (average && counted > 1) acc /= (v16){0} + (float)counted;
    store_lanes(out + block, &acc, lanes);
}

/// Windows of at most this many taps have their taps' offsets computed once per call (the fast path).
enum { MAX_LISTED_TAPS = 64 };

/// Whether the window of the output cell at `p` lies wholly inside the input (no tap in the padding).
static inline int window_inside(const kconv_window *w, cell_position p) {
    const ptrdiff_t o[3] = {p.o0, p.o1, p.o2};
    for (int axis = 0; axis < 3; axis++) {
        const ptrdiff_t first = o[axis] * w->strides[axis] - w->pad_before[axis];
        if (first < 0 || first + (w->kernel[axis] - 1) * w->dilation[axis] >= w->input_size[axis]) return 0;
    }
    return 1;
}

/// `pool_block` for a window wholly inside the input: its taps at `tap_offsets` from the window's first cell
/// `base`, in tap order, every one counted.
__attribute__((always_inline)) static inline void pool_inside(float *out, const float *base, const ptrdiff_t *tap_offsets,
                                                              ptrdiff_t taps, int average, ptrdiff_t lanes) {
    v16 acc;
    load_lanes(&acc, base + tap_offsets[0], lanes);
    for (ptrdiff_t tap = 1; tap < taps; tap++) {
        v16 value;
        load_lanes(&value, base + tap_offsets[tap], lanes);
        if (average) {
            acc += value;
        } else {
            const v16i greater = value >= acc;
            acc = (v16)(((v16i)value & greater) | ((v16i)acc & ~greater));
        }
    }
    if (average && taps > 1) acc /= (v16){0} + (float)taps;
    store_lanes(out, &acc, lanes);
}

/// Every channel of an output cell whose window lies wholly inside the input, from the window's first cell `base`.
__attribute__((always_inline)) static inline void pool_cell_inside(float *out, const float *base, const ptrdiff_t *tap_offsets,
                                                                   ptrdiff_t taps, int average, ptrdiff_t channels) {
    ptrdiff_t block = 0;
    for (; block + LANES <= channels; block += LANES) pool_inside(out + block, base + block, tap_offsets, taps, average, LANES);
    if (block < channels) pool_inside(out + block, base + block, tap_offsets, taps, average, channels - block);
}

__attribute__((always_inline)) static inline void pool_rows(float *output, const float *input, const kconv_window *w, int average,
                                                            ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t channels = w->channels;
    // The offset of each tap from the window's first cell, for windows small enough to list.
    const ptrdiff_t taps = w->kernel[0] * w->kernel[1] * w->kernel[2];
    ptrdiff_t tap_offsets[MAX_LISTED_TAPS];
    const int listed = taps <= MAX_LISTED_TAPS;
    if (listed) {
        ptrdiff_t tap = 0;
        for (ptrdiff_t t0 = 0; t0 < w->kernel[0]; t0++)
            for (ptrdiff_t t1 = 0; t1 < w->kernel[1]; t1++)
                for (ptrdiff_t t2 = 0; t2 < w->kernel[2]; t2++)
                    tap_offsets[tap++] = ((t0 * w->dilation[0] * w->input_size[1] + t1 * w->dilation[1]) * w->input_size[2]
                                          + t2 * w->dilation[2]) * channels;
    }
    cell_position p = position_of(first_row, w);
    for (ptrdiff_t row = 0; row < row_count; row++, advance(&p, w)) {
        float *out = output + row * channels;
        if (listed && window_inside(w, p)) {
            const float *base = input + ((((p.sample * w->input_size[0] + p.o0 * w->strides[0] - w->pad_before[0]) * w->input_size[1]
                                           + p.o1 * w->strides[1] - w->pad_before[1]) * w->input_size[2]
                                          + p.o2 * w->strides[2] - w->pad_before[2]) * channels);
            // `average` as a constant in each branch, so that the tap loop does not test it.
            if (average) {
                pool_cell_inside(out, base, tap_offsets, taps, 1, channels);
            } else {
                pool_cell_inside(out, base, tap_offsets, taps, 0, channels);
            }
            continue;
        }
        ptrdiff_t block = 0;
        for (; block + LANES <= channels; block += LANES) pool_block(out, input, w, p, average, block, LANES);
        if (block < channels) pool_block(out, input, w, p, average, block, channels - block);
    }
}

#define POOL_ARGUMENTS float *output, const float *input, const kconv_window *w, int average, ptrdiff_t first_row, ptrdiff_t row_count
#define POOL_CALL output, input, w, average, first_row, row_count

#if defined(__x86_64__)
AVX512_FUNCTION static void pool_avx512(POOL_ARGUMENTS) { pool_rows(POOL_CALL); }
AVX2_FUNCTION static void pool_avx2(POOL_ARGUMENTS) { pool_rows(POOL_CALL); }
#endif
static void pool_baseline(POOL_ARGUMENTS) { pool_rows(POOL_CALL); }

void kconv_pool(POOL_ARGUMENTS) { RUN_FOR_CPU_LEVEL(pool, POOL_CALL) }
