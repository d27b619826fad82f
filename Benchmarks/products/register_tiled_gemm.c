// Matrix products c (+)= a·b, a candidate for the engine's GEMM (not adopted; see register_tiled_gemm.h): b in panels of 32 columns (packed once per weight, or
// read in place), a tile of rows × one panel accumulating in registers while the depth streams past — per
// depth step one broadcast of each row's value of a and one multiply-add per accumulator, as in
// convolution.c. The tile is sized per instruction-set level to fill its vector registers; the level is
// picked at run time from the CPU's features, never from a table of CPU models.
#include "register_tiled_gemm.h"
#include "register_tiles.h"

// As in convolution.c: multiply-adds fuse where the CPU has FMA.
#pragma clang fp contract(fast)

enum { PANEL = KCONV_PANEL_COLUMNS, MAX_ROWS = 12, PANEL_VECTORS = PANEL / LANES };

void kconv_pack_panels(float *packed, const float *b, ptrdiff_t depth_stride, ptrdiff_t column_stride, ptrdiff_t depth,
                       ptrdiff_t columns) {
    for (ptrdiff_t first = 0; first < columns; first += PANEL) {
        const ptrdiff_t width = columns - first < PANEL ? columns - first : PANEL;
        for (ptrdiff_t p = 0; p < depth; p++) {
            float *row = packed + p * PANEL;
            const float *source = b + p * depth_stride + first * column_stride;
            if (column_stride == 1) {
                memcpy(row, source, (size_t)width * sizeof(float));
            } else {
                for (ptrdiff_t j = 0; j < width; j++) row[j] = source[j * column_stride];
            }
            for (ptrdiff_t j = width; j < PANEL; j++) row[j] = 0;
        }
        packed += depth * PANEL;
    }
}

/// `rows` rows of c from `c` × `vectors` vectors of 16 columns (the last one's first `width` lanes stored):
/// (c +) Σ_p a[p·stride + r] · panel[p·panel_row + v·16 ...], p < depth. `a` is a packed tile of rows
/// (depth-major, `stride` ≥ rows apart). `rows`, `stride` and `vectors` are constants wherever this is
/// inlined, so the loops unroll, the accumulators live in registers and each broadcast reads a fixed
/// offset from one pointer.
__attribute__((always_inline)) static inline void product_tile(float *c, ptrdiff_t ldc, const float *a, const float *panel,
                                                               ptrdiff_t panel_row, ptrdiff_t depth, int accumulate,
                                                               int width, int rows, int stride, int vectors) {
    // The accumulators' addresses are never taken (partial loads and stores go through a copy), so they
    // stay in registers across the depth loop.
    v16 acc[MAX_ROWS][PANEL_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) {
            v16 start = {0};
            if (accumulate) load_lanes(&start, c + r * ldc + v * LANES, v == vectors - 1 ? width : LANES);
            acc[r][v] = start;
        }
    for (ptrdiff_t p = 0; p < depth; p++) {
        v16 weights[PANEL_VECTORS];
        for (int v = 0; v < vectors; v++) LOAD16(weights[v], panel + p * panel_row + v * LANES);
        for (int r = 0; r < rows; r++) {
            const float value = a[p * stride + r];
            for (int v = 0; v < vectors; v++) acc[r][v] += value * weights[v];
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < vectors - 1; v++) STORE16(c + r * ldc + v * LANES, acc[r][v]);
        const v16 last = acc[r][vectors - 1];
        store_lanes(c + r * ldc + (vectors - 1) * LANES, &last, width);
    }
}

enum {
    /// Depth steps per pass over a block: a panel's slice (32 KB… 16 KB at 128) and a packed tile of a stay
    /// in the first-level cache together.
    DEPTH_BLOCK = 128,
    /// Row tiles per block of rows: the block's packed slice of a (at most 48 KB) is reused by every panel.
    BLOCK_TILES = 8,
};

/// Rows `row ..< end_row` (at most BLOCK_TILES tiles of `tile_rows`) × depth `first ..< first + depth` of a,
/// packed tile after tile, each depth-major with rows `tile_rows` apart (missing rows of the last tile zero).
static inline void pack_rows(float *packed, const kconv_product *p, ptrdiff_t row, ptrdiff_t end_row, ptrdiff_t first,
                             ptrdiff_t depth, int tile_rows) {
    for (; row < end_row; row += tile_rows, packed += depth * tile_rows)
        for (int r = 0; r < tile_rows; r++) {
            const float *source = p->a + (row + r) * p->a_row + first * p->a_depth;
            for (ptrdiff_t d = 0; d < depth; d++) packed[d * tile_rows + r] = row + r < end_row ? source[d * p->a_depth] : 0;
        }
}

