/* test_cplane.c - the control-plane thread (control/cplane.c) over a real LMDB store
 * (control/store.c) in a temporary directory: batches of two workers applied and
 * each worker told its own seq, a sleeping worker woken by its notice, group commit,
 * a failing store (file size limit: the disk is "full") holding the notices back,
 * logged once, and recovering when space returns, the sync policies, and the orderly
 * stop that stores everything still queued. The workers are a real broker's, never
 * started (mem_transport.h): the test appends and pushes on their behalf. What was
 * stored is read back by opening the store again and loading it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/store.h"
#include "petrel/worker.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { WA, WB, NWORKERS };

static struct broker B;
static struct persist *P;
static struct store *ST;
static struct cplane *CP;
static char dir[64];

TestSuite(cplane, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 120);

/* A broker of two unstarted workers with persistence attached over a new store.
 * The control plane is not started yet (cplane_up). */
static void up(enum persist_sync sync, unsigned sync_ms)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	cfg.workers = NWORKERS;
	cfg.persistence_sync = sync;
	cfg.persistence_sync_ms = sync_ms;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_ERR);
	snprintf(dir, sizeof(dir), "/tmp/petrel-test-cplane-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
	cr_assert_eq(store_open(&ST, dir, 0, err, sizeof(err)), 0, "store: %s", err);
	cr_assert_eq(persist_create(&P, 0, 0), 0);
	cr_assert_eq(persist_attach(&B, P), 0);
}

static void cplane_up(void)
{
	struct cplane_params prm = { .b = &B, .st = ST, .ctl_fd = -1 };
	char err[256];

	cr_assert_eq(cplane_start(&CP, &prm, err, sizeof(err)), 0, "cplane: %s", err);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_dir(void)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* As main: workers stopped, then the control plane, then the rest. Returns what
 * cplane_stop returned. The store stays open (ST) for the caller to read back. */
static int stop_all(void)
{
	int rc = cplane_stop(CP);

	CP = NULL;
	mem_broker_shutdown(&B);
	persist_destroy(P);
	P = NULL;
	return rc;
}

static void down(void)
{
	if (ST != NULL)
		store_close(ST);
	ST = NULL;
	rm_dir();
	assert_no_leaks_rcu();
}

static struct worker *W(unsigned i)
{
	return B.workers[i];
}

#define ON_WORKER(i) for (int prev_ = worker_set_current(i), once_ = 1; once_; \
			  once_ = 0, worker_set_current(prev_))

