/* store_test.c - helpers of the store's suites (test_store.c, test_store_refuse.c);
 * see store_test.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "petrel/msg.h"
#include "petrel/persist.h"
#include "store_format.h"
#include "store_test.h"
#include "tbatch.h"

char sdir[64];
char spath[96];
bool tmpfs_mounted;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

void store_test_setup(void)
{
	strcpy(sdir, "/tmp/petrel-store-XXXXXX");
	cr_assert_not_null(mkdtemp(sdir));
	snprintf(spath, sizeof(spath), "%s/data.mdb", sdir);
}

void store_test_teardown(void)
{
	if (tmpfs_mounted)
		umount2(sdir, MNT_DETACH);
	nftw(sdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void mount_tmpfs_or_skip(unsigned mib)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%um,mode=0700", mib);
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", sdir, "tmpfs", 0, opts) != 0)
		cr_skip_test("cannot mount a %u MiB tmpfs on %s (%s): needs root", mib, sdir,
			     strerror(errno));
	tmpfs_mounted = true;
}

struct store *open_ok(const char *d, size_t map)
{
	struct store *st = NULL;
	char err[512] = "";
	int rc = store_open(&st, d, map, err, sizeof(err));

	cr_assert_eq(rc, 0, "store_open: %d %s", rc, err);
	return st;
}

int apply_n(struct store *st, struct persist_batch **b, size_t n, char *err,
		   size_t errlen)
{
	return store_apply(st, (struct persist_batch *const *)b, n, false, err, errlen);
}

/* Applies <b> (must succeed) and frees it. */
void apply_ok(struct store *st, struct persist_batch *b)
{
	char err[512] = "";
	int rc = apply_n(st, &b, 1, err, sizeof(err));

	cr_assert_eq(rc, 0, "store_apply: %d %s", rc, err);
	tbatch_free(b);
}

struct msg *mkmsg(const char *topic, size_t tlen, const char *payload, size_t plen,
			 uint64_t id, uint8_t qos, bool retain)
{
	struct msg *m = msg_create(topic, tlen, payload, plen, qos, retain);

	cr_assert_not_null(m);
	atomic_store(&m->store_id, id);
	return m;
}

struct msg *mkmsg_s(const char *topic, const char *payload, uint64_t id)
{
	return mkmsg(topic, strlen(topic), payload, strlen(payload), id, 1, false);
}

char *filled(size_t len, char c)
{
	char *s = malloc(len);

	cr_assert_not_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = (char)(c + i % 23);
	return s;
}

struct store_stats stats_of(struct store *st)
{
	struct store_stats s;

	cr_assert_eq(store_stats(st, &s), 0);
	return s;
}

static struct lrec *lpush(struct loaded *l, char kind, uint64_t sid)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->r = realloc(l->r, l->cap * sizeof(*l->r));
		cr_assert_not_null(l->r);
	}
	memset(&l->r[l->n], 0, sizeof(l->r[0]));
	l->r[l->n].kind = kind;
	l->r[l->n].sid = sid;
	return &l->r[l->n++];
}

static char *dup_mem(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	cr_assert_not_null(d);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

int on_session(void *arg, uint64_t sid, const char *cid, size_t len, uint64_t since)
{
	struct loaded *l = arg;
	struct lrec *r;

	if (l->stop_at != 0 && l->n + 1 >= l->stop_at)
		return -ECANCELED;
	r = lpush(l, 'S', sid);
	r->str = dup_mem(cid, len);
	r->len = len;
	r->num = since;
	return 0;
}

int on_sub(void *arg, uint64_t sid, const char *f, size_t len, uint8_t qos)
{
	struct lrec *r = lpush(arg, 'u', sid);

	r->str = dup_mem(f, len);
	r->len = len;
	r->qos = qos;
	return 0;
}

int on_entry(void *arg, uint64_t sid, struct msg *m, uint8_t qos, bool retain,
		    uint16_t packet_id, uint8_t state)
{
	struct lrec *r = lpush(arg, 'e', sid);

	r->m = msg_ref(m);
	r->qos = qos;
	r->retain = retain;
	r->packet_id = packet_id;
	r->state = state;
	return 0;
}

int on_rel(void *arg, uint64_t sid, uint16_t packet_id)
{
	lpush(arg, 'r', sid)->packet_id = packet_id;
	return 0;
}

int on_retained(void *arg, struct msg *m)
{
	lpush(arg, 'R', 0)->m = msg_ref(m);
	return 0;
}

const struct store_load_ops load_ops = {
	on_session, on_sub, on_entry, on_rel, on_retained,
};

void loaded_free(struct loaded *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->r[i].str);
		msg_unref(l->r[i].m);
	}
	free(l->r);
	memset(l, 0, sizeof(*l));
}

struct store_load_stats load_ok(struct store *st, struct loaded *l)
{
	struct store_load_stats ls;
	char err[512] = "";
	int rc = store_load(st, &load_ops, l, &ls, err, sizeof(err));

	cr_assert_eq(rc, 0, "store_load: %d %s", rc, err);
	return ls;
}

size_t count_kind(const struct loaded *l, char kind)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->r[i].kind == kind;
	return n;
}

/* FNV-1a over the file's bytes, and its size: "the file is unchanged". */
uint64_t file_sum(const char *p, off_t *size)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t buf[65536];
	ssize_t n;
	int fd = open(p, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", p, strerror(errno));
	*size = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
		*size += n;
	}
	close(fd);
	return h;
}

off_t file_size(const char *p)
{
	struct stat sb;

	cr_assert_eq(stat(p, &sb), 0);
	return sb.st_size;
}

/* A store with some data in it: <n> sessions with a subscription and a message each. */
void make_store(const char *d, unsigned n)
{
	struct store *st = open_ok(d, 0);
	struct persist_batch *b = tbatch_create(0, 1);
	char cid[32];

	for (unsigned i = 1; i <= n; i++) {
		struct msg *m = mkmsg_s("t/x", "payload of some length to fill pages", i);

		snprintf(cid, sizeof(cid), "client-%u", i);
		tbatch_session_put(b, i, cid, strlen(cid), 1000 + i);
		tbatch_sub_put(b, i, "a/+/c", 5, 1);
		tbatch_entry_put(b, i, m, 1, false);
		msg_unref(m);
	}
	apply_ok(st, b);
	store_close(st);
}

void raw_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
	MDB_val key = { kl, store_unconst(k) }, val = { vl, store_unconst(v) };

	cr_assert_eq(mdb_put(txn, dbi, &key, &val, 0), 0);
}

/* Opens <d>'s environment with LMDB alone, as another tool would. */
MDB_env *raw_open(const char *d)
{
	MDB_env *env;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
	cr_assert_eq(mdb_env_open(env, d, MDB_NOLOCK, 0600), 0);
	return env;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
