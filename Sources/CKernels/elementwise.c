// Elementwise arithmetic over two broadcast operands, once per instruction-set level.
#include "kernels.h"

#if defined(__x86_64__) && defined(__linux__)
#define KCONV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KCONV_CLONES
#endif

// One run of n results: both operands stepping through contiguous values, or one of them repeating a
// single value (the loops a broadcast's innermost axis needs), else general strides.
#define KCONV_RUN(name, expression)                                                                          \
    KCONV_CLONES static void name(float *out, const float *a, ptrdiff_t sa, const float *b, ptrdiff_t sb,    \
                                  ptrdiff_t n) {                                                             \
        if (sa == 1 && sb == 1) {                                                                            \
            for (ptrdiff_t i = 0; i < n; i++) { float x = a[i], y = b[i]; out[i] = (expression); }           \
        } else if (sa == 1 && sb == 0) {                                                                     \
            const float y = b[0];                                                                            \
            for (ptrdiff_t i = 0; i < n; i++) { float x = a[i]; out[i] = (expression); }                     \
        } else if (sa == 0 && sb == 1) {                                                                     \
            const float x = a[0];                                                                            \
            for (ptrdiff_t i = 0; i < n; i++) { float y = b[i]; out[i] = (expression); }                     \
        } else {                                                                                             \
            for (ptrdiff_t i = 0; i < n; i++) { float x = a[i * sa], y = b[i * sb]; out[i] = (expression); } \
        }                                                                                                    \
    }

KCONV_RUN(run_add, x + y)
KCONV_RUN(run_subtract, x - y)
KCONV_RUN(run_multiply, x * y)
KCONV_RUN(run_divide, x / y)

typedef void (*run_function)(float *, const float *, ptrdiff_t, const float *, ptrdiff_t, ptrdiff_t);

static void walk(run_function run, float *out, const float *a, const float *b, ptrdiff_t rank, const ptrdiff_t *dims,
                 const ptrdiff_t *strides_a, const ptrdiff_t *strides_b) {
    if (rank == 1) {
        run(out, a, strides_a[0], b, strides_b[0], dims[0]);
        return;
    }
    ptrdiff_t inner = 1;
    for (ptrdiff_t axis = 1; axis < rank; axis++) inner *= dims[axis];
    for (ptrdiff_t i = 0; i < dims[0]; i++) {
        walk(run, out + i * inner, a + i * strides_a[0], b + i * strides_b[0], rank - 1, dims + 1, strides_a + 1, strides_b + 1);
    }
}

void kconv_broadcast(kconv_arithmetic operation, float *out, const float *a, const float *b, ptrdiff_t rank,
                     const ptrdiff_t *dims, const ptrdiff_t *strides_a, const ptrdiff_t *strides_b) {
    if (rank < 1) return;
    run_function run = operation == KCONV_ADD ? run_add
                     : operation == KCONV_SUBTRACT ? run_subtract
                     : operation == KCONV_MULTIPLY ? run_multiply
                     : run_divide;
    walk(run, out, a, b, rank, dims, strides_a, strides_b);
}
