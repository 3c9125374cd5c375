/* topic_level.c - the cds_lfht child tables of the RCU topic tries (router.c,
 * retain.c): creation, lookup by level, and destruction from a QSBR thread. Owns no
 * state. Built against urcu-qsbr like the tries, so the tables it makes wait for
 * their grace periods in the same flavour. See topic_level.h. */
/* Inlines rcu_dereference() & co: allowed for code under any licence (liburcu README). */
#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include <assert.h>
#include <stdbool.h>

#include "petrel/topic_level.h"

struct cds_lfht *topic_level_table_new(void)
{
	/* Starts at one bucket: most nodes have few children; grows by chain length.
	 * No CDS_LFHT_ACCOUNTING: it costs a per-CPU counter array per table. */
	return cds_lfht_new(1, 1, 0, CDS_LFHT_AUTO_RESIZE, NULL);
}

/* cds_lfht_destroy() waits for queued resizes, and a resize waits for a grace
 * period; a QSBR thread that stays online while waiting would wait for itself. */
void topic_level_table_destroy(struct cds_lfht *ht)
{
	bool online = rcu_read_ongoing();
	int rc;

	if (online)
		rcu_thread_offline();
	rc = cds_lfht_destroy(ht, NULL);
	assert(rc == 0);	/* only empty tables are destroyed */
	(void)rc;
	if (online)
		rcu_thread_online();
}

/* Inside rcu_read_lock(). */
struct cds_lfht_node *topic_level_lookup(struct cds_lfht *ht, const char *s, size_t len,
					 unsigned long h,
					 int (*eq)(struct cds_lfht_node *hn, const void *key))
{
	struct topic_level_key key = { s, len };
	struct cds_lfht_iter it;

	cds_lfht_lookup(ht, h, eq, &key, &it);
	return cds_lfht_iter_get_node(&it);
}
