/* bench_test_bin.c - where the tests find petrel-bench (see bench_test_bin.h). */
#include "bench_test_bin.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bench_test_bin(char *out, size_t cap)
{
	const char *env = getenv("PETREL_BENCH_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		cr_assert_lt((size_t)snprintf(out, cap, "%s", env), cap);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0, "readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	cr_assert_lt((size_t)snprintf(out, cap, "%s/petrel-bench", dirname(self)), cap);
}
