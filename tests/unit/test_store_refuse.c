/* test_store_refuse.c - the store's refusals and full disks (control/store_check.c,
 * store.c, store_apply.c): truncated, garbage, empty, another format version, another
 * program's LMDB file, locked by a running petrel (its pid named), each leaving the
 * file's bytes as they were; a full disk (a 4 MiB tmpfs) and a full map fail with
 * -ENOSPC, keep everything applied before and take the same batch once there is room. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/session.h"
#include "petrel/store.h"
#include "store_format.h"
#include "store_test.h"
#include "tbatch.h"
#include "unit_util.h"

TestSuite(store_refuse, .init = store_test_setup, .fini = store_test_teardown,
	  .timeout = 300);

/* store_open must refuse <d> with <want_rc>, an error naming data.mdb and containing
 * <what>, and leave data.mdb's bytes as they were. */
static void assert_refused(const char *d, int want_rc, const char *what)
{
	char p[128], err[512] = "";
	struct store *st = NULL;
	off_t s0, s1;
	uint64_t h0, h1;
	int rc;

	snprintf(p, sizeof(p), "%s/data.mdb", d);
	h0 = file_sum(p, &s0);
	rc = store_open(&st, d, 0, err, sizeof(err));
	cr_assert_eq(rc, want_rc, "store_open gave %d (%s), want %d", rc, err, want_rc);
	cr_assert_null(st);
	cr_assert_not_null(strstr(err, p), "error does not name the file: %s", err);
	cr_assert_not_null(strstr(err, what), "error lacks '%s': %s", what, err);
	h1 = file_sum(p, &s1);
	cr_assert_eq(s1, s0, "size changed: %lld -> %lld", (long long)s0, (long long)s1);
	cr_assert_eq(h1, h0, "the refused file's bytes changed");
}

/* ---- refusals ------------------------------------------------------------- */

Test(store_refuse, a_truncated_file_is_refused_untouched)
{
	off_t full, cut[3];

	make_store(sdir, 2000);
	full = file_size(spath);
	cut[0] = full / 2;
	cut[1] = 4096 + 100;    /* shorter than its two meta pages */
	cut[2] = 100;           /* shorter than one meta page */
	cr_assert_gt(full, 4 * 4096, "store too small to truncate: %lld", (long long)full);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(truncate(spath, cut[i]), 0);
		assert_refused(sdir, -EUCLEAN, "truncated");
	}
}

Test(store_refuse, garbage_is_refused_untouched)
{
	uint8_t junk[65536];
	int fd;

	srandom(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)random();
	fd = open(spath, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_refused(sdir, -EUCLEAN, "not an LMDB store");
}

Test(store_refuse, an_empty_file_is_refused_untouched)
{
	int fd = open(spath, O_WRONLY | O_CREAT, 0600);

	cr_assert_geq(fd, 0);
	close(fd);
	assert_refused(sdir, -EUCLEAN, "empty");
}

Test(store_refuse, another_format_version_is_refused_untouched)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t v[4];

	make_store(sdir, 3);
	env = raw_open(sdir);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	store_put_be32(v, 99);
	raw_put(txn, dbi, "format", 6, v, 4);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_refused(sdir, -ENOTSUP, "format version 99, this petrel reads 1");
}

Test(store_refuse, an_lmdb_file_of_another_program_is_refused_untouched)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	env = raw_open(sdir);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	raw_put(txn, dbi, "someone", 7, "else", 4);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_refused(sdir, -EUCLEAN, "another program");
}

