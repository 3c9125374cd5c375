/* test_takeover_order.c - per-publisher order across a session takeover (MQTT 3.1.1
 * section 4.6, MQTT-4.6.0-6: "A Server MUST by default treat each Topic as an Ordered
 * Topic", so it sends a subscriber one publisher's messages in the order they came).
 *
 * A real broker of three workers A, B and C over the in-memory transport
 * (tests/support/mem_transport.h); the test thread drives them one loop turn at a time,
 * so every interleaving below is forced, not hoped for. A subscriber's session lives
 * on B; a new connection for the same client id arrives on C and takes it over while a
 * publisher streams numbered messages m1..mN: some deliveries were addressed to B
 * before the move, others go to C after it. The subscriber's new connection must get
 * every message exactly once, in publish order.
 *
 * On real threads a publisher on A can read session->owner == B, then B hands the
 * session to C and forwards what it finds, and only then A's delivery lands on B: it
 * is forwarded after deliveries A already posted straight to C. One thread turning
 * whole loop turns cannot produce that gap between A's read and A's post, so the
 * remote-publisher tests open it on purpose: this binary is linked with
 * -Wl,--wrap=worker_post and holds A's deliveries to B back until the test releases
 * them (the engine's own post then runs). A second registered urcu-qsbr thread, the
 * "pin", stands for A's thread still inside that loop turn: A passes no quiescent
 * state between reading the owner and posting, so neither may the grace period the
 * fix waits for end in between.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/proto.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/worker.h"
#include "mqtt/engine_int.h"
#include "mem_client.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { WA, WB, WC, NWORKERS };

#define MAX_MSGS 64

static struct broker B;

/* ---- the delay seam: deliveries to one worker held back, then posted for real ----- */

void __real_worker_post(struct worker *dst, struct wmsg *m);
void __wrap_worker_post(struct worker *dst, struct wmsg *m);

static struct {
	struct worker *dst;          /* NULL: nothing is held */
	struct wmsg *held[MAX_MSGS];
	unsigned n;
} delay;

void __wrap_worker_post(struct worker *dst, struct wmsg *m)
{
	if (dst == delay.dst && m->type == WMSG_DELIVER && delay.n < MAX_MSGS) {
		delay.held[delay.n++] = m;
		return;
	}
	__real_worker_post(dst, m);
}

static void delay_deliveries_to(unsigned w)
{
	delay.dst = B.workers[w];
	delay.n = 0;
}

/* The held deliveries land, in the order they were posted. */
static void delay_release(void)
{
	struct worker *dst = delay.dst;

	delay.dst = NULL;
	for (unsigned i = 0; i < delay.n; i++)
		__real_worker_post(dst, delay.held[i]);
	delay.n = 0;
}

/* ---- the pin: a reader that holds grace periods back ------------------------------- */

static struct {
	pthread_t t;
	pthread_t releaser;
	sem_t up;
	sem_t release;
	bool on;
	bool timed;              /* the releaser thread ends it */
} pin;

static void *pin_main(void *arg)
{
	(void)arg;
	rcu_register_thread();   /* online: no grace period ends until we leave */
	sem_post(&pin.up);
	sem_wait(&pin.release);
	rcu_unregister_thread();
	return NULL;
}

static void pin_start(void)
{
	cr_assert_eq(sem_init(&pin.up, 0, 0), 0);
	cr_assert_eq(sem_init(&pin.release, 0, 0), 0);
	cr_assert_eq(pthread_create(&pin.t, NULL, pin_main, NULL), 0);
	sem_wait(&pin.up);
	pin.on = true;
}

static void *pin_releaser_main(void *arg)
{
	usleep((useconds_t)(uintptr_t)arg * 1000);
	sem_post(&pin.release);
	return NULL;
}

/* The pin ends by itself <ms> from now, whatever the test thread is doing then. */
static void pin_end_after(unsigned ms)
{
	cr_assert(pin.on && !pin.timed);
	cr_assert_eq(pthread_create(&pin.releaser, NULL, pin_releaser_main,
				    (void *)(uintptr_t)ms), 0);
	pin.timed = true;
}

