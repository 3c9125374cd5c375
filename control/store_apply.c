/* store_apply.c - group commit: the workers' change records (persist.h) applied in
 * order in one LMDB write transaction (layout: store_format.h). Control-plane thread.
 *
 * All or nothing: any LMDB error aborts the transaction, so a batch is either wholly
 * in the store or not at all and stays the caller's to retry. Records that refer to a
 * session that is gone are skipped (its SESSION_DEL was applied before them: the queue
 * is in causal order, persist.h), as is an ENTRY_PUT for an entry that exists, so a
 * message never gets a reference twice. Messages and their reference counts:
 * store_msg.c. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/store.h"
#include "store_format.h"

/* One write transaction's state. */
struct store_txn {
	struct store *st;
	MDB_txn *txn;
	uint64_t live_sid;      /* a sid known to exist in this txn (0: none) */
	uint64_t max_sid;
	uint64_t max_msg_id;
};

static const char *store_rec_str(const struct persist_batch *b, const struct persist_rec *r)
{
	return r->str_len != 0 ? b->arena + r->str_off : "";
}

/* Whether session <sid> exists: 0 yes, MDB_NOTFOUND no, else an error. */
static int store_session_exists(struct store_txn *t, uint64_t sid)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	int rc;

	if (sid != 0 && sid == t->live_sid)
		return 0;
	store_put_be64(kb, sid);
	rc = mdb_get(t->txn, t->st->dbi[STORE_DB_SESSIONS], &k, &v);
	if (rc == 0)
		t->live_sid = sid;
	return rc;
}

static int store_session_put(struct store_txn *t, const struct persist_batch *b,
			     const struct persist_rec *r)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v = { 8 + r->str_len, NULL };
	int rc;

	store_put_be64(kb, r->sid);
	rc = mdb_put(t->txn, t->st->dbi[STORE_DB_SESSIONS], &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	store_put_be64(v.mv_data, r->time_ms);
	memcpy((uint8_t *)v.mv_data + 8, store_rec_str(b, r), r->str_len);
	t->live_sid = r->sid;
	if (r->sid > t->max_sid)
		t->max_sid = r->sid;
	return 0;
}

/* Deletes every record of <db> whose key starts with the 8 bytes <prefix>, dropping
 * the message reference of each when <db> is entries. */
static int store_del_prefix(struct store_txn *t, enum store_db db, const uint8_t *prefix)
{
	MDB_cursor *c;
	MDB_val k = { 8, store_unconst(prefix) }, v;
	int rc;

	rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, prefix, 8) == 0) {
		if (db == STORE_DB_ENTRIES && k.mv_size == 16) {
			rc = store_ref_drop(t->st, t->txn,
					    store_get_be64((uint8_t *)k.mv_data + 8));
			if (rc != 0)
				break;
		}
		/* After a delete the cursor stands on the next record; MDB_NEXT then
		 * returns that one (mdb_cursor_next's C_DEL case). */
		rc = mdb_cursor_del(c, 0);
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

static int store_session_del(struct store_txn *t, const struct persist_rec *r)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb };
	int rc;

	store_put_be64(kb, r->sid);
	if (t->live_sid == r->sid)
		t->live_sid = 0;
	rc = mdb_del(t->txn, t->st->dbi[STORE_DB_SESSIONS], &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	rc = store_del_prefix(t, STORE_DB_SUBS, kb);
	if (rc == 0)
		rc = store_del_prefix(t, STORE_DB_ENTRIES, kb);
	if (rc == 0)
		rc = store_del_prefix(t, STORE_DB_RELS, kb);
	return rc;
}

/* A sub key: sid + key(filter). Returns its length or < 0 (-EIO). */
static int store_sub_key(uint8_t *kb, uint64_t sid, const char *f, size_t len, bool *hashed)
{
	int n;

	store_put_be64(kb, sid);
	n = store_key_str(kb + 8, f, len, hashed);
	return n < 0 ? n : 8 + n;
}

static int store_sub_put(struct store_txn *t, const struct persist_batch *b,
			 const struct persist_rec *r)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k, v;
	bool hashed;
	int n, rc;

	rc = store_session_exists(t, r->sid);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	n = store_sub_key(kb, r->sid, store_rec_str(b, r), r->str_len, &hashed);
	if (n < 0)
		return -n;
	k = (MDB_val){ (size_t)n, kb };
	v = (MDB_val){ 1 + (hashed ? r->str_len : 0), NULL };
	rc = mdb_put(t->txn, t->st->dbi[STORE_DB_SUBS], &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	*(uint8_t *)v.mv_data = r->qos;
	if (hashed)
		memcpy((uint8_t *)v.mv_data + 1, store_rec_str(b, r), r->str_len);
	return 0;
}

