// A hand-written AVX2/FMA fp32 GEMM for few rows, timed against oneDNN's matmul on the same
// shapes in one process: the measurement behind docs/ENGINE.md's "A GEMM of our own?".
//
//   cc -O3 -mavx2 -mfma bench/sgemm_probe.c -ldnnl -o /tmp/sgemm_probe
//   OMP_NUM_THREADS=1 /tmp/sgemm_probe M N K [iterations] [weight copies]
//
// y[M, N] = x[M, K] · Wᵀ + bias with W a row-major [N, K] weight, one thread. The weights are
// packed once into panels of 16 output columns ([K][16] each); a 6 × 16 tile of y is twelve
// ymm accumulators, each step over K loads two weight vectors and broadcasts six inputs; the
// first row block of a panel prefetches the next panel. oneDNN gets its own blocked layout
// (format_tag_any, reordered once). With several weight copies both cycle through them, so the
// weights come from L3 or memory as in a whole model rather than from a hot L2.
#include <dnnl.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void pack(const float *w, int n, int k, float *out) {
    for (int p = 0; p < (n + 15) / 16; p++)
        for (int kk = 0; kk < k; kk++)
            for (int j = 0; j < 16; j++) {
                const int col = p * 16 + j;
                out[((size_t)p * k + kk) * 16 + j] = col < n ? w[(size_t)col * k + kk] : 0.0f;
            }
}

#define ROW(r) \
    if (R > r) { \
        const __m256 x = _mm256_broadcast_ss(a + (size_t)r * lda + kk); \
        c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0); \
        c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1); \
    }