static void pin_end(void)
{
	if (!pin.on)
		return;
	pin.on = false;
	if (pin.timed)
		pthread_join(pin.releaser, NULL);
	else
		sem_post(&pin.release);
	pin.timed = false;
	pthread_join(pin.t, NULL);
	sem_destroy(&pin.up);
	sem_destroy(&pin.release);
}

/* ---- broker and clients ------------------------------------------------------------ */

static void broker_up(void)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	cfg.workers = NWORKERS;
	cfg.max_inflight_messages = MAX_MSGS;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_WARN);
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
}

static void broker_down(void)
{
	pin_end();
	delay_release();
	mem_broker_shutdown(&B);
	assert_no_leaks_rcu();
}

static void turn(unsigned w)
{
	mem_worker_turn(B.workers[w]);
}

struct client {
	struct mem_client mc;        /* first: a client is its mem_client */
	unsigned seq[MAX_MSGS];      /* payload numbers of the PUBLISH packets received */
	unsigned n;
};

static void cl_send_connect(struct client *cl, unsigned w, const char *id, bool clean)
{
	memset(cl, 0, sizeof(*cl));
	mem_client_send_connect(&cl->mc, &B, w, id, clean);
}

static void expect_connack(struct client *cl, bool present)
{
	mem_client_expect_connack(&cl->mc, present);
}

static void cl_connect(struct client *cl, unsigned w, const char *id, bool clean)
{
	memset(cl, 0, sizeof(*cl));
	mem_client_connect(&cl->mc, &B, w, id, clean);
}

static void cl_subscribe(struct client *cl, const char *filter)
{
	mem_client_subscribe(&cl->mc, filter);
}

static void cl_publish(struct client *cl, unsigned seq, uint8_t qos)
{
	mem_client_publish_seq(&cl->mc, "t", seq, qos);
}

static void publish_range(struct client *pub, unsigned from, unsigned to, uint8_t qos)
{
	for (unsigned i = from; i <= to; i++)
		cl_publish(pub, i, qos);
}

/* Takes every PUBLISH <cl> was sent so far into cl->seq (no acks are sent back: the
 * inflight window holds them all). */
static void collect(struct client *cl)
{
	struct mqtt_pkt p;
	ssize_t n;

	while ((n = mem_conn_next(cl->mc.tc, &p)) > 0) {
		if (p.type == MQTT_CONNACK && cl->n == 0) {
			/* A connection whose takeover the test did not wait for. */
			cr_assert_eq(p.u.connack.return_code, MQTT_CONNACK_ACCEPTED);
			continue;
		}
		cr_assert_eq(p.type, MQTT_PUBLISH, "%s: unexpected %s", cl->mc.id,
			     mqtt_type_name(p.type));
		cr_assert_lt(cl->n, MAX_MSGS, "%s: too many messages", cl->mc.id);
		cl->seq[cl->n++] = mem_client_seq(&p);
	}
	cr_assert_eq(n, 0, "%s: undecodable output", cl->mc.id);
}

/* Turns every worker until <cl> has <want> messages (bounded: the fix's fence waits
 * for a grace period, which liburcu's call_rcu thread detects on its own time), then
 * a few turns more so that anything extra would show. */
static void run_until(struct client *cl, unsigned want)
{
	uint64_t deadline = unit_now_ms() + 10000;

	while (unit_now_ms() < deadline) {
		mem_turn_all(&B);
		collect(cl);
		if (cl->n >= want)
			break;
		usleep(1000);
	}
	for (int i = 0; i < 20; i++) {
		mem_turn_all(&B);
		usleep(1000);
	}
	collect(cl);
}

static void format_seq(const struct client *cl, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < cl->n && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, " m%u", cl->seq[i]);
}

/* <cl> got m<first>..m<last>, each once, in that order, and nothing else. */
static void expect_in_order(struct client *cl, unsigned first, unsigned last)
{
	char got[MAX_MSGS * 5];

	run_until(cl, last - first + 1);
	format_seq(cl, got, sizeof(got));
	cr_assert_eq(cl->n, last - first + 1, "%s: expected m%u..m%u, got%s", cl->mc.id, first,
		     last, got);
	for (unsigned i = 0; i < cl->n; i++)
		cr_assert_eq(cl->seq[i], first + i, "%s: expected m%u..m%u in order, got%s",
			     cl->mc.id, first, last, got);
}

