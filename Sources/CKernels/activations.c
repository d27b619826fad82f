// Branch-free float maths that the compiler vectorises, once per instruction-set level.
#include "kernels.h"
#include <stdint.h>
#include <math.h>
#include <string.h>

// Multiply-adds fuse where the CPU has FMA (about 30% faster here), as in the convolution kernels and BLAS:
// results may differ in the last bit between machines, never between runs.
#pragma clang fp contract(fast)

#if defined(__x86_64__) && defined(__linux__)
#define KCONV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KCONV_CLONES
#endif

/// e^x within 2e-7 (relative): x = n·ln2 + r with |r| <= ln2/2 (Cody–Waite split of ln2), Cephes's
/// degree-6 polynomial for e^r, and 2^n built in the exponent bits. x is clamped to [-87.3, 88.3], where
/// 2^n stays a normal float; NaN stays NaN (the comparisons are false for it).
static inline float fast_exp(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    // Adding 1.5·2^23 rounds x·log2(e) to the nearest integer n, held in the low mantissa bits.
    float shifted = x * 1.44269504f + 12582912.0f;
    float n = shifted - 12582912.0f;
    float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    float power_of_two;
    memcpy(&power_of_two, &bits, sizeof power_of_two);
    return (p * r * r + r + 1.0f) * power_of_two;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

/// tanh within 3e-7 (relative): Cephes's odd polynomial below 0.625, (1 - e^-2|x|) / (1 + e^-2|x|)
/// above, with the sign of x restored.
static inline float tanh_approx(float x) {
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float magnitude = x < 0 ? -x : x;
    float e = fast_exp(-2.0f * magnitude);
    float large = (1.0f - e) / (1.0f + e);
    uint32_t large_bits, x_bits;
    memcpy(&large_bits, &large, sizeof large_bits);
    memcpy(&x_bits, &x, sizeof x_bits);
    large_bits |= x_bits & 0x80000000u;
    memcpy(&large, &large_bits, sizeof large);
    return magnitude < 0.625f ? small : large;
}

KCONV_CLONES void kconv_sigmoid(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count) {
    for (ptrdiff_t row = 0; row < rows; row++) {
        float *run = values + row * stride;
        for (ptrdiff_t i = 0; i < count; i++) run[i] = sigmoid(run[i]);
    }
}

KCONV_CLONES void kconv_tanh(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count) {
    for (ptrdiff_t row = 0; row < rows; row++) {
        float *run = values + row * stride;
        for (ptrdiff_t i = 0; i < count; i++) run[i] = tanh_approx(run[i]);
    }
}

KCONV_CLONES void kconv_swish(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count) {
    for (ptrdiff_t row = 0; row < rows; row++) {
        float *run = values + row * stride;
        for (ptrdiff_t i = 0; i < count; i++) run[i] = run[i] * sigmoid(run[i]);
    }
}

KCONV_CLONES void kconv_softmax(float *values, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t count) {
    for (ptrdiff_t row = 0; row < rows; row++) {
        float *run = values + row * stride;
        float largest = -INFINITY;
        for (ptrdiff_t i = 0; i < count; i++) largest = run[i] > largest ? run[i] : largest;
        float total = 0;
        {
#pragma clang fp reassociate(on)
            for (ptrdiff_t i = 0; i < count; i++) {
                run[i] = fast_exp(run[i] - largest);
                total += run[i];
            }
        }
        for (ptrdiff_t i = 0; i < count; i++) run[i] = run[i] / total;
    }
}

KCONV_CLONES void kconv_lstm_cell(const float *gates, ptrdiff_t stride, const _Bool *keep, ptrdiff_t batch, ptrdiff_t units,
                                  float *carry, float *output) {
    for (ptrdiff_t sample = 0; sample < batch; sample++) {
        if (!keep[sample]) continue;
        const float *input = gates + sample * stride, *forget = input + units, *candidate = forget + units, *out = candidate + units;
        float *c = carry + sample * units, *h = output + sample * units;
        for (ptrdiff_t j = 0; j < units; j++) {
            const float updated = sigmoid(forget[j]) * c[j] + sigmoid(input[j]) * tanh_approx(candidate[j]);
            c[j] = updated;
            h[j] = sigmoid(out[j]) * tanh_approx(updated);
        }
    }
}

KCONV_CLONES void kconv_gru_cell(const float *gates, ptrdiff_t stride, const float *recurrent, const float *bias,
                                 const _Bool *keep, ptrdiff_t batch, ptrdiff_t units, float *state) {
    for (ptrdiff_t sample = 0; sample < batch; sample++) {
        if (!keep[sample]) continue;
        const float *update = gates + sample * stride, *reset = update + units, *candidate = reset + units;
        float *h = state + sample * units;
        if (recurrent) {
            const float *product = recurrent + sample * 3 * units;
            for (ptrdiff_t j = 0; j < units; j++) {
                const float z = sigmoid(update[j] + product[j] + bias[j]);
                const float r = sigmoid(reset[j] + product[units + j] + bias[units + j]);
                const float next = tanh_approx(candidate[j] + r * (product[2 * units + j] + bias[2 * units + j]));
                h[j] = z * h[j] + (1 - z) * next;
            }
        } else {
            for (ptrdiff_t j = 0; j < units; j++) {
                const float z = sigmoid(update[j]);
                h[j] = z * h[j] + (1 - z) * tanh_approx(candidate[j]);
            }
        }
    }
}
