#ifndef BIOTAG_CKERNELS_COMMON_H
#define BIOTAG_CKERNELS_COMMON_H

// Shared by the kernel files: the per-instruction-set cloning attribute and scalar helpers
// that the compiler inlines into each clone.

// BIOTAG_KERNELS_MAX_AVX2 (make avx2-bench) leaves out the AVX-512 versions, so that a CPU that
// has AVX-512 runs what an AVX2-only CPU would.
#if defined(__x86_64__) && defined(__linux__) && defined(BIOTAG_KERNELS_MAX_AVX2)
#define BIOTAG_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__linux__)
#define BIOTAG_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BIOTAG_MULTIVERSION
#endif

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

// erf(z) as z · P(z²) / Q(z²) on |z| ≤ 3.9 and ±1 beyond (erf(3.9) = 1 − 3.5e-8 rounds to 1
// in float). P and Q are of degree 5, fitted by bench/fit_erf.py in double precision (weighted
// least squares, reweighted toward the smallest largest error) and rounded to float: the largest
// error over the real line is 3.3e-7, against 1.5e-7 for Abramowitz & Stegun 7.1.26, which needs
// an exp and a division. This needs only the division: the GELU pass is about 17 vector
// instructions per 8 values instead of 45. Selects, not fminf, so that it vectorizes.
static inline float erf_approx(float z) {
    const float a0 = z < 0.0f ? -z : z;
    const float a = a0 < 3.9f ? a0 : 3.9f;
    const float t = a * a;
    const float p = ((((2.050567218e-06f * t + 2.874381898e-04f) * t + 3.835978219e-03f) * t
                      + 5.296416581e-02f) * t + 1.919198930e-01f) * t + 1.128378987e+00f;
    const float q = ((((3.823160296e-05f * t + 1.181518426e-03f) * t + 1.510741189e-02f) * t
                      + 1.147495061e-01f) * t + 5.034163594e-01f) * t + 1.0f;
    float e = a * p / q;
    e = e < 1.0f ? e : 1.0f;
    return z < 0.0f ? -e : e;
}

#endif
