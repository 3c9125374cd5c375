/* router.c - the subscription table (DESIGN.md "Shared structures (RCU)"): a topic
 * trie read lock-free under urcu-qsbr, written under one mutex, reclaimed with
 * call_rcu(). Matching follows MQTT 3.1.1 section 4.7 (topic.c is the reference
 * matcher); one report per subscriber at its highest QoS (MQTT-3.3.5-1).
 *
 * Owns: every trie node, every entry array, the per-thread match scratch, and one
 * hold() per stored entry, dropped by release() a grace period after the entry goes.
 *
 * Shape of a node:
 *
 *   level   the filter level this node stands for ("" is a valid level)
 *   children  index of the literal child levels (topic_level.h, probed without
 *             lock); NULL while there are none: made by the first insert, freed by
 *             the last delete
 *   plus, hash  the '+' and '#' children, kept out of the index so that matching
 *             never hashes a wildcard
 *   subs    RCU list (urcu/rculist.h) of entries {sub, qos}, one allocation each.
 *           Subscribe appends (cds_list_add_tail_rcu), unsubscribe unlinks
 *           (cds_list_del_rcu) and frees the entry with call_rcu(), which also
 *           carries the release() of its subscriber; a QoS change is one atomic
 *           byte store in place. A reader walking the list never misses an entry
 *           that stays subscribed, whatever else changes around it.
 *   byset   writer-only set (ptrhash.h) of the node's entries keyed by subscriber,
 *           so that finding <sub>'s entry on a node is O(1) however many
 *           subscribers share the filter; a removal never fails.
 *
 * Cost: subscribe and unsubscribe are O(levels) plus amortised O(1) in the number of
 * subscribers on the filter (issue 6; the array this replaces was copied on every
 * change, O(n)). The worst single change is a byset resize, O(entries on that node).
 * Memory: about 64 bytes per entry plus 16 to 43 bytes of byset slot.
 *
 * A node with no entries and no children is pruned at once: unlinked from its parent
 * (topic_level_delete() or clearing plus/hash), then freed after a grace period, so
 * churn leaves nothing behind. The root is never pruned.
 *
 * Thread rules are in router.h. The writer-only fields (parent, byset) are read and
 * written under r->lock only; parent is reused as a stack link by router_destroy().
 */
/* Inlines rcu_dereference() & co: allowed for code under any licence (liburcu README). */
#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu-qsbr.h>
#include <urcu/rculist.h>

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/compiler.h"
#include "petrel/ptrhash.h"
#include "petrel/router.h"
#include "petrel/topic_level.h"

enum rt_kind { RT_ROOT, RT_LITERAL, RT_PLUS, RT_HASH };

struct router;

/* One (subscriber, filter) entry. <link> and <qos> are read by readers; the rest is
 * the writer's, and <rcu> carries the free and the release(). */
struct rt_ent {
	struct cds_list_head link;	/* RCU; on node->subs */
	void *sub;
	struct router *r;		/* for release() in the RCU callback */
	struct rcu_head rcu;
	atomic_uchar qos;		/* replaced in place (MQTT-3.8.4-3) */
};

struct rt_node {
	struct rcu_head rcu;
	struct rt_node *parent;		/* writer only */
	struct ptrhash byset;		/* writer only: entries by subscriber */
	struct topic_level_index *children;	/* RCU; NULL while no literal child */
	struct rt_node *plus;		/* RCU */
	struct rt_node *hash;		/* RCU */
	struct cds_list_head subs;	/* RCU list of struct rt_ent */
	uint8_t kind;			/* enum rt_kind */
	/* Hash and length of <level>; what parent->children holds (RT_LITERAL only). */
	struct topic_level_child tl;
	char level[];
};
TOPIC_LEVEL_CHILD_LAYOUT(struct rt_node, tl, level);

struct router {
	pthread_mutex_t lock;		/* serialises writers */
	struct router_params params;
	struct rt_node *root;
	atomic_size_t count;
};

/* ---- child lookup (readers and writers) ---- */

/* The literal child of level <s>/<len> (<h> its hash) in <idx>, or NULL. Readers:
 * inside rcu_read_lock(), <idx> read with rcu_dereference(). The writer: any time. */
static struct rt_node *rt_child_lookup(const struct topic_level_index *idx, const char *s,
				       size_t len, unsigned long h)
{
	struct topic_level_child *c = topic_level_lookup(idx, s, len, h);

	return c != NULL ? container_of(c, struct rt_node, tl) : NULL;
}