/* <cl> got a strictly increasing run that includes every one of m<from>..m<last>
 * (earlier messages may or may not be there). */
static void expect_increasing_with(struct client *cl, unsigned from, unsigned last)
{
	char got[MAX_MSGS * 5];
	unsigned need = from;

	run_until(cl, last - from + 1);
	format_seq(cl, got, sizeof(got));
	for (unsigned i = 0; i < cl->n; i++) {
		cr_assert(i == 0 || cl->seq[i] > cl->seq[i - 1],
			  "%s: out of order or repeated:%s", cl->mc.id, got);
		if (cl->seq[i] == need)
			need++;
	}
	cr_assert_eq(need, last + 1, "%s: m%u..m%u not all there:%s", cl->mc.id, from, last,
		     got);
}

TestSuite(takeover_order, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 60);

/* ---- publisher on a third worker --------------------------------------------------- */

/* The scene of most tests: the subscriber <sub> (cleanSession <old_clean>) on B, on
 * "t"; the publisher <pub> on A; a new connection <sub2> on C (cleanSession
 * <new_clean>) for the same client id. Its takeover request reaches B first; then A
 * routes m1..m3 while B still owns the session, and their posts are held back (A's
 * loop turn has not ended: pinned); then B hands the session to C and C attaches
 * sub2. The caller publishes on and finally lets m1..m3 land on B. */
static void scene(struct client *sub, struct client *sub2, struct client *pub,
		  bool old_clean, bool new_clean, uint8_t qos)
{
	broker_up();
	cl_connect(sub, WB, "sub", old_clean);
	cl_subscribe(sub, "t");
	cl_connect(pub, WA, "pub", true);

	cl_send_connect(sub2, WC, "sub", new_clean);    /* takeover request to B */
	pin_start();
	delay_deliveries_to(WB);
	publish_range(pub, 1, 3, qos);                  /* A reads owner == B */
	turn(WA);
	turn(WB);                                       /* B hands the session to C */
	turn(WC);                                       /* C attaches sub2 */
	expect_connack(sub2, !old_clean && !new_clean);
	if (old_clean || new_clean)
		/* MQTT-3.1.2-6: the old session is gone, subscriptions with it. */
		cl_subscribe(sub2, "t");
}

/* m1..m3 land on B at last, and A's loop turn ends. */
static void late_deliveries_land(void)
{
	delay_release();
	pin_end();
}

static void remote_publisher(uint8_t qos, bool new_clean)
{
	struct client sub, sub2, pub;

	scene(&sub, &sub2, &pub, false, new_clean, qos);
	publish_range(&pub, 4, 6, qos);                 /* A reads owner == C */
	turn(WA);
	turn(WC);
	late_deliveries_land();
	if (new_clean)
		/* Whether m1..m3 reach the new session or not, nothing goes backwards. */
		expect_increasing_with(&sub2, 4, 6);
	else
		expect_in_order(&sub2, 1, 6);
	broker_down();
}

Test(takeover_order, qos1_remote_publisher_resumed_session)
{
	remote_publisher(1, false);
}

Test(takeover_order, qos0_remote_publisher_resumed_session)
{
	remote_publisher(0, false);
}

Test(takeover_order, qos2_remote_publisher_resumed_session)
{
	remote_publisher(2, false);
}

Test(takeover_order, qos1_remote_publisher_clean_new_session)
{
	remote_publisher(1, true);
}

/* Both connections cleanSession=1: the takeover ends the old session (its deliveries
 * are dropped) and the new one starts empty; what it gets is still in order. */
Test(takeover_order, qos1_clean_session_both_connections)
{
	struct client sub, sub2, pub;

	scene(&sub, &sub2, &pub, true, true, 1);
	publish_range(&pub, 4, 6, 1);
	turn(WA);
	turn(WC);
	late_deliveries_land();
	expect_in_order(&sub2, 4, 6);
	broker_down();
}

/* ---- publisher on the new owner ---------------------------------------------------- */

/* No delay needed: the publisher sits on C. m1..m3 go to B, which handles the takeover
 * first and forwards them to C; m4..m6 are routed on C after the move but before C has
 * drained its queue (input comes before the inbound queue in a loop turn). */
