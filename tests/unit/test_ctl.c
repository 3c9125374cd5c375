/* test_ctl.c - the control plane's admin calls (control/admin_call.c) and control
 * socket (control/ctl.c) with a real cplane thread, a real socket in a temporary
 * directory and the real engine on two workers that are never started
 * (mem_transport.h): the test turns them by hand, so it decides when a worker answers.
 * A worker that does not turn in control_request_timeout makes the request answer
 * "timeout" naming it, counted in ctl_stats; its late answer is freed when it comes
 * (ASan's leak check and the RCU leak check would see it otherwise). Answers merged
 * from both workers come back once both turned. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/log.h"
#include "mem_transport.h"
#include "unit_util.h"

static struct broker B;
static struct config CFG;
static struct cplane *CP;
static int LFD = -1;
static char dir[64];

TestSuite(ctl, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 60);

static void up(unsigned request_timeout_ms)
{
	struct cplane_params prm = { .b = &B, .ctl_fd = -1 };
	char err[256];

	config_defaults(&CFG);
	CFG.workers = 2;
	CFG.persistence = false;
	CFG.control_request_timeout = request_timeout_ms;
	snprintf(dir, sizeof(dir), "/tmp/petrel-test-ctl-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(CFG.control_socket, sizeof(CFG.control_socket), "%s/ctl.sock", dir);
	cr_assert_eq(config_finalize(&CFG, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_ERR);
	cr_assert_eq(ctl_listen(&CFG, &LFD, err, sizeof(err)), 0, "listen: %s", err);
	cr_assert_eq(mem_broker_init(&B, &CFG, 1000000), 0);
	prm.ctl_fd = LFD;
	cr_assert_eq(cplane_start(&CP, &prm, err, sizeof(err)), 0, "cplane: %s", err);
}

/* As main: nothing more posted, every posted message answered (the workers turn),
 * the control plane stopped, then the workers. */
static void down(void)
{
	cplane_quiesce(CP);
	for (int i = 0; i < 3; i++)
		mem_turn_all(&B);
	/* The late answers reach the control plane's queue before it stops. */
	usleep(20000);
	cplane_stop(CP);
	CP = NULL;
	mem_broker_shutdown(&B);
	ctl_unlisten(&CFG, LFD);
	rmdir(dir);
	assert_no_leaks_rcu();
}

static int cli_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, CFG.control_socket, strlen(CFG.control_socket) + 1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
		     strerror(errno));
	return fd;
}

/* Sends <line>, then reads one answer within 5 s, turning the workers meanwhile if
 * <turn>. */
static json_t *cli_call(int fd, const char *line, bool turn)
{
	char buf[8192];
	size_t len = 0;
	uint64_t end = unit_now_ms() + 5000;

	cr_assert_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	cr_assert_eq(write(fd, "\n", 1), 1);
	while (unit_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;

		if (turn)
			mem_turn_all(&B);
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		cr_assert_gt(r, 0, "connection closed");
		len += (size_t)r;
		nl = memchr(buf, '\n', len);
		if (nl != NULL)
			return json_loadb(buf, (size_t)(nl - buf), 0, NULL);
	}
	cr_assert_fail("no answer to %s", line);
	return NULL;
}

static const char *code_of(json_t *a)
{
	return json_string_value(json_object_get(a, "code"));
}

Test(ctl, a_worker_that_does_not_answer_in_time_makes_a_timeout_naming_it)
{
	struct ctl_stats st;
	json_t *a;
	int fd;

	up(10);
	fd = cli_open();
	/* Neither worker turns: the call times out at the next tick (<= 1 s). */
	a = cli_call(fd, "{\"cmd\":\"clients\",\"id\":1}", false);
	cr_assert_str_eq(code_of(a), "timeout");
	cr_assert_not_null(strstr(json_string_value(json_object_get(a, "error")),
				  "worker 0 did not answer within 10 ms"));
	json_decref(a);
	ctl_stats_read(cplane_ctl(CP), &st);
	cr_assert_eq(st.request_timeouts, 1);
	cr_assert_eq(st.requests, 1);
	cr_assert_eq(st.connections, 1);
	/* The workers answer late: their parts are freed as they arrive (a second
	 * call here could itself miss 10 ms on a loaded machine). */
	mem_turn_all(&B);
	usleep(50000);
	close(fd);
	down();
}

Test(ctl, answers_of_both_workers_are_merged_once_both_turned)
{
	json_t *a, *r;
	int fd;

	up(5000);
	fd = cli_open();
	a = cli_call(fd, "{\"cmd\":\"clients\"}", true);
	r = json_object_get(a, "result");
	cr_assert(json_is_true(json_object_get(a, "ok")));
	cr_assert_eq(json_integer_value(json_object_get(r, "total")), 0);
	cr_assert_eq(json_array_size(json_object_get(r, "clients")), 0);
	json_decref(a);
	a = cli_call(fd, "{\"cmd\":\"kick\",\"client\":\"nobody\"}", true);
	cr_assert_str_eq(code_of(a), "not_found");
	json_decref(a);
	a = cli_call(fd, "{\"cmd\":\"retained.delete\",\"topic\":\"t\"}", true);
	cr_assert_str_eq(code_of(a), "not_found");
	json_decref(a);
	/* One still waiting for the workers when the control plane quiesces. */
	cr_assert_eq(write(fd, "{\"cmd\":\"clients\"}\n", 18), 18);
	usleep(20000);
	close(fd);
	down();
}
