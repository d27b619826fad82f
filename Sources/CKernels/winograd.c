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

/// G g for one column g of the kernel: g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2.
static inline void kernel_transform(const float g[3], float out[4]) {
    out[0] = g[0];
    out[1] = 0.5f * (g[0] + g[1] + g[2]);
    out[2] = 0.5f * (g[0] - g[1] + g[2]);
    out[3] = g[2];
}

void kconv_winograd_kernel(float *transformed, const float *kernel, ptrdiff_t channels, ptrdiff_t filters) {
    const ptrdiff_t stride = round_up_to_lanes(filters);
    memset(transformed, 0, (size_t)(POSITIONS * channels * stride) * sizeof(float));
    for (ptrdiff_t c = 0; c < channels; c++) {
        for (ptrdiff_t f = 0; f < filters; f++) {
            // G g Gᵀ: G along the kernel's rows (each column of g), then along its columns.
            float columns[3][4];
            for (int j = 0; j < 3; j++) {
                float g[3];
                for (int i = 0; i < 3; i++) g[i] = kernel[((i * 3 + j) * channels + c) * filters + f];
                kernel_transform(g, columns[j]);
            }
            for (int i = 0; i < 4; i++) {
                float u[4];
                kernel_transform((const float[3]){columns[0][i], columns[1][i], columns[2][i]}, u);
                for (int j = 0; j < 4; j++) transformed[((i * 4 + j) * channels + c) * stride + f] = u[j];
            }
        }
    }
}

/// Geometry of the tiles: the output cells (out1 × out2 per sample) in 2×2 tiles, tiles1 × tiles2.
typedef struct {
    ptrdiff_t in1, in2, out1, out2, tiles1, tiles2, pad1, pad2, channels, filters, stride;
} tiling;

/// Where tile `tile` (flat, batch-major) is: its sample and its first output cell (y, x).
typedef struct { ptrdiff_t sample, y, x; } tile_position;

static inline tile_position position_of_tile(ptrdiff_t tile, const tiling *s) {
    tile_position p = {tile / (s->tiles2 * s->tiles1), 2 * (tile / s->tiles2 % s->tiles1), 2 * (tile % s->tiles2)};
    return p;
}

/// Bᵀ d along one axis: d0 − d2, d1 + d2, d2 − d1, d1 − d3.
__attribute__((always_inline)) static inline void input_transform(const v16 d[4], v16 out[4]) {
    out[0] = d[0] - d[2];
    out[1] = d[1] + d[2];
    out[2] = d[2] - d[1];
    out[3] = d[1] - d[3];
}

/// Aᵀ m along one axis: m0 + m1 + m2, m1 − m2 − m3.
__attribute__((always_inline)) static inline void output_transform(const v16 m[4], v16 out[2]) {
    out[0] = m[0] + m[1] + m[2];
    out[1] = m[1] - m[2] - m[3];
}

/// Bᵀ d B of one tile for the `width` channels from the cells' first (16 or fewer, a constant wherever
/// this is inlined): V[ξ] at out + ξ·plane.
__attribute__((always_inline)) static inline void transform_input_lanes(float *out, const float *cells[4][4],
                                                                        ptrdiff_t plane, ptrdiff_t width) {
    // d B, row by row, then Bᵀ (d B), column by column.
    v16 rows[4][4];
    for (int i = 0; i < 4; i++) {
        v16 d[4];
        for (int j = 0; j < 4; j++) load_lanes(&d[j], cells[i][j], width);
        input_transform(d, rows[i]);
    }
    for (int j = 0; j < 4; j++) {
        v16 u[4];
        input_transform((const v16[4]){rows[0][j], rows[1][j], rows[2][j], rows[3][j]}, u);
        for (int i = 0; i < 4; i++) store_lanes(out + (i * 4 + j) * plane, &u[i], width);
    }
}

