/* fuzz.h - shared by the libFuzzer targets of tests/fuzz: the name of the entry point
 * and the invariant check. A target is also compiled into the criterion suite that
 * replays the seed corpora (test_fuzz_replay.c); there FUZZ_ENTRY renames the entry so
 * that several targets link into one binary. */
#ifndef PETREL_FUZZ_H
#define PETREL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(const uint8_t *data, size_t size);

/* An invariant failed: say which and abort, which libFuzzer reports as a crash and
 * saves the input as crash-<sha1>. Not assert(): it must hold in release builds too. */
static inline __attribute__((noreturn)) void fuzz_fail(const char *file, int line,
						       const char *what)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

#define FUZZ_CHECK(cond)                                                               \
	do {                                                                           \
		if (!(cond))                                                           \
			fuzz_fail(__FILE__, __LINE__, #cond);                          \
	} while (0)

#endif
