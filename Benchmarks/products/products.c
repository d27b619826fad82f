// Matrix-product comparison on the products of the recurrent and Dense layers (row-major float32, c = a·b
// with b a constant weight): the input projection of a whole sequence, one recurrent step, a Dense layer at
// batch 32. Candidates: a register-tiled GEMM written for kconv (register_tiled_gemm.c), b packed once or
// read in place; OpenBLAS sgemm as Debian ships it (rows split by the caller, as the engine did), BLIS sgemm
// (its own threads) and oneDNN's dnnl_sgemm (its own threads). Every output is checked against a naive
// loop before it is timed.
//
// Build and run: Benchmarks/products/run.sh. One process, rounds interleaved across candidates so that load
// from other processes hits every candidate alike, and the fastest call of all rounds kept: on a shared
// machine a median still holds other processes' time slices; the fastest call is the candidate's own speed.
#include "../bench_support.h"

#include <cblas.h>
#include <dnnl.h>
#include <pthreadpool.h>
#include "register_tiled_gemm.h"

static pthreadpool_t pool;

typedef struct {
    const char *name;
    long m, k, n;
} Case;

typedef struct {
    const Case *c;
    const float *a, *b, *packed, *edge;
    float *y;
    int parts;
} Run;

static void range_of(long total, int parts, size_t part, long *first, long *count) {
    *first = total * (long)part / parts;
    *count = total * (long)(part + 1) / parts - *first;
}

// ---- kconv: split by panels of 32 columns (rows where there are fewer panels than parts)
static void kconv_part(const Run *r, size_t part, int packed) {
    const Case *c = r->c;
    kconv_product p = {r->a, c->k, 1, packed ? r->packed : r->b, packed ? KCONV_PANEL_COLUMNS : c->n,
                       packed ? c->k * KCONV_PANEL_COLUMNS : KCONV_PANEL_COLUMNS, packed ? NULL : r->edge,
                       r->y, c->n, c->m, c->n, c->k, 0};
    long panels = (c->n + KCONV_PANEL_COLUMNS - 1) / KCONV_PANEL_COLUMNS, first, count;
    if (panels >= r->parts) {
        range_of(panels, r->parts, part, &first, &count);
        kconv_gemm(&p, 0, c->m, first, count);
    } else {
        range_of(c->m, r->parts, part, &first, &count);
        kconv_gemm(&p, first, count, 0, panels);
    }
}
static void packed_part(void *context, size_t part) { kconv_part(context, part, 1); }
static void in_place_part(void *context, size_t part) { kconv_part(context, part, 0); }
static void openblas_part(void *context, size_t part) {
    const Run *r = context;
    const Case *c = r->c;
    long first, count;
    range_of(c->m, r->parts, part, &first, &count);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, count, c->n, c->k, 1, r->a + first * c->k, c->k, r->b, c->n, 0,
                r->y + first * c->n, c->n);
}
static void in_parts(Run *r, void (*body)(void *, size_t)) {
    r->parts = parts_of(r->c->m * r->c->n * r->c->k, r->c->m > r->c->n ? r->c->m : r->c->n);
    if (r->parts == 1) body(r, 0);
    else pthreadpool_parallelize_1d(pool, body, r, r->parts, 0);
}
static void kconv_packed(Run *r) { in_parts(r, packed_part); }
static void kconv_in_place(Run *r) { in_parts(r, in_place_part); }
static void openblas(Run *r) { in_parts(r, openblas_part); }
static void blis(Run *r) {
    const Case *c = r->c;
    float one = 1, zero = 0;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, c->m, c->n, c->k, &one, r->a, c->k, 1, r->b, c->n, 1, &zero, r->y, c->n, 1);
}
static void onednn(Run *r) {
    const Case *c = r->c;
    dnnl_sgemm('N', 'N', c->m, c->n, c->k, 1, r->a, c->k, r->b, c->n, 0, r->y, c->n);
}

