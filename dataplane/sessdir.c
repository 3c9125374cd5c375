/* sessdir.c - client id -> session, a cds_lfht shared by all workers (see sessdir.h).
 * The hash is FNV-1a over the id (sessdir_hash; start-up places stored sessions on
 * workers by it); collisions are resolved by comparing ids. A listed
 * session has one directory entry, allocated here, which carries the table node and
 * the rcu_head that drops the directory's reference: struct session (a public header)
 * stays free of liburcu flavour types. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "petrel/compiler.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"

struct sessdir {
	struct cds_lfht *ht;
};

struct sessdir_entry {
	struct cds_lfht_node node;
	struct rcu_head rcu;         /* drops the directory's reference, frees the entry */
	struct session *s;           /* the directory's reference */
};

struct sessdir_key {
	const char *id;
	size_t len;
};

uint32_t sessdir_hash(const char *id, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)id[i];
		h *= 16777619u;
	}
	return h;
}

static int id_match(struct cds_lfht_node *node, const void *key)
{
	const struct session *s = caa_container_of(node, struct sessdir_entry, node)->s;
	const struct sessdir_key *k = key;

	return s->client_id_len == k->len && memcmp(s->client_id, k->id, k->len) == 0;
}

struct sessdir *sessdir_create(void)
{
	return sessdir_create_sized(0);
}

struct sessdir *sessdir_create_sized(size_t expected)
{
	struct sessdir *d = malloc(sizeof(*d));
	unsigned long buckets = 1024;

	if (d == NULL)
		return NULL;
	/* cds_lfht wants a power of two: the largest not above <expected>, one to two
	 * sessions a bucket (16 bytes each, allocated now). */
	while (buckets * 2 <= expected && buckets < SESSDIR_BUCKETS_MAX)
		buckets <<= 1;
	d->ht = cds_lfht_new(buckets, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
			     NULL);
	if (d->ht == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

void sessdir_destroy(struct sessdir *d)
{
	if (d == NULL)
		return;
	cds_lfht_destroy(d->ht, NULL);
	free(d);
}

struct session *sessdir_lookup(struct sessdir *d, const char *client_id, size_t len)
{
	struct sessdir_key key = { client_id, len };
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct session *s = NULL;

	rcu_read_lock();
	cds_lfht_lookup(d->ht, sessdir_hash(client_id, len), id_match, &key, &it);
	node = cds_lfht_iter_get_node(&it);
	if (node != NULL) {
		s = caa_container_of(node, struct sessdir_entry, node)->s;
		if (!session_tryref(s))
			s = NULL;
	}
	rcu_read_unlock();
	return s;
}

int sessdir_insert(struct sessdir *d, struct session *s)
{
	struct sessdir_key key = { s->client_id, s->client_id_len };
	struct sessdir_entry *e = malloc(sizeof(*e));
	struct cds_lfht_node *got;

	if (e == NULL)
		return -ENOMEM;
	cds_lfht_node_init(&e->node);
	session_ref(s);
	e->s = s;
	rcu_read_lock();
	got = cds_lfht_add_unique(d->ht, sessdir_hash(s->client_id, s->client_id_len), id_match,
				  &key, &e->node);
	rcu_read_unlock();
	if (got != &e->node) {
		session_unref(s);
		free(e);
		return -EEXIST;
	}
	s->dir_entry = e;
	return 0;
}

/* The directory's reference is dropped after a grace period, since lookups may still
 * be looking at the entry. */
static void dir_ref_release(struct rcu_head *head)
{
	struct sessdir_entry *e = caa_container_of(head, struct sessdir_entry, rcu);

	session_unref(e->s);
	free(e);
}

void sessdir_remove(struct sessdir *d, struct session *s)
{
	struct sessdir_entry *e = s->dir_entry;
	int rc;

	if (e == NULL)
		return;
	rcu_read_lock();
	rc = cds_lfht_del(d->ht, &e->node);
	rcu_read_unlock();
	s->dir_entry = NULL;
	if (rc == 0)
		call_rcu(&e->rcu, dir_ref_release);
}

void sessdir_for_each(struct sessdir *d, void (*fn)(void *arg, struct session *s), void *arg)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	/* Not cds_lfht_for_each_entry(): past the last node it computes
	 * container_of(NULL), pointer arithmetic on NULL, which is undefined (C11
	 * 6.5.6p8) and fatal under clang's UBSan. Convert only nodes that exist. <fn> may
	 * remove the session it is given: cds_lfht_next() still follows a removed node
	 * within the caller's read-side critical section. */
	for (cds_lfht_first(d->ht, &it); (node = cds_lfht_iter_get_node(&it)) != NULL;
	     cds_lfht_next(d->ht, &it))
		fn(arg, caa_container_of(node, struct sessdir_entry, node)->s);
}

size_t sessdir_count(struct sessdir *d)
{
	long before, after;
	unsigned long count;

	rcu_read_lock();
	cds_lfht_count_nodes(d->ht, &before, &count, &after);
	rcu_read_unlock();
	return count;
}