/// Blocks of rows (BLOCK_TILES tiles of `tile_rows`) × blocks of depth, a's block packed once for every
/// panel; per panel, tiles of `tile_rows` rows (fewer at the end) × `tile_vectors` vectors (one per tile
/// where the panel's part holds at most 16 columns). The depth blocks of one value of c are summed in
/// order, through c, so each value is the same sum in the same order as in one pass.
__attribute__((always_inline)) static inline void product_blocks(const kconv_product *p, ptrdiff_t first_row,
                                                                 ptrdiff_t row_count, ptrdiff_t first_panel,
                                                                 ptrdiff_t panel_count, int tile_rows, int tile_vectors) {
    float packed[DEPTH_BLOCK * MAX_ROWS * BLOCK_TILES];
    const ptrdiff_t block_rows = tile_rows * BLOCK_TILES, end_row = first_row + row_count;
    const ptrdiff_t last_panel = (p->columns - 1) / PANEL;
    for (ptrdiff_t block = first_row; block < end_row; block += block_rows) {
        const ptrdiff_t block_end = end_row - block < block_rows ? end_row : block + block_rows;
        for (ptrdiff_t first = 0; first < p->depth || first == 0; first += DEPTH_BLOCK) {
            const ptrdiff_t depth = p->depth - first < DEPTH_BLOCK ? p->depth - first : DEPTH_BLOCK;
            const int accumulate = p->accumulate || first > 0;
            pack_rows(packed, p, block, block_end, first, depth, tile_rows);
            for (ptrdiff_t j = first_panel; j < first_panel + panel_count; j++) {
                const int edge = p->edge && j == last_panel;
                const ptrdiff_t panel_row = edge ? PANEL : p->b_row;
                const float *panel = (edge ? p->edge : p->b + j * p->b_panel) + first * panel_row;
                const ptrdiff_t column = j * PANEL, width = p->columns - column < PANEL ? p->columns - column : PANEL;
                for (ptrdiff_t offset = 0; offset < width; offset += tile_vectors * LANES) {
                    const ptrdiff_t left = width - offset;
                    const int vectors = left > LANES && tile_vectors > 1 ? 2 : 1;
                    const int last = (int)(left - (vectors - 1) * LANES < LANES ? left - (vectors - 1) * LANES : LANES);
                    const float *tile = packed;
                    for (ptrdiff_t row = block; row < block_end; row += tile_rows, tile += depth * tile_rows) {
                        const int rows = block_end - row < tile_rows ? (int)(block_end - row) : tile_rows;
                        float *c = p->c + row * p->ldc + column + offset;
#define TILE(n, v) product_tile(c, p->ldc, tile, panel + offset, panel_row, depth, accumulate, last, n, tile_rows, v)
#define ROWS(v)                                                                                                       \
    switch (rows) {                                                                                                   \
    case 1: TILE(1, v); break; case 2: TILE(2, v); break; case 3: TILE(3, v); break; case 4: TILE(4, v); break;       \
    case 5: TILE(5, v); break; case 6: TILE(6, v); break; case 7: TILE(7, v); break; case 8: TILE(8, v); break;       \
    case 9: TILE(9, v); break; case 10: TILE(10, v); break; case 11: TILE(11, v); break; default: TILE(12, v); break; \
    }
                        if (vectors == 2) { ROWS(2) } else { ROWS(1) }
#undef ROWS
#undef TILE
                    }
                }
            }
        }
    }
}

#define GEMM_ARGUMENTS const kconv_product *p, ptrdiff_t first_row, ptrdiff_t row_count, ptrdiff_t first_panel, ptrdiff_t panel_count
#define GEMM_CALL p, first_row, row_count, first_panel, panel_count

#if defined(__x86_64__)
// 12 rows × 2 vectors = 24 accumulators and 2 panel vectors of the 32 registers.
AVX512_FUNCTION static void gemm_avx512(GEMM_ARGUMENTS) { product_blocks(GEMM_CALL, 12, 2); }
// 6 rows × 1 vector = 12 of the 16 registers, 2 for the panel.
AVX2_FUNCTION static void gemm_avx2(GEMM_ARGUMENTS) { product_blocks(GEMM_CALL, 6, 1); }
#endif
// The baseline: 16 × 128-bit registers, four per 16 floats: 2 rows × 1 vector.
static void gemm_baseline(GEMM_ARGUMENTS) { product_blocks(GEMM_CALL, 2, 1); }

void kconv_gemm(GEMM_ARGUMENTS) { RUN_FOR_CPU_LEVEL(gemm, GEMM_CALL) }
