#include "CKernels.h"
#include <math.h>

#include "common.h"

#define LANES 16

static inline int padded_length(int tokens) { return (tokens + LANES - 1) & ~(LANES - 1); }

size_t biotag_attention_scratch(int tokens, int head_size) {
    return (size_t)(head_size + 4) * (size_t)padded_length(tokens);
}

BIOTAG_MULTIVERSION
void biotag_exp(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = exp_approx(x[i]);
}

int biotag_kernels_max_avx2(void) {
#ifdef BIOTAG_KERNELS_MAX_AVX2
    return 1;
#else
    return 0;
#endif
}

typedef float v8 __attribute__((vector_size(32), aligned(4)));

// Macros, not functions: a helper taking or returning a 256-bit vector would be compiled for
// the baseline target and change the ABI under target_clones.
#define load8(p) (*(const v8 *)(p))
#define store8(p, v) (*(v8 *)(p) = (v))
#define splat8(x) ((v8){(x), (x), (x), (x), (x), (x), (x), (x)})

#define QUERY_BLOCK 4

// Per head: K is transposed (and pre-scaled) into [head_size, padded] so that scores of a block
// of 4 queries × 16 keys live in 8 vector registers while d runs; then softmax per query; then
// the context of 4 queries × 16 dims lives in 8 registers while j runs over the values.
BIOTAG_MULTIVERSION
void biotag_attention(const float *qkv, int tokens, int hidden, int heads,
                      float *out, float *scratch, int head_begin, int head_end) {
    const int head_size = hidden / heads;
    const int stride = 3 * hidden;
    const int padded = padded_length(tokens);
    const float scale = 1.0f / sqrtf((float)head_size);
    float *restrict keys_t = scratch;                              // [head_size, padded]
    float *restrict probs = scratch + (size_t)head_size * padded;  // [QUERY_BLOCK, padded]

    for (int h = head_begin; h < head_end; h++) {
        const float *q_base = qkv + h * head_size;
        const float *k_base = qkv + hidden + h * head_size;
        const float *v_base = qkv + 2 * hidden + h * head_size;
        for (int d = 0; d < head_size; d++) {
            float *row = keys_t + (size_t)d * padded;
            for (int j = 0; j < tokens; j++) row[j] = k_base[(size_t)j * stride + d] * scale;
            for (int j = tokens; j < padded; j++) row[j] = 0.0f;
        }
        for (int i0 = 0; i0 < tokens; i0 += QUERY_BLOCK) {
            const int nq = tokens - i0 < QUERY_BLOCK ? tokens - i0 : QUERY_BLOCK;
            const float *q[QUERY_BLOCK];
            for (int b = 0; b < QUERY_BLOCK; b++) q[b] = q_base + (size_t)(i0 + (b < nq ? b : 0)) * stride;
            // Scores.
            for (int j = 0; j < padded; j += 16) {
                v8 acc[QUERY_BLOCK][2];
                for (int b = 0; b < QUERY_BLOCK; b++) acc[b][0] = acc[b][1] = splat8(0.0f);
                for (int d = 0; d < head_size; d++) {
                    const float *row = keys_t + (size_t)d * padded + j;
                    const v8 k0 = load8(row), k1 = load8(row + 8);
                    for (int b = 0; b < QUERY_BLOCK; b++) {
                        const v8 qd = splat8(q[b][d]);
                        acc[b][0] += qd * k0;
                        acc[b][1] += qd * k1;
                    }
                }
                for (int b = 0; b < QUERY_BLOCK; b++) {
                    store8(probs + (size_t)b * padded + j, acc[b][0]);
                    store8(probs + (size_t)b * padded + j + 8, acc[b][1]);
                }
            }
            // Softmax over the real keys; padding keys get probability 0.
            for (int b = 0; b < nq; b++) {
                float *p = probs + (size_t)b * padded;
                float max_score = p[0];
                for (int j = 1; j < tokens; j++) max_score = p[j] > max_score ? p[j] : max_score;
                for (int j = 0; j < tokens; j++) p[j] = exp_approx(p[j] - max_score);
                float lanes[LANES] = {0};
                for (int j = 0; j < tokens; j++) lanes[j % LANES] += p[j];
                float total = 0.0f;
                for (int l = 0; l < LANES; l++) total += lanes[l];
                const float inverse = 1.0f / total;
                for (int j = 0; j < tokens; j++) p[j] *= inverse;
            }
            // Context = probabilities · values.
            int d = 0;
            for (; d + 16 <= head_size; d += 16) {
                v8 acc[QUERY_BLOCK][2];
                for (int b = 0; b < QUERY_BLOCK; b++) acc[b][0] = acc[b][1] = splat8(0.0f);
                for (int j = 0; j < tokens; j++) {
                    const float *v = v_base + (size_t)j * stride + d;
                    const v8 v0 = load8(v), v1 = load8(v + 8);
                    for (int b = 0; b < QUERY_BLOCK; b++) {
                        const v8 pj = splat8(probs[(size_t)b * padded + j]);
                        acc[b][0] += pj * v0;
                        acc[b][1] += pj * v1;
                    }
                }
                for (int b = 0; b < nq; b++) {
                    float *o = out + (size_t)(i0 + b) * hidden + h * head_size + d;
                    store8(o, acc[b][0]);
                    store8(o + 8, acc[b][1]);
                }
            }
            for (; d < head_size; d++) {
                for (int b = 0; b < nq; b++) {
                    float acc = 0.0f;
                    for (int j = 0; j < tokens; j++) acc += probs[(size_t)b * padded + j] * v_base[(size_t)j * stride + d];
                    out[(size_t)(i0 + b) * hidden + h * head_size + d] = acc;
                }
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

// GELU with the exact erf, in place on a [rows, cols] block with row stride ld;
// |gelu error| < 1.8e-7·|x| from the erf approximation (common.h).
BIOTAG_MULTIVERSION
void biotag_gelu_erf(float *x, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * ld;
        for (int i = 0; i < cols; i++) {
            const float v = row[i];
            row[i] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
        }
    }
}
