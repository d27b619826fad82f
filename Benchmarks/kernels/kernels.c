// Kernel-library comparison on the work that dominates keras.applications CNNs (NHWC float32): 3×3 and
// 1×1 convolutions, depthwise 3×3, fully connected, at batch 1 and 32. Candidates: kconv's own kernels
// (Sources/CKernels, compiled in), im2col + OpenBLAS sgemm (kconv's GEMM path), im2col + BLIS sgemm,
// XNNPACK and oneDNN. Every candidate's output is checked against a naive loop before it is timed.
//
// Build and run (Benchmarks/kernels/run.sh): one process, rounds interleaved across candidates, best of
// the rounds' medians kept, so that load from other processes hits every candidate alike.
#include "../bench_support.h"

#include <cblas.h>
#include <dnnl.h>
#include <pthreadpool.h>
#include <xnnpack.h>
#include "kernels.h"

static pthreadpool_t pool;

typedef struct {
    const char *name;
    int batch, height, width, channels, filters, kernel, stride, depthwise, dense;
} Case;

static int out_size(const Case *c, int size) { return (size + c->stride - 1) / c->stride; }  // `same`
static int pad_before(const Case *c, int size) {
    int total = (out_size(c, size) - 1) * c->stride + c->kernel - size;
    return total > 0 ? total / 2 : 0;
}

// ---- naive reference: y = bias + Σ x·w, Keras layouts (HWIO kernel; depthwise HWC), `same` padding
static void reference(const Case *c, const float *x, const float *w, const float *b, float *y) {
    if (c->dense) {
        for (int n = 0; n < c->batch; n++)
            for (int f = 0; f < c->filters; f++) {
                double s = b[f];
                for (int i = 0; i < c->channels; i++) s += (double)x[n * c->channels + i] * w[i * c->filters + f];
                y[n * c->filters + f] = (float)s;
            }
        return;
    }
    int oh = out_size(c, c->height), ow = out_size(c, c->width), ph = pad_before(c, c->height), pw = pad_before(c, c->width);
    int outs = c->depthwise ? c->channels : c->filters;
    for (int n = 0; n < c->batch; n++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int f = 0; f < outs; f++) {
                    double s = b[f];
                    for (int u = 0; u < c->kernel; u++)
                        for (int v = 0; v < c->kernel; v++) {
                            int y0 = i * c->stride - ph + u, x0 = j * c->stride - pw + v;
                            if (y0 < 0 || y0 >= c->height || x0 < 0 || x0 >= c->width) continue;
                            const float *cell = x + ((n * c->height + y0) * c->width + x0) * c->channels;
                            if (c->depthwise) s += (double)cell[f] * w[(u * c->kernel + v) * c->channels + f];
                            else for (int ch = 0; ch < c->channels; ch++)
                                s += (double)cell[ch] * w[((u * c->kernel + v) * c->channels + ch) * c->filters + f];
                        }
                    y[((n * oh + i) * ow + j) * outs + f] = (float)s;
                }
}

// ---- a candidate: prepared once (weights laid out), then run many times
typedef struct Candidate Candidate;
struct Candidate {
    const char *name;
    int (*prepare)(Candidate *, const Case *, const float *w, const float *b);  // 0: does not apply
    void (*run)(Candidate *, const Case *, const float *x, float *y);
    void *state;
    float *scratch, *weights, *bias;
    kconv_window window;
};

static kconv_window window_of(const Case *c) {
    kconv_window w = {{1, c->height, c->width}, {1, out_size(c, c->height), out_size(c, c->width)}, {1, c->kernel, c->kernel},
                      {1, c->stride, c->stride}, {1, 1, 1}, {0, pad_before(c, c->height), pad_before(c, c->width)}, c->channels};
    return w;
}
static int rows_of(const Case *c) { return c->dense ? c->batch : c->batch * out_size(c, c->height) * out_size(c, c->width); }
static int padded(int filters) { return (filters + 15) / 16 * 16; }

