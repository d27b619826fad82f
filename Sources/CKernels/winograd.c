// Winograd F(2×2, 3×3): a 3×3, stride-1, undilated 2-D convolution over a channels_last input with
// 2.25× fewer multiplies than the direct one (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015). Per 2×2 tile of output cells and 4×4 patch d of input cells:
//
//     Y = Aᵀ [ Σ_c (G g G ᵀ)[c] ⊙ (Bᵀ d B)[c] ] A
//
// so for each of the 16 positions ξ of the transformed tile the sum over channels is one GEMM
// (tiles × channels) · (channels × filters). Tiles are taken in blocks small enough that a block's
// transformed inputs and products stay in cache between the three steps: input transform, 16 products
// in registers (as in the direct convolution), output transform with bias and ReLU.
#include "kernels.h"
#include "register_tiles.h"

// As in convolution.c: multiply-adds fuse where the CPU has FMA.
#pragma clang fp contract(fast)

enum { POSITIONS = 16, MAX_TILES = 8, MAX_BLOCKS = 2 };

/// Tiles per block: a multiple of every register tile's row count.
enum { BLOCK_TILES = 48 };

ptrdiff_t kconv_winograd_scratch_count(ptrdiff_t channels, ptrdiff_t filters) {
    return POSITIONS * BLOCK_TILES * (channels + round_up_to_lanes(filters)) + channels;
}