static void local_publisher(uint8_t qos)
{
	struct client sub, sub2, pub;

	broker_up();
	cl_connect(&sub, WB, "sub", false);
	cl_subscribe(&sub, "t");
	cl_connect(&pub, WC, "pub", true);

	cl_send_connect(&sub2, WC, "sub", false);      /* takeover request to B */
	publish_range(&pub, 1, 3, qos);                 /* posted to B, behind the request */
	turn(WC);
	turn(WB);                                       /* hand over, forward m1..m3 to C */
	publish_range(&pub, 4, 6, qos);                 /* C owns the session now */
	turn(WC);
	expect_connack(&sub2, true);
	expect_in_order(&sub2, 1, 6);
	broker_down();
}

Test(takeover_order, qos1_publisher_on_new_owner)
{
	local_publisher(1);
}

Test(takeover_order, qos2_publisher_on_new_owner)
{
	local_publisher(2);
}

/* ---- the session moves on again before the first move has settled ------------------ */

/* B -> C as above, then a connection on A (the publisher's worker) takes the session
 * from C while C still waits to learn that nothing more can come through B. */
Test(takeover_order, qos1_second_takeover_while_first_unsettled)
{
	struct client sub, sub2, sub3, pub;

	scene(&sub, &sub2, &pub, false, false, 1);
	publish_range(&pub, 4, 6, 1);
	turn(WA);
	turn(WC);
	cl_send_connect(&sub3, WA, "sub", false);       /* takeover request to C */
	publish_range(&pub, 7, 9, 1);
	turn(WA);
	turn(WC);
	late_deliveries_land();
	expect_in_order(&sub3, 1, 9);
	broker_down();
}

/* The session ends (clean, its connection drops) while C still waits for the fence,
 * with deliveries held and a takeover request parked: the deliveries are dropped as
 * for an ended session, and the parked requester is answered and starts afresh
 * instead of waiting for ever. */
Test(takeover_order, session_ending_unsettled_answers_parked_request)
{
	struct client sub, sub2, sub3, pub;
	struct worker_stats *st;
	uint64_t gone;

	scene(&sub, &sub2, &pub, false, true, 1);
	st = &B.workers[WC]->stats;
	publish_range(&pub, 4, 6, 1);
	turn(WA);
	turn(WC);
	cr_assert_eq(st->handover_held, 3);
	cl_send_connect(&sub3, WA, "sub", false);       /* takeover request to C */
	turn(WC);
	cr_assert_eq(st->handover_parked, 1);
	gone = st->drop_session_gone;
	mem_conn_lost(sub2.mc.tc, 0);                      /* cleanSession=1: the session ends */
	turn(WC);
	cr_assert_eq(st->drop_session_gone, gone + 3, "held deliveries not dropped");
	turn(WA);
	expect_connack(&sub3, false);                   /* a new session */
	late_deliveries_land();
	run_until(&sub3, 0);
	cr_assert_eq(sub3.n, 0, "the new session got messages of the old one");
	broker_down();
}

/* ---- shutdown while a move is unsettled -------------------------------------------- */

/* Deliveries and a takeover request waiting on C, a grace period still running: the
 * broker stops. The grace period ends only while broker_shutdown() runs (the pin lets
 * go 200 ms into it), so B's fence lands after every worker's last turn. Everything is
 * released: the test's own reference on the session is the last one left (and the
 * leak check fails under ASan if anything else stays). */
Test(takeover_order, shutdown_with_takeover_unsettled_releases_everything)
{
	struct client sub, sub2, sub3, pub;
	struct session *s;

	scene(&sub, &sub2, &pub, false, false, 1);
	publish_range(&pub, 4, 6, 1);
	turn(WA);
	turn(WC);
	cl_send_connect(&sub3, WA, "sub", false);
	turn(WC);
	delay_release();
	rcu_read_lock();
	s = sessdir_lookup(B.sessdir, "sub", 3);
	rcu_read_unlock();
	cr_assert_not_null(s);
	cr_assert_not_null(s->held, "nothing held: the test no longer tests shutdown");
	pin_end_after(200);
	mem_broker_shutdown(&B);
	pin_end();
	cr_assert_eq(atomic_load(&s->refcnt), 1, "%u references left after shutdown",
		     atomic_load(&s->refcnt));
	session_unref(s);
	assert_no_leaks_rcu();
}
