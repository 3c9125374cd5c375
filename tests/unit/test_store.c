/* test_store.c - the LMDB store (control/store*.c, store.h) on real LMDB in a
 * temporary directory: every record type through apply, close, open and load; a
 * message shared by many sessions stored once and deleted with its last reference;
 * puts and deletes inside one commit; SESSION_DEL; orphans deleted on load; a store
 * that does not grow under a steady load; 100k sessions loaded back (figures). The
 * refusals, the full disk and the full map: test_store_refuse.c. The batches are
 * persist.h's structs, built by tests/support/tbatch.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/session.h"
#include "petrel/store.h"
#include "store_format.h"
#include "store_test.h"
#include "tbatch.h"
#include "unit_util.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown, .timeout = 300);

/* ---- round trip ----------------------------------------------------------- */

Test(store, every_record_type_comes_back_after_close_and_open)
{
	const size_t big = 70 * 1024;
	char *long_filter = filled(big, 'a'), *long_cid = filled(big, 'K');
	char *long_topic = filled(1000, 'T');
	struct msg *m5 = mkmsg("q/5", 3, "five", 4, 5, 1, false);
	struct msg *m7 = mkmsg("q/7", 3, "seven", 5, 7, 2, false);
	struct msg *m9 = mkmsg("q/9", 3, "", 0, 9, 2, true);
	struct msg *r20 = mkmsg(long_topic, 1000, "retained-long", 13, 20, 1, true);
	struct msg *r21 = mkmsg("r/s", 3, "retained-short", 14, 21, 0, true);
	struct msg *r22 = mkmsg("r/gone", 6, "deleted", 7, 22, 0, true);
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1), *b2 = tbatch_create(1, 1);
	struct store_load_stats ls;
	struct loaded l = { 0 };

	tbatch_session_put(b, 1, "alpha", 5, 1234);
	tbatch_sub_put(b, 1, "a/b", 3, 1);
	tbatch_sub_put(b, 1, "c/#", 3, 2);
	tbatch_sub_put(b, 1, long_filter, big, 0);
	tbatch_sub_put(b, 1, "gone/+", 6, 1);
	tbatch_sub_put(b, 1, "a/b", 3, 2);              /* replaces qos 1 */
	/* Entries arrive out of id order; they load in id order. */
	tbatch_entry_put(b, 1, m9, 2, true);
	tbatch_entry_put(b, 1, m5, 1, false);
	tbatch_entry_put(b, 1, m7, 2, false);
	tbatch_rel_put(b, 1, 300);
	tbatch_rel_put(b, 1, 100);
	tbatch_rel_put(b, 1, 200);
	tbatch_session_put(b, 2, long_cid, big, 0);
	tbatch_sub_put(b, 2, "x/y", 3, 1);
	tbatch_entry_put(b, 2, m7, 1, false);
	tbatch_retain_put(b, r20);
	tbatch_retain_put(b, r21);
	tbatch_retain_put(b, r22);
	/* A second batch in the same transaction: state changes and deletions. */
	tbatch_entry_state(b2, 1, 5, 10, INFLIGHT_WAIT_PUBACK);
	tbatch_entry_state(b2, 1, 7, 11, INFLIGHT_WAIT_PUBCOMP);
	tbatch_sub_del(b2, 1, "gone/+", 6);
	tbatch_rel_del(b2, 1, 300);
	tbatch_retain_del(b2, "r/gone", 6);
	{
		struct persist_batch *both[2] = { b, b2 };
		char err[256] = "";

		cr_assert_eq(apply_n(st, both, 2, err, sizeof(err)), 0, "%s", err);
	}
	tbatch_free(b);
	tbatch_free(b2);
	store_close(st);

	st = open_ok(sdir, 0);
	ls = load_ok(st, &l);
	cr_assert_eq(ls.sessions, 2);
	cr_assert_eq(ls.subs, 4);
	cr_assert_eq(ls.entries, 4);
	cr_assert_eq(ls.rels, 2);
	cr_assert_eq(ls.retained, 2);
	cr_assert_eq(ls.msgs, 5, "msgs %llu", (unsigned long long)ls.msgs);
	cr_assert_eq(ls.orphans_deleted, 0);
	cr_assert_geq(ls.max_sid, 2);
	cr_assert_eq(ls.max_msg_id, 22);
	cr_assert_eq(l.n, 2 + 4 + 4 + 2 + 2);

	/* Session 1, then its subscriptions (in key order, the long filter hashed), its
	 * entries in id order, its rels. */
	cr_assert_eq(l.r[0].kind, 'S');
	cr_assert_eq(l.r[0].sid, 1);
	cr_assert_eq(l.r[0].len, 5);
	cr_assert_str_eq(l.r[0].str, "alpha");
	cr_assert_eq(l.r[0].num, 1234);
	size_t i = 1, subs1 = 0;
	bool saw_long = false;
	for (; l.r[i].kind == 'u'; i++, subs1++) {
		cr_assert_eq(l.r[i].sid, 1);
		if (l.r[i].len == big) {
			cr_assert_eq(memcmp(l.r[i].str, long_filter, big), 0);
			cr_assert_eq(l.r[i].qos, 0);
			saw_long = true;
		} else if (strcmp(l.r[i].str, "a/b") == 0) {
			cr_assert_eq(l.r[i].qos, 2);
		} else {
			cr_assert_str_eq(l.r[i].str, "c/#");
			cr_assert_eq(l.r[i].qos, 2);
		}
	}
	cr_assert_eq(subs1, 3);
	cr_assert(saw_long);
	uint64_t want_ids[3] = { 5, 7, 9 };
	struct msg *loaded7 = l.r[i + 1].m;
	for (size_t j = 0; j < 3; j++, i++) {
		cr_assert_eq(l.r[i].kind, 'e');
		cr_assert_eq(l.r[i].sid, 1);
		cr_assert_eq(atomic_load(&l.r[i].m->store_id), want_ids[j]);
	}
	cr_assert_eq(l.r[i - 3].packet_id, 10);
	cr_assert_eq(l.r[i - 3].state, INFLIGHT_WAIT_PUBACK);
	cr_assert_eq(l.r[i - 3].qos, 1);
	cr_assert_eq(l.r[i - 3].m->payload_len, 4);
	cr_assert_eq(memcmp(l.r[i - 3].m->payload, "five", 4), 0);
	cr_assert_str_eq(l.r[i - 3].m->topic, "q/5");
	cr_assert_eq(l.r[i - 2].packet_id, 11);
	cr_assert_eq(l.r[i - 2].state, INFLIGHT_WAIT_PUBCOMP);
	cr_assert_eq(l.r[i - 2].m->qos, 2);
	cr_assert_eq(l.r[i - 1].packet_id, 0);
	cr_assert_eq(l.r[i - 1].state, INFLIGHT_FREE);
	cr_assert(l.r[i - 1].retain);
	cr_assert(l.r[i - 1].m->retain);
	cr_assert_eq(l.r[i - 1].m->payload_len, 0);
	cr_assert_eq(l.r[i].kind, 'r');
	cr_assert_eq(l.r[i++].packet_id, 100);
	cr_assert_eq(l.r[i].kind, 'r');
	cr_assert_eq(l.r[i++].packet_id, 200);

	/* Session 2: the 70 kB client id; its entry is the same struct msg. */
	cr_assert_eq(l.r[i].kind, 'S');
	cr_assert_eq(l.r[i].sid, 2);
	cr_assert_eq(l.r[i].len, big);
	cr_assert_eq(memcmp(l.r[i].str, long_cid, big), 0);
	cr_assert_eq(l.r[i].num, 0);
	i++;
	cr_assert_eq(l.r[i].kind, 'u');
	cr_assert_str_eq(l.r[i++].str, "x/y");
	cr_assert_eq(l.r[i].kind, 'e');
	cr_assert_eq(l.r[i].m, loaded7, "msg 7 is not one struct msg");
	cr_assert_eq(l.r[i].qos, 1);
	i++;

	/* Retained, in key order: the long topic is hashed (0xff...) so comes last. */
	cr_assert_eq(l.r[i].kind, 'R');
	cr_assert_str_eq(l.r[i].m->topic, "r/s");
	cr_assert_eq(memcmp(l.r[i].m->payload, "retained-short", 14), 0);
	i++;
	cr_assert_eq(l.r[i].kind, 'R');
	cr_assert_eq(l.r[i].m->topic_len, 1000);
	cr_assert_eq(memcmp(l.r[i].m->topic, long_topic, 1000), 0);
	cr_assert(l.r[i].m->retain);
	cr_assert_eq(atomic_load(&l.r[i].m->store_id), 20);

	loaded_free(&l);
	store_close(st);
	msg_unref(m5);
	msg_unref(m7);
	msg_unref(m9);
	msg_unref(r20);
	msg_unref(r21);
	msg_unref(r22);
	free(long_filter);
	free(long_cid);
	free(long_topic);
	assert_no_leaks();
}

