/* bench_test_bin.h - where the tests find petrel-bench. */
#ifndef BENCH_TEST_BIN_H
#define BENCH_TEST_BIN_H

#include <stddef.h>

/* $PETREL_BENCH_BIN, else the petrel-bench meson built beside the test binary (also
 * when scripts/test.sh runs it without meson's environment). Asserts (criterion). */
void bench_test_bin(char *out, size_t cap);

#endif
