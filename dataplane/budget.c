/* budget.c - the memory budget; see budget.h. */
#include <stdatomic.h>
#include <stdint.h>

#include "petrel/budget.h"
#include "petrel/compiler.h"
#include "petrel/config.h"
#include "petrel/log.h"

/* Threads with a slot of their own: every worker the config allows, and room for the
 * control plane. Threads beyond it share the atomic slot. */
#define BUDGET_SLOTS (CONFIG_WORKERS_MAX + 8)

struct budget_slot {
	_Atomic int64_t bytes;
} cache_aligned;

static struct budget_slot budget_slots[BUDGET_SLOTS];
static struct budget_slot budget_shared;
static atomic_uint budget_nslots;
static size_t budget_max;
static atomic_bool budget_episode;

static _Thread_local struct budget_slot *budget_mine;

void budget_configure(size_t limit)
{
	for (unsigned i = 0; i < BUDGET_SLOTS; i++)
		atomic_store(&budget_slots[i].bytes, 0);
	atomic_store(&budget_shared.bytes, 0);
	atomic_store(&budget_nslots, 0);
	atomic_store(&budget_episode, false);
	budget_max = limit;
}

void budget_thread_enter(void)
{
	unsigned i;

	if (budget_mine != NULL)
		return;
	i = atomic_fetch_add(&budget_nslots, 1);
	if (i < BUDGET_SLOTS)
		budget_mine = &budget_slots[i];
}

void budget_thread_exit(void)
{
	/* The slot keeps its sum: what this thread charged may be freed by others. */
	budget_mine = NULL;
}

void budget_add(ssize_t delta)
{
	struct budget_slot *s = budget_mine;

	if (s != NULL) {
		/* Only this thread writes its slot: no read-modify-write needed. */
		int64_t v = atomic_load_explicit(&s->bytes, memory_order_relaxed);

		atomic_store_explicit(&s->bytes, v + delta, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&budget_shared.bytes, delta, memory_order_relaxed);
}

size_t budget_used(void)
{
	unsigned n = atomic_load_explicit(&budget_nslots, memory_order_relaxed);
	int64_t sum = atomic_load_explicit(&budget_shared.bytes, memory_order_relaxed);

	if (n > BUDGET_SLOTS)
		n = BUDGET_SLOTS;
	for (unsigned i = 0; i < n; i++)
		sum += atomic_load_explicit(&budget_slots[i].bytes, memory_order_relaxed);
	return sum > 0 ? (size_t)sum : 0;
}

size_t budget_limit(void)
{
	return budget_max;
}

bool budget_allows(size_t more)
{
	size_t used;

	if (budget_max == 0)
		return true;
	used = budget_used();
	if (used < budget_max / 2 &&
	    atomic_load_explicit(&budget_episode, memory_order_relaxed))
		atomic_store_explicit(&budget_episode, false, memory_order_relaxed);
	return used + more <= budget_max;
}

void budget_note_refusal(const char *what)
{
	if (atomic_exchange_explicit(&budget_episode, true, memory_order_relaxed))
		return;
	log_warn("memory_limit reached (%zu of %zu bytes in use): %s (counted; logged "
		 "once until use falls under half of it)", budget_used(), budget_max, what);
}
