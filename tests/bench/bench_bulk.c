/* bench_bulk.c - queued messages for many sessions and their reconnect (see
 * bench_bulk.h). */
#include "bench_bulk.h"

#include <errno.h>

#include "bench_loop.h"
#include "bench_pub.h"
#include "bench_run.h"
#include "bench_time.h"

/* How often a thread whose own sessions are complete looks at the others'. */
#define BENCH_BULK_POLL_NS (2 * BENCH_NS_PER_MS)

/* The topic ends in BENCH_TOPIC_DIGITS digits right before the packet id (QoS > 0). */
static void bench_bulk_topic_index(const struct bench_pub *p, uint8_t *pkt, uint32_t index)
{
	uint8_t *d = pkt + p->hdr_off - 2;
	int i;

	for (i = 0; i < BENCH_TOPIC_DIGITS; i++) {
		*--d = (uint8_t)('0' + index % 10);
		index /= 10;
	}
}

/* The next session of <th> at or after *<pos>, wrapping to the next message; false
 * when every message of every session is stamped. */
static bool bench_bulk_next(const struct bench_thread *th, uint32_t *pos, uint32_t *msg)
{
	uint32_t messages = th->run->o->messages;

	while (*msg < messages) {
		for (; *pos < th->nconns; (*pos)++) {
			if (th->conns[*pos].role == BENCH_ROLE_SUB)
				return true;
		}
		*pos = 0;
		(*msg)++;
	}
	return false;
}

int bench_bulk_publish(struct bench_thread *th, uint64_t deadline)
{
	struct bench_conn *pc, *c;
	uint32_t pos = 0, msg = 0, n;
	struct bench_pub *p;
	uint8_t *pkt;

	if (th->npubs == 0)
		return 0;
	pc = th->pubs[0];
	p = pc->pub;
	th->now = bench_now();
	for (;;) {
		if (!bench_conn_live(pc))
			return -EPIPE;
		n = 0;
		while (bench_bulk_next(th, &pos, &msg)) {
			c = &th->conns[pos];
			pkt = bench_pub_stamp(p, c->role_id, msg, th->now);
			if (pkt == NULL)
				break;
			bench_bulk_topic_index(p, pkt, c->role_id);
			pos++;
			n++;
		}
		th->st.published_total += n;
		if (n > 0)
			bench_loop_want_write(th, pc);
		if (msg >= th->run->o->messages && bench_pub_inflight(p) == 0)
			return 0;
		if (th->now >= deadline || bench_run_aborted(th->run))
			return -ETIMEDOUT;
		bench_loop_turn(th, deadline);
	}
}

void bench_bulk_setup(struct bench_thread *th, uint32_t window, const char *phase,
		      bool leave)
{
	struct bench_run *run = th->run;

	if (bench_run_barrier(run)) {
		run->leave_after_suback = leave;
		run->conn_t_first = bench_now();
		bench_progress_phase(run, phase, run->nsubs);
	}
	bench_run_barrier(run);
	if (bench_loop_open_role(th, BENCH_ROLE_SUB, window,
				 run->conn_t_first + run->phase_timeout_ns) > 0)
		bench_run_abort(run);
	if (bench_run_barrier(run)) {
		run->leave_after_suback = false;
		run->conn_t_last = bench_run_last_ok(run, run->conn_t_first);
		bench_progress_phase(run, "publisher", run->npubs);
	}
	bench_run_barrier(run);
	if (!bench_run_aborted(run) &&
	    bench_loop_open_role(th, BENCH_ROLE_PUB, 1, bench_now() + run->phase_timeout_ns) > 0)
		bench_run_abort(run);
	bench_run_barrier(run);
}

void bench_bulk_publish_phase(struct bench_thread *th)
{
	struct bench_run *run = th->run;

	if (bench_run_barrier(run)) {
		run->pub_t_first = bench_now();
		bench_progress_phase(run, "publish", 0);
	}
	bench_run_barrier(run);
	if (!bench_run_aborted(run) &&
	    bench_bulk_publish(th, run->pub_t_first + run->phase_timeout_ns) < 0)
		bench_run_abort(run);
	if (bench_run_barrier(run))
		run->pub_t_last = bench_now();
	bench_run_barrier(run);
}

void bench_bulk_abort(struct bench_thread *th)
{
	struct bench_conn *c;
	uint32_t i;

	for (i = 0; i < th->nconns; i++) {
		c = &th->conns[i];
		if (c->role == BENCH_ROLE_SUB && bench_conn_live(c))
			bench_conn_abort(c);
	}
}

uint32_t bench_bulk_reopen(struct bench_thread *th, uint32_t window, uint64_t deadline)
{
	struct bench_conn *c;
	uint32_t i;

	/* One turn drops the closed sessions from the read and write queues (a teardown
	 * empties them without clearing the flags), so the flags can start afresh. */
	th->now = bench_now();
	bench_loop_turn(th, th->now);
	for (i = 0; i < th->nconns; i++) {
		c = &th->conns[i];
		if (c->role != BENCH_ROLE_SUB)
			continue;
		if (bench_conn_live(c))
			bench_conn_close(c, BCS_DONE);
		c->on_rdq = c->on_wrq = false;
		c->settled = false;
	}
	return bench_loop_open_role(th, BENCH_ROLE_SUB, window, deadline);
}

bool bench_bulk_resume(struct bench_thread *th, uint32_t window, uint32_t leave_after,
		       const char *phase)
{
	struct bench_run *run = th->run;

	if (bench_run_barrier(run)) {
		run->resuming = true;
		run->leave_after = leave_after;
		run->verified = true;
		run->back_t_first = bench_now();
		bench_progress_phase(run, phase, run->nsubs);
	}
	bench_run_barrier(run);
	th->win_lo = run->back_t_first;
	th->win_hi = UINT64_MAX;
	bench_bulk_reopen(th, window, run->back_t_first + run->phase_timeout_ns);
	if (!bench_run_barrier(run))
		return false;
	run->back_t_last = bench_run_last_ok(run, run->back_t_first);
	return true;
}

void bench_bulk_collect(struct bench_thread *th, uint64_t deadline)
{
	struct bench_run *run = th->run;
	uint64_t want = (uint64_t)run->nsubs * run->o->messages, until;

	while (th->now < deadline && !bench_run_aborted(run) &&
	       bench_progress_sum_distinct(run) < want) {
		until = th->now + BENCH_BULK_POLL_NS;
		bench_loop_turn(th, until < deadline ? until : deadline);
	}
}

void bench_bulk_delivered(struct bench_run *run)
{
	uint64_t distinct = 0;
	unsigned int i;

	/* The others wait at the barrier: their plain counters are current. */
	for (i = 0; i < run->nthreads; i++)
		distinct += run->th[i].st.distinct;
	if (distinct >= (uint64_t)run->nsubs * run->o->messages)
		run->deliver_t_last = bench_run_last_new(run);
}
