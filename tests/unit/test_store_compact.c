/* test_store_compact.c - store_compact (control/store_compact.c) on real LMDB: every
 * record of every database byte for byte the same after it (read with LMDB alone), the
 * store running on the new file at once (applies, loads, reopens), the file never
 * larger and much smaller once most data was deleted, a failure (the copy's name taken,
 * a full tmpfs) leaving the old store in use with its data, a copy left by a crash
 * deleted by store_open, and a compacting process killed at random moments leaving a
 * complete store each time. Also store_stats' cost on a fragmented store. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

TestSuite(store_compact, .init = store_test_setup, .fini = store_test_teardown,
	  .timeout = 300);

/* Every database's records in key order, as one byte string (name, then each key and
 * value with their lengths), read with LMDB alone. The store must be closed. */
static char *dump_store(const char *d, size_t *len)
{
	MDB_env *env = raw_open(d);
	MDB_txn *txn;
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	cr_assert_not_null(f);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	for (int i = 0; i < STORE_DB_N; i++) {
		MDB_dbi dbi;
		MDB_cursor *c;
		MDB_val k, v;

		cr_assert_eq(mdb_dbi_open(txn, store_db_names[i], 0, &dbi), 0);
		cr_assert_eq(mdb_cursor_open(txn, dbi, &c), 0);
		fprintf(f, "db %s\n", store_db_names[i]);
		while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
			fprintf(f, "%zu:", k.mv_size);
			fwrite(k.mv_data, 1, k.mv_size, f);
			fprintf(f, " %zu:", v.mv_size);
			fwrite(v.mv_data, 1, v.mv_size, f);
			fputc('\n', f);
		}
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	cr_assert_eq(fclose(f), 0);
	return text;
}

static void assert_no_leftover_copy(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/" STORE_COMPACT_NAME, sdir);
	cr_assert_neq(access(p, F_OK), 0, "%s is left", p);
}

static void assert_same_dump(const char *a, size_t alen, const char *b, size_t blen)
{
	cr_assert_eq(alen, blen, "dump of %zu bytes became %zu", alen, blen);
	cr_assert_eq(memcmp(a, b, alen), 0, "the records' bytes changed");
}

static struct store_compact_stats compact_ok(struct store *st)
{
	struct store_compact_stats cs;
	char err[512] = "";
	int rc = store_compact(st, &cs, err, sizeof(err));

	cr_assert_eq(rc, 0, "store_compact: %d %s", rc, err);
	cr_assert_eq(cs.before_bytes != 0, true);
	cr_assert_eq(cs.after_bytes, (uint64_t)file_size(spath));
	return cs;
}

/* Sessions with subscriptions, entries in every state, rels and retained messages,
 * long (hashed) keys and a message shared by every session. */
static void fill_varied(struct store *st, unsigned sessions)
{
	char *long_cid = filled(5000, 'C'), *long_filter = filled(3000, 'f');
	char *payload = filled(9000, 'p');   /* overflow pages */
	struct msg *shared = mkmsg("shared/t", 8, "to everyone", 11, 1, 1, false);
	struct persist_batch *b = tbatch_create(0, 1);
	uint64_t id = 2;
	char cid[32];

	for (unsigned s = 1; s <= sessions; s++) {
		snprintf(cid, sizeof(cid), "client-%u", s);
		if (s == 7)
			tbatch_session_put(b, s, long_cid, 5000, 77);
		else
			tbatch_session_put(b, s, cid, strlen(cid), 1000 + s);
		tbatch_sub_put(b, s, "a/+/c", 5, 1);
		tbatch_sub_put(b, s, long_filter, 3000, 2);
		tbatch_entry_put(b, s, shared, 1, false);
		for (unsigned j = 0; j < 3; j++, id++) {
			struct msg *m = mkmsg("q/t", 3, payload, s % 5 == 0 ? 9000 : 20 + j, id,
					      2, false);

			tbatch_entry_put(b, s, m, 2, j == 1);
			msg_unref(m);
			if (j == 2)
				tbatch_entry_state(b, s, id, (uint16_t)s, INFLIGHT_WAIT_PUBCOMP);
		}
		tbatch_rel_put(b, s, (uint16_t)(s + 100));
	}
	for (unsigned r = 0; r < 20; r++, id++) {
		char topic[32];
		struct msg *m;

		snprintf(topic, sizeof(topic), "retained/%u", r);
		m = mkmsg(topic, strlen(topic), payload, r == 3 ? 9000 : r, id, r % 3, true);
		tbatch_retain_put(b, m);
		msg_unref(m);
	}
	apply_ok(st, b);
	msg_unref(shared);
	free(long_cid);
	free(long_filter);
	free(payload);
}

