#ifndef BIOTAG_CKERNELS_COMMON_H
#define BIOTAG_CKERNELS_COMMON_H

// Shared by the kernel files: the per-instruction-set cloning attribute and scalar helpers
// that the compiler inlines into each clone.

#if defined(__x86_64__) && defined(__linux__)
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

// erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
static inline float erf_approx(float z) {
    const float a = z < 0.0f ? -z : z;
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float erf_abs = 1.0f - poly * exp_approx(-a * a);
    return z < 0.0f ? -erf_abs : erf_abs;
}

#endif
