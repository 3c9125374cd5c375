/* test_workers.c - how many workers run and where: the default is one per CPU of the
 * affinity mask the broker inherited (taskset), worker i is pinned to the i-th CPU of
 * that mask, and more than 64 workers serve clients. */
#include "harness.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(workers, .fini = harness_fini, .timeout = 120);

/* Fills <cpus> with the Cpus_allowed_list of every thread of <pid> named w<N> (their
 * comm), as "w0=0;w1=1;" in thread order of /proc. Returns how many workers. */
static int worker_affinities(pid_t pid, char *out, size_t cap)
{
	char path[384];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	cr_assert_not_null(dir, "%s", path);
	out[0] = '\0';
	while ((d = readdir(dir)) != NULL) {
		char comm[32] = "", line[256], allowed[64] = "";
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, d->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
		if (comm[0] != 'w' || comm[1] < '0' || comm[1] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, d->d_name);
		f = fopen(path, "r");
		cr_assert_not_null(f, "%s", path);
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "Cpus_allowed_list: %63s", allowed) == 1)
				break;
		fclose(f);
		size_t len = strlen(out);

		snprintf(out + len, cap - len, "%s=%s;", comm, allowed);
		n++;
	}
	closedir(dir);
	return n;
}

/* Starts a broker with the default worker count under `taskset -c <cpu>` and checks
 * it runs one worker, pinned to that CPU. */
static void check_pinned_to(int cpu)
{
	struct broker b;
	struct broker_opts o = { .workers = 0, .pin = true, .cpu = cpu };
	char aff[1024], want[32];

	broker_start_opts(&b, &o);
	cr_assert(broker_wait_log(&b, "with 1 worker (kernel sockets)", 5000),
		  "taskset -c %d: one CPU allowed, so one worker", cpu);
	snprintf(want, sizeof(want), "[w0] info: pinned to cpu %d", cpu);
	cr_assert(broker_wait_log(&b, want, 5000), "no '%s'", want);
	cr_assert_eq(worker_affinities(b.pid, aff, sizeof(aff)), 1, "workers: %s", aff);
	snprintf(want, sizeof(want), "w0=%d;", cpu);
	cr_assert_str_eq(aff, want, "worker 0 must stay on the inherited CPU");
	struct client *c = connected_client(&b, "pinned", true);

	cr_assert_eq(client_subscribe(c, "pin/t", 1), 1);
	cr_assert_eq(client_publish(c, "pin/t", "x", 1, 1, false), 0);
	struct rx_msg m;

	cr_assert(client_wait_msg(c, &m, 5000));
	client_close(c);
	broker_stop_clean(&b);
}

Test(workers, taskset_one_cpu_gives_one_worker_pinned_there)
{
	harness_kernel_only("pthread pinning; DPDK workers are EAL lcores placed by --lcores");
	cpu_set_t mine;

	check_pinned_to(0);
	/* A CPU other than 0: worker 0 goes to the first *allowed* CPU, not cpu 0. */
	cr_assert_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	if (CPU_ISSET(1, &mine))
		check_pinned_to(1);
}

Test(workers, default_count_is_the_inherited_cpus_each_pinned_in_turn)
{
	harness_kernel_only("pthread pinning; DPDK workers are EAL lcores placed by --lcores");
	struct broker b;
	struct broker_opts o = { .workers = 0 };
	cpu_set_t mine;
	char aff[4096], want[4096] = "", line[64];
	int n = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &mine))
			continue;
		size_t len = strlen(want);

		snprintf(want + len, sizeof(want) - len, "w%d=%d;", n++, cpu);
	}
	broker_start_opts(&b, &o);
	snprintf(line, sizeof(line), "with %d worker%s (kernel sockets)", n, n == 1 ? "" : "s");
	cr_assert(broker_wait_log(&b, line, 5000), "want '%s'", line);
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "[w%d] info: pinned to cpu", i);
		cr_assert(broker_wait_log(&b, line, 5000), "no '%s'", line);
	}
	cr_assert_eq(worker_affinities(b.pid, aff, sizeof(aff)), n);
	/* /proc lists threads in creation order, which is worker order. */
	cr_assert_str_eq(aff, want);
	broker_stop_clean(&b);
}

#define MANY_WORKERS 70
#define MAX_TRIES 400

Test(workers, more_than_64_workers_serve_clients)
{
	harness_kernel_only("65 polling EAL lcores on a shared 2-core machine");
	struct broker b;
	struct rx_msg m;
	char needle[64];
	bool high = false;
	int published = 0;

	broker_start(&b, MANY_WORKERS, NULL);
	cr_assert(broker_wait_log(&b, "with 70 workers", 10000));
	struct client *sub = connected_client(&b, "sub", true);

	cr_assert_eq(client_subscribe(sub, "many/#", 1), 1);
	/* Clients with an empty id get "auto-<worker>-<n>": connect until one lands on a
	 * worker above 63 (the kernel spreads connections over the 70 listeners), and
	 * have each publish to the subscriber, which mostly sits on another worker. */
	for (int i = 0; i < MAX_TRIES && !high; i++) {
		struct client *c = client_new(&b, NULL, true, 60);
		char topic[32];

		cr_assert_eq(client_connack_rc(c), 0);
		snprintf(topic, sizeof(topic), "many/%d", i);
		cr_assert_eq(client_publish(c, topic, "x", 1, 1, false), 0);
		published++;
		client_close(c);
		for (int w = 64; w < MANY_WORKERS && !high; w++) {
			snprintf(needle, sizeof(needle), "client 'auto-%d-", w);
			high = broker_log_contains(&b, needle);
		}
	}
	cr_assert(high, "no connection reached a worker above 63 in %d tries", MAX_TRIES);
	for (int i = 0; i < published; i++)
		cr_assert(client_wait_msg(sub, &m, 5000), "message %d of %d missing", i,
			  published);
	client_close(sub);
	broker_stop_clean(&b);
}

Test(workers, more_workers_than_the_limit_are_refused_with_the_documented_message)
{
	char cmd[512];
	char out[4096];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' -p 0 -w 1025 2>&1", getenv("PETREL_BIN"));
	st = run_cmd(cmd, 20, out, sizeof(out));
	cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
	cr_assert_not_null(strstr(out, "'workers' must be from 0 to 1024, got '1025'"), "%s",
			   out);
}
