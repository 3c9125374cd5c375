/* test_ptrhash.c - the single-writer pointer set (ptrhash.c) behind a router node's
 * entries by subscriber and a session's filters: every element findable after any mix
 * of adds and removals, also when all share one hash (long probe runs wrapping round
 * the table, where backward-shift deletion is easiest to get wrong), and the table
 * growing and shrinking back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "petrel/ptrhash.h"
#include "unit_util.h"

#define N 5000

static int elems[N];

/* How many times <p> is found under <hash>. */
static int count_found(const struct ptrhash *t, uint64_t hash, const void *p)
{
	uint32_t pos = 0;
	int n = 0;
	void *q;

	while ((q = ptrhash_find(t, hash, &pos)) != NULL)
		n += q == p;
	return n;
}

/* Adds all, removes them in a scrambled order, checking the rest after each step. */
static void churn(uint64_t (*hash_of)(int i))
{
	struct ptrhash t = PTRHASH_INIT;
	bool in[N] = { false };
	int i, k;

	for (i = 0; i < N; i++) {
		cr_assert_eq(ptrhash_add(&t, hash_of(i), &elems[i]), 0);
		in[i] = true;
	}
	cr_assert_eq(t.n, N);
	cr_assert_lt(t.n * 4, t.cap * 3 + 4, "grown before 3/4 full");
	for (k = 0; k < N; k++) {
		i = (int)(((uint64_t)k * 2654435761u) % N);	/* a permutation of 0..N-1 */
		cr_assert_eq(ptrhash_del(&t, hash_of(i), &elems[i]), 0, "remove %d", i);
		in[i] = false;
		cr_assert_eq(ptrhash_del(&t, hash_of(i), &elems[i]), -ENOENT);
		if (k % 97 == 0 || N - k < 40) {
			for (int j = 0; j < N; j++)
				cr_assert_eq(count_found(&t, hash_of(j), &elems[j]), in[j] ? 1 : 0,
					     "element %d after %d removals", j, k + 1);
		}
		if (t.n > 0 && t.cap > 8)
			cr_assert_geq(t.n * 8, t.cap / 2, "shrunk under 1/8");
	}
	cr_assert_eq(t.n, 0);
	cr_assert_null(t.slot, "the last removal frees the table");
	assert_no_leaks();
}

static uint64_t distinct_hash(int i)
{
	return (uint64_t)i * 0x100000001b3ull;
}

static uint64_t same_hash(int i)
{
	return 42;
}

static uint64_t few_hashes(int i)
{
	return (uint64_t)(i % 7);
}

Test(ptrhash, distinct_hashes_survive_any_removal_order)
{
	churn(distinct_hash);
}

Test(ptrhash, one_shared_hash_survives_any_removal_order)
{
	churn(same_hash);
}

Test(ptrhash, few_shared_hashes_survive_any_removal_order)
{
	churn(few_hashes);
}

Test(ptrhash, next_visits_every_element_once)
{
	struct ptrhash t = PTRHASH_INIT;
	int seen[N] = { 0 };
	uint32_t pos = 0;
	int *p;

	cr_assert_null(ptrhash_next(&t, &pos), "empty");
	for (int i = 0; i < N; i++)
		cr_assert_eq(ptrhash_add(&t, few_hashes(i), &elems[i]), 0);
	while ((p = ptrhash_next(&t, &pos)) != NULL)
		seen[p - elems]++;
	for (int i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1, "element %d seen %d times", i, seen[i]);
	ptrhash_fini(&t);
	cr_assert_eq(t.n, 0);
	assert_no_leaks();
}
