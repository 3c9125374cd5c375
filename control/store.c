/* store.c - opening, checking and closing the LMDB store (store.h; the layout is in
 * store_format.h). A store that cannot be trusted is refused before LMDB may write to
 * it: LMDB initialises an empty or short file as a new environment, so data.mdb's
 * meta pages are read and checked here first (store_check.c), and the format version
 * is read in a read-only transaction. store_apply.c writes, store_load.c reads back.
 *
 * Environment flags: MDB_NOTLS and MDB_NOLOCK (one process, thanks to the flock on
 * petrel.lock, and one thread at a time: main, then the control plane), no MDB_NOSYNC
 * at open so LMDB's meta writes go through its O_DSYNC descriptor; store_apply turns
 * MDB_NOSYNC on around the commits that are not to sync. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "petrel/store.h"
#include "store_format.h"

const char *const store_db_names[STORE_DB_N] = {
	[STORE_DB_META] = "meta",
	[STORE_DB_SESSIONS] = "sessions",
	[STORE_DB_SUBS] = "subs",
	[STORE_DB_ENTRIES] = "entries",
	[STORE_DB_RELS] = "rels",
	[STORE_DB_MSGS] = "msgs",
	[STORE_DB_REFS] = "refs",
	[STORE_DB_RETAINED] = "retained",
};

#define STORE_DEFAULT_MAP_SIZE (64ull << 30)

int store_errno(int mdb_rc)
{
	if (mdb_rc == 0)
		return 0;
	if (mdb_rc == MDB_MAP_FULL || mdb_rc == ENOSPC || mdb_rc == EDQUOT)
		return -ENOSPC;
	if (mdb_rc > 0)
		return -mdb_rc;
	if (mdb_rc == MDB_CORRUPTED || mdb_rc == MDB_PAGE_NOTFOUND || mdb_rc == MDB_INVALID)
		return -EUCLEAN;
	if (mdb_rc == MDB_TXN_FULL || mdb_rc == MDB_BAD_VALSIZE)
		return -E2BIG;
	return -EIO;
}

/* Reads the meta database in a read-only transaction: a new environment (no meta, no
 * other database) is fine, a petrel store of format 1 is, anything else is refused.
 * Returns 0 with *fresh set, or -errno with <err> filled. */
static int store_read_meta(struct store *st, bool *fresh, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_dbi dbi, main_dbi;
	MDB_stat ms;
	MDB_val k = { 6, (void *)"format" }, v;
	int rc;

	*fresh = false;
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		goto err_lmdb;
	rc = mdb_dbi_open(txn, store_db_names[STORE_DB_META], 0, &dbi);
	if (rc == MDB_NOTFOUND) {
		/* No meta: a store only if LMDB's main database is empty too. */
		rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
		if (rc == 0)
			rc = mdb_stat(txn, main_dbi, &ms);
		mdb_txn_abort(txn);
		if (rc != 0)
			goto err_lmdb;
		if (ms.ms_entries != 0) {
			snprintf(err, errlen, "store %s is an LMDB file of another program (no "
				 "petrel format record); set persistence_location to another "
				 "directory", st->path);
			return -EUCLEAN;
		}
		*fresh = true;
		return 0;
	}
	if (rc != 0)
		goto err_abort;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0 || v.mv_size != 4) {
		mdb_txn_abort(txn);
		snprintf(err, errlen, "store %s has no valid format record; move it away to "
			 "start with an empty store", st->path);
		return -EUCLEAN;
	}
	if (store_get_be32(v.mv_data) != STORE_FORMAT_VERSION) {
		snprintf(err, errlen, "store %s has format version %u, this petrel reads %u; "
			 "move it away to start with an empty store", st->path,
			 store_get_be32(v.mv_data), STORE_FORMAT_VERSION);
		mdb_txn_abort(txn);
		return -ENOTSUP;
	}
	k = (MDB_val){ 7, (void *)"max_sid" };
	if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
		st->max_sid = store_get_be64(v.mv_data);
	k = (MDB_val){ 10, (void *)"max_msg_id" };
	if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
		st->max_msg_id = store_get_be64(v.mv_data);
	mdb_txn_abort(txn);
	return 0;

err_abort:
	mdb_txn_abort(txn);
err_lmdb:
	snprintf(err, errlen, "store %s: cannot read: %s", st->path, mdb_strerror(rc));
	return store_errno(rc);
}

/* Opens every database (creating them in a new store, with the format record) in one
 * write transaction. On an existing store it writes nothing. */
static int store_open_dbs(struct store *st, bool fresh, char *err, size_t errlen)
{
	MDB_txn *txn;
	uint8_t buf[8];
	MDB_val k, v;
	struct timespec now;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc != 0)
		goto err_lmdb;
	for (int i = 0; i < STORE_DB_N; i++) {
		rc = mdb_dbi_open(txn, store_db_names[i], MDB_CREATE, &st->dbi[i]);
		if (rc != 0)
			goto err_abort;
	}
	if (fresh) {
		store_put_be32(buf, STORE_FORMAT_VERSION);
		k = (MDB_val){ 6, (void *)"format" };
		v = (MDB_val){ 4, buf };
		rc = mdb_put(txn, st->dbi[STORE_DB_META], &k, &v, 0);
		if (rc != 0)
			goto err_abort;
		clock_gettime(CLOCK_REALTIME, &now);
		store_put_be64(buf, (uint64_t)now.tv_sec * 1000 +
				    (uint64_t)now.tv_nsec / 1000000);
		k = (MDB_val){ 7, (void *)"created" };
		v = (MDB_val){ 8, buf };
		rc = mdb_put(txn, st->dbi[STORE_DB_META], &k, &v, 0);
		if (rc != 0)
			goto err_abort;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		goto err_lmdb;
	return 0;

err_abort:
	mdb_txn_abort(txn);
err_lmdb:
	snprintf(err, errlen, "store %s: cannot %s: %s", st->path,
		 fresh ? "create" : "open", mdb_strerror(rc));
	return store_errno(rc);
}

