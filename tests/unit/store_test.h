/* store_test.h - helpers shared by the store's suites (test_store.c,
 * test_store_refuse.c): a temporary store directory per test (the suites' .init and
 * .fini), opening and applying that must succeed, messages with store ids, a load that
 * records every callback in order, file checksums, and raw LMDB access to plant what
 * the store itself never writes. Criterion asserts inside: test threads only. */
#ifndef PETREL_TEST_STORE_TEST_H
#define PETREL_TEST_STORE_TEST_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "petrel/store.h"

struct msg;
struct persist_batch;

/* The test's directory and its data.mdb; tmpfs_mounted: a test mounted a tmpfs on
 * sdir (the fini unmounts it). */
extern char sdir[64];
extern char spath[96];
extern bool tmpfs_mounted;
void store_test_setup(void);
void store_test_teardown(void);
/* Mounts a tmpfs of <mib> MiB on sdir in a private mount namespace (a full disk on
 * demand), or skips the test where that is not allowed (not root). */
void mount_tmpfs_or_skip(unsigned mib);

struct store *open_ok(const char *d, size_t map);
int apply_n(struct store *st, struct persist_batch **b, size_t n, char *err, size_t errlen);
/* Applies <b> (must succeed) and frees it. */
void apply_ok(struct store *st, struct persist_batch *b);
struct msg *mkmsg(const char *topic, size_t tlen, const char *payload, size_t plen,
		  uint64_t id, uint8_t qos, bool retain);
struct msg *mkmsg_s(const char *topic, const char *payload, uint64_t id);
/* <len> bytes of a pattern starting at <c>; free() it. */
char *filled(size_t len, char c);
struct store_stats stats_of(struct store *st);

/* What a load handed out, in call order. */
struct lrec {
	char kind;               /* 'S' session, 'u' sub, 'e' entry, 'r' rel, 'R' retained */
	uint64_t sid;
	char *str;               /* client id or filter (copy) */
	size_t len;
	uint64_t num;            /* offline_since */
	struct msg *m;           /* entry, retained: a reference of ours */
	uint8_t qos, state;
	bool retain;
	uint16_t packet_id;
};

struct loaded {
	struct lrec *r;
	size_t n, cap;
	size_t stop_at;          /* > 0: the session callback fails at this record */
};

/* The callbacks of load_ops (each records into a struct loaded). */
int on_session(void *arg, uint64_t sid, const char *cid, size_t len, uint64_t since);
int on_sub(void *arg, uint64_t sid, const char *f, size_t len, uint8_t qos);
int on_entry(void *arg, uint64_t sid, struct msg *m, uint8_t qos, bool retain,
	     uint16_t packet_id, uint8_t state);
int on_rel(void *arg, uint64_t sid, uint16_t packet_id);
int on_retained(void *arg, struct msg *m);
extern const struct store_load_ops load_ops;
struct store_load_stats load_ok(struct store *st, struct loaded *l);
void loaded_free(struct loaded *l);
size_t count_kind(const struct loaded *l, char kind);

/* FNV-1a over a file's bytes, and its size: "the file is unchanged". */
uint64_t file_sum(const char *p, off_t *size);
off_t file_size(const char *p);
/* A store with <n> sessions, each with a subscription and a message. */
void make_store(const char *d, unsigned n);
/* LMDB alone, as another tool would open the store. */
MDB_env *raw_open(const char *d);
void raw_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl);
uint64_t now_us(void);

#endif
