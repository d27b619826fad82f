#ifndef KCONV_BENCH_SUPPORT_H
#define KCONV_BENCH_SUPPORT_H
// What the library comparisons (kernels/kernels.c, products/products.c) share: the clock, random operands,
// the engine's rule for splitting work across threads, and BLIS's typed API.
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// BLIS's typed API (blis.h itself needs OpenMP's header, which clang does not ship here).
typedef enum { BLIS_NO_TRANSPOSE = 0 } trans_t;
void bli_sgemm(trans_t transa, trans_t transb, int64_t m, int64_t n, int64_t k, const float *alpha, const float *a, int64_t rsa,
               int64_t csa, const float *b, int64_t rsb, int64_t csb, const float *beta, float *c, int64_t rsc, int64_t csc);
void bli_thread_set_num_threads(int64_t threads);

/// Threads the candidates may use (the program's first argument).
static int threads = 2;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/// kconv's Parallel.parts: 2 parts only when each gets at least 2^18 multiply-adds.
static int parts_of(long work, long rows) {
    long parts = work / (1 << 18);
    if (parts > threads) parts = threads;
    if (parts > rows) parts = rows;
    return parts < 1 ? 1 : (int)parts;
}

static float *random_floats(long count) {
    float *values = malloc(count * sizeof(float));
    for (long i = 0; i < count; i++) values[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return values;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
