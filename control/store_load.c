/* store_load.c - start-up: everything stored, handed to the caller's callbacks
 * (store.h), in one LMDB transaction with one cursor per database. Main thread,
 * before workers and the control plane start.
 *
 * sessions, subs, entries and rels all sort by sid first (store_format.h), so one
 * pass walks them side by side like a merge: per session its subscriptions, entries
 * (in msg_id order) and rel ids follow without a lookup. A record whose session is
 * missing is an orphan and is deleted on the way (the transaction is a write one for
 * that; it commits only if something was deleted). Each stored message becomes one
 * struct msg the first time something refers to it (a small open-addressing table by
 * id, the only allocation besides the messages), and its reference count is recounted:
 * a message nothing refers to is deleted, a wrong count rewritten, so the store cannot
 * keep what it lost track of. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "petrel/msg.h"
#include "petrel/store.h"
#include "store_format.h"

/* Messages by id, with the references counted during the load. */
struct load_msg {
	uint64_t id;            /* 0: free slot */
	struct msg *m;
	uint32_t refs;
};

struct load_table {
	struct load_msg *slot;
	size_t cap;             /* a power of two */
	size_t n;
};

static size_t load_home(const struct load_table *t, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & (t->cap - 1);
}

static struct load_msg *load_find(const struct load_table *t, uint64_t id)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = load_home(t, id); ; i = (i + 1) & (t->cap - 1)) {
		if (t->slot[i].id == id)
			return &t->slot[i];
		if (t->slot[i].id == 0)
			return NULL;
	}
}

static int load_grow(struct load_table *t)
{
	struct load_table nt = { .cap = t->cap != 0 ? t->cap * 2 : 1024 };

	nt.slot = calloc(nt.cap, sizeof(*nt.slot));
	if (nt.slot == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (t->slot[i].id == 0)
			continue;
		for (j = load_home(&nt, t->slot[i].id); nt.slot[j].id != 0;
		     j = (j + 1) & (nt.cap - 1))
			;
		nt.slot[j] = t->slot[i];
	}
	nt.n = t->n;
	free(t->slot);
	*t = nt;
	return 0;
}

static void load_table_free(struct load_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		msg_unref(t->slot[i].m);
	free(t->slot);
}

/* One cursor and the record it stands on (rc != 0: past the end). */
struct load_cur {
	MDB_cursor *c;
	MDB_val k, v;
	int rc;
};

struct loader {
	struct store *st;
	MDB_txn *txn;
	const struct store_load_ops *ops;
	void *arg;
	struct store_load_stats *stats;
	struct load_table msgs;
	struct load_cur cur[STORE_DB_N];
	bool dirty;             /* something deleted: commit */
};

static int load_next(struct load_cur *lc)
{
	lc->rc = mdb_cursor_get(lc->c, &lc->k, &lc->v, MDB_NEXT);
	return lc->rc == MDB_NOTFOUND ? 0 : lc->rc;
}

/* Deletes the record <lc> stands on and moves to the next one. */
static int load_drop(struct loader *l, struct load_cur *lc)
{
	int rc = mdb_cursor_del(lc->c, 0);

	if (rc != 0)
		return rc;
	l->dirty = true;
	l->stats->orphans_deleted++;
	return load_next(lc);
}

/* The message <id> as one struct msg, read from msgs the first time; NULL if it is not
 * stored (*rc 0) or on an error (*rc set). Counts the reference. */
static struct msg *load_msg_ref(struct loader *l, uint64_t id, int *rc)
{
	struct load_msg *e = load_find(&l->msgs, id);
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	struct msg *m;
	bool bad;

	*rc = 0;
	if (e != NULL) {
		e->refs++;
		return e->m;
	}
	store_put_be64(kb, id);
	*rc = mdb_get(l->txn, l->st->dbi[STORE_DB_MSGS], &k, &v);
	if (*rc != 0) {
		if (*rc == MDB_NOTFOUND)
			*rc = 0;
		return NULL;
	}
	m = store_msg_val_read(&v, id, &bad);
	if (m == NULL) {
		*rc = bad ? 0 : ENOMEM;
		return NULL;
	}
	if ((l->msgs.n + 1) * 4 > l->msgs.cap * 3 && load_grow(&l->msgs) < 0) {
		msg_unref(m);
		*rc = ENOMEM;
		return NULL;
	}
	for (size_t i = load_home(&l->msgs, id); ; i = (i + 1) & (l->msgs.cap - 1)) {
		if (l->msgs.slot[i].id == 0) {
			l->msgs.slot[i] = (struct load_msg){ id, m, 1 };
			break;
		}
	}
	l->msgs.n++;
	return m;
}

/* A callback's result: < 0 stops the load with it, anything else goes on. */
static int load_cb(int r)
{
	return r < 0 ? r : 0;
}