Test(store, ids_are_never_reused_after_the_highest_is_deleted)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m = mkmsg_s("t", "p", 40);
	struct store_load_stats ls;
	struct loaded l = { 0 };

	for (uint64_t sid = 1; sid <= 3; sid++)
		tbatch_session_put(b, sid, "c", 1, 0);
	tbatch_entry_put(b, 3, m, 1, false);
	apply_ok(st, b);
	b = tbatch_create(0, 2);
	tbatch_session_del(b, 3);
	apply_ok(st, b);
	store_close(st);

	st = open_ok(sdir, 0);
	ls = load_ok(st, &l);
	cr_assert_eq(ls.sessions, 2);
	cr_assert_eq(ls.msgs, 0);
	cr_assert_eq(ls.max_sid, 3);
	cr_assert_eq(ls.max_msg_id, 40);
	loaded_free(&l);
	store_close(st);
	msg_unref(m);
}

Test(store, a_failing_callback_stops_the_load_with_its_value)
{
	struct store *st;
	struct loaded l = { .stop_at = 4 };
	struct store_load_stats ls;
	char err[256] = "";

	make_store(sdir, 5);
	st = open_ok(sdir, 0);
	cr_assert_eq(store_load(st, &load_ops, &l, &ls, err, sizeof(err)), -ECANCELED);
	cr_assert_lt(count_kind(&l, 'S'), 5);
	loaded_free(&l);
	store_close(st);
}