// kconv's own: Winograd for 3×3 stride 1, direct otherwise (1×1 too: a matrix product on the NHWC input),
// its depthwise kernel, the row product for dense at batch 1 (split by columns); split in parts as the
// engine splits them.
static int kconv_prepare(Candidate *k, const Case *c, const float *w, const float *b) {
    if (c->depthwise) {  // state 2: depthwise
        k->weights = (float *)w; k->bias = (float *)b; k->window = window_of(c); k->state = (void *)2;
        return 1;
    }
    if (c->dense) {
        if (c->batch != 1 || c->filters % 16) return 0;
        k->weights = (float *)w; k->bias = (float *)b;
        return 1;
    }
    k->window = window_of(c);
    int p = padded(c->filters);
    k->bias = calloc(p, sizeof(float)); memcpy(k->bias, b, c->filters * sizeof(float));
    if (c->kernel == 3 && c->stride == 1) {
        k->weights = malloc(16L * c->channels * p * sizeof(float));
        kconv_winograd_kernel(k->weights, w, c->channels, c->filters);
        k->scratch = malloc(threads * kconv_winograd_scratch_count(c->channels, c->filters) * sizeof(float));
        k->state = (void *)1;  // Winograd
    } else {
        k->weights = calloc((long)c->kernel * c->kernel * c->channels * p, sizeof(float));
        for (long r = 0; r < (long)c->kernel * c->kernel * c->channels; r++) memcpy(k->weights + r * p, w + r * c->filters, c->filters * sizeof(float));
    }
    return 1;
}
typedef void (*Sgemm)(int m, int n, int k, const float *a, int lda, const float *b, float *c);

/// Work split in `parts` contiguous ranges of `total` rows (or tiles), run on the thread pool.
typedef struct {
    Candidate *k; const Case *c; const float *x; float *y; long total; int parts; long extra; Sgemm sgemm;
} Split;
static void range_of(const Split *s, size_t part, long *first, long *count) {
    *first = s->total * (long)part / s->parts;
    *count = s->total * (long)(part + 1) / s->parts - *first;
}
static void in_parts(Split *s, void (*body)(void *, size_t)) {
    if (s->parts == 1) body(s, 0);
    else pthreadpool_parallelize_1d(pool, body, s, s->parts, 0);
}
static void winograd_part(void *context, size_t part) {
    Split *s = context; long first, count; range_of(s, part, &first, &count);
    kconv_winograd_convolve(s->y, s->x, s->k->weights, s->k->bias, &s->k->window, s->c->filters, first, count, 0, s->k->scratch + part * s->extra);
}
static void direct_part(void *context, size_t part) {
    Split *s = context; long first, count; range_of(s, part, &first, &count);
    kconv_convolve_direct(s->y + first * s->c->filters, s->x, s->k->weights, s->k->bias, &s->k->window, s->c->filters, first, count, 0);
}
static void dw_part(void *context, size_t part) {
    Split *s = context; long first, count; range_of(s, part, &first, &count);
    kconv_depthwise(s->y + first * s->c->channels, s->x, s->k->weights, s->k->bias, &s->k->window, 1, first, count);
}
static void row_part(void *context, size_t part) {
    Split *s = context; long first, count; range_of(s, part, &first, &count);
    kconv_row_product(s->y + first * 16, s->x, s->k->weights + first * 16, s->c->filters, count * 16, s->c->channels, 1);
}
static void gemm_part(void *context, size_t part) {
    Split *s = context; long first, count; range_of(s, part, &first, &count);
    s->sgemm(count, s->c->filters, s->extra, s->x + first * s->extra, s->extra, s->k->weights, s->y + first * s->c->filters);
}

static void kconv_run(Candidate *k, const Case *c, const float *x, float *y) {
    if (c->dense) {  // denseProduct: the bias copied in, then accumulated onto
        memcpy(y, k->bias, c->filters * sizeof(float));
        int parts = parts_of((long)c->channels * c->filters, c->filters / 16);
        Split split = {k, c, x, y, c->filters / 16, parts, 0};
        in_parts(&split, row_part);
        return;
    }
    long rows = rows_of(c);
    if (k->state == (void *)2) {
        int parts = parts_of(2L * rows * c->kernel * c->kernel * c->channels, rows);  // as NativeKernels.depthwise
        Split split = {k, c, x, y, rows, parts, 0};
        in_parts(&split, dw_part);
        return;
    }
    if (k->state) {
        long tiles = (long)c->batch * ((k->window.output_size[1] + 1) / 2) * ((k->window.output_size[2] + 1) / 2);
        int parts = parts_of(rows * 4L * c->channels * c->filters, tiles);
        long per = kconv_winograd_scratch_count(c->channels, c->filters);
        Split split = {k, c, x, y, tiles, parts, per};
        in_parts(&split, winograd_part);
    } else {
        int parts = parts_of(rows * c->kernel * c->kernel * c->channels * c->filters, rows);
        Split split = {k, c, x, y, rows, parts, 0};
        in_parts(&split, direct_part);
    }
}