/* Calls back for the record <lc> stands on, of session <sid>. Returns 0, a callback's
 * value (< 0), or an LMDB or errno code (> 0 or MDB_*), and sets *orphan when the
 * record must go. */
static int load_sub(struct loader *l, uint64_t sid, struct load_cur *lc, bool *orphan)
{
	const uint8_t *k = lc->k.mv_data, *v = lc->v.mv_data;
	const char *f;
	size_t len;

	if (lc->k.mv_size <= 8 || lc->v.mv_size < 1 || v[0] > 2) {
		*orphan = true;
		return 0;
	}
	f = (const char *)k + 8;
	len = lc->k.mv_size - 8;
	if (k[8] == STORE_KEY_HASHED) {
		f = (const char *)v + 1;
		len = lc->v.mv_size - 1;
	}
	l->stats->subs++;
	return load_cb(l->ops->sub(l->arg, sid, f, len, v[0]));
}

static int load_entry(struct loader *l, uint64_t sid, struct load_cur *lc, bool *orphan)
{
	const uint8_t *v = lc->v.mv_data;
	struct msg *m;
	int rc;

	if (lc->k.mv_size != 16 || lc->v.mv_size != STORE_ENTRY_VAL_LEN) {
		*orphan = true;
		return 0;
	}
	m = load_msg_ref(l, store_get_be64((const uint8_t *)lc->k.mv_data + 8), &rc);
	if (m == NULL) {
		*orphan = rc == 0;
		return rc;
	}
	l->stats->entries++;
	return load_cb(l->ops->entry(l->arg, sid, m, v[0], v[1] != 0, store_get_be16(v + 2),
				      v[4]));
}

static int load_rel(struct loader *l, uint64_t sid, struct load_cur *lc, bool *orphan)
{
	if (lc->k.mv_size != 10) {
		*orphan = true;
		return 0;
	}
	l->stats->rels++;
	return load_cb(l->ops->rel(l->arg, sid,
				    store_get_be16((const uint8_t *)lc->k.mv_data + 8)));
}

typedef int load_rec_fn(struct loader *l, uint64_t sid, struct load_cur *lc, bool *orphan);

/* Walks <db>'s records up to those of session <sid>: those before belong to no
 * session and are deleted, those of <sid> (when <live>) go to <fn>. <sid> UINT64_MAX
 * with !<live> drops all that remain. */
static int load_walk(struct loader *l, enum store_db db, uint64_t sid, bool live,
		     load_rec_fn *fn)
{
	struct load_cur *lc = &l->cur[db];
	int rc = 0;

	while (rc == 0 && lc->rc == 0) {
		uint64_t ksid = lc->k.mv_size >= 8 ? store_get_be64(lc->k.mv_data) : 0;
		bool orphan = false;

		if (ksid > sid)
			break;
		if (ksid == sid && live) {
			rc = fn(l, sid, lc, &orphan);
			if (rc != 0)
				break;
		} else {
			orphan = true;
		}
		rc = orphan ? load_drop(l, lc) : load_next(lc);
	}
	return rc;
}