/// Bᵀ d B for `tiles` tiles from `first` (flat, batch-major): V[ξ][t][c], rows of `channels`. Cells
/// outside the input read `zeros` (`channels` of them).
__attribute__((always_inline)) static inline void transform_inputs(float *v, const float *input, const float *zeros,
                                                                   const tiling *s, ptrdiff_t first, ptrdiff_t tiles) {
    const ptrdiff_t channels = s->channels, plane = BLOCK_TILES * channels;
    for (ptrdiff_t t = 0; t < tiles; t++) {
        const tile_position p = position_of_tile(first + t, s);
        const float *cells[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const ptrdiff_t y = p.y - s->pad1 + i, x = p.x - s->pad2 + j;
                cells[i][j] = y >= 0 && y < s->in1 && x >= 0 && x < s->in2
                                  ? input + ((p.sample * s->in1 + y) * s->in2 + x) * channels : zeros;
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

/// Aᵀ M A plus bias (then the epilogue) for the block's tiles, stored at the tiles' output cells inside the output.
__attribute__((always_inline)) static inline void transform_outputs(float *output, const float *m, const float *bias,
                                                                    const tiling *s, ptrdiff_t first, ptrdiff_t tiles,
                                                                    const kconv_epilogue *epilogue) {
    const ptrdiff_t plane = BLOCK_TILES * s->stride, filters = s->filters;
    for (ptrdiff_t t = 0; t < tiles; t++) {
        const tile_position p = position_of_tile(first + t, s);
        for (ptrdiff_t f = 0; f < s->stride; f += LANES) {
            // Aᵀ x, row by row of the transformed tile, then along the columns, plus the bias.
            v16 x[4][4], rows[2][4], y[2][2];
            for (int q = 0; q < POSITIONS; q++) LOAD16(x[q / 4][q % 4], m + q * plane + t * s->stride + f);
            for (int j = 0; j < 4; j++) {
                v16 column[2];
                output_transform((const v16[4]){x[0][j], x[1][j], x[2][j], x[3][j]}, column);
                rows[0][j] = column[0];
                rows[1][j] = column[1];
            }
            v16 start = {0};
            if (bias) LOAD16(start, bias + f);
            for (int i = 0; i < 2; i++) {
                output_transform(rows[i], y[i]);
                y[i][0] += start;
                y[i][1] += start;
            }
            const ptrdiff_t width = filters - f < LANES ? filters - f : LANES;
            for (int i = 0; i < 2 && p.y + i < s->out1; i++) {
                for (int j = 0; j < 2 && p.x + j < s->out2; j++) {
                    v16 value = y[i][j];
                    if (epilogue) apply_epilogue(&value, epilogue, f);
                    store_lanes(output + ((p.sample * s->out1 + p.y + i) * s->out2 + p.x + j) * filters + f, &value,
                                width);
                }
            }
        }
    }
}

__attribute__((always_inline)) static inline void winograd_tiles(
    float *output, const float *input, const float *transformed, const float *bias, const kconv_window *w,
    ptrdiff_t filters, ptrdiff_t first_tile, ptrdiff_t tile_count, const kconv_epilogue *epilogue, float *scratch, int tile_rows,
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
        transform_outputs(output, m, bias, &s, first, tiles, epilogue);
    }
}

#define WINOGRAD_ARGUMENTS float *output, const float *input, const float *transformed, const float *bias, \
    const kconv_window *w, ptrdiff_t filters, ptrdiff_t first_tile, ptrdiff_t tile_count, const kconv_epilogue *epilogue, float *scratch
#define WINOGRAD_CALL output, input, transformed, bias, w, filters, first_tile, tile_count, epilogue, scratch

// Register tiles as in convolution.c.
#if defined(__x86_64__)
AVX512_FUNCTION static void winograd_avx512(WINOGRAD_ARGUMENTS) { winograd_tiles(WINOGRAD_CALL, 6, 2); }
AVX2_FUNCTION static void winograd_avx2(WINOGRAD_ARGUMENTS) { winograd_tiles(WINOGRAD_CALL, 6, 1); }
#endif
static void winograd_baseline(WINOGRAD_ARGUMENTS) { winograd_tiles(WINOGRAD_CALL, 2, 1); }

void kconv_winograd_convolve(WINOGRAD_ARGUMENTS) { RUN_FOR_CPU_LEVEL(winograd, WINOGRAD_CALL) }
