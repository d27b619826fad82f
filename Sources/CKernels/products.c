// The product of one row with a matrix: a recurrent step or a Dense layer at batch 1. BLAS libraries tune
// for large products; for one row, OpenBLAS's small-matrix path streams the matrix at a fraction of what
// the cache delivers. Here the outputs accumulate in registers, a chunk of columns at a time, while the
// matrix rows stream past: per value of the row one broadcast and one multiply-add per accumulator.
#include "kernels.h"
#include "register_tiles.h"

// As in convolution.c: multiply-adds fuse where the CPU has FMA.
#pragma clang fp contract(fast)

enum { MAX_VECTORS = 16 };

/// `vectors` × 16 outputs from `c`: (c +) the row `a` (k values) times the rows of `b` (stride ldb) from
/// their column 0. `vectors` is a constant wherever this is inlined.
__attribute__((always_inline)) static inline void chunk_product(float *c, const float *a, const float *b,
                                                                ptrdiff_t ldb, ptrdiff_t k, int accumulate,
                                                                int vectors) {
    v16 acc[MAX_VECTORS];
    for (int v = 0; v < vectors; v++) {
        acc[v] = (v16){0};
        if (accumulate) LOAD16(acc[v], c + v * LANES);
    }
    for (ptrdiff_t i = 0; i < k; i++) {
        const float value = a[i];
        const float *row = b + i * ldb;
        for (int v = 0; v < vectors; v++) {
            v16 weights;
            LOAD16(weights, row + v * LANES);
            acc[v] += value * weights;
        }
    }
    for (int v = 0; v < vectors; v++) STORE16(c + v * LANES, acc[v]);
}

/// Chunks of `widest` vectors while they fit, then one chunk each of 8, 4, 2 and 1 vectors where it fits
/// (and is no wider): one pass over `b` per chunk.
__attribute__((always_inline)) static inline void row_product(float *c, const float *a, const float *b, ptrdiff_t ldb,
                                                              ptrdiff_t n, ptrdiff_t k, int accumulate, int widest) {
    ptrdiff_t column = 0;
    for (; column + widest * LANES <= n; column += widest * LANES)
        chunk_product(c + column, a, b + column, ldb, k, accumulate, widest);
#define CHUNK(vectors)                                                                         \
    if ((vectors) < widest && column + (vectors) * LANES <= n) {                               \
        chunk_product(c + column, a, b + column, ldb, k, accumulate, (vectors));               \
        column += (vectors) * LANES;                                                           \
    }
    CHUNK(8) CHUNK(4) CHUNK(2) CHUNK(1)
#undef CHUNK
}

#define PRODUCT_ARGUMENTS float *c, const float *a, const float *b, ptrdiff_t ldb, ptrdiff_t n, ptrdiff_t k, int accumulate
#define PRODUCT_CALL c, a, b, ldb, n, k, accumulate

#if defined(__x86_64__)
// 16 of the 32 registers accumulate 256 columns; on AVX2, 6 × 2 of the 16 registers, 96 columns.
AVX512_FUNCTION static void product_avx512(PRODUCT_ARGUMENTS) { row_product(PRODUCT_CALL, 16); }
AVX2_FUNCTION static void product_avx2(PRODUCT_ARGUMENTS) { row_product(PRODUCT_CALL, 6); }
#endif
// 3 × 4 of the 16 SSE registers, 48 columns.
static void product_baseline(PRODUCT_ARGUMENTS) { row_product(PRODUCT_CALL, 3); }

void kconv_row_product(PRODUCT_ARGUMENTS) { RUN_FOR_CPU_LEVEL(product, PRODUCT_CALL) }