// kconv's former depthwise loop (in Swift before depthwise.c: per output cell and tap, one multiply-add run
// over the channels), written in C as the Swift compiler built it: baseline SSE2, one thread.
__attribute__((target("no-avx"))) static void swift_depthwise_run(Candidate *k, const Case *c, const float *x, float *y) {
    int oh = out_size(c, c->height), ow = out_size(c, c->width), ph = pad_before(c, c->height), pw = pad_before(c, c->width);
    const float *w = k->weights;
    for (int n = 0; n < c->batch; n++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float *out = y + ((n * oh + i) * ow + j) * c->channels;
                memcpy(out, k->bias, c->channels * sizeof(float));
                for (int u = 0; u < c->kernel; u++)
                    for (int v = 0; v < c->kernel; v++) {
                        int y0 = i * c->stride - ph + u, x0 = j * c->stride - pw + v;
                        if (y0 < 0 || y0 >= c->height || x0 < 0 || x0 >= c->width) continue;
                        const float *cell = x + ((n * c->height + y0) * c->width + x0) * c->channels;
                        const float *tap = w + (u * c->kernel + v) * c->channels;
                        for (int ch = 0; ch < c->channels; ch++) out[ch] += cell[ch] * tap[ch];
                    }
            }
}
static int swift_depthwise_prepare(Candidate *k, const Case *c, const float *w, const float *b) {
    if (!c->depthwise) return 0;
    k->weights = (float *)w; k->bias = (float *)b;
    return 1;
}

// im2col + sgemm (OpenBLAS or BLIS), the bias copied in first, rows split in parts as the engine does.
static void openblas_sgemm(int m, int n, int k, const float *a, int lda, const float *b, float *c) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, lda, b, n, 1, c, n);
}
static void blis_sgemm(int m, int n, int k, const float *a, int lda, const float *b, float *c) {
    float one = 1;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, a, lda, 1, b, n, 1, &one, c, n, 1);
}
static int gemm_prepare(Candidate *k, const Case *c, const float *w, const float *b) {
    if (c->depthwise) return 0;
    k->weights = (float *)w; k->bias = (float *)b;
    k->window = window_of(c);
    int pointwise = c->dense || (c->kernel == 1 && c->stride == 1);
    if (!pointwise) k->scratch = malloc((long)rows_of(c) * c->kernel * c->kernel * c->channels * sizeof(float));
    return 1;
}
static void gemm_run(Candidate *k, const Case *c, const float *x, float *y, Sgemm sgemm, int library_threads) {
    long rows = rows_of(c), width = (long)c->kernel * c->kernel * c->channels;
    if (c->dense) width = c->channels;
    kconv_repeat_row(y, k->bias, c->filters, rows);
    const float *a = x;
    if (k->scratch) { kconv_im2col(k->scratch, x, &k->window, 0, rows); a = k->scratch; }
    int parts = library_threads ? 1 : parts_of(rows * width * c->filters, rows);
    Split split = {k, c, a, y, rows, parts, width, sgemm};
    in_parts(&split, gemm_part);
}
static void openblas_run(Candidate *k, const Case *c, const float *x, float *y) { gemm_run(k, c, x, y, openblas_sgemm, 0); }
static void blis_run(Candidate *k, const Case *c, const float *x, float *y) { gemm_run(k, c, x, y, blis_sgemm, 1); }