static int load_sessions(struct loader *l)
{
	static const struct {
		enum store_db db;
		load_rec_fn *fn;
	} parts[] = {
		{ STORE_DB_SUBS, load_sub },
		{ STORE_DB_ENTRIES, load_entry },
		{ STORE_DB_RELS, load_rel },
	};
	struct load_cur *s = &l->cur[STORE_DB_SESSIONS];
	int rc = 0;

	while (rc == 0 && s->rc == 0) {
		uint64_t sid;

		if (s->k.mv_size != 8 || s->v.mv_size < 8) {
			rc = load_drop(l, s);
			continue;
		}
		sid = store_get_be64(s->k.mv_data);
		l->stats->sessions++;
		if (sid > l->stats->max_sid)
			l->stats->max_sid = sid;
		rc = load_cb(l->ops->session(l->arg, sid, (const char *)s->v.mv_data + 8,
					     s->v.mv_size - 8, store_get_be64(s->v.mv_data)));
		for (size_t i = 0; rc == 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
			rc = load_walk(l, parts[i].db, sid, true, parts[i].fn);
		if (rc == 0)
			rc = load_next(s);
	}
	/* What is left belongs to no session. */
	for (size_t i = 0; rc == 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
		rc = load_walk(l, parts[i].db, UINT64_MAX, false, parts[i].fn);
	return rc;
}

static int load_retained(struct loader *l)
{
	struct load_cur *lc = &l->cur[STORE_DB_RETAINED];
	int rc = 0;

	while (rc == 0 && lc->rc == 0) {
		struct msg *m = NULL;

		if (lc->v.mv_size >= 8)
			m = load_msg_ref(l, store_get_be64(lc->v.mv_data), &rc);
		if (rc != 0)
			break;
		if (m == NULL) {
			rc = load_drop(l, lc);
			continue;
		}
		l->stats->retained++;
		rc = load_cb(l->ops->retained(l->arg, m));
		if (rc == 0)
			rc = load_next(lc);
	}
	return rc;
}

/* msgs and refs against the references counted: unreferenced messages go, counts
 * that disagree are rewritten. */
static int load_recount(struct loader *l)
{
	struct load_cur *lc = &l->cur[STORE_DB_MSGS];
	uint8_t vb[4];
	MDB_val v = { 4, vb };
	int rc = 0;

	while (rc == 0 && lc->rc == 0) {
		uint64_t id = lc->k.mv_size == 8 ? store_get_be64(lc->k.mv_data) : 0;

		if (id > l->stats->max_msg_id)
			l->stats->max_msg_id = id;
		rc = load_find(&l->msgs, id) == NULL ? load_drop(l, lc) : load_next(lc);
	}
	lc = &l->cur[STORE_DB_REFS];
	while (rc == 0 && lc->rc == 0) {
		const struct load_msg *e = NULL;

		if (lc->k.mv_size == 8)
			e = load_find(&l->msgs, store_get_be64(lc->k.mv_data));
		if (e == NULL) {
			rc = load_drop(l, lc);
			continue;
		}
		if (lc->v.mv_size != 4 || store_get_be32(lc->v.mv_data) != e->refs) {
			store_put_be32(vb, e->refs);
			rc = mdb_cursor_put(lc->c, &lc->k, &v, MDB_CURRENT);
			if (rc != 0)
				break;
			l->dirty = true;
		}
		rc = load_next(lc);
	}
	/* A message whose refs record was lost gets one. */
	for (size_t i = 0; rc == 0 && i < l->msgs.cap; i++) {
		uint8_t kb[8];
		MDB_val k = { 8, kb }, old;

		if (l->msgs.slot[i].id == 0)
			continue;
		store_put_be64(kb, l->msgs.slot[i].id);
		rc = mdb_get(l->txn, l->st->dbi[STORE_DB_REFS], &k, &old);
		if (rc != MDB_NOTFOUND)
			continue;
		store_put_be32(vb, l->msgs.slot[i].refs);
		rc = mdb_put(l->txn, l->st->dbi[STORE_DB_REFS], &k, &v, 0);
		l->dirty = true;
	}
	return rc;
}

static int load_open_cursors(struct loader *l)
{
	for (int i = STORE_DB_SESSIONS; i < STORE_DB_N; i++) {
		struct load_cur *lc = &l->cur[i];
		int rc = mdb_cursor_open(l->txn, l->st->dbi[i], &lc->c);

		if (rc != 0)
			return rc;
		lc->rc = mdb_cursor_get(lc->c, &lc->k, &lc->v, MDB_FIRST);
		if (lc->rc != 0 && lc->rc != MDB_NOTFOUND)
			return lc->rc;
	}
	return 0;
}

static uint64_t load_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int store_load(struct store *st, const struct store_load_ops *ops, void *arg,
	       struct store_load_stats *stats, char *err, size_t errlen)
{
	struct loader l = { .st = st, .ops = ops, .arg = arg, .stats = stats };
	uint64_t t0 = load_now_us();
	int rc;

	memset(stats, 0, sizeof(*stats));
	rc = mdb_txn_begin(st->env, NULL, 0, &l.txn);
	if (rc != 0)
		goto err;
	rc = load_open_cursors(&l);
	if (rc == 0)
		rc = load_sessions(&l);
	if (rc == 0)
		rc = load_retained(&l);
	if (rc == 0)
		rc = load_recount(&l);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	for (int i = 0; i < STORE_DB_N; i++)
		if (l.cur[i].c != NULL)
			mdb_cursor_close(l.cur[i].c);
	if (rc == 0 && l.dirty)
		rc = mdb_txn_commit(l.txn);
	else
		mdb_txn_abort(l.txn);
	stats->msgs = l.msgs.n;
	load_table_free(&l.msgs);
	if (rc != 0)
		goto err;
	if (st->max_sid > stats->max_sid)
		stats->max_sid = st->max_sid;
	if (st->max_msg_id > stats->max_msg_id)
		stats->max_msg_id = st->max_msg_id;
	stats->elapsed_us = load_now_us() - t0;
	return 0;

err:
	if (rc < 0 && (rc < MDB_KEYEXIST || rc > MDB_LAST_ERRCODE)) {
		/* A callback's own -errno: it said why. */
		snprintf(err, errlen, "store %s: load stopped: %s", st->path, strerror(-rc));
		return rc;
	}
	snprintf(err, errlen, "store %s: cannot load: %s", st->path, mdb_strerror(rc));
	return store_errno(rc);
}
