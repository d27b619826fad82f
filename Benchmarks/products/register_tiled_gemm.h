#ifndef KCONV_REGISTER_TILED_GEMM_H
#define KCONV_REGISTER_TILED_GEMM_H
// A register-tiled GEMM written for kconv's CKernels (the candidate "kconv-packed" / "kconv-in-place" in
// products.c), measured against the libraries and not adopted: oneDNN's sgemm was 2.5-7x faster on every shape.
#include <stddef.h>

// c (+)= a·b, b in panels of KCONV_PANEL_COLUMNS columns

/// Columns per panel of b.
#define KCONV_PANEL_COLUMNS 32

/// b (`depth` × `columns`, value (p, j) at b[p·depth_stride + j·column_stride]) packed as panels of
/// KCONV_PANEL_COLUMNS columns, one after the other, each `depth` rows of KCONV_PANEL_COLUMNS values
/// (the last panel's extra columns zero): ⌈columns / KCONV_PANEL_COLUMNS⌉ · depth · KCONV_PANEL_COLUMNS floats.
void kconv_pack_panels(float *packed, const float *b, ptrdiff_t depth_stride, ptrdiff_t column_stride, ptrdiff_t depth,
                       ptrdiff_t columns);

/// One product c (+)= a·b: a is rows × depth (value (r, p) at a[r·a_row + p·a_depth]); b's panel j (columns
/// from j·KCONV_PANEL_COLUMNS) at b + j·b_panel, its row p b_row further on — packed (b_row =
/// KCONV_PANEL_COLUMNS, b_panel = depth · KCONV_PANEL_COLUMNS) or b itself, row-major (b_row = its row
/// stride, b_panel = KCONV_PANEL_COLUMNS); `edge`, when not null, replaces the last panel with its packed
/// copy (for a b read in place whose columns are not a whole number of panels). c is rows × columns,
/// rows ldc apart; with `accumulate` the product is added to it.
typedef struct {
    const float *a;
    ptrdiff_t a_row, a_depth;
    const float *b;
    ptrdiff_t b_row, b_panel;
    const float *edge;
    float *c;
    ptrdiff_t ldc;
    ptrdiff_t rows, columns, depth;
    int accumulate;
} kconv_product;

/// Computes rows first_row ..< first_row + row_count of c, in panels first_panel ..< first_panel + panel_count.
/// Each value of c is the same sum in the same order whatever the split.
void kconv_gemm(const kconv_product *product, ptrdiff_t first_row, ptrdiff_t row_count, ptrdiff_t first_panel,
                ptrdiff_t panel_count);

#endif
