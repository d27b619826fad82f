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

__attribute__((always_inline)) static inline void pool_rows(float *output, const float *input, const kconv_window *w, int average,
                                                            ptrdiff_t first_row, ptrdiff_t row_count) {
    const ptrdiff_t channels = w->channels;
    cell_position p = position_of(first_row, w);
    for (ptrdiff_t row = 0; row < row_count; row++, advance(&p, w)) {
        float *out = output + row * channels;
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
