/* admin_call.c - the control plane's side of admin.h: one call = one admin_msg per
 * worker asked; the workers hand their message back with admin_reply(), which queues
 * it on the reply queue (wfcqueue, many producers, the control plane the only
 * consumer) and writes its eventfd. The control plane takes the replies from its
 * epoll loop and runs the call's done function once: when every part came back, or
 * at control_request_timeout (the missing parts then read -ETIMEDOUT).
 *
 * A call is freed only when every message it posted came back (a late one is freed
 * as it arrives), so a worker's admin_reply always finds the queue through m->call:
 * the queue lives until admin_calls_destroy, after every worker was joined. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "petrel/admin.h"
#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/log.h"
#include "petrel/worker.h"

#include "cplane_int.h"

struct admin_slot {
	struct admin_msg *m;           /* posted; NULL once freed (late answer) */
	struct admin_msg stub;         /* what done reads for a part that is not back */
	bool back;
};

struct admin_call {
	struct admin_calls *ac;
	struct admin_call *prev, *next;    /* every call not freed */
	enum admin_op op;
	json_t *args;
	admin_done_fn *done;
	void *arg;
	uint64_t deadline_ms;
	unsigned n, answered;
	bool sent, finished, timed_out;
	struct admin_slot *slots;
};

struct admin_calls {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	int fd;                            /* eventfd: replies queued */
	struct cplane *cp;
	struct admin_call *live;
	bool closed;
};

void admin_reply(struct admin_msg *m)
{
	struct admin_calls *ac = m->call->ac;
	uint64_t one = 1;
	ssize_t r;

	cds_wfcq_enqueue(&ac->head, &ac->tail, &m->reply_node);
	r = write(ac->fd, &one, sizeof(one));
	(void)r;   /* EAGAIN: the counter is full, the control plane will wake anyway */
}

static void admin_msg_free(struct admin_msg *m)
{
	json_decref(m->args);
	json_decref(m->result);
	/* A configuration the worker never took (not posted, discarded before). */
	if (m->op == ADMIN_CONFIG && m->ptr != NULL)
		config_ref_put(m->ptr);
	free(m);
}

static void admin_call_free(struct admin_call *call)
{
	struct admin_calls *ac = call->ac;

	if (call->prev != NULL)
		call->prev->next = call->next;
	else if (ac->live == call)
		ac->live = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	for (unsigned i = 0; i < call->n; i++)
		if (call->slots[i].m != NULL)
			admin_msg_free(call->slots[i].m);
	json_decref(call->args);
	free(call->slots);
	free(call);
}

/* Runs done once; frees the call when every part is back. */
static void admin_call_finish(struct admin_call *call)
{
	call->finished = true;
	call->done(call, call->arg);
	if (call->answered == call->n)
		admin_call_free(call);
}

struct admin_call *admin_call_new(struct cplane *cp, enum admin_op op, json_t *args,
				  admin_done_fn *done, void *arg)
{
	struct admin_calls *ac = cplane_admin_calls(cp);
	struct admin_call *call = calloc(1, sizeof(*call));

	if (args == NULL)
		args = json_object();
	if (call == NULL || args == NULL) {
		free(call);
		json_decref(args);
		return NULL;
	}
	call->ac = ac;
	call->op = op;
	call->args = args;
	call->done = done;
	call->arg = arg;
	call->next = ac->live;
	if (ac->live != NULL)
		ac->live->prev = call;
	ac->live = call;
	return call;
}

