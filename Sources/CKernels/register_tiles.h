#ifndef KCONV_REGISTER_TILES_H
#define KCONV_REGISTER_TILES_H
// What the register-tiled kernels (convolution.c, winograd.c, depthwise.c, pooling.c, products.c) share,
// internal to CKernels: a 16-float vector type and the choice of instruction-set level at run time.
#include <string.h>
#include "kernels.h"

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

enum { LANES = 16 };

// Vectors move through memcpy (any alignment) and never by value across a call: each instruction-set
// level keeps its own vector ABI.
#define LOAD16(vector, source) memcpy(&(vector), (source), sizeof(v16))
#define STORE16(target, vector) memcpy((target), &(vector), sizeof(v16))

/// The first `width` lanes (at most 16) of `vector` loaded from / stored to `floats`; a whole vector
/// in one instruction when `width` is 16. A partial load zeroes the other lanes.
__attribute__((always_inline)) static inline void load_lanes(v16 *vector, const float *floats, ptrdiff_t width) {
    if (width == LANES) {
        memcpy(vector, floats, sizeof(v16));
    } else {
        *vector = (v16){0};
        memcpy(vector, floats, (size_t)width * sizeof(float));
    }
}
__attribute__((always_inline)) static inline void store_lanes(float *floats, const v16 *vector, ptrdiff_t width) {
    if (width == LANES) memcpy(floats, vector, sizeof(v16));
    else memcpy(floats, vector, (size_t)width * sizeof(float));
}

/// Each lane of `vector`, output channels channel ..< channel + 16, through kconv_epilogue: clamped by bit
/// selection (NaN stays NaN), then scaled and shifted.
__attribute__((always_inline)) static inline void apply_epilogue(v16 *vector, const kconv_epilogue *e, ptrdiff_t channel) {
    const v16 low = (v16){0} + e->low, high = (v16){0} + e->high;
    const v16i below = *vector < low, above = *vector > high;
    *vector = (v16)(((v16i)*vector & ~(below | above)) | ((v16i)low & below) | ((v16i)high & above));
    if (e->scale) {
        v16 scale, shift;
        LOAD16(scale, e->scale + channel);
        LOAD16(shift, e->shift + channel);
        *vector = *vector * scale + shift;
    }
}

/// One value of output channel `channel` through the epilogue as `apply_epilogue` treats a lane.
static inline float epilogue_value(float value, const kconv_epilogue *e, ptrdiff_t channel) {
    value = value < e->low ? e->low : value > e->high ? e->high : value;
    return e->scale ? value * e->scale[channel] + e->shift[channel] : value;
}

/// `count` rounded up to whole vectors.
static inline ptrdiff_t round_up_to_lanes(ptrdiff_t count) { return (count + LANES - 1) / LANES * LANES; }

/// The widest register tiles the running CPU can use.
typedef enum { LEVEL_BASELINE, LEVEL_AVX2, LEVEL_AVX512 } cpu_level;

/// The highest level the kernels may use (cpu_level.c): the widest the CPU has unless lowered for tests.
extern int kconv_cpu_level_limit;

static inline cpu_level running_cpu_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    const int limit = __atomic_load_n(&kconv_cpu_level_limit, __ATOMIC_RELAXED);
    if (limit <= LEVEL_BASELINE) return LEVEL_BASELINE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return limit >= LEVEL_AVX512 ? LEVEL_AVX512 : LEVEL_AVX2;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return LEVEL_AVX2;
#endif
    return LEVEL_BASELINE;
}

/// Runs `name`_avx512, `name`_avx2 or `name`_baseline, whichever the running CPU supports, with these
/// arguments, and returns (from a void function).
#if defined(__x86_64__)
#define RUN_FOR_CPU_LEVEL(name, ...)                                        \
    switch (running_cpu_level()) {                                          \
    case LEVEL_AVX512: name##_avx512(__VA_ARGS__); return;                  \
    case LEVEL_AVX2: name##_avx2(__VA_ARGS__); return;                      \
    default: name##_baseline(__VA_ARGS__); return;                          \
    }
#else
#define RUN_FOR_CPU_LEVEL(name, ...) name##_baseline(__VA_ARGS__)
#endif

// Each level's function attributes. 32 × 512-bit registers on AVX-512 (min_vector_width keeps the vectors
// 512 bits wide; Clang otherwise splits them in two 256-bit halves on this level); 16 × 256-bit on AVX2,
// two per 16 floats.
#define AVX512_FUNCTION __attribute__((target("arch=x86-64-v4"), min_vector_width(512)))
#define AVX2_FUNCTION __attribute__((target("arch=x86-64-v3")))

#endif