/* Deletes sessions 1..<upto> and retained/0..9. */
static void delete_most(struct store *st, unsigned upto)
{
	struct persist_batch *b = tbatch_create(0, 2);

	for (unsigned s = 1; s <= upto; s++)
		tbatch_session_del(b, s);
	for (unsigned r = 0; r < 10; r++) {
		char topic[32];

		snprintf(topic, sizeof(topic), "retained/%u", r);
		tbatch_retain_del(b, topic, strlen(topic));
	}
	apply_ok(st, b);
}

Test(store_compact, every_record_stays_byte_for_byte_and_the_store_runs_on)
{
	struct store *st = open_ok(sdir, 0);
	struct store_stats before, after;
	struct loaded l = { 0 };
	char *d0, *d1;
	size_t n0, n1;

	fill_varied(st, 300);
	before = stats_of(st);
	store_close(st);
	d0 = dump_store(sdir, &n0);

	st = open_ok(sdir, 0);
	compact_ok(st);
	after = stats_of(st);
	cr_assert_eq(after.sessions, before.sessions);
	cr_assert_eq(after.subs, before.subs);
	cr_assert_eq(after.entries, before.entries);
	cr_assert_eq(after.rels, before.rels);
	cr_assert_eq(after.retained, before.retained);
	cr_assert_eq(after.msgs, before.msgs);
	cr_assert_eq(after.compactions, 1);
	cr_assert_eq(after.map_bytes, before.map_bytes);
	store_close(st);
	d1 = dump_store(sdir, &n1);
	assert_same_dump(d0, n0, d1, n1);
	assert_no_leftover_copy();

	/* The compacted store takes new records without a reopen, and they last. */
	st = open_ok(sdir, 0);
	compact_ok(st);
	{
		struct persist_batch *b = tbatch_create(0, 3);
		struct msg *m = mkmsg_s("after/compact", "new", 5000);

		tbatch_session_put(b, 9000, "after", 5, 1);
		tbatch_entry_put(b, 9000, m, 1, false);
		apply_ok(st, b);
		msg_unref(m);
	}
	store_close(st);
	st = open_ok(sdir, 0);
	load_ok(st, &l);
	cr_assert_eq(count_kind(&l, 'S'), 301);
	cr_assert_eq(count_kind(&l, 'e'), 300 * 4 + 1);
	cr_assert_eq(count_kind(&l, 'R'), 20);
	cr_assert_eq(count_kind(&l, 'r'), 300);
	loaded_free(&l);
	store_close(st);
	free(d0);
	free(d1);
}

Test(store_compact, the_file_never_grows_and_shrinks_once_most_data_is_deleted)
{
	struct store *st = open_ok(sdir, 0);
	struct store_compact_stats c1, c2, c3;
	struct store_stats s;
	char *d0, *d1;
	size_t n0, n1;

	fill_varied(st, 2000);
	c1 = compact_ok(st);
	cr_log_info("full store: %llu -> %llu bytes in %llu us",
		    (unsigned long long)c1.before_bytes, (unsigned long long)c1.after_bytes,
		    (unsigned long long)c1.elapsed_us);
	cr_assert_leq(c1.after_bytes, c1.before_bytes);
	c2 = compact_ok(st);
	cr_assert_eq(c2.before_bytes, c1.after_bytes);
	cr_assert_leq(c2.after_bytes, c2.before_bytes);

	delete_most(st, 1900);
	s = stats_of(st);
	cr_assert_eq(s.sessions, 100);
	/* Deleting gives nothing back to the file system by itself. */
	cr_assert_geq(s.file_bytes, c2.after_bytes);
	store_close(st);
	d0 = dump_store(sdir, &n0);
	st = open_ok(sdir, 0);
	c3 = compact_ok(st);
	cr_log_info("after deleting 95%%: %llu -> %llu bytes in %llu us",
		    (unsigned long long)c3.before_bytes, (unsigned long long)c3.after_bytes,
		    (unsigned long long)c3.elapsed_us);
	cr_assert_lt(c3.after_bytes * 4, c3.before_bytes, "%llu -> %llu bytes",
		     (unsigned long long)c3.before_bytes, (unsigned long long)c3.after_bytes);
	s = stats_of(st);
	cr_assert_eq(s.file_bytes, c3.after_bytes);
	cr_assert_leq(s.used_bytes, s.file_bytes);
	store_close(st);
	d1 = dump_store(sdir, &n1);
	assert_same_dump(d0, n0, d1, n1);
	free(d0);
	free(d1);
}

