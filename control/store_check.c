/* store_check.c - what store_open does before LMDB sees the store: the directory
 * (created 0700 if missing), the exclusive flock on <dir>/petrel.lock that keeps a
 * second petrel out (MDB_NOLOCK relies on it), and a check of data.mdb's two meta
 * pages read with pread. LMDB itself would initialise an empty file as a new store and
 * map a truncated one (reads past its end are SIGBUS), so a suspect file must be
 * refused here, never opened read-write.
 *
 * The meta page, LMDB 0.9 (mdb.c: MDB_page, MDB_meta, MDB_db; 64-bit builds):
 *
 *   offset  size  field
 *   0       8     mp_pgno (0 and 1 for the two meta pages)
 *   8       2     mp_pad
 *   10      2     mp_flags (P_META 0x08)
 *   12      4     mp_lower, mp_upper            -- PAGEHDRSZ = 16
 *   16      4     mm_magic 0xBEEFC0DE
 *   20      4     mm_version (MDB_DATA_VERSION 1)
 *   24      8     mm_address
 *   32      8     mm_mapsize
 *   40      48    mm_dbs[FREE_DBI]: md_pad (the page size), md_flags, md_depth, ...
 *   88      48    mm_dbs[MAIN_DBI]
 *   136     8     mm_last_pg: the last page in use
 *   144     8     mm_txnid
 *
 * Meta page 1 starts at the page size. LMDB uses the meta with the higher txnid; both
 * must be valid (mdb_env_read_header). A file shorter than (mm_last_pg + 1) pages of
 * that meta lost committed pages: truncated. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_format.h"

#define LMDB_META_OFF 16
#define LMDB_META_END 152
#define LMDB_P_META 0x08
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1

/* mkdir -p with mode 0700 for what it creates. */
static int store_mkdirs(const char *dir)
{
	char *p, *s = strdup(dir);
	int rc = 0;

	if (s == NULL)
		return -ENOMEM;
	for (p = s + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(s, 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(s);
	return rc;
}

/* The pid a running petrel wrote into the lock file, 0 if none is readable. */
static long store_lock_owner(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

int store_dir_lock(struct store *st, char *err, size_t errlen)
{
	char *lock_path, pid[24];
	struct stat sb;
	int rc, fd, n;

	rc = store_mkdirs(st->dir);
	if (rc == 0 && stat(st->dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
		rc = -ENOTDIR;
	if (rc < 0) {
		snprintf(err, errlen, "store directory %s cannot be created: %s; set "
			 "persistence_location to a directory petrel may write", st->dir,
			 strerror(-rc));
		return rc;
	}
	if (asprintf(&lock_path, "%s/petrel.lock", st->dir) < 0) {
		snprintf(err, errlen, "store %s: out of memory", st->path);
		return -ENOMEM;
	}
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "store lock %s cannot be opened: %s", lock_path,
			 strerror(-rc));
		free(lock_path);
		return rc;
	}
	free(lock_path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (rc == -EBUSY)
			snprintf(err, errlen, "store %s is in use by another running petrel "
				 "(pid %ld); stop it or set persistence_location to another "
				 "directory", st->path, store_lock_owner(fd));
		else
			snprintf(err, errlen, "store %s cannot be locked: %s", st->path,
				 strerror(-rc));
		close(fd);
		return rc;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		rc = -errno;
		snprintf(err, errlen, "store %s: cannot write the lock file: %s", st->path,
			 strerror(-rc));
		close(fd);
		return rc;
	}
	st->lock_fd = fd;
	return 0;
}

struct lmdb_meta {
	uint32_t psize;
	uint64_t last_pg;
	uint64_t txnid;
};

/* Reads the meta page at <off>: 0, or -EUCLEAN if it is not one, -EIO if unreadable. */
static int store_read_lmdb_meta(int fd, off_t off, struct lmdb_meta *m)
{
	uint8_t b[LMDB_META_END];
	uint32_t magic, version;
	uint16_t flags;

	if (pread(fd, b, sizeof(b), off) != (ssize_t)sizeof(b))
		return -EIO;
	memcpy(&flags, b + 10, 2);
	memcpy(&magic, b + LMDB_META_OFF, 4);
	memcpy(&version, b + LMDB_META_OFF + 4, 4);
	memcpy(&m->psize, b + 40, 4);
	memcpy(&m->last_pg, b + 136, 8);
	memcpy(&m->txnid, b + 144, 8);
	if (!(flags & LMDB_P_META) || magic != LMDB_MAGIC || version != LMDB_DATA_VERSION)
		return -EUCLEAN;
	/* A power of two LMDB could have written (its MAX_PAGESIZE is 64 KiB). */
	if (m->psize < 512 || m->psize > 65536 || (m->psize & (m->psize - 1)) != 0)
		return -EUCLEAN;
	return 0;
}

int store_check_file(const char *path, char *err, size_t errlen)
{
	struct lmdb_meta m0, m1;
	const struct lmdb_meta *m;
	struct stat sb;
	uint64_t need;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;       /* a new store */
		rc = -errno;
		snprintf(err, errlen, "store %s cannot be opened: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "store %s is not a regular file; move it away", path);
		rc = -EUCLEAN;
		goto out;
	}
	if (sb.st_size == 0) {
		snprintf(err, errlen, "store %s is empty (0 bytes), not a store; move it away "
			 "to start with an empty store", path);
		rc = -EUCLEAN;
		goto out;
	}
	rc = store_read_lmdb_meta(fd, 0, &m0);
	if (rc == -EIO) {
		snprintf(err, errlen, "store %s is truncated (%lld bytes, shorter than its "
			 "meta page); restore it from a backup or move it away to start with "
			 "an empty store", path, (long long)sb.st_size);
		rc = -EUCLEAN;
		goto out;
	}
	if (rc == 0)
		rc = store_read_lmdb_meta(fd, (off_t)m0.psize, &m1);
	if (rc == -EIO) {
		snprintf(err, errlen, "store %s is truncated (%lld bytes, shorter than its two "
			 "meta pages of %u bytes); restore it from a backup or move it away to "
			 "start with an empty store", path, (long long)sb.st_size, m0.psize);
		rc = -EUCLEAN;
		goto out;
	}
	if (rc < 0 || m1.psize != m0.psize) {
		snprintf(err, errlen, "store %s is not an LMDB store (bad meta page); restore "
			 "it from a backup or move it away to start with an empty store", path);
		rc = -EUCLEAN;
		goto out;
	}
	m = m1.txnid > m0.txnid ? &m1 : &m0;
	need = (m->last_pg + 1) * m->psize;
	if (m->last_pg > (uint64_t)sb.st_size || (uint64_t)sb.st_size < need) {
		snprintf(err, errlen, "store %s is truncated (%lld bytes, its meta page says "
			 "%llu); restore it from a backup or move it away to start with an "
			 "empty store", path, (long long)sb.st_size,
			 (unsigned long long)need);
		rc = -EUCLEAN;
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
