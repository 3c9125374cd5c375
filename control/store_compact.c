/* store_compact.c - `petrelctl store compact` (store.h): LMDB never gives pages back to
 * the file system, so a store that once held much keeps its size. A compacting copy
 * (MDB_CP_COMPACT: live pages only, renumbered) is written beside data.mdb, synced,
 * opened as a store to check it, then renamed over data.mdb and the directory synced.
 * Until the rename a crash leaves the old data.mdb (and a leftover copy that
 * store_open deletes), after it the new one: rename(2) is atomic, both files complete.
 *
 * The new environment is opened on the copy's own name (MDB_NOSUBDIR) before the
 * rename, so that once data.mdb names the new file the store already runs on it and
 * every failure before that point leaves the old environment in use, untouched. Its
 * descriptors follow the file through the rename. The flock on petrel.lock is a
 * separate descriptor (store_check.c) and is held all along. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "petrel/log.h"
#include "petrel/store.h"
#include "store_format.h"

static uint64_t compact_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static char *compact_path(const struct store *st)
{
	char *p;

	return asprintf(&p, "%s/" STORE_COMPACT_NAME, st->dir) < 0 ? NULL : p;
}

void store_compact_discard(const struct store *st)
{
	char *p = compact_path(st);

	if (p != NULL)
		unlink(p);
	free(p);
}

static uint64_t compact_file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Writes the compacting copy of <st> into <tmp> (created, synced, closed). */
static int compact_copy(struct store *st, const char *tmp, char *err, size_t errlen)
{
	int fd, rc;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "store compact: cannot create %s: %s", tmp,
			 strerror(-rc));
		return rc;
	}
	rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	if (rc != 0) {
		snprintf(err, errlen, "store compact: cannot write the copy %s: %s", tmp,
			 mdb_strerror(rc));
		close(fd);
		return store_errno(rc);
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		rc = -errno;
		snprintf(err, errlen, "store compact: cannot sync the copy %s: %s", tmp,
			 strerror(-rc));
		close(fd);
		return rc;
	}
	return 0;
}

static int compact_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Opens the synced copy <tmp> as a store into <fresh> (env and dbis). */
static int compact_open_copy(struct store *st, struct store *fresh, const char *tmp,
			     char *err, size_t errlen)
{
	MDB_envinfo info;
	int rc;

	rc = store_check_file(tmp, err, errlen);
	if (rc < 0)
		return rc;
	rc = mdb_env_info(st->env, &info);
	if (rc != 0) {
		snprintf(err, errlen, "store %s: %s", st->path, mdb_strerror(rc));
		return store_errno(rc);
	}
	*fresh = (struct store){ .lock_fd = -1, .dir = st->dir, .path = store_unconst(tmp) };
	rc = store_env_attach(fresh, tmp, MDB_NOSUBDIR, info.me_mapsize, false, err, errlen);
	if (rc < 0 && fresh->env != NULL) {
		mdb_env_close(fresh->env);
		fresh->env = NULL;
	}
	return rc;
}

int store_compact(struct store *st, struct store_compact_stats *out, char *err,
		  size_t errlen)
{
	uint64_t t0 = compact_now_us();
	struct store fresh;
	char *tmp = compact_path(st);
	int rc;

	memset(out, 0, sizeof(*out));
	if (tmp == NULL) {
		snprintf(err, errlen, "store compact: out of memory");
		return -ENOMEM;
	}
	out->before_bytes = compact_file_size(st->path);
	unlink(tmp);            /* a crashed attempt's; O_EXCL below */
	rc = compact_copy(st, tmp, err, errlen);
	if (rc == 0)
		rc = compact_open_copy(st, &fresh, tmp, err, errlen);
	if (rc < 0)
		goto fail;
	if (rename(tmp, st->path) < 0) {
		rc = -errno;
		snprintf(err, errlen, "store compact: cannot rename %s to %s: %s", tmp,
			 st->path, strerror(-rc));
		mdb_env_close(fresh.env);
		goto fail;
	}
	/* data.mdb is the copy now: the store runs on it whatever follows. */
	mdb_env_close(st->env);
	st->env = fresh.env;
	memcpy(st->dbi, fresh.dbi, sizeof(st->dbi));
	st->psize = fresh.psize;
	st->compactions++;
	rc = compact_sync_dir(st->dir);
	if (rc < 0)
		log_warn("store: compacted %s, but syncing its directory failed (%s): a "
			 "crash may bring back the uncompacted file", st->path, strerror(-rc));
	out->after_bytes = compact_file_size(st->path);
	out->elapsed_us = compact_now_us() - t0;
	free(tmp);
	return 0;

fail:
	unlink(tmp);
	free(tmp);
	return rc;
}