/* Waits (bounded: 20 s, the machine is shared) for <w>'s committed to reach <seq>. */
static bool wait_committed(struct worker *w, uint64_t seq)
{
	uint64_t end = unit_now_ms() + 20000;

	while (atomic_load(&w->persist->committed) < seq) {
		if (unit_now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static struct cplane_stats stats(void)
{
	struct cplane_stats s;

	cplane_stats_read(CP, &s);
	return s;
}

/* One session record per batch: <n> batches from <w>, seqs going on from its last. */
static void push_sessions(unsigned wi, uint64_t first_sid, unsigned n)
{
	ON_WORKER(wi) {
		for (unsigned i = 0; i < n; i++) {
			char id[32];
			int len = snprintf(id, sizeof(id), "c%lu", (unsigned long)(first_sid + i));

			cr_assert_eq(persist_session_put(W(wi), first_sid + i, id, (size_t)len,
							 0), 0);
			persist_push(W(wi));
		}
	}
}

/* What a store holds, by loading it as start-up does. */
struct loaded {
	uint64_t sessions, subs, entries, retained;
	char last_client[64];
	uint32_t entry_payload_len;
	char entry_payload_first;
};

static int ld_session(void *arg, uint64_t sid, const char *id, size_t len, uint64_t off)
{
	struct loaded *l = arg;

	(void)sid;
	(void)off;
	l->sessions++;
	snprintf(l->last_client, sizeof(l->last_client), "%.*s", (int)len, id);
	return 0;
}

static int ld_sub(void *arg, uint64_t sid, const char *f, size_t len, uint8_t qos)
{
	(void)sid;
	(void)f;
	(void)len;
	(void)qos;
	((struct loaded *)arg)->subs++;
	return 0;
}

static int ld_entry(void *arg, uint64_t sid, struct msg *m, uint8_t qos, bool retain,
		    uint16_t packet_id, uint8_t state)
{
	struct loaded *l = arg;

	(void)sid;
	(void)qos;
	(void)retain;
	(void)packet_id;
	(void)state;
	l->entries++;
	l->entry_payload_len = m->payload_len;
	l->entry_payload_first = m->payload_len ? (char)m->payload[0] : 0;
	return 0;
}

static int ld_rel(void *arg, uint64_t sid, uint16_t packet_id)
{
	(void)arg;
	(void)sid;
	(void)packet_id;
	return 0;
}

static int ld_retained(void *arg, struct msg *m)
{
	(void)m;
	((struct loaded *)arg)->retained++;
	return 0;
}

static struct loaded reload(void)
{
	static const struct store_load_ops ops = {
		.session = ld_session, .sub = ld_sub, .entry = ld_entry, .rel = ld_rel,
		.retained = ld_retained,
	};
	struct store_load_stats ls;
	struct loaded l;
	char err[256];

	memset(&l, 0, sizeof(l));
	store_close(ST);
	ST = NULL;
	cr_assert_eq(store_open(&ST, dir, 0, err, sizeof(err)), 0, "reopen: %s", err);
	cr_assert_eq(store_load(ST, &ops, &l, &ls, err, sizeof(err)), 0, "load: %s", err);
	return l;
}

Test(cplane, batches_of_two_workers_are_stored_and_each_hears_its_seq)
{
	struct cplane_stats s;
	struct loaded l;
	struct msg *m;

	up(PERSIST_SYNC_ALWAYS, 0);
	cplane_up();
	m = msg_create("x/y", 3, "qqq", 3, 1, false);
	cr_assert_not_null(m);
	ON_WORKER(WA) {
		cr_assert_eq(persist_session_put(W(WA), 1, "a", 1, 0), 0);
		cr_assert_eq(persist_sub_put(W(WA), 1, "x/#", 3, 1), 0);
		persist_push(W(WA));
		cr_assert_eq(persist_session_put(W(WA), 3, "c", 1, 0), 0);
		persist_push(W(WA));
	}
	ON_WORKER(WB) {
		cr_assert_eq(persist_session_put(W(WB), 2, "b", 1, 0), 0);
		cr_assert_eq(persist_entry_put(W(WB), 2, m, 1, false), 0);
		persist_push(W(WB));
	}
	msg_unref(m);
	cr_assert(wait_committed(W(WA), 2), "A's seq 2 never committed");
	cr_assert(wait_committed(W(WB), 1), "B's seq 1 never committed");
	cr_assert_eq(atomic_load(&W(WA)->persist->committed), 2);
	cr_assert_eq(atomic_load(&W(WB)->persist->committed), 1, "B hears its own seq");
	s = stats();
	cr_assert_eq(s.batches, 3);
	cr_assert_eq(s.records, 5);
	cr_assert_geq(s.commits, 1);
	cr_assert_eq(s.commit_failures, 0);
	cr_assert_eq(s.syncs, s.commits, "always: every commit synced");
	cr_assert_eq(atomic_load(&P->pending_bytes), 0, "applied bytes are counted off");

	cr_assert_eq(stop_all(), 0);
	l = reload();
	cr_assert_eq(l.sessions, 3);
	cr_assert_eq(l.subs, 1);
	cr_assert_eq(l.entries, 1);
	cr_assert_eq(l.entry_payload_len, 3);
	cr_assert_eq(l.entry_payload_first, 'q');
	down();   /* the leak check: the batch's message reference was dropped */
}

Test(cplane, a_sleeping_worker_is_woken_by_its_notice)
{
	uint64_t v;

	up(PERSIST_SYNC_ALWAYS, 0);
	cplane_up();
	atomic_store(&W(WA)->sleeping, 1);
	atomic_store(&W(WB)->sleeping, 1);
	push_sessions(WA, 1, 1);
	cr_assert(wait_committed(W(WA), 1));
	cr_assert_eq(atomic_load(&W(WA)->sleeping), 0);
	cr_assert_eq(read(W(WA)->wake_fd, &v, sizeof(v)), (ssize_t)sizeof(v), "A woken");
	cr_assert_eq(atomic_load(&W(WB)->sleeping), 1, "B had nothing committed");
	cr_assert_eq(read(W(WB)->wake_fd, &v, sizeof(v)), -1);
	atomic_store(&W(WB)->sleeping, 0);
	cr_assert_eq(stop_all(), 0);
	down();
}

Test(cplane, batches_that_wait_together_go_in_one_commit)
{
	enum { QUEUED = 50, RUNNING = 400 };
	struct cplane_stats s;
	struct loaded l;

	up(PERSIST_SYNC_ALWAYS, 0);
	/* Queued before the control plane looks: one transaction takes them all. */
	push_sessions(WA, 1, QUEUED);
	cplane_up();
	cr_assert(wait_committed(W(WA), QUEUED));
	s = stats();
	cr_assert_eq(s.batches, QUEUED);
	cr_assert_eq(s.commits, 1, "%lu commits for %d queued batches",
		     (unsigned long)s.commits, QUEUED);

	/* Pushed while commits (each with its fsync) run: whatever arrived during one
	 * goes into the next, so there are fewer commits than batches. */
	push_sessions(WB, 1000, RUNNING);
	cr_assert(wait_committed(W(WB), RUNNING));
	s = stats();
	cr_assert_eq(s.batches, QUEUED + RUNNING);
	cr_assert_lt(s.commits - 1, RUNNING, "%lu commits for %d batches",
		     (unsigned long)(s.commits - 1), RUNNING);
	cr_assert_eq(stop_all(), 0);
	l = reload();
	cr_assert_eq(l.sessions, QUEUED + RUNNING);
	down();
}

static unsigned count_lines(const char *path, const char *needle)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static bool wait_failures(uint64_t n)
{
	uint64_t end = unit_now_ms() + 20000;

	while (stats().commit_failures < n) {
		if (unit_now_ms() > end)
			return false;
		usleep(10000);
	}
	return true;
}

/* A full disk: the file may not grow (RLIMIT_FSIZE, as a full file system refuses
 * the pages a commit writes). Nothing is acknowledged that is not stored: the notice
 * waits, the episode is logged once, retried, and ends when space returns. */
Test(cplane, a_failing_commit_holds_notices_logs_once_and_recovers)
{
	enum { BIG = 60 };
	static char payload[8192];
	char log_path[128];
	struct rlimit lim, open_lim;
	struct stat sb;
	struct loaded l;

	up(PERSIST_SYNC_ALWAYS, 0);
	snprintf(log_path, sizeof(log_path), "%s.log", dir);
	cr_assert_eq(log_open_file(log_path), 0);
	log_set_stderr(false);
	log_set_level(LOG_NOTICE);    /* the recovery is a notice */
	cplane_up();
	push_sessions(WA, 1, 1);
	cr_assert(wait_committed(W(WA), 1));

	cr_assert_eq(stat(store_path(ST), &sb), 0);
	signal(SIGXFSZ, SIG_IGN);     /* writes past the limit fail with EFBIG */
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &open_lim), 0);
	lim = open_lim;
	lim.rlim_cur = (rlim_t)sb.st_size;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

	memset(payload, 'r', sizeof(payload));
	ON_WORKER(WA) {
		for (unsigned i = 0; i < BIG; i++) {
			char topic[32];
			int len = snprintf(topic, sizeof(topic), "big/%u", i);
			struct msg *m = msg_create(topic, (size_t)len, payload, sizeof(payload),
						   1, true);

			cr_assert_not_null(m);
			cr_assert_eq(persist_retain_put(W(WA), m), 0);
			msg_unref(m);
		}
		persist_push(W(WA));    /* seq 2: does not fit */
	}
	cr_assert(wait_failures(1));
	push_sessions(WA, 2, 1);    /* seq 3: queued behind it, in order */
	cr_assert(wait_failures(3), "retried");
	cr_assert_eq(atomic_load(&W(WA)->persist->committed), 1,
		     "nothing after the failure is acknowledged");
	cr_assert_neq(atomic_load(&P->pending_bytes), 0, "still pending");
	cr_assert_eq(count_lines(log_path, "cannot commit"), 1, "logged once per episode");

	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &open_lim), 0);    /* space returns */
	cr_assert(wait_committed(W(WA), 3), "commits go on once there is room");
	cr_assert_eq(count_lines(log_path, "succeed again"), 1);
	cr_assert_eq(count_lines(log_path, "cannot commit"), 1);
	cr_assert_eq(stop_all(), 0);
	log_close_file();
	unlink(log_path);
	l = reload();
	cr_assert_eq(l.retained, BIG);
	cr_assert_eq(l.sessions, 2);
	down();
}