void kconv_winograd_kernel(float *transformed, const float *kernel, ptrdiff_t channels, ptrdiff_t filters) {
    const ptrdiff_t stride = round_up_to_lanes(filters);
    memset(transformed, 0, (size_t)(POSITIONS * channels * stride) * sizeof(float));
    for (ptrdiff_t c = 0; c < channels; c++) {
        for (ptrdiff_t f = 0; f < filters; f++) {
            float g[3][3], rows[4][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) g[i][j] = kernel[((i * 3 + j) * channels + c) * filters + f];
            // G g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2.
            for (int j = 0; j < 3; j++) {
                rows[0][j] = g[0][j];
                rows[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                rows[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                rows[3][j] = g[2][j];
            }
            // (G g) Gᵀ, the same along the columns.
            for (int i = 0; i < 4; i++) {
                const float u[4] = {rows[i][0], 0.5f * (rows[i][0] + rows[i][1] + rows[i][2]),
                                    0.5f * (rows[i][0] - rows[i][1] + rows[i][2]), rows[i][2]};
                for (int j = 0; j < 4; j++) transformed[((i * 4 + j) * channels + c) * stride + f] = u[j];
            }
        }
    }
}

/// Geometry of the tiles: the output cells (out1 × out2 per sample) in 2×2 tiles, tiles1 × tiles2.
typedef struct {
    ptrdiff_t in1, in2, out1, out2, tiles1, tiles2, pad1, pad2, channels, filters, stride;
} tiling;

/// Bᵀ d B of one tile for the `width` channels from the cells' first (16 or fewer, a constant wherever
/// this is inlined): V[ξ] at out + ξ·plane.
__attribute__((always_inline)) static inline void transform_input_lanes(float *out, const float *cells[4][4],
                                                                        ptrdiff_t plane, ptrdiff_t width) {
    // d B, row by row: d0 − d2, d1 + d2, d2 − d1, d1 − d3.
    v16 rows[4][4];
    for (int i = 0; i < 4; i++) {
        v16 d[4];
        for (int j = 0; j < 4; j++) load_lanes(&d[j], cells[i][j], width);
        rows[i][0] = d[0] - d[2];
        rows[i][1] = d[1] + d[2];
        rows[i][2] = d[2] - d[1];
        rows[i][3] = d[1] - d[3];
    }
    // Bᵀ (d B), column by column, the same combinations.
    for (int j = 0; j < 4; j++) {
        const v16 u[4] = {rows[0][j] - rows[2][j], rows[1][j] + rows[2][j], rows[2][j] - rows[1][j],
                          rows[1][j] - rows[3][j]};
        for (int i = 0; i < 4; i++) store_lanes(out + (i * 4 + j) * plane, &u[i], width);
    }
}

/// Bᵀ d B for `tiles` tiles from `first` (flat, batch-major): V[ξ][t][c], rows of `channels`. Cells
/// outside the input read `zeros` (`channels` of them).
__attribute__((always_inline)) static inline void transform_inputs(float *v, const float *input, const float *zeros,
                                                                   const tiling *s, ptrdiff_t first, ptrdiff_t tiles) {
    const ptrdiff_t channels = s->channels, plane = BLOCK_TILES * channels;
    for (ptrdiff_t t = 0; t < tiles; t++) {
        const ptrdiff_t tile = first + t, tx = tile % s->tiles2, ty = tile / s->tiles2 % s->tiles1;
        const ptrdiff_t sample = tile / (s->tiles2 * s->tiles1);
        const ptrdiff_t y0 = 2 * ty - s->pad1, x0 = 2 * tx - s->pad2;
        const float *cells[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const ptrdiff_t y = y0 + i, x = x0 + j;
                cells[i][j] = y >= 0 && y < s->in1 && x >= 0 && x < s->in2
                                  ? input + ((sample * s->in1 + y) * s->in2 + x) * channels : zeros;
            }
        ptrdiff_t c = 0;
        for (; c + LANES <= channels; c += LANES) {
            transform_input_lanes(v + t * channels + c, cells, plane, LANES);
            for (int k = 0; k < 16; k++) cells[k / 4][k % 4] += LANES;
        }
        if (c < channels) transform_input_lanes(v + t * channels + c, cells, plane, channels - c);
    }
}

/// One register tile of the products: rows r0 ..< r0 + `rows` of M[ξ] = V[ξ] · U[ξ], filter blocks
/// fb ..< fb + `blocks`·16. `rows` and `blocks` are constants wherever this is inlined.
__attribute__((always_inline)) static inline void multiply_tile(float *m, const float *v, const float *u,
                                                                const tiling *s, ptrdiff_t r0, ptrdiff_t fb,
                                                                int rows, int blocks) {
    v16 acc[MAX_TILES][MAX_BLOCKS];
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < blocks; b++) acc[r][b] = (v16){0};
    const float *a = v + r0 * s->channels;
    for (ptrdiff_t c = 0; c < s->channels; c++) {
        v16 weights[MAX_BLOCKS];
        for (int b = 0; b < blocks; b++) LOAD16(weights[b], u + c * s->stride + fb + b * LANES);
        for (int r = 0; r < rows; r++) {
            const float value = a[r * s->channels + c];
            for (int b = 0; b < blocks; b++) acc[r][b] += value * weights[b];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < blocks; b++) STORE16(m + (r0 + r) * s->stride + fb + b * LANES, acc[r][b]);
}

/// The 16 products of a block of `tiles` tiles: M[ξ] = V[ξ] · U[ξ], rows of `stride`.
__attribute__((always_inline)) static inline void multiply(float *m, const float *v, const float *u, const tiling *s,
                                                           ptrdiff_t tiles, int tile_rows, int tile_blocks) {
    for (int p = 0; p < POSITIONS; p++) {
        float *mp = m + p * BLOCK_TILES * s->stride;
        const float *vp = v + p * BLOCK_TILES * s->channels, *up = u + p * s->channels * s->stride;
        for (ptrdiff_t r0 = 0; r0 < tiles; r0 += tile_rows) {
            const ptrdiff_t rows = tiles - r0 < tile_rows ? tiles - r0 : tile_rows;
            for (ptrdiff_t fb = 0; fb < s->stride;) {
                if (rows == tile_rows && fb + tile_blocks * LANES <= s->stride) {
                    multiply_tile(mp, vp, up, s, r0, fb, tile_rows, tile_blocks);
                    fb += tile_blocks * LANES;
                    continue;
                }
                switch (rows) {
#define TILE(n) case n: multiply_tile(mp, vp, up, s, r0, fb, n, 1); break;
                TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8)
#undef TILE
                }
                fb += LANES;
            }
        }
    }
}

/// Aᵀ M A plus bias (and ReLU) for the block's tiles, stored at the tiles' output cells inside the output.
__attribute__((always_inline)) static inline void transform_outputs(float *output, const float *m, const float *bias,
                                                                    const tiling *s, ptrdiff_t first, ptrdiff_t tiles,
                                                                    int relu) {
    const ptrdiff_t plane = BLOCK_TILES * s->stride, filters = s->filters;
    for (ptrdiff_t t = 0; t < tiles; t++) {
        const ptrdiff_t tile = first + t, tx = tile % s->tiles2, ty = tile / s->tiles2 % s->tiles1;
        const ptrdiff_t sample = tile / (s->tiles2 * s->tiles1);
        for (ptrdiff_t f = 0; f < s->stride; f += LANES) {
            v16 x[4][4], rows[2][4], y[2][2];
            for (int p = 0; p < POSITIONS; p++) LOAD16(x[p / 4][p % 4], m + p * plane + t * s->stride + f);
            // Aᵀ x: rows x0 + x1 + x2, x1 − x2 − x3; then the same along the columns.
            for (int j = 0; j < 4; j++) {
                rows[0][j] = x[0][j] + x[1][j] + x[2][j];
                rows[1][j] = x[1][j] - x[2][j] - x[3][j];
            }
            v16 start = {0};
            if (bias) LOAD16(start, bias + f);
            for (int i = 0; i < 2; i++) {
                y[i][0] = start + (rows[i][0] + rows[i][1] + rows[i][2]);
                y[i][1] = start + (rows[i][1] - rows[i][2] - rows[i][3]);
            }
            const ptrdiff_t width = filters - f < LANES ? filters - f : LANES;
            for (int i = 0; i < 2; i++) {
                const ptrdiff_t oy = 2 * ty + i;
                if (oy >= s->out1) break;
                for (int j = 0; j < 2; j++) {
                    const ptrdiff_t ox = 2 * tx + j;
                    if (ox >= s->out2) break;
                    v16 value = y[i][j];
                    if (relu) value = RELU16(value);
                    store_lanes(output + ((sample * s->out1 + oy) * s->out2 + ox) * filters + f, &value, width);
                }
            }
        }
    }
}

__attribute__((always_inline)) static inline void winograd_tiles(
    float *output, const float *input, const float *transformed, const float *bias, const kconv_window *w,
    ptrdiff_t filters, ptrdiff_t first_tile, ptrdiff_t tile_count, int relu, float *scratch, int tile_rows,
    int tile_blocks) {
    const tiling s = {
        .in1 = w->input_size[1], .in2 = w->input_size[2], .out1 = w->output_size[1], .out2 = w->output_size[2],
        .tiles1 = (w->output_size[1] + 1) / 2, .tiles2 = (w->output_size[2] + 1) / 2,
        .pad1 = w->pad_before[1], .pad2 = w->pad_before[2], .channels = w->channels, .filters = filters,
        .stride = round_up_to_lanes(filters),
    };
    float *v = scratch, *m = v + POSITIONS * BLOCK_TILES * s.channels;
    float *zeros = m + POSITIONS * BLOCK_TILES * s.stride;
    memset(zeros, 0, (size_t)s.channels * sizeof(float));
    for (ptrdiff_t first = first_tile; first < first_tile + tile_count; first += BLOCK_TILES) {
        const ptrdiff_t tiles = first_tile + tile_count - first < BLOCK_TILES ? first_tile + tile_count - first : BLOCK_TILES;
        transform_inputs(v, input, zeros, &s, first, tiles);
        multiply(m, v, transformed, &s, tiles, tile_rows, tile_blocks);
        transform_outputs(output, m, bias, &s, first, tiles, relu);
    }
}

#define WINOGRAD_ARGUMENTS float *output, const float *input, const float *transformed, const float *bias, \
    const kconv_window *w, ptrdiff_t filters, ptrdiff_t first_tile, ptrdiff_t tile_count, int relu, float *scratch
#define WINOGRAD_CALL output, input, transformed, bias, w, filters, first_tile, tile_count, relu, scratch

// Register tiles as in convolution.c.
#if defined(__x86_64__)
AVX512_FUNCTION static void winograd_avx512(WINOGRAD_ARGUMENTS) { winograd_tiles(WINOGRAD_CALL, 6, 2); }
AVX2_FUNCTION static void winograd_avx2(WINOGRAD_ARGUMENTS) { winograd_tiles(WINOGRAD_CALL, 6, 1); }
#endif
static void winograd_baseline(WINOGRAD_ARGUMENTS) { winograd_tiles(WINOGRAD_CALL, 2, 1); }

void kconv_winograd_convolve(WINOGRAD_ARGUMENTS) { RUN_FOR_CPU_LEVEL(winograd, WINOGRAD_CALL) }