/* ---- references ----------------------------------------------------------- */

Test(store, a_message_of_1000_sessions_is_stored_once_and_goes_with_its_last_entry)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m = mkmsg_s("fan/out", "one payload", 77);
	struct store_stats s;
	struct loaded l = { 0 };
	char cid[16];

	for (uint64_t sid = 1; sid <= 1000; sid++) {
		snprintf(cid, sizeof(cid), "c%llu", (unsigned long long)sid);
		tbatch_session_put(b, sid, cid, strlen(cid), 0);
		tbatch_entry_put(b, sid, m, 1, false);
	}
	apply_ok(st, b);
	s = stats_of(st);
	cr_assert_eq(s.entries, 1000);
	cr_assert_eq(s.msgs, 1);

	/* One struct msg for all 1000 entries after a restart. */
	store_close(st);
	st = open_ok(sdir, 0);
	cr_assert_eq(load_ok(st, &l).msgs, 1);
	cr_assert_eq(count_kind(&l, 'e'), 1000);
	cr_assert_eq(l.r[1].kind, 'e');
	for (size_t i = 0; i < l.n; i++)
		if (l.r[i].kind == 'e')
			cr_assert_eq(l.r[i].m, l.r[1].m, "entry %zu has its own struct msg", i);
	loaded_free(&l);

	b = tbatch_create(0, 2);
	for (uint64_t sid = 1; sid < 1000; sid++)
		tbatch_entry_del(b, sid, 77);
	apply_ok(st, b);
	s = stats_of(st);
	cr_assert_eq(s.entries, 1);
	cr_assert_eq(s.msgs, 1);
	b = tbatch_create(0, 3);
	tbatch_entry_del(b, 1000, 77);
	apply_ok(st, b);
	s = stats_of(st);
	cr_assert_eq(s.entries, 0);
	cr_assert_eq(s.msgs, 0, "the message outlived its last reference");
	store_close(st);
	msg_unref(m);
}

Test(store, retained_slot_and_entries_share_the_message)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m = mkmsg("ret/a", 5, "v1", 2, 5, 1, true);
	struct msg *m2 = mkmsg("ret/a", 5, "v2", 2, 6, 1, true);

	tbatch_session_put(b, 1, "c", 1, 0);
	tbatch_entry_put(b, 1, m, 1, true);
	tbatch_retain_put(b, m);
	tbatch_retain_put(b, m);          /* the same again: no second reference */
	apply_ok(st, b);
	cr_assert_eq(stats_of(st).msgs, 1);
	b = tbatch_create(0, 2);
	tbatch_retain_put(b, m2);         /* replaces: m keeps its entry's reference */
	apply_ok(st, b);
	cr_assert_eq(stats_of(st).msgs, 2);
	cr_assert_eq(stats_of(st).retained, 1);
	b = tbatch_create(0, 3);
	tbatch_entry_del(b, 1, 5);
	apply_ok(st, b);
	cr_assert_eq(stats_of(st).msgs, 1);
	b = tbatch_create(0, 4);
	tbatch_retain_del(b, "ret/a", 5);
	apply_ok(st, b);
	cr_assert_eq(stats_of(st).msgs, 0);
	cr_assert_eq(stats_of(st).retained, 0);
	store_close(st);
	msg_unref(m);
	msg_unref(m2);
}

