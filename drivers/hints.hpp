// Code-layout hints for the path every statement takes.
//
// A SQLite point read spends about half its time in the kernel (file locks) and much of the rest
// in SQLite's own code; the ~960 instructions the library adds run slowly because they are
// spread over ~115 cache lines of code, which the kernel and SQLite evict between calls. (The
// measurements are in docs/architecture.md, "Code layout": the wall-clock gain of what follows
// was within the VM's noise; it keeps the path compact all the same.) Functions on that path
// are marked WEFT_HOT, which GCC and Clang place together in .text.hot; their rare branches
// (errors) are moved into WEFT_COLD functions, kept out of line and away from it. Branches that
// are common in other workloads but not on this path (a statement-cache miss, a pool under
// contention, another database alias than the last) go into WEFT_NOINLINE functions: out of
// line, but compiled and placed as usual.
#pragma once

#if defined(__GNUC__)
#define WEFT_HOT __attribute__((hot))
#define WEFT_COLD __attribute__((cold, noinline))
#define WEFT_NOINLINE __attribute__((noinline))
#else
#define WEFT_HOT
#define WEFT_COLD
#define WEFT_NOINLINE
#endif
