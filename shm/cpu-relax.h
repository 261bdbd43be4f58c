/* SPDX-License-Identifier: MIT */
#ifndef HORUS_SHM_CPU_RELAX_H
#define HORUS_SHM_CPU_RELAX_H

/*
 * The body of a busy-wait loop: tells the CPU (and a hypervisor) that this thread spins. Used
 * by the hub's readers and by the daemon's spinning threads (lanes, pool workers).
 */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

#endif /* HORUS_SHM_CPU_RELAX_H */
