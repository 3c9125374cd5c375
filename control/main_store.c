/* main_store.c - see main_store.h. Main thread only. The order of the calls is the
 * contract of docs/architecture.md "Persistence": the store is opened before anything
 * else starts (a refusal leaves no thread, socket or DPDK port behind), loaded into
 * the workers before they run, and the control plane outlives the workers at shutdown
 * so that their last batches (sessions going offline) are committed and synced before
 * petrel exits. */
#include "main_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/persist.h"
#include "petrel/store.h"

static const char *main_store_sync_name(const struct config *cfg, char *buf, size_t len)
{
	if (cfg->persistence_sync == PERSIST_SYNC_ALWAYS)
		return "always";
	if (cfg->persistence_sync == PERSIST_SYNC_NEVER)
		return "never";
	snprintf(buf, len, "%u ms", cfg->persistence_sync_ms);
	return buf;
}

int main_store_open(struct main_store *ms, const struct config *cfg)
{
	char err[1024];
	char sync[32];
	int rc;

	memset(ms, 0, sizeof(*ms));
	if (!cfg->persistence)
		return 0;
	rc = store_open(&ms->st, cfg->persistence_location, cfg->persistence_max_size, err,
			sizeof(err));
	if (rc < 0) {
		/* The store's reason names the file and what to do; one line. */
		fprintf(stderr, "petrel: %s\n", err);
		ms->st = NULL;
		return 1;
	}
	log_notice("store: %s open, persistence_sync %s", store_path(ms->st),
		   main_store_sync_name(cfg, sync, sizeof(sync)));
	/* Queued QoS 0 messages are not stored (persist.h): say so rather than let an
	 * operator believe they survive a restart. */
	if (cfg->queue_qos0_messages)
		log_warn("queue_qos0_messages: QoS 0 messages queued for offline sessions are "
			 "kept in memory only; the store keeps QoS 1 and 2 messages");
	return 0;
}

int main_store_start(struct main_store *ms, struct broker *b)
{
	struct store_load_stats ls;
	char err[1024];
	int rc;

	if (ms->st == NULL)
		return 0;
	memset(&ls, 0, sizeof(ls));
	/* mqtt_restore logs the "store: loaded ..." line. */
	rc = mqtt_restore(b, ms->st, &ls, err, sizeof(err));
	if (rc < 0) {
		log_err("store: cannot load %s: %s", store_path(ms->st), err);
		return 1;
	}
	rc = persist_create(&ms->p, ls.max_sid, ls.max_msg_id);
	if (rc < 0) {
		log_err("store: cannot create the queue to the control plane: %s",
			strerror(-rc));
		return 1;
	}
	rc = persist_attach(b, ms->p);
	if (rc < 0) {
		log_err("store: cannot attach the workers to the queue: %s", strerror(-rc));
		return 1;
	}
	return 0;
}

int main_store_stop(struct main_store *ms, struct cplane *cp)
{
	int rc;

	if (cp == NULL)
		return 0;
	rc = cplane_stop(cp);
	if (rc < 0 && ms->st != NULL) {
		/* cplane_stop logged what was not stored. An acknowledgement waits for
		 * the commit of what it depends on, so what failed here was never
		 * acknowledged, unless only the final sync of <ms>/never failed. */
		log_err("store: shutdown could not commit and sync everything to %s (%s); "
			"the line before says what was not stored", store_path(ms->st),
			strerror(-rc));
		return 1;
	}
	return 0;
}

/* The store's totals at shutdown, beside the workers' "totals:" line: what is kept
 * and how large the file is (docs/operations.md "Bounds and their counters"). */
static void main_store_log_totals(struct store *st)
{
	struct store_stats ss;
	int rc = store_stats(st, &ss);

	if (rc < 0) {
		log_notice("store: %s closed (no totals: %s)", store_path(st), strerror(-rc));
		return;
	}
	log_notice("store: %s closed: %" PRIu64 " sessions, %" PRIu64 " subscriptions, %"
		   PRIu64 " queued or inflight, %" PRIu64 " messages, %" PRIu64 " retained; "
		   "file %" PRIu64 " bytes, %" PRIu64 " in use; commits=%" PRIu64
		   " commit_failures=%" PRIu64, store_path(st), ss.sessions, ss.subs,
		   ss.entries, ss.msgs, ss.retained, ss.file_bytes, ss.used_bytes, ss.commits,
		   ss.commit_failures);
}

void main_store_close(struct main_store *ms, struct broker *b)
{
	if (ms->p != NULL) {
		persist_destroy(ms->p);
		ms->p = NULL;
		if (b != NULL)
			b->persist = NULL;
	}
	if (ms->st != NULL) {
		main_store_log_totals(ms->st);
		store_close(ms->st);
		ms->st = NULL;
	}
}
