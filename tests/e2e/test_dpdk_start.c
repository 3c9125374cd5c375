/* test_dpdk_start.c - the real petrel binary in DPDK mode with bad settings: a bad EAL
 * argument, a port that does not exist, a bad address, too few lcores, too little
 * memory for the pools. Each must end within seconds with exit status 1 and one line
 * saying what is wrong; none may hang. And kernel mode must never start the EAL: a
 * broker with a nonsense dpdk_eal_args still serves clients over kernel sockets. */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(dpdk_start, .fini = harness_fini, .timeout = 120);

/* The EAL of every case: no hugepages, no PCI scan, a little memory. */
#define EAL_BASE "--no-huge -m 128 --no-pci --no-telemetry"

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Runs petrel --dpdk with <conf> as its file and <flags>; expects exit status 1
 * within 20 s and exactly one output line containing <needle>. */
static void expect_refused(const char *conf, const char *flags, const char *needle)
{
	char path[] = "/tmp/petrel-dpdk-start-XXXXXX";
	char cmd[1024], out[8192];
	uint64_t t0;
	/* These refusals are about DPDK: no store and no control socket, so nothing
	 * is created in the test's working directory (persistence is on by default,
	 * in ./data; the control socket is ./petrel.sock). */
	static const char no_store[] = "persistence false\ncontrol_socket none\n";
	int fd = mkstemp(path), st;

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	/* After <conf>: the refusals name its lines by number. */
	cr_assert_eq(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
	cr_assert_eq(write(fd, no_store, strlen(no_store)), (ssize_t)strlen(no_store));
	close(fd);
	snprintf(cmd, sizeof(cmd), "'%s' --dpdk -c %s %s 2>&1", getenv("PETREL_BIN"), path,
		 flags);
	t0 = now_ms();
	st = run_cmd(cmd, 20, out, sizeof(out));
	unlink(path);
	cr_assert_neq(st, -1, "petrel did not stop within 20 s; output:\n%s", out);
	cr_assert_eq(st, 1, "exit status %d, output:\n%s", st, out);
	cr_assert_lt(now_ms() - t0, 15000, "took %llu ms", (unsigned long long)(now_ms() - t0));
	cr_assert_eq(count_lines(out), 1, "one line expected, got:\n%s", out);
	cr_assert_not_null(strstr(out, needle), "'%s' not in:\n%s", needle, out);
}

Test(dpdk_start, unknown_eal_option_is_named)
{
	expect_refused("dpdk_eal_args " EAL_BASE " --bogus-option\n", "-w 1",
		       "petrel: DPDK EAL start-up failed (Invalid argument): unrecognized "
		       "option '--bogus-option'");
}

Test(dpdk_start, bad_eal_value_is_refused)
{
	expect_refused("dpdk_eal_args " EAL_BASE " --vdev=net_nosuchdriver0\n", "-w 1",
		       "petrel: DPDK EAL start-up failed");
}

Test(dpdk_start, unterminated_quote_in_eal_args)
{
	expect_refused("dpdk_eal_args " EAL_BASE " --vdev='net_null0\n", "-w 1",
		       "petrel: dpdk_eal_args: unterminated ' quote");
}

Test(dpdk_start, missing_port_lists_the_ports_found)
{
	expect_refused("dpdk_eal_args " EAL_BASE " --vdev=net_null0 --vdev=net_null1\n"
		       "dpdk_port 5\n", "-w 1",
		       "petrel: dpdk_port 5 does not exist; DPDK found: 0 (net_null0), "
		       "1 (net_null1)");
}

Test(dpdk_start, no_port_at_all)
{
	expect_refused("dpdk_eal_args " EAL_BASE "\n", "-w 1",
		       "petrel: dpdk_port 0: DPDK found no ports (give one with --vdev");
}

Test(dpdk_start, bad_address_stops_before_the_eal)
{
	expect_refused("dpdk_eal_args " EAL_BASE " --vdev=net_null0\n"
		       "dpdk_address 198.18.0.255/24\n", "-w 1",
		       ":2: 'dpdk_address': 198.18.0.255 is the network or broadcast "
		       "address of /24");
	expect_refused("dpdk_address 198.18.0.1/40\n", "-w 1",
		       ":1: 'dpdk_address': the prefix length must be from 1 to 32");
	expect_refused("dpdk_address 198.18.0.1/24\ndpdk_gateway 10.0.0.1\n", "-w 1",
		       "petrel: dpdk_gateway 10.0.0.1 is not on the link of dpdk_address "
		       "198.18.0.1/24");
}

Test(dpdk_start, too_few_lcores_for_the_workers)
{
	expect_refused("dpdk_eal_args " EAL_BASE " -l 0 --vdev=net_null0\n", "-w 2",
		       "petrel: dpdk_eal_args gives 1 lcores; petrel needs 3");
}

Test(dpdk_start, pools_larger_than_the_eal_memory)
{
	expect_refused("dpdk_eal_args --no-huge -m 64 --no-pci --no-telemetry "
		       "--vdev=net_null0\ndpdk_mbufs 1000000\n", "-w 1",
		       "give the EAL more memory (-m in dpdk_eal_args) or lower dpdk_mbufs");
}

/* Kernel mode never touches the EAL: an EAL argument that would stop a DPDK broker
 * is never even parsed. */
Test(dpdk_start, kernel_mode_ignores_the_dpdk_keys)
{
	struct broker b;
	struct client *c;

	broker_start(&b, 1, "dataplane kernel\n"
		     "dpdk_eal_args --bogus-option\n"
		     "dpdk_port 77\n");
	c = connected_client(&b, "kernel-mode", true);
	cr_assert_not_null(c);
	client_close(c);
	cr_assert_not(broker_log_contains(&b, "EAL"));
	cr_assert_eq(broker_stop(&b), 0);
}

/* A petrel killed with SIGKILL leaves its EAL runtime directory behind; the next one
 * removes those of petrels that are gone, and only those. */
Test(dpdk_start, runtime_directories_of_dead_petrels_are_removed)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char base[256], dead[320], live[320], file[400];
	pid_t child = fork();
	int st;

	cr_assert_geq(child, 0);
	if (child == 0)
		_exit(0);
	cr_assert_eq(waitpid(child, &st, 0), child);
	if (getuid() == 0)
		snprintf(base, sizeof(base), "/var/run/dpdk");
	else
		snprintf(base, sizeof(base), "%s/dpdk", xdg != NULL ? xdg : "/tmp");
	mkdir(base, 0700);
	/* <child> has exited and been reaped: its pid names no process. */
	snprintf(dead, sizeof(dead), "%s/petrel-%d", base, (int)child);
	snprintf(live, sizeof(live), "%s/petrel-%d", base, (int)getpid());
	cr_assert_eq(mkdir(dead, 0700), 0, "%s: %s", dead, strerror(errno));
	cr_assert_eq(mkdir(live, 0700), 0, "%s: %s", live, strerror(errno));
	snprintf(file, sizeof(file), "%s/config", dead);
	fclose(fopen(file, "w"));
	expect_refused("dpdk_eal_args " EAL_BASE " --vdev=net_null0\ndpdk_port 3\n", "-w 1",
		       "petrel: dpdk_port 3 does not exist");
	cr_assert_eq(access(dead, F_OK), -1, "%s is still there", dead);
	cr_assert_eq(access(live, F_OK), 0, "%s of a live process was removed", live);
	rmdir(live);
}