Test(store, an_entry_put_twice_takes_one_reference)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m = mkmsg_s("t", "p", 9);

	tbatch_session_put(b, 1, "c", 1, 0);
	tbatch_entry_put(b, 1, m, 1, false);
	tbatch_entry_put(b, 1, m, 1, false);
	apply_ok(st, b);
	b = tbatch_create(0, 2);
	tbatch_entry_put(b, 1, m, 1, false);
	tbatch_entry_del(b, 1, 9);
	apply_ok(st, b);
	cr_assert_eq(stats_of(st).msgs, 0);
	store_close(st);
	msg_unref(m);
}

/* Puts, state changes and deletes of the same entries inside one commit (the store
 * skips a put followed by its delete): the result is that of applying each. */
Test(store, puts_and_deletes_of_an_entry_in_one_commit_end_as_applied_in_order)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m[4];
	struct store_stats s;
	struct loaded l = { 0 };

	for (int i = 0; i < 4; i++)
		m[i] = mkmsg_s("co/alesce", "payload", 10 + (uint64_t)i);
	tbatch_session_put(b, 1, "c", 1, 0);
	tbatch_entry_put(b, 1, m[0], 1, false);
	apply_ok(st, b);

	b = tbatch_create(0, 2);
	/* 10 existed: a second put, a state, the delete: gone with its message. */
	tbatch_entry_put(b, 1, m[0], 1, false);
	tbatch_entry_state(b, 1, 10, 1, INFLIGHT_WAIT_PUBACK);
	tbatch_entry_del(b, 1, 10);
	/* 11 is new: put, state, delete: never there. */
	tbatch_entry_put(b, 1, m[1], 1, false);
	tbatch_entry_state(b, 1, 11, 2, INFLIGHT_WAIT_PUBACK);
	tbatch_entry_del(b, 1, 11);
	/* 12: put, delete, put again, state: there, with its state. */
	tbatch_entry_put(b, 1, m[2], 2, false);
	tbatch_entry_del(b, 1, 12);
	tbatch_entry_put(b, 1, m[2], 2, false);
	tbatch_entry_state(b, 1, 12, 3, INFLIGHT_WAIT_PUBREC);
	/* 13: retained too; its entry's put and delete leave the retained one. */
	tbatch_retain_put(b, m[3]);
	tbatch_entry_put(b, 1, m[3], 1, false);
	tbatch_entry_del(b, 1, 13);
	apply_ok(st, b);

	s = stats_of(st);
	cr_assert_eq(s.entries, 1);
	cr_assert_eq(s.msgs, 2, "msgs %llu", (unsigned long long)s.msgs);
	cr_assert_eq(s.retained, 1);
	cr_assert_eq(load_ok(st, &l).orphans_deleted, 0);
	cr_assert_eq(count_kind(&l, 'e'), 1);
	for (size_t i = 0; i < l.n; i++) {
		if (l.r[i].kind != 'e')
			continue;
		cr_assert_eq(atomic_load(&l.r[i].m->store_id), 12);
		cr_assert_eq(l.r[i].packet_id, 3);
		cr_assert_eq(l.r[i].state, INFLIGHT_WAIT_PUBREC);
	}
	loaded_free(&l);
	store_close(st);
	for (int i = 0; i < 4; i++)
		msg_unref(m[i]);
}