// XNNPACK: NHWC convolution (depthwise by flag: its kernel layout is Keras's [kh][kw][C]), fully connected
// with the kernel as Keras stores it ([in][out], XNN_FLAG_TRANSPOSE_WEIGHTS); 2-thread pthreadpool.
static int xnn_prepare(Candidate *k, const Case *c, const float *w, const float *b) {
    xnn_operator_t op = NULL;
    enum xnn_status status;
    if (c->dense) {
        status = xnn_create_fully_connected_nc_f32(c->channels, c->filters, c->channels, c->filters, w, b, -INFINITY, INFINITY,
                                                   XNN_FLAG_TRANSPOSE_WEIGHTS, &op);
    } else if (c->depthwise) {
        status = xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, c->kernel, c->kernel, c->stride, c->stride, 1, 1, c->channels, 1, 1,
                                                   c->channels, c->channels, w, b, -INFINITY, INFINITY,
                                                   XNN_FLAG_DEPTHWISE_CONVOLUTION | XNN_FLAG_TENSORFLOW_SAME_PADDING, &op);
    } else {
        // HWIO → OHWI
        long taps = (long)c->kernel * c->kernel;
        float *ohwi = malloc(taps * c->channels * c->filters * sizeof(float));
        for (long t = 0; t < taps; t++)
            for (int i = 0; i < c->channels; i++)
                for (int o = 0; o < c->filters; o++) ohwi[(o * taps + t) * c->channels + i] = w[(t * c->channels + i) * c->filters + o];
        status = xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, c->kernel, c->kernel, c->stride, c->stride, 1, 1, 1, c->channels,
                                                   c->filters, c->channels, c->filters, ohwi, b, -INFINITY, INFINITY,
                                                   XNN_FLAG_TENSORFLOW_SAME_PADDING, &op);
        free(ohwi);
    }
    if (status != xnn_status_success) { fprintf(stderr, "xnnpack: create failed (%d)\n", status); return 0; }
    k->state = op;
    return 1;
}
static void xnn_run(Candidate *k, const Case *c, const float *x, float *y) {
    xnn_operator_t op = k->state;
    if (c->dense) xnn_setup_fully_connected_nc_f32(op, c->batch, x, y, pool);
    else xnn_setup_convolution2d_nhwc_f32(op, c->batch, c->height, c->width, x, y, pool);
    xnn_run_operator(op, pool);
}