Test(store_refuse, a_store_in_use_by_another_petrel_is_refused_naming_its_pid)
{
	int ready[2], done[2];
	char c, want[64], err[512] = "";
	struct store *st = NULL;
	pid_t child;
	int status;

	make_store(sdir, 3);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(done), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		char e[512];
		struct store *cs = NULL;

		close(ready[0]);
		close(done[1]);
		if (store_open(&cs, sdir, 0, e, sizeof(e)) != 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		/* Holds the store until the parent closes its end. */
		if (read(done[0], &c, 1) < 0)
			_exit(3);
		store_close(cs);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the child could not open the store");
	snprintf(want, sizeof(want), "(pid %d)", (int)child);
	{
		off_t s0, s1;
		uint64_t h0 = file_sum(spath, &s0);

		cr_assert_eq(store_open(&st, sdir, 0, err, sizeof(err)), -EBUSY, "%s", err);
		cr_assert_not_null(strstr(err, want), "no child pid in: %s", err);
		cr_assert_not_null(strstr(err, spath), "no path in: %s", err);
		cr_assert_not_null(strstr(err, "in use by another running petrel"));
		cr_assert_eq(file_sum(spath, &s1), h0);
	}
	close(done[1]);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	st = open_ok(sdir, 0);
	store_close(st);
}

Test(store_refuse, a_location_that_is_a_file_is_refused)
{
	char file[128], err[512] = "";
	struct store *st = NULL;
	int fd;

	snprintf(file, sizeof(file), "%s/plain", sdir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_lt(store_open(&st, file, 0, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, file), "%s", err);
}

Test(store_refuse, a_missing_location_is_created_0700)
{
	char sub[128];
	struct stat sb;
	struct store *st;

	snprintf(sub, sizeof(sub), "%s/a/b/c", sdir);
	st = open_ok(sub, 0);
	cr_assert_eq(stat(sub, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(sb.st_mode & 0777, 0700);
	cr_assert_str_eq(store_path(st), strcat(sub, "/data.mdb"));
	store_close(st);
}

/* ---- full disk, full map ---------------------------------------------------- */

/* A batch of a new session <sid> holding one 16 KiB message (id <sid>). */
static struct persist_batch *fill_batch(uint64_t sid)
{
	static char payload[16384];
	struct persist_batch *b = tbatch_create(0, sid);
	struct msg *m;

	memset(payload, (int)('a' + sid % 26), sizeof(payload));
	m = mkmsg("fill", 4, payload, sizeof(payload), sid, 1, false);
	tbatch_session_put(b, sid, "filler", 6, 0);
	tbatch_entry_put(b, sid, m, 1, false);
	msg_unref(m);
	return b;
}

/* Loads and checks that sessions 1..n each hold their message, intact. */
static void assert_filled(struct store *st, uint64_t n)
{
	struct loaded l = { 0 };
	struct store_load_stats ls = load_ok(st, &l);

	cr_assert_eq(ls.sessions, n, "sessions %llu, want %llu",
		     (unsigned long long)ls.sessions, (unsigned long long)n);
	cr_assert_eq(ls.entries, n);
	for (size_t i = 0; i < l.n; i++) {
		const struct msg *m = l.r[i].m;

		if (l.r[i].kind != 'e')
			continue;
		cr_assert_eq(m->payload_len, 16384);
		for (size_t j = 0; j < m->payload_len; j++)
			cr_assert_eq((uint64_t)m->payload[j], 'a' + l.r[i].sid % 26);
	}
	loaded_free(&l);
}

/* Applies fill batches until one fails; returns how many went in, *failed the one
 * that did not (the caller's). */
static uint64_t fill_until_full(struct store *st, struct persist_batch **failed,
				char *err, size_t errlen)
{
	for (uint64_t sid = 1; sid <= 4096; sid++) {
		struct persist_batch *b = fill_batch(sid);
		int rc = apply_n(st, &b, 1, err, errlen);

		if (rc != 0) {
			cr_assert_eq(rc, -ENOSPC, "apply gave %d: %s", rc, err);
			*failed = b;
			return sid - 1;
		}
		tbatch_free(b);
	}
	cr_assert_fail("the store never filled up");
	return 0;
}

Test(store_refuse, a_full_disk_fails_with_enospc_keeps_what_was_applied_and_recovers)
{
	char filler[128], err[512] = "";
	struct persist_batch *failed = NULL;
	struct store *st;
	uint64_t n;
	int fd;

	mount_tmpfs_or_skip(4);
	/* 1 MiB that can be deleted to make room again. */
	snprintf(filler, sizeof(filler), "%s/filler", sdir);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	{
		static char mib[1 << 20];

		memset(mib, 'f', sizeof(mib));
		cr_assert_eq(write(fd, mib, sizeof(mib)), (ssize_t)sizeof(mib));
	}
	close(fd);

	st = open_ok(sdir, 0);
	n = fill_until_full(st, &failed, err, sizeof(err));
	cr_log_info("disk full after %llu batches: %s", (unsigned long long)n, err);
	cr_assert_gt(n, 10);
	cr_assert_not_null(strstr(err, spath), "%s", err);
	cr_assert_not_null(strstr(err, "No space left on device"), "%s", err);
	cr_assert_eq(stats_of(st).commit_failures, 1);
	/* Nothing of the failed batch is in: its session is not there. */
	assert_filled(st, n);

	/* Room again: the same batch applies on the same environment. */
	cr_assert_eq(unlink(filler), 0);
	cr_assert_eq(apply_n(st, &failed, 1, err, sizeof(err)), 0, "%s", err);
	tbatch_free(failed);
	store_close(st);

	st = open_ok(sdir, 0);
	assert_filled(st, n + 1);
	store_close(st);
}

Test(store_refuse, a_full_map_fails_with_enospc_and_a_larger_map_takes_the_batch)
{
	const size_t small = 1 << 20;
	char err[512] = "";
	struct persist_batch *failed = NULL;
	struct store *st = open_ok(sdir, small);
	uint64_t n;

	n = fill_until_full(st, &failed, err, sizeof(err));
	cr_log_info("map full after %llu batches: %s", (unsigned long long)n, err);
	cr_assert_gt(n, 10);
	cr_assert_not_null(strstr(err, spath), "%s", err);
	cr_assert_not_null(strstr(err, "persistence_max_size"), "%s", err);
	assert_filled(st, n);
	store_close(st);

	st = open_ok(sdir, small);
	assert_filled(st, n);
	store_close(st);

	st = open_ok(sdir, 4 * small);
	cr_assert_eq(apply_n(st, &failed, 1, err, sizeof(err)), 0, "%s", err);
	tbatch_free(failed);
	assert_filled(st, n + 1);
	store_close(st);
}
