// Code-layout hints for the path every statement takes.
//
// A point read spends about half its time in the kernel (file locks) and in SQLite's own code;
// what the library adds costs less in instructions than in the cache lines of code it spreads
// over, which the kernel and SQLite then evict. Functions on that path are marked WEFT_HOT, which
// GCC and Clang place together in .text.hot; their rare branches (slow lookups, errors) are moved
// into WEFT_COLD functions, which are kept out of line and away from it. Branches that are common
// in other workloads but not on this path (a statement-cache miss, a pool under contention) go
// into WEFT_NOINLINE functions: out of line, but compiled and placed as usual.
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
