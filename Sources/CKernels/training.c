#include "CKernels.h"
#include <math.h>

#include "common.h"

// Kernels of the training passes (see CKernels.h for the contracts).

BIOTAG_MULTIVERSION
void biotag_layernorm_train(float *x, float *xhat, float *rstd, int rows, int width,
                            const float *gamma, const float *beta, float epsilon) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * width;
        float *normalized = xhat + (size_t)r * width;
        float total = 0.0f;
        for (int i = 0; i < width; i++) total += row[i];
        const float mean = total / (float)width;
        float variance = 0.0f;
        for (int i = 0; i < width; i++) { const float d = row[i] - mean; variance += d * d; }
        variance /= (float)width;
        const float inverse = 1.0f / sqrtf(variance + epsilon);
        rstd[r] = inverse;
        for (int i = 0; i < width; i++) {
            const float n = (row[i] - mean) * inverse;
            normalized[i] = n;
            row[i] = n * gamma[i] + beta[i];
        }
    }
}

BIOTAG_MULTIVERSION
void biotag_layernorm_backward(float *grad, const float *xhat, const float *rstd, int rows, int width,
                               const float *gamma, float *dgamma, float *dbeta) {
    for (int r = 0; r < rows; r++) {
        float *g = grad + (size_t)r * width;
        const float *n = xhat + (size_t)r * width;
        float sum = 0.0f, dot = 0.0f;
        for (int i = 0; i < width; i++) {
            dgamma[i] += g[i] * n[i];
            dbeta[i] += g[i];
            const float scaled = g[i] * gamma[i];
            sum += scaled;
            dot += scaled * n[i];
        }
        const float meanScaled = sum / (float)width, meanDot = dot / (float)width;
        const float inverse = rstd[r];
        for (int i = 0; i < width; i++) g[i] = inverse * (g[i] * gamma[i] - meanScaled - n[i] * meanDot);
    }
}

// d/dx [x Φ(x)] = Φ(x) + x φ(x).
BIOTAG_MULTIVERSION
void biotag_gelu_erf_backward(const float *x, float *grad, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        const float cdf = 0.5f * (1.0f + erf_approx(v * 0.70710678118654752f));
        const float pdf = 0.39894228040143268f * exp_approx(-0.5f * v * v);
        grad[i] *= cdf + v * pdf;
    }
}
