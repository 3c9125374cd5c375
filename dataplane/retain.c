/* retain.c - retained messages (MQTT-3.3.1-5..11) in a topic trie read under
 * urcu-qsbr (DESIGN.md "Shared structures (RCU)"), matched against SUBSCRIBE filters
 * per MQTT 3.1.1 section 4.7.
 *
 * Owns: the trie nodes and one reference on every stored message. A node stands for
 * one topic level of a retained topic name; its children (literal levels only, names
 * carry no wildcards) sit in a child index (topic_level.h) that exists while there
 * are any, and its <msg> slot is an RCU pointer. Replacing or deleting a message
 * publishes the new slot value and drops the old reference a grace period later
 * (call_rcu), so a reader inside rcu_read_lock() may use what it found and take its
 * own reference. A node with no message and no children is unlinked at once and
 * freed after a grace period.
 *
 * Writers serialise on rs->lock; readers take no lock. Thread rules: retain.h.
 */
/* Inlines rcu_dereference() & co: allowed for code under any licence (liburcu README). */
#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu-qsbr.h>

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/compiler.h"
#include "petrel/msg.h"
#include "petrel/retain.h"
#include "petrel/topic_level.h"

struct rs_node {
	struct rcu_head rcu;
	struct rs_node *parent;		/* writer only; NULL at the root */
	struct topic_level_index *children;	/* RCU; NULL while no child */
	struct msg *msg;		/* RCU; the retained message of this topic */
	/* Hash and length of <level>; what parent->children holds (not at the root). */
	struct topic_level_child tl;
	char level[];
};
TOPIC_LEVEL_CHILD_LAYOUT(struct rs_node, tl, level);

struct retain_store {
	pthread_mutex_t lock;		/* serialises writers */
	struct rs_node *root;		/* the level above the first; never holds a msg */
	atomic_size_t count;
};

/* The old message of a slot, unreferenced once no reader can still see it. struct
 * msg has no rcu_head of its own, so a replacement allocates this before it
 * touches the trie. */
struct rs_unref {
	struct rcu_head rcu;
	struct msg *m;
};

/* The child of level <s>/<len> in <idx>, or NULL. Readers: inside rcu_read_lock(),
 * <idx> read with rcu_dereference(). The writer: any time. */
static struct rs_node *rs_child_lookup(const struct topic_level_index *idx, const char *s,
				       size_t len)
{
	struct topic_level_child *c = topic_level_lookup(idx, s, len,
							 topic_level_hash(s, len));

	return c != NULL ? container_of(c, struct rs_node, tl) : NULL;
}

static struct rs_node *rs_node_alloc(struct rs_node *parent, const char *level,
				     size_t len)
{
	struct rs_node *n = malloc(sizeof(*n) + len + 1);

	if (n == NULL)
		return NULL;
	n->parent = parent;
	n->children = NULL;
	n->msg = NULL;
	n->tl.hash = topic_level_hash(level, len);
	n->tl.len = (uint32_t)len;
	memcpy(n->level, level, len);
	n->level[len] = '\0';
	return n;
}

/* Runs a grace period after the node left the trie, childless (its index, if it
 * had one, went with its last child). */
static void rs_node_free_cb(struct rcu_head *head)
{
	struct rs_node *n = container_of(head, struct rs_node, rcu);

	assert(n->children == NULL);
	free(n);
}

static void rs_unref_cb(struct rcu_head *head)
{
	struct rs_unref *u = container_of(head, struct rs_unref, rcu);

	msg_unref(u->m);
	free(u);
}

/* Writer. The child of <parent> named by one level, created if <create>. */
static struct rs_node *rs_child_get(struct rs_node *parent, const char *s, size_t len,
				    bool create)
{
	struct rs_node *c = rs_child_lookup(parent->children, s, len);

	if (c != NULL || !create)
		return c;
	c = rs_node_alloc(parent, s, len);
	if (c == NULL)
		return NULL;
	if (topic_level_insert(&parent->children, &c->tl) < 0) {	/* publishes *c */
		free(c);	/* never visible */
		return NULL;
	}
	return c;
}

/* Writer. Walks (and with <create>, builds) the path of topic name <t>. On a failed
 * create, *last is the deepest node reached so the caller can prune it. */