static struct admin_msg *admin_msg_new(struct admin_call *call, unsigned worker)
{
	struct admin_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->h.type = WMSG_TYPE_ADMIN;
	m->call = call;
	m->op = call->op;
	m->worker = worker;
	m->args = json_deep_copy(call->args);
	if (m->args == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void admin_call_send(struct admin_call *call, int worker,
		     void *(*ptr_for)(unsigned worker, void *arg))
{
	struct admin_calls *ac = call->ac;
	struct broker *b = cplane_broker(ac->cp);
	unsigned first = worker < 0 ? 0 : (unsigned)worker;
	unsigned n = worker < 0 ? b->nworkers : 1;

	call->sent = true;
	call->deadline_ms = cplane_now_ms() + cplane_config(ac->cp)->control_request_timeout;
	call->slots = calloc(n, sizeof(*call->slots));
	if (call->slots == NULL) {
		/* Out of memory: done sees a call of no part, timed out. */
		call->timed_out = true;
		admin_call_finish(call);
		return;
	}
	call->n = n;
	for (unsigned i = 0; i < n; i++) {
		struct admin_slot *s = &call->slots[i];

		s->stub.op = call->op;
		s->stub.worker = first + i;
		s->stub.status = -ETIMEDOUT;
	}
	/* Prepared first, posted after: a part that cannot be made (or a quiesced
	 * control plane) must not leave others already running on their workers. */
	for (unsigned i = 0; i < n; i++) {
		struct admin_slot *s = &call->slots[i];

		if (ac->closed || worker >= (int)b->nworkers ||
		    (s->m = admin_msg_new(call, first + i)) == NULL) {
			s->stub.status = ac->closed ? -ECANCELED : worker >= (int)b->nworkers
				? -EINVAL : -ENOMEM;
			s->back = true;
			call->answered++;
			continue;
		}
		if (ptr_for != NULL)
			s->m->ptr = ptr_for(first + i, call->arg);
	}
	for (unsigned i = 0; i < n; i++)
		if (call->slots[i].m != NULL)
			worker_post(b->workers[first + i], &call->slots[i].m->h);
	if (call->answered == n)
		admin_call_finish(call);
}

unsigned admin_call_count(const struct admin_call *call)
{
	return call->n;
}

const struct admin_msg *admin_call_reply(const struct admin_call *call, unsigned i)
{
	const struct admin_slot *s = &call->slots[i];

	return s->back && s->m != NULL ? s->m : &s->stub;
}

bool admin_call_timed_out(const struct admin_call *call)
{
	return call->timed_out;
}

static void admin_calls_take(struct admin_calls *ac)
{
	struct cds_wfcq_node *node;

	while ((node = cds_wfcq_dequeue_blocking(&ac->head, &ac->tail)) != NULL) {
		struct admin_msg *m = caa_container_of(node, struct admin_msg, reply_node);
		struct admin_call *call = m->call;
		struct admin_slot *s = NULL;

		for (unsigned i = 0; i < call->n && s == NULL; i++)
			if (call->slots[i].m == m)
				s = &call->slots[i];
		if (s == NULL || s->back) {
			log_err("control plane: an admin reply of no call part; dropped");
			continue;
		}
		s->back = true;
		call->answered++;
		if (call->finished) {
			/* Late: done has run without it. */
			admin_msg_free(m);
			s->m = NULL;
			if (call->answered == call->n)
				admin_call_free(call);
		} else if (call->answered == call->n) {
			admin_call_finish(call);
		}
	}
}

static void admin_calls_readable(struct cplane *cp, void *arg, unsigned events)
{
	struct admin_calls *ac = arg;
	uint64_t v;
	ssize_t r = read(ac->fd, &v, sizeof(v));

	(void)cp;
	(void)events;
	(void)r;   /* EAGAIN: another wake-up took it */
	admin_calls_take(ac);
}

struct admin_calls *admin_calls_create(struct cplane *cp)
{
	struct admin_calls *ac = calloc(1, sizeof(*ac));
	int rc;

	if (ac == NULL)
		return NULL;
	cds_wfcq_init(&ac->head, &ac->tail);
	ac->cp = cp;
	ac->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ac->fd < 0) {
		rc = errno;
		free(ac);
		errno = rc;
		return NULL;
	}
	rc = cplane_watch(cp, ac->fd, EPOLLIN, admin_calls_readable, ac);
	if (rc < 0) {
		close(ac->fd);
		free(ac);
		errno = -rc;
		return NULL;
	}
	return ac;
}

void admin_calls_tick(struct admin_calls *ac, uint64_t now_ms)
{
	struct admin_call *call = ac->live, *next;

	for (; call != NULL; call = next) {
		next = call->next;
		if (!call->sent || call->finished || now_ms < call->deadline_ms)
			continue;
		call->timed_out = true;
		/* done may free calls of its own, never one other than it sends. */
		admin_call_finish(call);
	}
}

uint64_t admin_calls_next_deadline(const struct admin_calls *ac)
{
	uint64_t due = 0;

	for (const struct admin_call *call = ac->live; call != NULL; call = call->next)
		if (call->sent && !call->finished && (due == 0 || call->deadline_ms < due))
			due = call->deadline_ms;
	return due;
}

void admin_calls_close(struct admin_calls *ac)
{
	ac->closed = true;
}

void admin_calls_destroy(struct admin_calls *ac)
{
	if (ac == NULL)
		return;
	cplane_unwatch(ac->cp, ac->fd);
	admin_calls_take(ac);
	/* Parts that never came back (none should: the workers' queues were
	 * discarded) finish as cancelled so their requests are freed. */
	while (ac->live != NULL) {
		struct admin_call *call = ac->live;

		if (!call->finished) {
			for (unsigned i = 0; i < call->n; i++)
				if (!call->slots[i].back)
					call->slots[i].stub.status = -ECANCELED;
			call->finished = true;
			call->done(call, call->arg);
		}
		/* Messages still on a worker's queue are the worker's: not freed here. */
		for (unsigned i = 0; i < call->n; i++)
			if (!call->slots[i].back)
				call->slots[i].m = NULL;
		admin_call_free(call);
	}
	close(ac->fd);
	free(ac);
}
