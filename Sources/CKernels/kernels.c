#include "CKernels.h"
#include <math.h>

#if defined(__x86_64__) && defined(__linux__)
#define BIOTAG_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BIOTAG_MULTIVERSION
#endif

#define LANES 16

static inline int padded_length(int tokens) { return (tokens + LANES - 1) & ~(LANES - 1); }

size_t biotag_attention_scratch(int tokens, int head_size) {
    return (size_t)(head_size + 1) * (size_t)padded_length(tokens);
}

// Cody-Waite reduction x = n ln2 + r, degree-6 polynomial for e^r, 2^n in the exponent bits.
static inline float exp_approx(float x) {
    if (x < -87.3f) return 0.0f;
    if (x > 88.0f) x = 88.0f;
    float n = __builtin_roundevenf(x * 1.44269504f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691e-4f;
    p = p * r + 1.3981999e-3f;
    p = p * r + 8.3334520e-3f;
    p = p * r + 4.1665796e-2f;
    p = p * r + 1.6666665e-1f;
    p = p * r + 0.5f;
    p = p * r * r + r + 1.0f;
    union { int i; float f; } scale;
    scale.i = ((int)n + 127) << 23;
    return p * scale.f;
}

BIOTAG_MULTIVERSION
void biotag_exp(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = exp_approx(x[i]);
}

BIOTAG_MULTIVERSION
void biotag_attention(const float *qkv, int tokens, int hidden, int heads,
                      float *out, float *scratch, int head_begin, int head_end) {
    const int head_size = hidden / heads;
    const int stride = 3 * hidden;
    const int padded = padded_length(tokens);
    const float scale = 1.0f / sqrtf((float)head_size);
    float *keys_t = scratch;                       // [head_size, padded], scaled
    float *scores = scratch + (size_t)head_size * padded;

    for (int h = head_begin; h < head_end; h++) {
        const float *q_base = qkv + h * head_size;
        const float *k_base = qkv + hidden + h * head_size;
        const float *v_base = qkv + 2 * hidden + h * head_size;
        for (int d = 0; d < head_size; d++) {
            float *row = keys_t + (size_t)d * padded;
            for (int j = 0; j < tokens; j++) row[j] = k_base[(size_t)j * stride + d] * scale;
            for (int j = tokens; j < padded; j++) row[j] = 0.0f;
        }
        for (int i = 0; i < tokens; i++) {
            const float *q = q_base + (size_t)i * stride;
            for (int j = 0; j < padded; j++) scores[j] = 0.0f;
            for (int d = 0; d < head_size; d++) {
                const float qd = q[d];
                const float *row = keys_t + (size_t)d * padded;
                for (int j = 0; j < padded; j++) scores[j] += qd * row[j];
            }
            float max_score = scores[0];
            for (int j = 1; j < tokens; j++) max_score = scores[j] > max_score ? scores[j] : max_score;
            float lanes[LANES] = {0};
            for (int j = 0; j < tokens; j++) scores[j] = exp_approx(scores[j] - max_score);
            for (int j = 0; j < tokens; j++) lanes[j % LANES] += scores[j];
            float total = 0.0f;
            for (int l = 0; l < LANES; l++) total += lanes[l];
            const float inverse = 1.0f / total;
            float *o = out + (size_t)i * hidden + h * head_size;
            for (int d = 0; d < head_size; d++) o[d] = 0.0f;
            for (int j = 0; j < tokens; j++) {
                const float p = scores[j] * inverse;
                const float *v = v_base + (size_t)j * stride;
                for (int d = 0; d < head_size; d++) o[d] += p * v[d];
            }
        }
    }
}

BIOTAG_MULTIVERSION
void biotag_add_layernorm(float *x, const float *residual, int rows, int width,
                          const float *gamma, const float *beta, float epsilon) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * width;
        if (residual) {
            const float *res = residual + (size_t)r * width;
            for (int i = 0; i < width; i++) row[i] += res[i];
        }
        float lanes[LANES] = {0};
        int i = 0;
        for (; i + LANES <= width; i += LANES)
            for (int l = 0; l < LANES; l++) lanes[l] += row[i + l];
        float total = 0.0f;
        for (; i < width; i++) total += row[i];
        for (int l = 0; l < LANES; l++) total += lanes[l];
        const float mean = total / (float)width;
        float squares[LANES] = {0};
        i = 0;
        for (; i + LANES <= width; i += LANES)
            for (int l = 0; l < LANES; l++) { float d = row[i + l] - mean; squares[l] += d * d; }
        float variance = 0.0f;
        for (; i < width; i++) { float d = row[i] - mean; variance += d * d; }
        for (int l = 0; l < LANES; l++) variance += squares[l];
        variance /= (float)width;
        const float inverse = 1.0f / sqrtf(variance + epsilon);
        for (i = 0; i < width; i++) row[i] = (row[i] - mean) * inverse * gamma[i] + beta[i];
    }
}

// GELU with the exact erf, in place on a [rows, cols] block with row stride ld.
// erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), so |gelu error| < 1e-7·|x|.
BIOTAG_MULTIVERSION
void biotag_gelu_erf(float *x, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * ld;
        for (int i = 0; i < cols; i++) {
            const float v = row[i];
            const float z = v * 0.70710678118654752f;
            const float a = z < 0.0f ? -z : z;
            const float t = 1.0f / (1.0f + 0.3275911f * a);
            const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
            const float erf_abs = 1.0f - poly * exp_approx(-a * a);
            const float erf = z < 0.0f ? -erf_abs : erf_abs;
            row[i] = 0.5f * v * (1.0f + erf);
        }
    }
}