static struct rs_node *rs_walk(struct retain_store *rs, const char *t, size_t len,
			       bool create, struct rs_node **last)
{
	struct rs_node *n = rs->root;
	const char *p = t, *end = t + len;

	for (;;) {
		const char *lend = topic_level_end(p, end);
		struct rs_node *c = rs_child_get(n, p, (size_t)(lend - p), create);

		if (c == NULL) {
			*last = n;
			return NULL;
		}
		n = c;
		if (lend == end)
			break;
		p = lend + 1;
	}
	*last = n;
	return n;
}

/* Writer. Unlinks <n> and its ancestors while they are empty; frees them after a
 * grace period. */
static void rs_prune(struct rs_node *n)
{
	while (n->parent != NULL && n->msg == NULL && n->children == NULL) {
		struct rs_node *parent = n->parent;

		topic_level_delete(&parent->children, &n->tl);
		call_rcu(&n->rcu, rs_node_free_cb);
		n = parent;
	}
}

struct retain_store *retain_create(void)
{
	struct retain_store *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	atomic_init(&rs->count, 0);
	if (pthread_mutex_init(&rs->lock, NULL) != 0)
		goto err_free_store;
	rs->root = rs_node_alloc(NULL, "", 0);
	if (rs->root == NULL)
		goto err_destroy_lock;
	return rs;

err_destroy_lock:
	pthread_mutex_destroy(&rs->lock);
err_free_store:
	free(rs);
	return NULL;
}