static int store_open_env(struct store *st, const char *path, unsigned flags,
			  size_t map_size, char *err, size_t errlen)
{
	MDB_stat ms;
	int rc;

	rc = mdb_env_create(&st->env);
	if (rc != 0)
		goto err;
	rc = mdb_env_set_maxdbs(st->env, STORE_DB_N);
	if (rc != 0)
		goto err;
	/* LMDB keeps the larger of this and what the file already uses. */
	rc = mdb_env_set_mapsize(st->env, map_size != 0 ? map_size : STORE_DEFAULT_MAP_SIZE);
	if (rc != 0)
		goto err;
	rc = mdb_env_open(st->env, path, MDB_NOTLS | MDB_NOLOCK | flags, 0600);
	if (rc != 0)
		goto err;
	if (mdb_env_get_maxkeysize(st->env) < STORE_KEY_MAX) {
		snprintf(err, errlen, "store %s: this LMDB allows keys of %d bytes, petrel "
			 "needs %d", st->path, mdb_env_get_maxkeysize(st->env),
			 STORE_KEY_MAX);
		return -ENOTSUP;
	}
	rc = mdb_env_stat(st->env, &ms);
	if (rc != 0)
		goto err;
	st->psize = ms.ms_psize;
	return 0;

err:
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
		snprintf(err, errlen, "store %s is not a store this LMDB can read (%s); move "
			 "it away to start with an empty store", st->path, mdb_strerror(rc));
		return -EUCLEAN;
	}
	snprintf(err, errlen, "store %s: cannot open: %s", st->path, mdb_strerror(rc));
	return store_errno(rc);
}

int store_env_attach(struct store *st, const char *path, unsigned flags, size_t map_size,
		     bool may_be_new, char *err, size_t errlen)
{
	bool fresh;
	int rc;

	rc = store_open_env(st, path, flags, map_size, err, errlen);
	if (rc == 0)
		rc = store_read_meta(st, &fresh, err, errlen);
	if (rc == 0 && fresh && !may_be_new) {
		snprintf(err, errlen, "store %s has no format record", st->path);
		rc = -EUCLEAN;
	}
	if (rc == 0)
		rc = store_open_dbs(st, fresh, err, errlen);
	return rc;
}

int store_open(struct store **out, const char *dir, size_t map_size, char *err,
	       size_t errlen)
{
	struct store *st;
	int rc;

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		goto err_nomem;
	st->lock_fd = -1;
	st->dir = strdup(dir);
	if (st->dir == NULL || asprintf(&st->path, "%s/data.mdb", dir) < 0) {
		st->path = NULL;
		goto err_free;
	}
	rc = store_dir_lock(st, err, errlen);
	if (rc < 0)
		goto err_close;
	rc = store_check_file(st->path, err, errlen);
	if (rc < 0)
		goto err_close;
	store_compact_discard(st);
	rc = store_env_attach(st, st->dir, 0, map_size, true, err, errlen);
	if (rc < 0)
		goto err_close;
	*out = st;
	return 0;

err_free:
	free(st->dir);
	free(st);
err_nomem:
	snprintf(err, errlen, "store %s: out of memory", dir);
	return -ENOMEM;
err_close:
	store_close(st);
	return rc;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL)
		mdb_env_close(st->env);
	/* Closing the descriptor releases the flock; the pid stays for the curious. */
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st->dir);
	free(st);
}

int store_sync(struct store *st)
{
	return store_errno(mdb_env_sync(st->env, 1));
}

const char *store_path(const struct store *st)
{
	return st->path;
}

/* Pages on LMDB's free list: what mdb_stat -f adds up (each record of database 0 is
 * an ID list whose first word is its length). */
static int store_free_pages(MDB_txn *txn, uint64_t *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*out = 0;
	rc = mdb_cursor_open(txn, 0, &c);
	if (rc != 0)
		return rc;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		size_t n;

		if (v.mv_size < sizeof(n))
			continue;
		memcpy(&n, v.mv_data, sizeof(n));
		*out += n;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_stats(struct store *st, struct store_stats *out)
{
	uint64_t *counts[STORE_DB_N] = {
		[STORE_DB_SESSIONS] = &out->sessions, [STORE_DB_SUBS] = &out->subs,
		[STORE_DB_ENTRIES] = &out->entries, [STORE_DB_RELS] = &out->rels,
		[STORE_DB_MSGS] = &out->msgs, [STORE_DB_RETAINED] = &out->retained,
	};
	MDB_envinfo info;
	MDB_txn *txn;
	MDB_stat ms;
	struct stat sb;
	uint64_t free_pages;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return store_errno(rc);
	for (int i = 0; i < STORE_DB_N; i++) {
		if (counts[i] == NULL)
			continue;
		rc = mdb_stat(txn, st->dbi[i], &ms);
		if (rc != 0)
			goto out;
		*counts[i] = ms.ms_entries;
	}
	rc = store_free_pages(txn, &free_pages);
	if (rc != 0)
		goto out;
	rc = mdb_env_info(st->env, &info);
	if (rc != 0)
		goto out;
	out->map_bytes = info.me_mapsize;
	out->used_bytes = ((uint64_t)info.me_last_pgno + 1 - free_pages) * st->psize;
	if (stat(st->path, &sb) == 0)
		out->file_bytes = (uint64_t)sb.st_size;
	out->commits = st->commits;
	out->commit_failures = st->commit_failures;
	out->compactions = st->compactions;
out:
	mdb_txn_abort(txn);
	return store_errno(rc);
}