// oneDNN: convolution / inner product with NHWC (NC) data, weights reordered once to the layout the
// primitive wants.
typedef struct { dnnl_primitive_t primitive; dnnl_memory_t src, weights, bias, dst; } Dnnl;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
#define DNNL(call) do { if ((call) != dnnl_success) { fprintf(stderr, "onednn: %s failed\n", #call); return 0; } } while (0)
static int dnnl_prepare(Candidate *k, const Case *c, const float *w, const float *b) {
    Dnnl *d = calloc(1, sizeof(Dnnl));
    dnnl_memory_desc_t src, user_weights, any_weights, bias, dst;
    dnnl_dims_t bias_dims = {c->depthwise ? c->channels : c->filters};
    DNNL(dnnl_memory_desc_init_by_tag(&bias, 1, bias_dims, dnnl_f32, dnnl_a));
    union { dnnl_convolution_desc_t conv; dnnl_inner_product_desc_t ip; } desc;
    if (c->dense) {
        dnnl_dims_t sd = {c->batch, c->channels}, wd = {c->filters, c->channels}, dd = {c->batch, c->filters};
        DNNL(dnnl_memory_desc_init_by_tag(&src, 2, sd, dnnl_f32, dnnl_nc));
        DNNL(dnnl_memory_desc_init_by_tag(&user_weights, 2, wd, dnnl_f32, dnnl_io));
        DNNL(dnnl_memory_desc_init_by_tag(&any_weights, 2, wd, dnnl_f32, dnnl_format_tag_any));
        DNNL(dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_nc));
        DNNL(dnnl_inner_product_forward_desc_init(&desc.ip, dnnl_forward_inference, &src, &any_weights, &bias, &dst));
    } else {
        int oh = out_size(c, c->height), ow = out_size(c, c->width), outs = c->depthwise ? c->channels : c->filters;
        dnnl_dims_t sd = {c->batch, c->channels, c->height, c->width}, dd = {c->batch, outs, oh, ow};
        DNNL(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nhwc));
        DNNL(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc));
        if (c->depthwise) {
            dnnl_dims_t wd = {c->channels, 1, 1, c->kernel, c->kernel};
            DNNL(dnnl_memory_desc_init_by_tag(&user_weights, 5, wd, dnnl_f32, dnnl_hwigo));
            DNNL(dnnl_memory_desc_init_by_tag(&any_weights, 5, wd, dnnl_f32, dnnl_format_tag_any));
        } else {
            dnnl_dims_t wd = {c->filters, c->channels, c->kernel, c->kernel};
            DNNL(dnnl_memory_desc_init_by_tag(&user_weights, 4, wd, dnnl_f32, dnnl_hwio));
            DNNL(dnnl_memory_desc_init_by_tag(&any_weights, 4, wd, dnnl_f32, dnnl_format_tag_any));
        }
        int ph = pad_before(c, c->height), pw = pad_before(c, c->width);
        dnnl_dims_t strides = {c->stride, c->stride}, dilates = {0, 0}, left = {ph, pw},
                    right = {(oh - 1) * c->stride + c->kernel - c->height - ph, (ow - 1) * c->stride + c->kernel - c->width - pw};
        if (right[0] < 0) right[0] = 0;
        if (right[1] < 0) right[1] = 0;
        DNNL(dnnl_dilated_convolution_forward_desc_init(&desc.conv, dnnl_forward_inference, dnnl_convolution_direct, &src, &any_weights,
                                                        &bias, &dst, strides, dilates, left, right));
    }
    dnnl_primitive_desc_t pd, reorder_pd;
    DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t user;
    DNNL(dnnl_memory_create(&user, &user_weights, engine, (void *)w));
    DNNL(dnnl_memory_create(&d->weights, chosen, engine, DNNL_MEMORY_ALLOCATE));
    DNNL(dnnl_reorder_primitive_desc_create(&reorder_pd, &user_weights, engine, chosen, engine, NULL));
    dnnl_primitive_t reorder;
    DNNL(dnnl_primitive_create(&reorder, reorder_pd));
    dnnl_exec_arg_t reorder_args[] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, d->weights}};
    DNNL(dnnl_primitive_execute(reorder, stream, 2, reorder_args));
    DNNL(dnnl_stream_wait(stream));
    DNNL(dnnl_memory_create(&d->bias, &bias, engine, (void *)b));
    DNNL(dnnl_memory_create(&d->src, &src, engine, DNNL_MEMORY_NONE));
    DNNL(dnnl_memory_create(&d->dst, &dst, engine, DNNL_MEMORY_NONE));
    DNNL(dnnl_primitive_create(&d->primitive, pd));
    k->state = d;
    return 1;
}
static void dnnl_run(Candidate *k, const Case *c, const float *x, float *y) {
    (void)c;
    Dnnl *d = k->state;
    dnnl_memory_set_data_handle(d->src, (void *)x);
    dnnl_memory_set_data_handle(d->dst, y);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->weights}, {DNNL_ARG_BIAS, d->bias}, {DNNL_ARG_DST, d->dst}};
    dnnl_primitive_execute(d->primitive, stream, 4, args);
    dnnl_stream_wait(stream);
}