/* A failed compaction: the error, the old file untouched and in use. */
static void assert_failed_compact_keeps_store(struct store *st, int want_rc,
					      const char *what)
{
	struct store_compact_stats cs;
	char err[512] = "";
	off_t size0, size1;
	uint64_t sum0 = file_sum(spath, &size0), sum1;
	int rc = store_compact(st, &cs, err, sizeof(err));

	cr_log_info("compact failed as it should: %s", err);
	cr_assert_eq(rc, want_rc, "store_compact gave %d (%s), want %d", rc, err, want_rc);
	cr_assert_not_null(strstr(err, what), "error lacks '%s': %s", what, err);
	sum1 = file_sum(spath, &size1);
	cr_assert_eq(size1, size0);
	cr_assert_eq(sum1, sum0, "data.mdb changed");
	cr_assert_eq(stats_of(st).compactions, 0);
}

Test(store_compact, a_failure_leaves_the_old_store_in_use_with_its_data)
{
	struct store *st = open_ok(sdir, 0);
	char in_the_way[128];
	char *d0, *d1;
	size_t n0, n1;

	fill_varied(st, 200);
	store_close(st);
	d0 = dump_store(sdir, &n0);
	st = open_ok(sdir, 0);
	/* A directory where the copy goes: neither unlink nor O_EXCL gets past it (root
	 * included, unlike a read-only directory). */
	snprintf(in_the_way, sizeof(in_the_way), "%s/" STORE_COMPACT_NAME, sdir);
	cr_assert_eq(mkdir(in_the_way, 0700), 0);
	assert_failed_compact_keeps_store(st, -EEXIST, in_the_way);
	{
		struct persist_batch *b = tbatch_create(0, 5);

		tbatch_session_put(b, 5000, "still-here", 10, 1);
		apply_ok(st, b);
	}
	store_close(st);
	cr_assert_eq(rmdir(in_the_way), 0);
	d1 = dump_store(sdir, &n1);
	cr_assert_gt(n1, n0);
	cr_assert_not_null(memmem(d1, n1, "still-here", 10));

	st = open_ok(sdir, 0);
	cr_assert_eq(stats_of(st).sessions, 201);
	compact_ok(st);
	store_close(st);
	free(d0);
	free(d1);
}

Test(store_compact, a_full_disk_fails_with_enospc_and_the_store_carries_on)
{
	struct store *st;
	char filler[128];
	uint64_t free_room;
	int fd;

	mount_tmpfs_or_skip(8);
	st = open_ok(sdir, 0);
	fill_varied(st, 150);
	{
		struct store_stats s = stats_of(st);

		cr_log_info("store of %llu bytes on an 8 MiB tmpfs",
			    (unsigned long long)s.file_bytes);
		cr_assert_lt(s.file_bytes, 6 << 20);
		free_room = (8 << 20) - s.file_bytes;
	}
	/* Leave less room than the copy needs (its live pages: most of the file). */
	snprintf(filler, sizeof(filler), "%s/filler", sdir);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	{
		static char kib[1024];
		uint64_t leave = 64 * 1024;

		memset(kib, 'f', sizeof(kib));
		for (uint64_t w = 0; w + leave < free_room; w += sizeof(kib))
			if (write(fd, kib, sizeof(kib)) != (ssize_t)sizeof(kib))
				break;
	}
	close(fd);
	assert_failed_compact_keeps_store(st, -ENOSPC, "No space left on device");
	assert_no_leftover_copy();
	cr_assert_eq(stats_of(st).sessions, 150);

	/* Room again: the same environment compacts. */
	cr_assert_eq(unlink(filler), 0);
	compact_ok(st);
	store_close(st);
	st = open_ok(sdir, 0);
	cr_assert_eq(stats_of(st).sessions, 150);
	store_close(st);
}

