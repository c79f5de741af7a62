#ifndef BIOTAG_CKERNELS_H
#define BIOTAG_CKERNELS_H

// Elementwise and attention kernels in C, compiled once per instruction set (AVX-512, AVX2+FMA,
// baseline) and chosen at load time by the dynamic linker (GCC/clang `target_clones`): Swift's
// SIMD types compile for the baseline x86-64 only, so they cannot use AVX2 or FMA portably.

#include <stddef.h>
#include <malloc.h>  // malloc_trim, for memory measurements (`biotag bench`)

/// Self-attention of one sequence for heads [head_begin, head_end), no mask.
/// qkv: [tokens, 3*hidden] rows `q | k | v`; out: [tokens, hidden];
/// scratch: biotag_attention_scratch(tokens, hidden / heads) floats.
void biotag_attention(const float *qkv, int tokens, int hidden, int heads,
                      float *out, float *scratch, int head_begin, int head_end);

size_t biotag_attention_scratch(int tokens, int head_size);

/// x[r] = LayerNorm(x[r] + residual[r]) * gamma + beta for each of `rows` rows of `width`;
/// residual may be NULL.
void biotag_add_layernorm(float *x, const float *residual, int rows, int width,
                          const float *gamma, const float *beta, float epsilon);

/// GELU (exact, erf form) in place on a [rows, cols] block with row stride ld.
void biotag_gelu_erf(float *x, int rows, int cols, int ld);

/// x[i] = exp(x[i]) for n values (relative error < 2e-7; below -87.3 gives 0).
void biotag_exp(float *x, int n);

/// 1 when these kernels were built without their AVX-512 versions (BIOTAG_KERNELS_MAX_AVX2, for
/// measuring an AVX2-only CPU on a newer one), else 0.
int biotag_kernels_max_avx2(void);

// int8 linear layers.

/// Quantizes each row of x [rows, cols] (row stride ld) to u8 with its own scale and zero point:
/// v = x * channel_scales (when not NULL), q = clamp(round(v / scale) + zero, 0, levels), the
/// grid spanning [min(v, 0), max(v, 0)] of the row.
void biotag_quantize_rows_u8(const float *x, int rows, int cols, int ld, const float *channel_scales, int levels,
                             unsigned char *q, int ldq, float *scales, int *zeros);

/// The activation biotag_dequantize_rows applies to its output.
enum {
    BIOTAG_ACTIVATION_NONE = 0,
    /// GELU, exact (erf) form.
    BIOTAG_ACTIVATION_GELU_ERF = 1,
    /// GELU, tanh approximation (`gelu_new`).
    BIOTAG_ACTIVATION_GELU_TANH = 2,
    BIOTAG_ACTIVATION_RELU = 3
};

/// y[r, j] = x_scales[r] * w_scales[j] * (acc[r, j] - x_zeros[r] * w_sums[j]) + bias[j]
/// (bias may be NULL), then the activation (BIOTAG_ACTIVATION_*).
void biotag_dequantize_rows(const int *acc, int rows, int cols, int ldacc,
                            const float *x_scales, const int *x_zeros,
                            const float *w_scales, const int *w_sums, const float *bias,
                            float *y, int ldy, int activation);

/// fp32 -> bf16 (round to nearest even) of a [rows, cols] block, row strides ld and ldo.
void biotag_f32_to_bf16(const float *x, int rows, int cols, int ld, unsigned short *out, int ldo);

// Training.

/// LayerNorm of each row of x in place (y = xhat * gamma + beta), keeping xhat [rows, width]
/// and 1/sqrt(variance + epsilon) per row for the backward pass.
void biotag_layernorm_train(float *x, float *xhat, float *rstd, int rows, int width,
                            const float *gamma, const float *beta, float epsilon);

/// LayerNorm backward: grad holds dL/dy on entry and dL/dx on return; dgamma and dbeta [width]
/// are accumulated into.
void biotag_layernorm_backward(float *grad, const float *xhat, const float *rstd, int rows, int width,
                               const float *gamma, float *dgamma, float *dbeta);

/// grad[i] *= GELU'(x[i]) (exact, erf form).
void biotag_gelu_erf_backward(const float *x, float *grad, size_t n);

#endif