Test(store, session_del_removes_everything_of_that_session_only)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *shared = mkmsg_s("s/h", "shared", 1);
	struct store_stats s;
	struct store_load_stats ls;
	struct loaded l = { 0 };
	char f[32];

	/* Enough records that each session spans several pages. */
	for (uint64_t sid = 1; sid <= 3; sid++) {
		tbatch_session_put(b, sid, sid == 2 ? "victim" : "keeper", 6, 0);
		tbatch_entry_put(b, sid, shared, 1, false);
		for (unsigned i = 0; i < 300; i++) {
			struct msg *m = mkmsg_s("own", "own message", sid * 1000 + i);

			snprintf(f, sizeof(f), "filter/%u", i);
			tbatch_sub_put(b, sid, f, strlen(f), 1);
			tbatch_entry_put(b, sid, m, 1, false);
			tbatch_rel_put(b, sid, (uint16_t)(i + 1));
			msg_unref(m);
		}
	}
	apply_ok(st, b);
	b = tbatch_create(0, 2);
	tbatch_session_del(b, 2);
	/* Records after the delete, for the gone session, are skipped. */
	{
		struct msg *late = mkmsg_s("late", "late", 99999);

		tbatch_sub_put(b, 2, "late/+", 6, 1);
		tbatch_entry_put(b, 2, late, 1, false);
		tbatch_rel_put(b, 2, 7);
		msg_unref(late);
	}
	apply_ok(st, b);
	s = stats_of(st);
	cr_assert_eq(s.sessions, 2);
	cr_assert_eq(s.subs, 600);
	cr_assert_eq(s.entries, 602);
	cr_assert_eq(s.rels, 600);
	cr_assert_eq(s.msgs, 601, "msgs %llu", (unsigned long long)s.msgs);
	store_close(st);

	st = open_ok(sdir, 0);
	ls = load_ok(st, &l);
	cr_assert_eq(ls.orphans_deleted, 0);
	for (size_t i = 0; i < l.n; i++)
		cr_assert(l.r[i].kind == 'R' || l.r[i].sid != 2);
	cr_assert_eq(count_kind(&l, 'S'), 2);
	loaded_free(&l);
	store_close(st);
	msg_unref(shared);
}

/* ---- orphans -------------------------------------------------------------- */

Test(store, records_nothing_refers_to_are_deleted_on_load)
{
	struct store *st;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi db[STORE_DB_N];
	uint8_t k[16], v[8];
	struct store_load_stats ls;
	struct loaded l = { 0 };
	struct persist_batch *b;

	make_store(sdir, 1);     /* session 1, sub, entry of msg 1 */
	env = raw_open(sdir);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (int i = 0; i < STORE_DB_N; i++)
		cr_assert_eq(mdb_dbi_open(txn, store_db_names[i], 0, &db[i]), 0);
	store_put_be64(k, 99);                          /* sub of a missing session */
	memcpy(k + 8, "x/y", 3);
	raw_put(txn, db[STORE_DB_SUBS], k, 11, "\1", 1);
	store_put_be64(k + 8, 1);                       /* entry of a missing session */
	raw_put(txn, db[STORE_DB_ENTRIES], k, 16, "\1\0\0\0\0", 5);
	store_put_be16(k + 8, 5);                       /* rel of a missing session */
	raw_put(txn, db[STORE_DB_RELS], k, 10, "", 0);
	store_put_be64(k, 1);                           /* entry of a missing message */
	store_put_be64(k + 8, 555);
	raw_put(txn, db[STORE_DB_ENTRIES], k, 16, "\1\0\0\0\0", 5);
	store_put_be64(k, 777);                         /* message nothing refers to */
	raw_put(txn, db[STORE_DB_MSGS], k, 8, "\1\0\0\1zpayload", 12);
	store_put_be64(v, 888);                         /* retained of a missing message */
	raw_put(txn, db[STORE_DB_RETAINED], "r/x", 3, v, 8);
	store_put_be64(k, 1);                           /* msg 1's count, wrong */
	store_put_be32(v, 50);
	raw_put(txn, db[STORE_DB_REFS], k, 8, v, 4);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	st = open_ok(sdir, 0);
	ls = load_ok(st, &l);
	cr_assert_eq(ls.orphans_deleted, 6, "deleted %llu",
		     (unsigned long long)ls.orphans_deleted);
	cr_assert_eq(ls.sessions, 1);
	cr_assert_eq(ls.subs, 1);
	cr_assert_eq(ls.entries, 1);
	cr_assert_eq(ls.rels, 0);
	cr_assert_eq(ls.retained, 0);
	cr_assert_eq(ls.msgs, 1);
	cr_assert_eq(stats_of(st).msgs, 1);
	loaded_free(&l);
	/* The count was set right: the one entry's delete deletes the message. */
	b = tbatch_create(0, 9);
	tbatch_entry_del(b, 1, 1);
	apply_ok(st, b);
	cr_assert_eq(stats_of(st).msgs, 0);
	store_close(st);

	st = open_ok(sdir, 0);
	cr_assert_eq(load_ok(st, &l).orphans_deleted, 0);
	loaded_free(&l);
	store_close(st);
}