#define STORE(r) \
    if (R > r) { \
        _mm256_storeu_ps(c + (size_t)r * ldc, _mm256_add_ps(c##r##0, bias0)); \
        _mm256_storeu_ps(c + (size_t)r * ldc + 8, _mm256_add_ps(c##r##1, bias1)); \
    }

// R rows (1...6) × 16 columns over the whole of K; `next` (or NULL): the panel to prefetch.
static inline __attribute__((always_inline)) void tile(const int R, const float *a, int lda, const float *b, int k,
                                                       float *c, int ldc, const float *bias, const float *next) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int kk = 0; kk < k; kk++) {
        if (next) _mm_prefetch((const char *)(next + kk * 16), _MM_HINT_T0);
        const __m256 b0 = _mm256_load_ps(b + kk * 16), b1 = _mm256_load_ps(b + kk * 16 + 8);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
    }
    const __m256 bias0 = _mm256_loadu_ps(bias), bias1 = _mm256_loadu_ps(bias + 8);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
}

__attribute__((noinline)) static void sgemm(const float *a, int m, int lda, const float *packed, int n, int k, const float *bias, float *c, int ldc) {
    for (int p = 0; p < n / 16; p++) {
        const float *b = packed + (size_t)p * k * 16;
        const float *next = p + 1 < n / 16 ? b + (size_t)k * 16 : NULL;
        int r = 0;
        for (; r + 6 <= m; r += 6, next = NULL) tile(6, a + (size_t)r * lda, lda, b, k, c + (size_t)r * ldc + p * 16, ldc, bias + p * 16, next);
        const float *ar = a + (size_t)r * lda;
        float *cr = c + (size_t)r * ldc + p * 16;
        switch (m - r) {
        case 1: tile(1, ar, lda, b, k, cr, ldc, bias + p * 16, next); break;
        case 2: tile(2, ar, lda, b, k, cr, ldc, bias + p * 16, next); break;
        case 3: tile(3, ar, lda, b, k, cr, ldc, bias + p * 16, next); break;
        case 4: tile(4, ar, lda, b, k, cr, ldc, bias + p * 16, next); break;
        case 5: tile(5, ar, lda, b, k, cr, ldc, bias + p * 16, next); break;
        }
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(call) do { dnnl_status_t s = (call); if (s != dnnl_success) { fprintf(stderr, "%s failed: %d\n", #call, s); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s M N K [iterations] [weight copies]  (N a multiple of 16)\n", argv[0]); return 2; }
    const int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]);
    const int iterations = argc > 4 ? atoi(argv[4]) : 1000, copies = argc > 5 ? atoi(argv[5]) : 1;
    if (m < 1 || n < 16 || n % 16 || k < 1 || iterations < 1 || copies < 1) { fprintf(stderr, "bad sizes\n"); return 2; }
    float *a = aligned_alloc(64, sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k), *bias = malloc(sizeof(float) * n);
    float *mine = malloc(sizeof(float) * m * n), *theirs = malloc(sizeof(float) * m * n);
    srand(1);
    for (int i = 0; i < m * k; i++) a[i] = rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < n * k; i++) w[i] = rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < n; i++) bias[i] = i * 0.01f;
    float **panels = malloc(sizeof(float *) * copies);
    for (int i = 0; i < copies; i++) { panels[i] = aligned_alloc(64, sizeof(float) * n * k); pack(w, n, k, panels[i]); }

    dnnl_engine_t engine;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    dnnl_memory_desc_t src, weights, plain, bias_desc, dst;
    dnnl_dims_t src_dims = {m, k}, weight_dims = {k, n}, bias_dims = {1, n}, dst_dims = {m, n}, plain_strides = {1, k};
    CHECK(dnnl_memory_desc_init_by_tag(&src, 2, src_dims, dnnl_f32, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&weights, 2, weight_dims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_strides(&plain, 2, weight_dims, dnnl_f32, plain_strides));
    CHECK(dnnl_memory_desc_init_by_tag(&bias_desc, 2, bias_dims, dnnl_f32, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&dst, 2, dst_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t op;
    CHECK(dnnl_matmul_desc_init(&op, &src, &weights, &bias_desc, &dst));
    dnnl_primitive_desc_t pd, reorder_pd;
    dnnl_primitive_t matmul, reorder;
    CHECK(dnnl_primitive_desc_create(&pd, &op, NULL, engine, NULL));
    CHECK(dnnl_primitive_create(&matmul, pd));
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const size_t chosen_bytes = dnnl_memory_desc_get_size(chosen);
    dnnl_memory_t src_mem, plain_mem, weight_mem, bias_mem, dst_mem;
    CHECK(dnnl_memory_create(&src_mem, &src, engine, a));
    CHECK(dnnl_memory_create(&plain_mem, &plain, engine, w));
    CHECK(dnnl_memory_create(&weight_mem, chosen, engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&bias_mem, &bias_desc, engine, bias));
    CHECK(dnnl_memory_create(&dst_mem, &dst, engine, theirs));
    CHECK(dnnl_reorder_primitive_desc_create(&reorder_pd, &plain, engine, chosen, engine, NULL));
    CHECK(dnnl_primitive_create(&reorder, reorder_pd));
    void **blocked = malloc(sizeof(void *) * copies);
    for (int i = 0; i < copies; i++) {
        blocked[i] = aligned_alloc(64, (chosen_bytes + 63) / 64 * 64);
        CHECK(dnnl_memory_set_data_handle(weight_mem, blocked[i]));
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, plain_mem}, {DNNL_ARG_TO, weight_mem}};
        CHECK(dnnl_primitive_execute(reorder, stream, 2, args));
        CHECK(dnnl_stream_wait(stream));
    }
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, weight_mem}, {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, dst_mem}};

    // Alternate the two, five rounds; keep each one's best round.
    double best_mine = 1e30, best_theirs = 1e30;
    for (int round = 0; round < 5; round++) {
        const double t0 = now();
        for (int i = 0; i < iterations; i++) sgemm(a, m, k, panels[i % copies], n, k, bias, mine, n);
        const double t1 = now();
        for (int i = 0; i < iterations; i++) {
            dnnl_memory_set_data_handle(weight_mem, blocked[i % copies]);
            dnnl_primitive_execute(matmul, stream, 4, args);
        }
        const double t2 = now();
        if (t1 - t0 < best_mine) best_mine = t1 - t0;
        if (t2 - t1 < best_theirs) best_theirs = t2 - t1;
    }
    double max_diff = 0;
    for (int i = 0; i < m * n; i++) { const double d = mine[i] > theirs[i] ? mine[i] - theirs[i] : theirs[i] - mine[i]; if (d > max_diff) max_diff = d; }
    const double flops = 2.0 * m * n * k * iterations;
    printf("M=%d N=%d K=%d copies=%d  hand-written %.1f us (%.1f GFLOPS)  oneDNN %.1f us (%.1f GFLOPS)  time ratio %.2f  max |diff| %.1e\n",
           m, n, k, copies, best_mine / iterations * 1e6, flops / best_mine * 1e-9, best_theirs / iterations * 1e6, flops / best_theirs * 1e-9,
           best_mine / best_theirs, max_diff);
    return max_diff < 1e-3 ? 0 : 1;
}