/* The orderly stop (cplane_stop after the workers were joined) stores what the
 * control plane has not taken yet, and syncs in every mode. */
Test(cplane, stop_stores_everything_still_queued)
{
	enum { N = 300 };
	struct loaded l;

	up(PERSIST_SYNC_NEVER, 0);
	cplane_up();
	push_sessions(WA, 1, N);
	push_sessions(WB, 1000, N);
	cr_assert_eq(stop_all(), 0);
	l = reload();
	cr_assert_eq(l.sessions, 2 * N);
	down();
}

Test(cplane, interval_sync_follows_an_unsynced_commit)
{
	struct cplane_stats s;
	uint64_t end;

	up(PERSIST_SYNC_INTERVAL, 20);
	cplane_up();
	push_sessions(WA, 1, 1);
	cr_assert(wait_committed(W(WA), 1));
	end = unit_now_ms() + 20000;
	while ((s = stats()).syncs == 0 && unit_now_ms() < end)
		usleep(1000);
	cr_assert_eq(s.syncs, 1, "one sync for the commits of one interval");
	cr_assert_eq(s.commits, 1);
	cr_assert_eq(stop_all(), 0);
	down();
}

Test(cplane, never_leaves_syncing_to_the_os)
{
	up(PERSIST_SYNC_NEVER, 0);
	cplane_up();
	push_sessions(WA, 1, 3);
	cr_assert(wait_committed(W(WA), 3));
	cr_assert_eq(stats().syncs, 0);
	cr_assert_eq(stop_all(), 0);
	down();
}
