/* test_fds.c - running out of file descriptors: a broker started with a low
 * RLIMIT_NOFILE (as under `ulimit -n 40`) and more connections than fit must back off
 * accepting instead of spinning on the listener, log the episode once, count it, keep
 * serving the clients it has, and accept again once descriptors are free. */
#include "harness.h"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(fds, .fini = harness_fini, .timeout = 120);

#define NOFILE 40
#define EXTRA_CONNS 80          /* far more than NOFILE leaves room for */
#define EPISODE_MS 3000
/* A spinning worker burns the whole EPISODE_MS; backing off costs next to nothing.
 * Generous for a shared, slow, sanitized machine. */
#define MAX_CPU_MS 600

/* utime + stime of <pid> in milliseconds (/proc/<pid>/stat fields 14 and 15). */
static long cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* Fields after the command name, which is in parentheses and may hold spaces. */
	char *p = strrchr(buf, ')');

	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			    &ut, &st), 2);
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/* How often <needle> occurs in the broker log. */
static int log_count(struct broker *b, const char *needle)
{
	static char buf[1 << 20];
	FILE *f = fopen(b->log_path, "r");
	size_t n;
	int count = 0;

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *p = strstr(buf, needle); p != NULL; p = strstr(p + 1, needle))
		count++;
	return count;
}

Test(fds, out_of_descriptors_backs_off_logs_once_and_recovers)
{
	struct broker b;
	/* connect_timeout long enough that the broker does not free descriptors by
	 * itself during the episode. */
	struct broker_opts o = { .workers = 1, .nofile = NOFILE,
				 .extra_config = "connect_timeout 120\n" };
	int fds[EXTRA_CONNS];

	broker_start_opts(&b, &o);
	struct client *keep = connected_client(&b, "keeper", true);

	cr_assert_eq(client_subscribe(keep, "fd/t", 1), 1);
	/* Connections the kernel completes in the backlog whether or not the broker
	 * can accept them. */
	for (int i = 0; i < EXTRA_CONNS; i++)
		fds[i] = raw_connect(&b);
	/* strerror(EMFILE), in the one line the episode gets. */
	cr_assert(broker_wait_log(&b, "accept: Too many open files", 5000),
		  "no log line for the descriptor shortage");

	long before = cpu_ms(b.pid);

	usleep(EPISODE_MS * 1000);
	long spent = cpu_ms(b.pid) - before;

	fprintf(stderr, "[fds] broker CPU time during %d ms without descriptors: %ld ms\n",
		EPISODE_MS, spent);
	cr_assert_lt(spent, MAX_CPU_MS, "broker used %ld ms of CPU in %d ms out of "
		     "descriptors: it spins", spent, EPISODE_MS);
	cr_assert_eq(log_count(&b, "accept: Too many open files"), 1,
		     "the episode must be logged once, not %d times",
		     log_count(&b, "accept: Too many open files"));
	/* The client it had is still served. */
	struct rx_msg m;

	cr_assert_eq(client_publish(keep, "fd/t", "x", 1, 1, false), 0);
	cr_assert(client_wait_msg(keep, &m, 5000), "connected client starved");

	for (int i = 0; i < EXTRA_CONNS; i++)
		close(fds[i]);
	/* Descriptors are free again: a new client gets in (the back-off retries at
	 * least every second). */
	struct client *late = client_new(&b, "late", true, 60);

	cr_assert_eq(client_connack_rc(late), 0, "no CONNACK after descriptors freed");
	cr_assert(broker_wait_log(&b, "accepting new connections again", 5000));
	client_close(late);
	client_close(keep);
	broker_stop_clean(&b);
}

Test(fds, the_shortage_is_counted)
{
	struct broker b;
	struct broker_opts o = { .workers = 1, .nofile = NOFILE,
				 .extra_config = "connect_timeout 120\n" };
	int fds[EXTRA_CONNS];

	broker_start_opts(&b, &o);
	for (int i = 0; i < EXTRA_CONNS; i++)
		fds[i] = raw_connect(&b);
	cr_assert(broker_wait_log(&b, "accept: Too many open files", 5000));
	for (int i = 0; i < EXTRA_CONNS; i++)
		close(fds[i]);
	cr_assert(broker_wait_log(&b, "accepting new connections again", 5000));
	/* The shutdown totals carry the counters (the control socket will too). */
	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	cr_assert(broker_wait_log(&b, "totals:", 5000));
	cr_assert(broker_log_contains(&b, " accept_no_fd="), "accept_no_fd not counted");
	cr_assert(broker_log_contains(&b, " accept_paused=1"), "one episode");
	broker_stop_clean(&b);
}