Test(store_compact, a_copy_left_by_a_crash_is_deleted_on_open)
{
	char left[128];
	struct store *st;
	int fd;

	make_store(sdir, 10);
	snprintf(left, sizeof(left), "%s/" STORE_COMPACT_NAME, sdir);
	fd = open(left, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "half a copy", 11), 11);
	close(fd);
	st = open_ok(sdir, 0);
	cr_assert_neq(access(left, F_OK), 0, "the leftover copy is still there");
	cr_assert_eq(stats_of(st).sessions, 10);
	store_close(st);
}

/* A process compacting over and over is killed at moments spread over a compaction's
 * length; each time the store opens with exactly the records it had. */
Test(store_compact, a_kill_at_any_moment_leaves_a_complete_store)
{
	struct store *st = open_ok(sdir, 0);
	struct store_compact_stats cs;
	char *d0;
	size_t n0;

	fill_varied(st, 1500);
	delete_most(st, 700);
	cs = compact_ok(st);
	store_close(st);
	d0 = dump_store(sdir, &n0);
	cr_log_info("one compaction: %llu us", (unsigned long long)cs.elapsed_us);

	for (unsigned round = 0; round < 30; round++) {
		uint64_t delay = cs.elapsed_us * round / 10;    /* 0 .. 3 compactions */
		char *d1;
		size_t n1;
		int status;
		pid_t pid = fork();

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			struct store *cst = NULL;
			char err[512];

			/* Nothing of criterion's (its pipes to the runner) in the victim. */
			closefrom(3);
			if (store_open(&cst, sdir, 0, err, sizeof(err)) != 0)
				_exit(2);
			for (unsigned i = 0; i < 1000; i++)
				if (store_compact(cst, &cs, err, sizeof(err)) != 0)
					_exit(3);
			_exit(0);
		}
		usleep((useconds_t)delay);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status), "round %u: the child ended by itself (%d)",
			  round, WEXITSTATUS(status));
		d1 = dump_store(sdir, &n1);
		assert_same_dump(d0, n0, d1, n1);
		free(d1);
		st = open_ok(sdir, 0);
		store_close(st);
	}
	free(d0);
}

/* H3's status and Prometheus call store_stats once a second: its cost on a store whose
 * free list is long (most of it deleted in many commits). */
Test(store_compact, store_stats_is_cheap_on_a_fragmented_store)
{
	struct store *st = open_ok(sdir, 0);
	struct store_stats s;
	uint64_t t0, per_call;

	fill_varied(st, 3000);
	for (unsigned s0 = 1; s0 <= 2900; s0 += 10) {
		struct persist_batch *b = tbatch_create(0, s0 + 10);

		for (unsigned i = s0; i < s0 + 10; i++)
			tbatch_session_del(b, i);
		apply_ok(st, b);
	}
	t0 = now_us();
	for (unsigned i = 0; i < 1000; i++)
		cr_assert_eq(store_stats(st, &s), 0);
	per_call = (now_us() - t0) / 1000;
	cr_log_info("store_stats: %llu us per call, file %llu bytes, used %llu",
		    (unsigned long long)per_call, (unsigned long long)s.file_bytes,
		    (unsigned long long)s.used_bytes);
	cr_assert_eq(s.sessions, 100);
	cr_assert_lt(s.used_bytes, s.file_bytes);
	/* Generous for sanitizer builds on a busy machine: 1 ms of a 1 s tick. */
	cr_assert_lt(per_call, 1000, "store_stats takes %llu us", (unsigned long long)per_call);
	store_close(st);
}