/* ---- bounded size --------------------------------------------------------- */

Test(store, the_file_does_not_grow_under_a_steady_load)
{
	struct store *st = open_ok(sdir, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	char payload[200];
	off_t at10 = 0, at200;
	uint64_t id = 1, t0;
	unsigned psize;

	memset(payload, 'p', sizeof(payload));
	tbatch_session_put(b, 1, "steady", 6, 0);
	apply_ok(st, b);
	psize = st->psize;
	t0 = now_us();
	for (unsigned round = 1; round <= 200; round++) {
		uint64_t first = id;

		b = tbatch_create(0, round * 2);
		for (unsigned i = 0; i < 1000; i++, id++) {
			struct msg *m = mkmsg("steady/t", 8, payload, sizeof(payload), id, 1,
					      false);

			tbatch_entry_put(b, 1, m, 1, false);
			msg_unref(m);
		}
		apply_ok(st, b);
		b = tbatch_create(0, round * 2 + 1);
		for (uint64_t d = first; d < id; d++)
			tbatch_entry_del(b, 1, d);
		apply_ok(st, b);
		if (round == 10)
			at10 = file_size(spath);
	}
	at200 = file_size(spath);
	t0 = now_us() - t0;
	cr_log_info("data.mdb after round 10: %lld bytes, after round 200: %lld bytes; "
		    "400 commits of 1000 records (200-byte messages) in %llu ms: %.0f "
		    "records/s", (long long)at10, (long long)at200,
		    (unsigned long long)t0 / 1000, 400000 * 1e6 / (double)(t0 ? t0 : 1));
	cr_assert_leq(at200, at10 + psize, "grew from %lld to %lld bytes", (long long)at10,
		      (long long)at200);
	cr_assert_eq(stats_of(st).msgs, 0);
	store_close(st);
}

/* ---- figures ---------------------------------------------------------------- */

static int count_session(void *arg, uint64_t sid, const char *cid, size_t len,
			 uint64_t since)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_sub(void *arg, uint64_t sid, const char *f, size_t len, uint8_t qos)
{
	return len == 0 ? -EINVAL : 0;
}

/* 100k offline sessions with one subscription each all come back; prints the load
 * rate and the bytes on disk per session (figures for the report, not asserted). */
Test(store, a_hundred_thousand_sessions_load_back)
{
	const uint64_t n = 100000;
	const struct store_load_ops ops = { count_session, count_sub, on_entry, on_rel,
					    on_retained };
	struct store *st = open_ok(sdir, 0);
	struct store_load_stats ls;
	struct store_stats s;
	uint64_t seen = 0;
	char cid[40], f[64], err[256];

	for (uint64_t base = 0; base < n; base += 10000) {
		struct persist_batch *b = tbatch_create(0, base + 1);

		for (uint64_t sid = base + 1; sid <= base + 10000; sid++) {
			snprintf(cid, sizeof(cid), "sensor-%08llu", (unsigned long long)sid);
			snprintf(f, sizeof(f), "site/%llu/cmd/#", (unsigned long long)sid);
			tbatch_session_put(b, sid, cid, strlen(cid), 1700000000000ull);
			tbatch_sub_put(b, sid, f, strlen(f), 1);
		}
		apply_ok(st, b);
	}
	store_close(st);
	st = open_ok(sdir, 0);
	cr_assert_eq(store_load(st, &ops, &seen, &ls, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ls.sessions, n);
	cr_assert_eq(ls.subs, n);
	cr_assert_eq(seen, n);
	s = stats_of(st);
	cr_log_info("loaded %llu sessions in %llu us: %.0f sessions/s; data.mdb %llu bytes, "
		    "%llu in use: %.1f bytes per session on disk (%.1f in use)",
		    (unsigned long long)n, (unsigned long long)ls.elapsed_us,
		    n * 1e6 / (double)(ls.elapsed_us ? ls.elapsed_us : 1),
		    (unsigned long long)s.file_bytes, (unsigned long long)s.used_bytes,
		    (double)s.file_bytes / (double)n, (double)s.used_bytes / (double)n);
	store_close(st);
}