int main(int argc, char **argv) {
    if (argc > 1) threads = atoi(argv[1]);
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    xnn_initialize(NULL);
    pool = pthreadpool_create(threads);
    bli_thread_set_num_threads(threads);
    openblas_set_num_threads(1);  // as the engine runs it; rows are split by the caller
    dnnl_engine_create(&engine, dnnl_cpu, 0);
    dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);

    // Shapes from keras.applications at 64×64 input (ResNet50 stages, MobileNetV2 α 0.35 blocks, heads).
    static const Case cases[] = {
        {"conv3x3 16x16 64->64", 0, 16, 16, 64, 64, 3, 1, 0, 0},
        {"conv3x3 8x8 128->128", 0, 8, 8, 128, 128, 3, 1, 0, 0},
        {"conv3x3/2 32x32 3->16", 0, 32, 32, 3, 16, 3, 2, 0, 0},
        {"conv1x1 16x16 64->256", 0, 16, 16, 64, 256, 1, 1, 0, 0},
        {"conv1x1 16x16 48->16", 0, 16, 16, 48, 16, 1, 1, 0, 0},
        {"conv1x1 4x4 1024->256", 0, 4, 4, 1024, 256, 1, 1, 0, 0},
        {"conv1x1 16x16 96->24", 0, 16, 16, 96, 24, 1, 1, 0, 0},
        {"conv1x1 4x4 336->56", 0, 4, 4, 336, 56, 1, 1, 0, 0},
        {"conv1x1 2x2 112->1280", 0, 2, 2, 112, 1280, 1, 1, 0, 0},
        {"conv3x3/2 32x32 3->24", 0, 32, 32, 3, 24, 3, 2, 0, 0},
        {"dw3x3 32x32 48", 0, 32, 32, 48, 48, 3, 1, 1, 0},
        {"dw3x3 8x8 192", 0, 8, 8, 192, 192, 3, 1, 1, 0},
        {"dw3x3/2 32x32 48", 0, 32, 32, 48, 48, 3, 2, 1, 0},
        {"dw3x3 32x32 16", 0, 32, 32, 16, 16, 3, 1, 1, 0},
        {"dense 1280->1008", 0, 1, 1, 1280, 1008, 1, 1, 0, 1},
        {"dense 2048->1008", 0, 1, 1, 2048, 1008, 1, 1, 0, 1},
    };
    Candidate prototypes[] = {
        {"kconv", kconv_prepare, kconv_run}, {"kconv-swift-dw", swift_depthwise_prepare, swift_depthwise_run},
        {"openblas", gemm_prepare, openblas_run}, {"blis", gemm_prepare, blis_run},
        {"xnnpack", xnn_prepare, xnn_run}, {"onednn", dnnl_prepare, dnnl_run},
    };
    enum { CANDIDATES = sizeof prototypes / sizeof *prototypes };
    printf("threads %d, best of %d interleaved rounds (median of each round), microseconds\n", threads, rounds);
    printf("%-24s %5s", "case", "batch");
    for (int i = 0; i < CANDIDATES; i++) printf(" %14s", prototypes[i].name);
    printf("\n");
    const int batches[] = {1, 32};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int bi = 0; bi < 2; bi++) {
            Case c = cases[ci];
            c.batch = batches[bi];
            long in = c.dense ? (long)c.batch * c.channels : (long)c.batch * c.height * c.width * c.channels;
            long out = (long)rows_of(&c) * (c.depthwise ? c.channels : c.filters);
            long wcount = c.depthwise ? (long)c.kernel * c.kernel * c.channels : (long)c.kernel * c.kernel * c.channels * c.filters;
            float *x = random_floats(in), *w = random_floats(wcount), *b = random_floats(c.filters);
            float *expected = malloc(out * sizeof(float)), *y = malloc(out * sizeof(float));
            reference(&c, x, w, b, expected);
            Candidate candidates[CANDIDATES];
            int usable[CANDIDATES];
            double best[CANDIDATES];
            for (int i = 0; i < CANDIDATES; i++) {
                candidates[i] = prototypes[i];
                usable[i] = candidates[i].prepare(&candidates[i], &c, w, b);
                best[i] = INFINITY;
                if (!usable[i]) continue;
                memset(y, 0, out * sizeof(float));
                candidates[i].run(&candidates[i], &c, x, y);
                double error = 0;
                for (long j = 0; j < out; j++) error = fmax(error, fabs(y[j] - expected[j]));
                if (error > 1e-3) { printf("%s on %s batch %d: max error %g\n", candidates[i].name, c.name, c.batch, error); usable[i] = 0; }
            }
            // Repetitions per round: about 20 ms of the slowest-looking work.
            long work = (long)rows_of(&c) * wcount * (c.depthwise ? 1 : 1);
            int reps = (int)fmax(5, fmin(400, 2e8 / fmax(work, 1)));
            double times[400];
            for (int round = 0; round < rounds; round++)
                for (int i = 0; i < CANDIDATES; i++) {
                    if (!usable[i]) continue;
                    for (int r = 0; r < reps; r++) {
                        double start = now();
                        candidates[i].run(&candidates[i], &c, x, y);
                        times[r] = now() - start;
                    }
                    qsort(times, reps, sizeof(double), compare_doubles);
                    best[i] = fmin(best[i], times[reps / 2]);
                }
            printf("%-24s %5d", c.name, c.batch);
            for (int i = 0; i < CANDIDATES; i++) {
                if (usable[i]) printf(" %14.1f", best[i] * 1e6);
                else printf(" %14s", "-");
            }
            printf("\n");
            fflush(stdout);
            free(x); free(w); free(b); free(expected); free(y);
        }
    return 0;
}