/* ---- the per-node set of entries by subscriber (writer only) ---- */

static inline uint64_t rt_sub_hash(const void *sub)
{
	return (uint64_t)(uintptr_t)sub;	/* ptrhash mixes it */
}

static struct rt_ent *rt_byset_find(const struct rt_node *node, const void *sub)
{
	uint64_t h = rt_sub_hash(sub);
	uint32_t pos = 0;
	struct rt_ent *e;

	while ((e = ptrhash_find(&node->byset, h, &pos)) != NULL) {
		if (e->sub == sub)
			return e;
	}
	return NULL;
}

/* ---- entries ---- */

static void rt_ent_free_cb(struct rcu_head *head)
{
	struct rt_ent *e = container_of(head, struct rt_ent, rcu);

	if (e->r->params.release != NULL)
		e->r->params.release(e->sub);
	free(e);
}

/* Writer. Adds or updates <sub> at <node>. Returns 1 (added), 0 (updated), -ENOMEM. */
static int rt_subs_put(struct router *r, struct rt_node *node, void *sub, uint8_t qos)
{
	struct rt_ent *e = rt_byset_find(node, sub);

	if (e != NULL) {
		/* MQTT-3.8.4-3: replace the QoS. A reader sees the old or the new one. */
		atomic_store_explicit(&e->qos, qos, memory_order_relaxed);
		return 0;
	}
	e = malloc(sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->sub = sub;
	e->r = r;
	atomic_init(&e->qos, qos);
	if (ptrhash_add(&node->byset, rt_sub_hash(sub), e) < 0) {
		free(e);
		return -ENOMEM;
	}
	/* Held before it is visible, so a reader may take its own reference. */
	if (r->params.hold != NULL)
		r->params.hold(sub);
	cds_list_add_tail_rcu(&e->link, &node->subs);	/* publishes *e */
	atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	return 1;
}

/* Writer. Removes <sub> from <node>. Returns 0 or -ENOENT; allocates nothing. */
static int rt_subs_del(struct router *r, struct rt_node *node, void *sub)
{
	struct rt_ent *e = rt_byset_find(node, sub);

	if (e == NULL)
		return -ENOENT;
	ptrhash_del(&node->byset, rt_sub_hash(sub), e);	/* cannot fail: found */
	cds_list_del_rcu(&e->link);
	call_rcu(&e->rcu, rt_ent_free_cb);
	atomic_fetch_sub_explicit(&r->count, 1, memory_order_relaxed);
	return 0;
}

/* ---- nodes (writer side) ---- */

static struct rt_node *rt_node_alloc(struct rt_node *parent, enum rt_kind kind,
				     const char *level, size_t len, unsigned long h)
{
	struct rt_node *n = malloc(sizeof(*n) + len + 1);

	if (n == NULL)
		return NULL;
	n->parent = parent;
	n->children = NULL;
	n->plus = NULL;
	n->hash = NULL;
	n->byset = (struct ptrhash)PTRHASH_INIT;
	CDS_INIT_LIST_HEAD(&n->subs);
	n->kind = (uint8_t)kind;
	n->tl.hash = h;
	n->tl.len = (uint32_t)len;
	memcpy(n->level, level, len);
	n->level[len] = '\0';
	return n;
}

/* Runs a grace period after the node left the trie, childless (its index, if it
 * had one, went with its last child). */
static void rt_node_free_cb(struct rcu_head *head)
{
	struct rt_node *n = container_of(head, struct rt_node, rcu);

	assert(n->children == NULL);
	free(n);
}

/* Writer. The child of <parent> for one filter level, created if missing. */
static struct rt_node *rt_child_get(struct rt_node *parent, const char *s, size_t len)
{
	struct rt_node *c;
	unsigned long h;

	if (len == 1 && (s[0] == '+' || s[0] == '#')) {
		struct rt_node **slot = s[0] == '+' ? &parent->plus : &parent->hash;

		if (*slot != NULL)
			return *slot;
		c = rt_node_alloc(parent, s[0] == '+' ? RT_PLUS : RT_HASH, s, len, 0);
		if (c != NULL)
			rcu_set_pointer(slot, c);
		return c;
	}

	h = topic_level_hash(s, len);
	c = rt_child_lookup(parent->children, s, len, h);
	if (c != NULL)
		return c;
	c = rt_node_alloc(parent, RT_LITERAL, s, len, h);
	if (c == NULL)
		return NULL;
	if (topic_level_insert(&parent->children, &c->tl) < 0) {	/* publishes *c */
		free(c);	/* never visible */
		return NULL;
	}
	return c;
}

/* Writer. The node for exactly <filter>, or NULL. */
static struct rt_node *rt_find(struct router *r, const char *filter, size_t len)
{
	struct rt_node *n = r->root;
	const char *p = filter, *end = filter + len;

	for (;;) {
		const char *lend = topic_level_end(p, end);
		size_t llen = (size_t)(lend - p);

		if (llen == 1 && p[0] == '+')
			n = n->plus;
		else if (llen == 1 && p[0] == '#')
			n = n->hash;
		else
			n = rt_child_lookup(n->children, p, llen, topic_level_hash(p, llen));
		if (n == NULL || lend == end)
			return n;
		p = lend + 1;
	}
}

static bool rt_node_empty(struct rt_node *n)
{
	return cds_list_empty(&n->subs) && n->plus == NULL && n->hash == NULL &&
	       n->children == NULL;
}

/* Writer. Unlinks <n> and its ancestors while they are empty; frees them after a
 * grace period (readers may still be walking them). */
static void rt_prune(struct rt_node *n)
{
	while (n->kind != RT_ROOT && rt_node_empty(n)) {
		struct rt_node *parent = n->parent;

		switch (n->kind) {
		case RT_PLUS:
			rcu_assign_pointer(parent->plus, NULL);
			break;
		case RT_HASH:
			rcu_assign_pointer(parent->hash, NULL);
			break;
		default:
			topic_level_delete(&parent->children, &n->tl);
			break;
		}
		call_rcu(&n->rcu, rt_node_free_cb);
		n = parent;
	}
}

/* ---- public: lifecycle and writers ---- */

struct router *router_create(const struct router_params *p)
{
	struct router *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (p != NULL)
		r->params = *p;
	atomic_init(&r->count, 0);
	if (pthread_mutex_init(&r->lock, NULL) != 0)
		goto err_free_router;
	r->root = rt_node_alloc(NULL, RT_ROOT, "", 0, 0);
	if (r->root == NULL)
		goto err_destroy_lock;
	return r;

err_destroy_lock:
	pthread_mutex_destroy(&r->lock);
err_free_router:
	free(r);
	return NULL;
}

/* Releases <n>'s entries and frees it and its index at once; its children are the
 * caller's. */
static void rt_node_destroy_now(struct router *r, struct rt_node *n)
{
	struct rt_ent *e, *tmp;

	cds_list_for_each_entry_safe(e, tmp, &n->subs, link) {
		if (r->params.release != NULL)
			r->params.release(e->sub);
		free(e);
	}
	ptrhash_fini(&n->byset);
	topic_level_index_free(n->children);
	free(n);
}

void router_destroy(struct router *r)
{
	struct rt_node *stack, *n;

	if (r == NULL)
		return;
	/* Let every pending release() and node free run before we return, so the
	 * caller can tear down what its subscribers point to. */
	rcu_barrier();

	/* Nothing else runs: every node goes at once, with no grace period, so the
	 * caller need not be a registered RCU thread (the broker tears down after
	 * unregistering). A stack threaded through <parent>, which nothing needs any
	 * more: pop a node, push its children, free it. */
	stack = r->root;
	stack->parent = NULL;
	while ((n = stack) != NULL) {
		struct topic_level_child *tc;
		uint32_t pos = 0;

		stack = n->parent;
		if (n->plus != NULL) {
			n->plus->parent = stack;
			stack = n->plus;
		}
		if (n->hash != NULL) {
			n->hash->parent = stack;
			stack = n->hash;
		}
		while ((tc = topic_level_next_child(n->children, &pos)) != NULL) {
			struct rt_node *c = container_of(tc, struct rt_node, tl);

			c->parent = stack;
			stack = c;
		}
		rt_node_destroy_now(r, n);
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int router_subscribe(struct router *r, const char *filter, size_t len, void *sub,
		     uint8_t qos)
{
	struct rt_node *n;
	const char *p = filter, *end = filter + len;
	int rc;

	pthread_mutex_lock(&r->lock);
	rcu_read_lock();
	n = r->root;
	for (;;) {
		const char *lend = topic_level_end(p, end);
		struct rt_node *c = rt_child_get(n, p, (size_t)(lend - p));

		if (c == NULL) {
			rc = -ENOMEM;
			goto out_prune;	/* drop the empty nodes made so far */
		}
		n = c;
		if (lend == end)
			break;
		p = lend + 1;
	}
	rc = rt_subs_put(r, n, sub, qos);
out_prune:
	if (rc < 0)
		rt_prune(n);
	rcu_read_unlock();
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int router_unsubscribe(struct router *r, const char *filter, size_t len, void *sub)
{
	struct rt_node *n;
	int rc = -ENOENT;

	pthread_mutex_lock(&r->lock);
	rcu_read_lock();
	n = rt_find(r, filter, len);
	if (n != NULL) {
		rc = rt_subs_del(r, n, sub);
		if (rc == 0)
			rt_prune(n);
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&r->lock);
	return rc;
}

size_t router_count(const struct router *r)
{
	return atomic_load_explicit(&r->count, memory_order_relaxed);
}

/* ---- matching (readers) ---- */

/* A pending branch of the walk: <node> reached with the name left at <s> (NULL once
 * every level is consumed). */
struct rt_frame {
	struct rt_node *node;
	const char *s;
	size_t rem;
};

/* Per-thread scratch, grown on demand and kept: after warm-up a match allocates
 * nothing. Freed by a thread-exit destructor. A router_match() nested in <fn> finds
 * it busy and uses a scratch of its own for that call. */
/* One collected report: a subscriber and its QoS on one matching filter. */
struct rt_hit {
	void *sub;
	uint8_t qos;
};

struct rt_scratch {
	struct rt_hit *ents;
	size_t ents_cap;
	uint32_t *slots;	/* dedup table: index + 1, 0 = empty */
	size_t slots_cap;
	struct rt_frame *stack;
	size_t stack_cap;
	bool registered;	/* thread-exit destructor armed */
	bool busy;		/* a router_match() on this thread is using it */
};

static __thread struct rt_scratch rt_tls;
static pthread_key_t rt_tls_key;
static pthread_once_t rt_tls_once = PTHREAD_ONCE_INIT;

static void rt_tls_free(void *p)
{
	struct rt_scratch *sc = p;

	free(sc->ents);
	free(sc->slots);
	free(sc->stack);
	memset(sc, 0, sizeof(*sc));
}

static void rt_tls_key_init(void)
{
	if (pthread_key_create(&rt_tls_key, rt_tls_free) != 0)
		abort();	/* out of keys at start-up: nothing sensible to do */
}

/* Grows a scratch array of <sc> to hold at least <need> elements of <size> bytes. */
static bool rt_tls_grow(struct rt_scratch *sc, void **arr, size_t *cap, size_t need,
			size_t size)
{
	size_t ncap = *cap != 0 ? *cap : 64;
	void *p;

	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = ncap;
	if (sc == &rt_tls && !sc->registered) {
		pthread_once(&rt_tls_once, rt_tls_key_init);
		pthread_setspecific(rt_tls_key, sc);
		sc->registered = true;
	}
	return true;
}

struct rt_walk {
	struct rt_scratch *sc;
	size_t nents;
	size_t direct;		/* reported during the walk (scratch could not grow) */
	router_match_fn *fn;
	void *arg;
};

static void rt_collect(struct rt_walk *w, struct rt_node *node)
{
	struct rt_scratch *sc = w->sc;
	struct rt_ent *e;

	cds_list_for_each_entry_rcu(e, &node->subs, link) {
		uint8_t qos = atomic_load_explicit(&e->qos, memory_order_relaxed);

		if (unlikely(w->nents == sc->ents_cap) &&
		    !rt_tls_grow(sc, (void **)&sc->ents, &sc->ents_cap, w->nents + 1,
				 sizeof(sc->ents[0]))) {
			/* Out of memory: deliver without de-duplication rather than drop. */
			w->fn(w->arg, e->sub, qos);
			w->direct++;
			continue;
		}
		sc->ents[w->nents].sub = e->sub;
		sc->ents[w->nents].qos = qos;
		w->nents++;
	}
}

/* Marks duplicates (qos |= RT_DUP) and keeps the highest QoS in the first copy. */
#define RT_DUP 0x80

static void rt_dedup_small(struct rt_hit *e, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (e[j].sub == e[i].sub && !(e[j].qos & RT_DUP)) {
				if (e[i].qos > e[j].qos)
					e[j].qos = e[i].qos;
				e[i].qos |= RT_DUP;
				break;
			}
		}
	}
}

static inline size_t rt_ptr_hash(const void *p, unsigned shift)
{
	return (size_t)(((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull) >> shift);
}

/* Open addressing over a table of at least 2n slots: linear in n. Returns false if
 * the table could not be grown (the caller then falls back to the quadratic scan). */
static bool rt_dedup_hash(struct rt_scratch *sc, struct rt_hit *e, size_t n)
{
	size_t size = 16, mask, i;
	unsigned shift = 60;

	while (size < 2 * n) {
		size *= 2;
		shift--;
	}
	if (size > sc->slots_cap &&
	    !rt_tls_grow(sc, (void **)&sc->slots, &sc->slots_cap, size,
			 sizeof(sc->slots[0])))
		return false;
	memset(sc->slots, 0, size * sizeof(sc->slots[0]));
	mask = size - 1;
	for (i = 0; i < n; i++) {
		size_t h = rt_ptr_hash(e[i].sub, shift);

		for (;;) {
			uint32_t s = sc->slots[h];

			if (s == 0) {
				sc->slots[h] = (uint32_t)i + 1;
				break;
			}
			if (e[s - 1].sub == e[i].sub) {
				if (e[i].qos > e[s - 1].qos)
					e[s - 1].qos = e[i].qos;
				e[i].qos |= RT_DUP;
				break;
			}
			h = (h + 1) & mask;
		}
	}
	return true;
}

static bool rt_push(struct rt_scratch *sc, size_t *sp, struct rt_node *node,
		    const char *s, size_t rem)
{
	if (unlikely(*sp == sc->stack_cap) &&
	    !rt_tls_grow(sc, (void **)&sc->stack, &sc->stack_cap, *sp + 1,
			 sizeof(sc->stack[0])))
		return false;	/* out of memory: this branch is lost */
	sc->stack[*sp].node = node;
	sc->stack[*sp].s = s;
	sc->stack[*sp].rem = rem;
	(*sp)++;
	return true;
}

size_t router_match(struct router *r, const char *topic, size_t len,
		    router_match_fn *fn, void *arg)
{
	struct rt_scratch nested = { 0 };
	struct rt_scratch *sc = rt_tls.busy ? &nested : &rt_tls;
	struct rt_walk w = { .sc = sc, .nents = 0, .direct = 0, .fn = fn, .arg = arg };
	struct rt_node *root = r->root;
	/* MQTT-4.7.2-1: no wildcard at the first level matches a '$' name. */
	bool dollar = len > 0 && topic[0] == '$';
	size_t sp = 0, i, reported = 0;

	sc->busy = true;
	if (!rt_push(sc, &sp, root, topic, len))
		goto out;
	while (sp > 0) {
		struct rt_frame f = sc->stack[--sp];
		bool wild_ok = !(dollar && f.node == root);
		struct rt_node *c;
		struct rt_node *lit;
		const char *next;
		size_t llen, nrem;

		/* '#' matches this level's parent too: "sport/#" matches "sport". */
		if (wild_ok && (c = rcu_dereference(f.node->hash)) != NULL)
			rt_collect(&w, c);
		if (f.s == NULL) {
			rt_collect(&w, f.node);
			continue;
		}
		llen = topic_level_next(f.s, f.rem, &next, &nrem);
		lit = rt_child_lookup(rcu_dereference(f.node->children), f.s, llen,
				      topic_level_hash(f.s, llen));
		if (lit != NULL)
			rt_push(sc, &sp, lit, next, nrem);
		if (wild_ok) {
			struct rt_node *plus = rcu_dereference(f.node->plus);

			if (plus != NULL)
				rt_push(sc, &sp, plus, next, nrem);
		}
	}

	/* MQTT-3.3.5-1: one report per subscriber, at its highest QoS. */
	if (w.nents > 1) {
		if (w.nents <= 8 || w.nents > UINT32_MAX - 1 ||
		    !rt_dedup_hash(sc, sc->ents, w.nents))
			rt_dedup_small(sc->ents, w.nents);
	}
	reported = w.direct;
	for (i = 0; i < w.nents; i++) {
		if (sc->ents[i].qos & RT_DUP)
			continue;
		fn(arg, sc->ents[i].sub, sc->ents[i].qos);
		reported++;
	}
out:
	sc->busy = false;
	if (sc == &nested)
		rt_tls_free(sc);
	return reported;
}
