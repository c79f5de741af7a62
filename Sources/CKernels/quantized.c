#include "CKernels.h"
#include <math.h>

#include "common.h"

// The smallest and largest of 0 and row[i] (· channel_scales[i]). A single running min/max is a
// reduction the compiler may not reorder (NaN order), so it stays scalar: 1 ns per value, as much
// as the int8 GEMM itself on some rows. Sixteen independent lanes, merged at the end, give the
// same result (min and max do not depend on the order) and vectorize.
#define RANGE_LANES 16
static inline void row_range(const float *row, const float *channel_scales, int cols, float *lo_out, float *hi_out) {
    float lo[RANGE_LANES] = {0}, hi[RANGE_LANES] = {0};
    int i = 0;
    for (; i + RANGE_LANES <= cols; i += RANGE_LANES) {
        for (int l = 0; l < RANGE_LANES; l++) {
            const float v = channel_scales ? row[i + l] * channel_scales[i + l] : row[i + l];
            lo[l] = v < lo[l] ? v : lo[l];
            hi[l] = v > hi[l] ? v : hi[l];
        }
    }
    for (; i < cols; i++) {
        const float v = channel_scales ? row[i] * channel_scales[i] : row[i];
        lo[0] = v < lo[0] ? v : lo[0];
        hi[0] = v > hi[0] ? v : hi[0];
    }
    for (int l = 1; l < RANGE_LANES; l++) {
        lo[0] = lo[l] < lo[0] ? lo[l] : lo[0];
        hi[0] = hi[l] > hi[0] ? hi[l] : hi[0];
    }
    *lo_out = lo[0];
    *hi_out = hi[0];
}

// Dynamic quantization of activations for the int8 linear layers: each row (token) gets its
// own asymmetric grid of 0…levels, after an optional per-channel multiplier (the inverse of the
// layer's smoothing factors, see QuantizedLinearWeight) spanning [min(x, 0), max(x, 0)], so 0 is exact and an outlier in one
// token does not coarsen the others.
BIOTAG_MULTIVERSION
void biotag_quantize_rows_u8(const float *x, int rows, int cols, int ld, const float *channel_scales, int levels,
                             unsigned char *q, int ldq, float *scales, int *zeros) {
    const float top = (float)levels;
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ld;
        float lo, hi;
        row_range(row, channel_scales, cols, &lo, &hi);
        const float scale = hi > lo ? (hi - lo) / top : 1.0f;
        const float inverse = 1.0f / scale;
        float zero = __builtin_roundevenf(-lo * inverse);
        zero = zero < 0.0f ? 0.0f : (zero > top ? top : zero);
        scales[r] = scale;
        zeros[r] = (int)zero;
        unsigned char *out = q + (size_t)r * ldq;
        for (int i = 0; i < cols; i++) {
            const float x_i = channel_scales ? row[i] * channel_scales[i] : row[i];
            float v = __builtin_roundevenf(x_i * inverse) + zero;
            v = v < 0.0f ? 0.0f : (v > top ? top : v);
            out[i] = (unsigned char)v;
        }
    }
}

// y = x_scale[r] · w_scale[j] · (acc − x_zero[r] · w_sum[j]) + bias[j], then GELU if asked.
BIOTAG_MULTIVERSION
void biotag_dequantize_rows(const int *acc, int rows, int cols, int ldacc,
                            const float *x_scales, const int *x_zeros,
                            const float *w_scales, const int *w_sums, const float *bias,
                            float *y, int ldy, int activation) {
    for (int r = 0; r < rows; r++) {
        const int *in = acc + (size_t)r * ldacc;
        float *out = y + (size_t)r * ldy;
        const float xs = x_scales[r];
        const int zero = x_zeros[r];
        for (int j = 0; j < cols; j++) {
            float v = xs * w_scales[j] * (float)(in[j] - zero * w_sums[j]);
            if (bias) v += bias[j];
            out[j] = v;
        }
        switch (activation) {
        case BIOTAG_ACTIVATION_GELU_ERF:
            for (int j = 0; j < cols; j++) {
                const float v = out[j];
                out[j] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
            }
            break;
        case BIOTAG_ACTIVATION_GELU_TANH:
            // 0.5 x (1 + tanh u) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
            for (int j = 0; j < cols; j++) {
                const float v = out[j];
                const float u = 0.7978845608f * (v + 0.044715f * v * v * v);
                out[j] = v / (1.0f + exp_approx(-2.0f * u));
            }
            break;
        case BIOTAG_ACTIVATION_RELU:
            for (int j = 0; j < cols; j++) out[j] = out[j] > 0.0f ? out[j] : 0.0f;
            break;
        default:
            break;
        }
    }
}

// fp32 -> bf16, rounding to nearest even (NaN stays NaN), for the bf16 GEMMs' activations.
BIOTAG_MULTIVERSION
void biotag_f32_to_bf16(const float *x, int rows, int cols, int ld, unsigned short *out, int ldo) {
    for (int r = 0; r < rows; r++) {
        const unsigned int *in = (const unsigned int *)(x + (size_t)r * ld);
        unsigned short *o = out + (size_t)r * ldo;
        for (int i = 0; i < cols; i++) {
            const unsigned int bits = in[i];
            const unsigned int rounded = (bits & 0x7FFFFFFFu) > 0x7F800000u ? (bits | 0x00400000u) : bits + 0x7FFFu + ((bits >> 16) & 1u);
            o[i] = (unsigned short)(rounded >> 16);
        }
    }
}
