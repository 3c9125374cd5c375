/* compiler.h - branch hints, cache-line alignment and small helpers shared by every
 * module. Header only; no dependencies beyond the C library. */
#ifndef PETREL_COMPILER_H
#define PETREL_COMPILER_H

#include <stddef.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define PETREL_CACHE_LINE 64
#define cache_aligned __attribute__((aligned(PETREL_CACHE_LINE)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

#define PETREL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PETREL_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