int main(int argc, char **argv) {
    if (argc > 1) threads = atoi(argv[1]);
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    pool = pthreadpool_create(threads);
    bli_thread_set_num_threads(threads);
    openblas_set_num_threads(1);  // as the engine ran it; rows are split by the caller

    static const Case cases[] = {
        {"lstm input 32x64 steps, 32->512", 2048, 32, 512},
        {"lstm input 32x64 steps, 256->512", 2048, 256, 512},
        {"lstm step, batch 32, 128->512", 32, 128, 512},
        {"lstm step, batch 64, 128->512", 64, 128, 512},
        {"dense batch 32, 2048->1008", 32, 2048, 1008},
        {"dense batch 64, 512->512", 64, 512, 512},
        {"odd 37x61->45", 37, 61, 45},
    };
    typedef struct { const char *name; void (*run)(Run *); } Candidate;
    static const Candidate candidates[] = {
        {"kconv-packed", kconv_packed}, {"kconv-in-place", kconv_in_place}, {"openblas", openblas},
        {"blis", blis}, {"onednn", onednn},
    };
    enum { CANDIDATES = sizeof candidates / sizeof *candidates };
    printf("%s, threads %d, fastest call of %d interleaved rounds, microseconds\n",
           openblas_get_corename(), threads, rounds);
    printf("%-34s", "case (m x k -> n)");
    for (int i = 0; i < CANDIDATES; i++) printf(" %14s", candidates[i].name);
    printf("\n");
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const Case *c = &cases[ci];
        float *a = random_floats(c->m * c->k), *b = random_floats(c->k * c->n);
        float *y = malloc(c->m * c->n * sizeof(float)), *expected = malloc(c->m * c->n * sizeof(float));
        long panels = (c->n + KCONV_PANEL_COLUMNS - 1) / KCONV_PANEL_COLUMNS;
        float *packed = malloc(panels * c->k * KCONV_PANEL_COLUMNS * sizeof(float));
        kconv_pack_panels(packed, b, c->n, 1, c->k, c->n);
        const float *edge = c->n % KCONV_PANEL_COLUMNS ? packed + (panels - 1) * c->k * KCONV_PANEL_COLUMNS : NULL;
        for (long i = 0; i < c->m; i++)
            for (long j = 0; j < c->n; j++) {
                double s = 0;
                for (long p = 0; p < c->k; p++) s += (double)a[i * c->k + p] * b[p * c->n + j];
                expected[i * c->n + j] = (float)s;
            }
        Run run = {c, a, b, packed, edge, y, 1};
        double best[CANDIDATES];
        for (int i = 0; i < CANDIDATES; i++) {
            best[i] = INFINITY;
            memset(y, 0, c->m * c->n * sizeof(float));
            candidates[i].run(&run);
            for (long j = 0; j < c->m * c->n; j++)
                if (fabsf(y[j] - expected[j]) > 1e-4f * (1 + c->k)) {
                    printf("%s wrong on %s at %ld: %g vs %g\n", candidates[i].name, c->name, j, y[j], expected[j]);
                    return 1;
                }
        }
        double work = (double)c->m * c->n * c->k;
        int repeats = work > 1e8 ? 20 : work > 1e7 ? 100 : 400;
        double *times = malloc(repeats * sizeof(double));
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < CANDIDATES; i++) {
                for (int w = 0; w < 3; w++) candidates[i].run(&run);
                for (int t = 0; t < repeats; t++) {
                    double start = now();
                    candidates[i].run(&run);
                    times[t] = now() - start;
                }
                qsort(times, repeats, sizeof(double), compare_doubles);
                if (times[0] < best[i]) best[i] = times[0];
            }
        printf("%-34s", c->name);
        for (int i = 0; i < CANDIDATES; i++) printf(" %14.1f", best[i] * 1e6);
        printf("\n");
        free(times); free(a); free(b); free(y); free(expected); free(packed);
    }
    return 0;
}