void retain_destroy(struct retain_store *rs)
{
	struct rs_node *stack, *n;

	if (rs == NULL)
		return;
	/* Replaced messages still waiting for their grace period are dropped too. */
	rcu_barrier();

	/* Nothing else runs: every node goes at once, with no grace period, so the
	 * caller need not be RCU-registered. A stack threaded through <parent>, which
	 * nothing needs any more: pop a node, push its children, free it. */
	stack = rs->root;
	stack->parent = NULL;
	while ((n = stack) != NULL) {
		struct topic_level_child *tc;
		uint32_t pos = 0;

		stack = n->parent;
		while ((tc = topic_level_next_child(n->children, &pos)) != NULL) {
			struct rs_node *c = container_of(tc, struct rs_node, tl);

			c->parent = stack;
			stack = c;
		}
		msg_unref(n->msg);
		topic_level_index_free(n->children);
		free(n);
	}
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

int retain_set(struct retain_store *rs, struct msg *m)
{
	return retain_set_logged(rs, m, NULL, NULL);
}

int retain_set_logged(struct retain_store *rs, struct msg *m, retain_log_fn *log,
		      void *arg)
{
	struct rs_unref *u;
	struct rs_node *n, *last;
	struct msg *old;
	int rc = 0;

	u = malloc(sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&rs->lock);
	rcu_read_lock();
	if (m->payload_len == 0) {
		/* MQTT-3.3.1-10/11: a zero-length payload deletes and is not kept. */
		n = rs_walk(rs, m->topic, m->topic_len, false, &last);
		if (n == NULL || n->msg == NULL) {
			free(u);
			goto out_unlock;
		}
		if (log != NULL && (rc = log(arg, m)) < 0) {
			free(u);
			goto out_unlock;
		}
		old = n->msg;
		rcu_assign_pointer(n->msg, NULL);
		atomic_fetch_sub_explicit(&rs->count, 1, memory_order_relaxed);
		rs_prune(n);
	} else {
		/* Before the walk creates nodes: a refusal has nothing to undo. */
		if (log != NULL && (rc = log(arg, m)) < 0) {
			free(u);
			goto out_unlock;
		}
		n = rs_walk(rs, m->topic, m->topic_len, true, &last);
		if (n == NULL) {
			rs_prune(last);	/* drop the empty nodes made so far */
			rcu_read_unlock();
			pthread_mutex_unlock(&rs->lock);
			free(u);
			return -ENOMEM;
		}
		old = n->msg;
		/* MQTT-3.3.1-5: replaces any previous retained message of the topic. */
		rcu_assign_pointer(n->msg, msg_ref(m));
		if (old == NULL) {
			atomic_fetch_add_explicit(&rs->count, 1, memory_order_relaxed);
			free(u);
			goto out_unlock;
		}
	}
	u->m = old;
	call_rcu(&u->rcu, rs_unref_cb);
out_unlock:
	rcu_read_unlock();
	pthread_mutex_unlock(&rs->lock);
	return rc;
}

size_t retain_count(const struct retain_store *rs)
{
	return atomic_load_explicit(&rs->count, memory_order_relaxed);
}

/* ---- matching (readers) ---- */

/* A pending branch: <node> reached with the filter left at <s> (NULL once every
 * level is consumed); <all> = report the whole subtree (after a '#'). */
struct rs_frame {
	struct rs_node *node;
	const char *s;
	size_t rem;
	bool all;
};

struct rs_stack {
	struct rs_frame *f;
	size_t n, cap;
	struct rs_frame inline_f[32];
};

static bool rs_push(struct rs_stack *st, struct rs_node *node, const char *s, size_t rem,
		    bool all)
{
	if (st->n == st->cap) {
		size_t ncap = st->cap * 2;
		struct rs_frame *p;

		if (st->f == st->inline_f) {
			p = malloc(ncap * sizeof(*p));
			if (p != NULL)
				memcpy(p, st->f, st->n * sizeof(*p));
		} else {
			p = realloc(st->f, ncap * sizeof(*p));
		}
		if (p == NULL)
			return false;	/* out of memory: this branch is not reported */
		st->f = p;
		st->cap = ncap;
	}
	st->f[st->n].node = node;
	st->f[st->n].s = s;
	st->f[st->n].rem = rem;
	st->f[st->n].all = all;
	st->n++;
	return true;
}

/* Pushes every child of <node>; MQTT-4.7.2-1: below the root, a wildcard never
 * reaches a level starting with '$'. */
static void rs_push_children(struct rs_stack *st, struct rs_node *node, bool is_root,
			     const char *s, size_t rem, bool all)
{
	const struct topic_level_index *idx = rcu_dereference(node->children);
	struct topic_level_child *tc;
	uint32_t pos = 0;

	while ((tc = topic_level_next_child(idx, &pos)) != NULL) {
		struct rs_node *c = container_of(tc, struct rs_node, tl);

		if (is_root && c->tl.len > 0 && c->level[0] == '$')
			continue;
		rs_push(st, c, s, rem, all);
	}
}

static size_t rs_report(struct rs_node *node, retain_match_fn *fn, void *arg)
{
	struct msg *m = rcu_dereference(node->msg);

	if (m == NULL)
		return 0;
	fn(arg, m);
	return 1;
}

size_t retain_match(struct retain_store *rs, const char *filter, size_t len,
		    retain_match_fn *fn, void *arg)
{
	struct rs_stack st;
	size_t reported = 0;

	st.f = st.inline_f;
	st.n = 0;
	st.cap = ARRAY_SIZE(st.inline_f);
	rs_push(&st, rs->root, filter, len, false);
	while (st.n > 0) {
		struct rs_frame f = st.f[--st.n];
		bool is_root = f.node == rs->root;
		const char *next;
		size_t llen, nrem;

		if (f.all) {
			reported += rs_report(f.node, fn, arg);
			rs_push_children(&st, f.node, is_root, NULL, 0, true);
			continue;
		}
		if (f.s == NULL) {
			reported += rs_report(f.node, fn, arg);
			continue;
		}
		llen = topic_level_next(f.s, f.rem, &next, &nrem);
		if (llen == 1 && f.s[0] == '#') {
			/* 4.7.1.2: '#' matches the parent level too ("a/#" gets "a"); the
			 * root stands for no topic and never holds a message. */
			reported += rs_report(f.node, fn, arg);
			rs_push_children(&st, f.node, is_root, NULL, 0, true);
		} else if (llen == 1 && f.s[0] == '+') {
			rs_push_children(&st, f.node, is_root, next, nrem, false);
		} else {
			struct rs_node *c;

			c = rs_child_lookup(rcu_dereference(f.node->children), f.s, llen);

			if (c != NULL)
				rs_push(&st, c, next, nrem, false);
		}
	}
	if (st.f != st.inline_f)
		free(st.f);
	return reported;
}
