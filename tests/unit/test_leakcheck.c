/* test_leakcheck.c - the leak check every unit suite ends its tests with
 * (assert_no_leaks in unit_util.c) is armed in every ASan build, GCC's and clang's:
 * a block made unreachable on purpose is found. meson defines PETREL_TEST_ASAN from
 * its own b_sanitize option, independently of how unit_util.c detects ASan. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit_util.h"

#ifdef PETREL_TEST_ASAN
/* Hides the pointer from LeakSanitizer's conservative scan: only a masked copy stays. */
#define HIDE_MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static __attribute__((noinline)) uintptr_t lose_a_block(void)
{
	char *p = malloc(48);

	cr_assert_not_null(p);
	memset(p, 0x11, 48);
	return (uintptr_t)p ^ HIDE_MASK;
}

/* Overwrites the stack lose_a_block() used, so no stale copy of the pointer remains. */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char junk[512];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}
#endif

Test(leakcheck, an_unreachable_block_is_found_in_asan_builds)
{
#ifndef PETREL_TEST_ASAN
	cr_skip_test("not an ASan build: leak checks are off by design");
#else
	uintptr_t hidden = lose_a_block();

	scrub_stack();
	cr_assert(unit_leaks_found(), "a lost 48-byte block went unnoticed");
	free((void *)(hidden ^ HIDE_MASK));
	cr_assert_not(unit_leaks_found(), "nothing is lost once it is freed");
#endif
}