static int store_sub_del(struct store_txn *t, const struct persist_batch *b,
			 const struct persist_rec *r)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k;
	bool hashed;
	int n, rc;

	n = store_sub_key(kb, r->sid, store_rec_str(b, r), r->str_len, &hashed);
	if (n < 0)
		return -n;
	k = (MDB_val){ (size_t)n, kb };
	rc = mdb_del(t->txn, t->st->dbi[STORE_DB_SUBS], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint64_t store_rec_msg_id(const struct persist_rec *r)
{
	if (r->msg_id != 0 || r->m == NULL)
		return r->msg_id;
	return atomic_load_explicit(&r->m->store_id, memory_order_relaxed);
}

static void store_entry_key(uint8_t *kb, uint64_t sid, uint64_t msg_id)
{
	store_put_be64(kb, sid);
	store_put_be64(kb + 8, msg_id);
}

static int store_entry_put(struct store_txn *t, const struct persist_rec *r)
{
	uint8_t kb[16], vb[STORE_ENTRY_VAL_LEN] = { r->qos, r->retain, 0, 0, 0 };
	uint64_t id = store_rec_msg_id(r);
	MDB_val k = { 16, kb }, v = { sizeof(vb), vb };
	int rc;

	/* persist_entry_put always gives a message with its id. */
	assert(r->m != NULL && id != 0);
	if (r->m == NULL || id == 0)
		return 0;
	rc = store_session_exists(t, r->sid);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	store_entry_key(kb, r->sid, id);
	rc = mdb_put(t->txn, t->st->dbi[STORE_DB_ENTRIES], &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return 0;
	if (rc != 0)
		return rc;
	if (id > t->max_msg_id)
		t->max_msg_id = id;
	return store_ref_add(t->st, t->txn, id, r->m);
}

static int store_entry_state(struct store_txn *t, const struct persist_rec *r)
{
	uint8_t kb[16], vb[STORE_ENTRY_VAL_LEN];
	MDB_val k = { 16, kb }, v;
	int rc;

	store_entry_key(kb, r->sid, r->msg_id);
	rc = mdb_get(t->txn, t->st->dbi[STORE_DB_ENTRIES], &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (v.mv_size >= 2)
		memcpy(vb, v.mv_data, 2);
	else
		vb[0] = vb[1] = 0;
	store_put_be16(vb + 2, r->packet_id);
	vb[4] = r->state;
	v = (MDB_val){ sizeof(vb), vb };
	return mdb_put(t->txn, t->st->dbi[STORE_DB_ENTRIES], &k, &v, 0);
}

static int store_entry_del(struct store_txn *t, const struct persist_rec *r)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb };
	int rc;

	store_entry_key(kb, r->sid, r->msg_id);
	rc = mdb_del(t->txn, t->st->dbi[STORE_DB_ENTRIES], &k, NULL);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	return store_ref_drop(t->st, t->txn, r->msg_id);
}

static int store_rel(struct store_txn *t, const struct persist_rec *r, bool put)
{
	uint8_t kb[10];
	MDB_val k = { 10, kb }, v = { 0, kb };
	int rc;

	store_put_be64(kb, r->sid);
	store_put_be16(kb + 8, r->packet_id);
	if (!put) {
		rc = mdb_del(t->txn, t->st->dbi[STORE_DB_RELS], &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	rc = store_session_exists(t, r->sid);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	return mdb_put(t->txn, t->st->dbi[STORE_DB_RELS], &k, &v, 0);
}

/* Drops the retained slot of key <k>: its reference and the record. */
static int store_retained_clear(struct store_txn *t, MDB_val *k, uint64_t keep_id,
				bool *kept)
{
	MDB_val v;
	uint64_t old;
	int rc;

	*kept = false;
	rc = mdb_get(t->txn, t->st->dbi[STORE_DB_RETAINED], k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	old = v.mv_size >= 8 ? store_get_be64(v.mv_data) : 0;
	if (old != 0 && old == keep_id) {
		*kept = true;
		return 0;
	}
	rc = mdb_del(t->txn, t->st->dbi[STORE_DB_RETAINED], k, NULL);
	if (rc == 0 && old != 0)
		rc = store_ref_drop(t->st, t->txn, old);
	return rc;
}

static int store_retain(struct store_txn *t, const struct persist_batch *b,
			const struct persist_rec *r, bool put)
{
	uint8_t kb[STORE_KEY_INLINE_MAX];
	const char *topic = put ? (r->m != NULL ? r->m->topic : NULL) : store_rec_str(b, r);
	size_t len = put ? (r->m != NULL ? r->m->topic_len : 0) : r->str_len;
	uint64_t id = put ? store_rec_msg_id(r) : 0;
	MDB_val k, v;
	bool hashed, kept;
	int n, rc;

	assert(topic != NULL && (!put || id != 0));
	if (topic == NULL || (put && id == 0))
		return 0;
	n = store_key_str(kb, topic, len, &hashed);
	if (n < 0)
		return -n;
	k = (MDB_val){ (size_t)n, kb };
	rc = store_retained_clear(t, &k, id, &kept);
	if (rc != 0 || !put || kept)
		return rc;
	v = (MDB_val){ 8 + (hashed ? len : 0), NULL };
	rc = mdb_put(t->txn, t->st->dbi[STORE_DB_RETAINED], &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	store_put_be64(v.mv_data, id);
	if (hashed)
		memcpy((uint8_t *)v.mv_data + 8, topic, len);
	if (id > t->max_msg_id)
		t->max_msg_id = id;
	return store_ref_add(t->st, t->txn, id, r->m);
}

static int store_apply_rec(struct store_txn *t, const struct persist_batch *b,
			   const struct persist_rec *r)
{
	switch (r->type) {
	case PREC_SESSION_PUT:
		return store_session_put(t, b, r);
	case PREC_SESSION_DEL:
		return store_session_del(t, r);
	case PREC_SUB_PUT:
		return store_sub_put(t, b, r);
	case PREC_SUB_DEL:
		return store_sub_del(t, b, r);
	case PREC_ENTRY_PUT:
		return store_entry_put(t, r);
	case PREC_ENTRY_STATE:
		return store_entry_state(t, r);
	case PREC_ENTRY_DEL:
		return store_entry_del(t, r);
	case PREC_REL_PUT:
		return store_rel(t, r, true);
	case PREC_REL_DEL:
		return store_rel(t, r, false);
	case PREC_RETAIN_PUT:
		return store_retain(t, b, r, true);
	case PREC_RETAIN_DEL:
		return store_retain(t, b, r, false);
	}
	assert(!"unknown persist record type");
	return 0;
}

/* Entries deleted later in the same transaction: (sid, msg_id) -> the index of the
 * last ENTRY_DEL. An ENTRY_PUT or ENTRY_STATE of an entry with an ENTRY_DEL after it
 * is skipped, which leaves the store exactly as applying all of them would: the
 * entry ends deleted, its message reference dropped if it had one before, and a
 * message stored only for it is never written. A QoS 1 copy acknowledged within one
 * group commit then costs one lookup instead of about ten B-tree operations. */
struct store_dels {
	struct store_del {
		uint64_t sid;
		uint64_t msg_id;        /* 0: free slot */
		size_t last;
	} *slot;
	size_t mask;
};

static size_t store_dels_home(const struct store_dels *d, uint64_t sid, uint64_t msg_id)
{
	return (size_t)((sid * 0x9e3779b97f4a7c15ull ^ msg_id * 0xc2b2ae3d27d4eb4full) >> 20) &
	       d->mask;
}

/* Builds the table; without memory it stays empty (nothing skipped). */
static void store_dels_build(struct store_dels *d, struct persist_batch *const *batches,
			     size_t n)
{
	size_t ndel = 0, cap = 16, idx = 0;

	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < batches[i]->n; j++)
			ndel += batches[i]->recs[j].type == PREC_ENTRY_DEL;
	if (ndel == 0)
		return;
	while (cap < ndel * 2)
		cap *= 2;
	d->slot = calloc(cap, sizeof(*d->slot));
	if (d->slot == NULL)
		return;
	d->mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < batches[i]->n; j++, idx++) {
			const struct persist_rec *r = &batches[i]->recs[j];
			size_t h;

			if (r->type != PREC_ENTRY_DEL || r->msg_id == 0)
				continue;
			for (h = store_dels_home(d, r->sid, r->msg_id); d->slot[h].msg_id != 0;
			     h = (h + 1) & d->mask)
				if (d->slot[h].sid == r->sid && d->slot[h].msg_id == r->msg_id)
					break;
			d->slot[h] = (struct store_del){ r->sid, r->msg_id, idx };
		}
	}
}

/* Whether record <idx> (a PUT or STATE of entry <sid, msg_id>) has a DEL after it. */
static bool store_dels_later(const struct store_dels *d, uint64_t sid, uint64_t msg_id,
			     size_t idx)
{
	if (d->slot == NULL)
		return false;
	for (size_t h = store_dels_home(d, sid, msg_id); d->slot[h].msg_id != 0;
	     h = (h + 1) & d->mask)
		if (d->slot[h].sid == sid && d->slot[h].msg_id == msg_id)
			return d->slot[h].last > idx;
	return false;
}

static bool store_skip_rec(const struct store_dels *d, const struct persist_rec *r,
			   size_t idx)
{
	if (r->type == PREC_ENTRY_PUT)
		return store_dels_later(d, r->sid, store_rec_msg_id(r), idx);
	if (r->type == PREC_ENTRY_STATE)
		return store_dels_later(d, r->sid, r->msg_id, idx);
	return false;
}

/* Raises the meta high-water marks of ids when this transaction stored higher ones. */
static int store_put_max(struct store_txn *t, const char *name, uint64_t v, uint64_t *stored)
{
	uint8_t vb[8];
	MDB_val k = { strlen(name), store_unconst(name) }, val = { 8, vb };

	if (v <= *stored)
		return 0;
	store_put_be64(vb, v);
	return mdb_put(t->txn, t->st->dbi[STORE_DB_META], &k, &val, 0);
}

/* A short write on a full file system reaches LMDB as EIO (mdb_page_flush): call it
 * ENOSPC when the file system has no room left for a page. */
static int store_commit_errno(const struct store *st, int rc)
{
	struct statvfs sv;

	if (rc == EIO && statvfs(st->dir, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < st->psize)
		return -ENOSPC;
	return store_errno(rc);
}

int store_apply(struct store *st, struct persist_batch *const *batches, size_t n, bool sync,
		char *err, size_t errlen)
{
	struct store_txn t = { .st = st, .max_sid = st->max_sid,
			       .max_msg_id = st->max_msg_id };
	struct store_dels dels = { NULL, 0 };
	const char *what = "apply";
	size_t idx = 0;
	int rc, raw;

	rc = mdb_txn_begin(st->env, NULL, 0, &t.txn);
	if (rc != 0)
		goto err;
	store_dels_build(&dels, batches, n);
	for (size_t i = 0; i < n; i++) {
		const struct persist_batch *b = batches[i];

		for (uint32_t j = 0; j < b->n; j++, idx++) {
			if (store_skip_rec(&dels, &b->recs[j], idx))
				continue;
			rc = store_apply_rec(&t, b, &b->recs[j]);
			if (rc != 0)
				goto err_abort;
		}
	}
	free(dels.slot);
	dels.slot = NULL;
	rc = store_put_max(&t, "max_sid", t.max_sid, &st->max_sid);
	if (rc == 0)
		rc = store_put_max(&t, "max_msg_id", t.max_msg_id, &st->max_msg_id);
	if (rc != 0)
		goto err_abort;
	/* Per commit: MDB_NOSYNC makes this one reach the OS only (persistence_sync <ms>
	 * or never); without it LMDB syncs the data pages, then writes the meta page
	 * through its O_DSYNC descriptor, so the meta never points at unsynced pages. */
	if (!sync)
		mdb_env_set_flags(st->env, MDB_NOSYNC, 1);
	what = "commit";
	rc = mdb_txn_commit(t.txn);
	if (!sync)
		mdb_env_set_flags(st->env, MDB_NOSYNC, 0);
	if (rc != 0)
		goto err;
	st->max_sid = t.max_sid;
	st->max_msg_id = t.max_msg_id;
	st->commits++;
	return 0;

err_abort:
	free(dels.slot);
	mdb_txn_abort(t.txn);
err:
	st->commit_failures++;
	raw = rc;
	rc = store_commit_errno(st, raw);
	if (raw == MDB_MAP_FULL)
		snprintf(err, errlen, "store %s: cannot %s: the store is as large as "
			 "persistence_max_size allows", st->path, what);
	else if (rc == -ENOSPC)
		snprintf(err, errlen, "store %s: cannot %s: No space left on device",
			 st->path, what);
	else
		snprintf(err, errlen, "store %s: cannot %s: %s", st->path, what,
			 mdb_strerror(raw));
	return rc;
}
