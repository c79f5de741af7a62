#ifndef BIOTAG_CDNNL_SHIM_H
#define BIOTAG_CDNNL_SHIM_H

#include <oneapi/dnnl/dnnl.h>

// Macros that do not import into Swift.
static inline void *biotag_dnnl_memory_none(void) { return DNNL_MEMORY_NONE; }
static inline int64_t biotag_dnnl_runtime_dim(void) { return DNNL_RUNTIME_DIM_VAL; }

// The OpenMP runtime that oneDNN is built with: each calling thread is pinned to one
// OpenMP thread, because biotag owns its threading (see ARCHITECTURE.md).
extern void omp_set_num_threads(int);

// A spin-wait hint for the thread pool.
static inline void biotag_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
