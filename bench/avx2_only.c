// Makes a Python process see an AVX2 CPU without AVX-512, VNNI, BF16 or AMX, so that the
// reference runtimes (ONNX Runtime's MLAS, PyTorch) pick the kernels they would pick on an
// AVX2-only CPU. biotag's side of the same run is held to AVX2 by oneDNN's own switch
// (ONEDNN_MAX_CPU_ISA=AVX2) and a build whose C kernels have no AVX-512 versions
// (make avx2-bench).
//
// How: Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, the `cpuid_fault` flag in
// /proc/cpuinfo) makes every CPUID instruction raise SIGSEGV; the handler runs the real CPUID,
// clears the bits of the instruction sets above AVX2, and steps over the instruction. Loaded
// into every process of a run with LD_PRELOAD, it acts only in Python interpreters.
//
//   cc -O2 -shared -fPIC bench/avx2_only.c -o /tmp/avx2_only.so
//   LD_PRELOAD=/tmp/avx2_only.so python3 -c 'import numpy; numpy.show_runtime()'
//
// Limits: the dynamic loader's own CPUID reads (glibc's string functions) happen before this
// library runs and keep the real features; a process that installs its own SIGSEGV handler
// afterwards would take over the faults.

#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int set_cpuid(int enabled) { return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

// Leaf 7 (structured extended features) subleaf 0 and 1: everything AVX-512, VNNI, BF16, AMX.
static void mask(unsigned leaf, unsigned subleaf, unsigned *a, unsigned *b, unsigned *c, unsigned *d) {
    if (leaf == 7 && subleaf == 0) {
        // EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31.
        *b &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        // ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14.
        *c &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        // EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, AVX512-FP16 23, AMX-TILE 24, AMX-INT8 25.
        *d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && subleaf == 1) {
        // EAX: AVX-VNNI 4, AVX512-BF16 5, AVX-IFMA 23.
        *a &= ~((1u << 4) | (1u << 5) | (1u << 23));
        // EDX: AVX-VNNI-INT8 4, AVX-NE-CONVERT 5.
        *d &= ~((1u << 4) | (1u << 5));
    }
}

static void on_fault(int signal_number, siginfo_t *info, void *context) {
    (void)info;
    ucontext_t *uc = context;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) {
        // A real fault: let it happen again without this handler.
        signal(signal_number, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)r[REG_RAX], subleaf = (unsigned)r[REG_RCX], a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, subleaf, a, b, c, d);
    set_cpuid(0);
    mask(leaf, subleaf, &a, &b, &c, &d);
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

__attribute__((constructor)) static void start(void) {
    char exe[4096];
    ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length <= 0) return;
    exe[length] = 0;
    const char *name = strrchr(exe, '/');
    if (!strstr(name ? name + 1 : exe, "python")) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0 || set_cpuid(0) != 0) {
        fprintf(stderr, "avx2_only: CPUID faulting is not available here (no cpuid_fault in /proc/cpuinfo?)\n");
        _exit(2);
    }
}
