/* harness.c - see harness.h. Runs inside criterion's per-test worker process: the test
 * body runs on the main thread, each libmosquitto client has its own network thread
 * (mosquitto_loop_start), and brokers / command-line clients are child processes that
 * must never outlive the test. */
#include "harness.h"

#include <criterion/criterion.h>
#include <mosquitto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONNACK_WAIT_MS 5000
#define ACK_WAIT_MS 5000
#define START_WAIT_MS 10000
#define START_POLL_MS 20
#define STOP_WAIT_MS 5000
#define LOG_TAIL_BYTES 4096
#define RX_MAX_QUEUED 65536     /* received messages kept per client before dropping */

/* ---- time ------------------------------------------------------------------------ */

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Milliseconds left until <deadline>, for poll(); 0 once it passed. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* ---- child process registry ------------------------------------------------------ */

/* Everything we forked and must kill if the test ends early. <group> children (the
 * coreutils timeout wrapper) are killed as a process group so the command dies too.
 * <cleanup> is the broker's temp dir or a command's output file, removed with it. */
#define MAX_CHILDREN 64

struct child {
	pid_t pid;
	bool group;
	bool reaped;      /* broker_alive() reaped it: <status> is its wait status */
	int status;
	char log_path[256];      /* brokers: their log is dumped if left running */
	char cleanup[256];
};

static struct child children[MAX_CHILDREN];
static pthread_mutex_t children_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void dump_log_file(const char *path, pid_t pid);

static void kill_all_children(void)
{
	pthread_mutex_lock(&children_mu);
	for (size_t i = 0; i < MAX_CHILDREN; i++) {
		struct child *ch = &children[i];

		if (ch->pid <= 0)
			continue;
		if (!ch->reaped) {
			if (ch->group)
				kill(-ch->pid, SIGKILL);
			kill(ch->pid, SIGKILL);
			/* SIGKILL cannot be caught, so this wait is short. */
			waitpid(ch->pid, NULL, 0);
		}
		/* A broker still registered here means the test ended early, most likely
		 * on a failed assertion: its log is the best clue. */
		if (ch->log_path[0]) {
			fprintf(stderr, "[harness] broker pid %d was still %s at the end of the "
				"test\n", (int)ch->pid, ch->reaped ? "registered (ended)" : "running");
			dump_log_file(ch->log_path, ch->pid);
		}
		if (ch->cleanup[0])
			harness_remove_tree(ch->cleanup);
		memset(ch, 0, sizeof(*ch));
	}
	pthread_mutex_unlock(&children_mu);
}

void harness_fini(void)
{
	kill_all_children();
}

static void harness_init(void)
{
	/* A write to a connection the broker closed must fail with EPIPE, not kill the
	 * test process; raw_send uses MSG_NOSIGNAL, this also covers anything else. */
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	atexit(kill_all_children);
	harness_netns_enter();
}

static void harness_init_once(void)
{
	pthread_once(&init_once, harness_init);
}

static struct child *child_find(pid_t pid)
{
	for (size_t i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid == pid)
			return &children[i];
	return NULL;
}

static void child_register(pid_t pid, bool group, const char *log_path, const char *cleanup)
{
	pthread_mutex_lock(&children_mu);
	struct child *ch = child_find(0);

	if (ch) {
		memset(ch, 0, sizeof(*ch));
		ch->pid = pid;
		ch->group = group;
		snprintf(ch->log_path, sizeof(ch->log_path), "%s", log_path ? log_path : "");
		snprintf(ch->cleanup, sizeof(ch->cleanup), "%s", cleanup ? cleanup : "");
	}
	pthread_mutex_unlock(&children_mu);
	if (!ch) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cr_assert_fail("harness: more than %d live child processes", MAX_CHILDREN);
	}
}

/* Forgets a child that was waited for; its files are the caller's business now. */
static void child_unregister(pid_t pid)
{
	pthread_mutex_lock(&children_mu);
	struct child *ch = child_find(pid);

	if (ch)
		memset(ch, 0, sizeof(*ch));
	pthread_mutex_unlock(&children_mu);
}

/* Non-blocking reap. Returns true if the child has exited (now or before), with its
 * wait status in *status. */
static bool child_try_reap(pid_t pid, int *status)
{
	bool done = false;

	pthread_mutex_lock(&children_mu);
	struct child *ch = child_find(pid);

	if (ch && ch->reaped) {
		*status = ch->status;
		done = true;
	} else {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD)) {
			if (ch) {
				ch->reaped = true;
				ch->status = st;
			}
			*status = st;
			done = true;
		}
	}
	pthread_mutex_unlock(&children_mu);
	return done;
}

/* In a freshly forked child: die with the test process (even on SIGKILL of the test
 * by criterion's timeout), and do not keep the test's sockets open, or a client closed
 * by the test would stay connected through the child's copy of its descriptor. */
static void child_prepare(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0) {
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
	}
}

/* ---- broker ---------------------------------------------------------------------- */

/* The kernel picks a free port for us; the small window between close() and the
 * broker's bind is acceptable for tests. */
static uint16_t pick_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "getsockname: %s",
		  strerror(errno));
	close(fd);
	return ntohs(sa.sin_port);
}

/* The broker's address (harness_host) for a socket. */
static void broker_sockaddr(struct sockaddr_in *sa, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, harness_host(), &sa->sin_addr), 1);
}

static bool tcp_probe(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	bool ok;

	if (fd < 0)
		return false;
	broker_sockaddr(&sa, port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void dir_of(const char *path, char *dir, size_t cap)
{
	snprintf(dir, cap, "%s", path);
	char *slash = strrchr(dir, '/');

	if (slash)
		*slash = '\0';
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void harness_remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void dump_log_file(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "[harness] no broker log at %s\n", path);
		return;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	long from = size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0;
	char buf[LOG_TAIL_BYTES + 1];

	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, LOG_TAIL_BYTES, f);

	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "[harness] ---- broker log %s (pid %d), last %zu bytes ----\n%s"
		"[harness] ---- end of broker log ----\n", path, (int)pid, n, buf);
}

void broker_dump_log(struct broker *b)
{
	if (b && b->log_path[0])
		dump_log_file(b->log_path, b->pid);
}

void broker_start(struct broker *b, unsigned workers, const char *extra_config)
{
	struct broker_opts o = { .workers = workers, .extra_config = extra_config };

	broker_start_opts(b, &o);
}

/* Forks and execs the broker on b->conf_path with b->opts, its stderr in b->log_path,
 * registers it for cleanup with its directory, and waits (<= 10 s) until it accepts
 * connections. Asserts on failure (the directory is removed then). */
static void broker_spawn(struct broker *b)
{
	const struct broker_opts *o = &b->opts;
	const char *bin = getenv("PETREL_BIN");
	bool link_up = false;
	char dir[256];

	cr_assert(bin && bin[0], "PETREL_BIN is not set (meson test sets it to the petrel binary)");
	dir_of(b->conf_path, dir, sizeof(dir));

	int log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert(log_fd >= 0, "open %s: %s", b->log_path, strerror(errno));

	/* Everything the child needs is prepared before fork: after fork in a threaded
	 * process only async-signal-safe calls are allowed. */
	char workers_arg[16];
	char *const argv[] = {
		(char *)(uintptr_t)bin, "-c", b->conf_path, "-w", workers_arg, "-v", NULL,
	};

	snprintf(workers_arg, sizeof(workers_arg), "%u", o->workers);
	struct rlimit nofile = { .rlim_cur = o->nofile, .rlim_max = o->nofile };
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	if (o->pin)
		CPU_SET(o->cpu, &cpus);
	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(log_fd, STDOUT_FILENO);
		dup2(log_fd, STDERR_FILENO);
		child_prepare(parent);
		/* What `cd DIR; prlimit --nofile=N; taskset -c CPU petrel` would set up,
		 * done here so that the broker is this test's own child. */
		if (o->cwd != NULL && chdir(o->cwd) < 0)
			_exit(126);
		if (o->nofile > 0 && setrlimit(RLIMIT_NOFILE, &nofile) < 0)
			_exit(126);
		if (o->pin && sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
			_exit(126);
		execv(bin, argv);
		_exit(127);
	}
	close(log_fd);
	b->pid = pid;
	b->runs++;
	child_register(pid, false, b->log_path, dir);

	uint64_t deadline = now_ms() + START_WAIT_MS;

	for (;;) {
		int status;

		if (child_try_reap(pid, &status)) {
			broker_dump_log(b);
			child_unregister(pid);
			harness_remove_tree(dir);
			b->pid = 0;
			cr_assert_fail("broker %s exited during start-up (wait status 0x%x)", bin,
				       (unsigned)status);
		}
		if (!link_up)
			link_up = harness_netns_link(b->serial);
		if (link_up && (o->ready_log != NULL ? broker_log_contains(b, o->ready_log) :
				tcp_probe(b->port)))
			return;
		if (now_ms() >= deadline)
			break;
		sleep_ms(START_POLL_MS);
	}
	broker_dump_log(b);
	cr_assert_fail("broker did not accept connections on %s:%u within %d ms",
		       harness_host(), (unsigned)b->port, START_WAIT_MS);
}

void broker_start_opts(struct broker *b, const struct broker_opts *o)
{
	const char *extra_config = o->extra_config;

	harness_init_once();
	memset(b, 0, sizeof(*b));
	b->opts = *o;
	b->opts.extra_config = NULL;
	b->port = pick_free_port();
	/* Each broker of a test gets its own tap (DPDK modes). */
	static unsigned broker_serial;
	b->serial = broker_serial++;

	char dir[] = "/tmp/petrel-it-XXXXXX";

	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(b->conf_path, sizeof(b->conf_path), "%s/petrel.conf", dir);
	snprintf(b->log_path, sizeof(b->log_path), "%s/broker.log", dir);

	FILE *conf = fopen(b->conf_path, "w");

	cr_assert(conf, "cannot write %s: %s", b->conf_path, strerror(errno));
	fprintf(conf, "listener %u 127.0.0.1\n", (unsigned)b->port);
	/* persistence is on by default: every broker gets a store of its own. It lives
	 * in <dir> with the config, so broker_restart finds it again. */
	if (o->store_dir != NULL)
		snprintf(b->store_dir, sizeof(b->store_dir), "%s", o->store_dir);
	else
		snprintf(b->store_dir, sizeof(b->store_dir), "%s/data", dir);
	fprintf(conf, "persistence_location %s\n", b->store_dir);
	/* Its own control socket too, beside its config (petrelctl -s b->ctl_path). */
	snprintf(b->ctl_path, sizeof(b->ctl_path), "%s/ctl.sock", dir);
	fprintf(conf, "control_socket %s\n", b->ctl_path);
	harness_netns_config(conf, b->serial);
	if (extra_config && extra_config[0]) {
		size_t n = strlen(extra_config);

		fputs(extra_config, conf);
		if (extra_config[n - 1] != '\n')
			fputc('\n', conf);
	}
	cr_assert(fclose(conf) == 0, "writing %s failed", b->conf_path);
	broker_spawn(b);
}

void broker_restart(struct broker *b)
{
	int status;
	char path[sizeof(b->log_path)];

	cr_assert(b->runs > 0 && b->pid > 0, "broker_restart: the broker was never started");
	cr_assert(child_try_reap(b->pid, &status), "broker_restart: pid %d still runs",
		  (int)b->pid);
	/* The ended process's entry goes; its directory is the new one's to clean up. */
	child_unregister(b->pid);
	snprintf(path, sizeof(path), "%s", b->conf_path);
	char *slash = strrchr(path, '/');

	cr_assert(slash != NULL);
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "broker-%u.log",
		 b->runs + 1);
	memcpy(b->log_path, path, sizeof(b->log_path));
	broker_spawn(b);
}

/* Sends <sig> unless the broker ended already and waits for it to end: <= 5 s after
 * SIGTERM, then SIGKILL. Returns the wait status. The child stays registered (reaped),
 * so its directory is removed at the end of the test unless someone takes it over. */
static int broker_end(struct broker *b, int sig)
{
	int status = 0;

	if (child_try_reap(b->pid, &status))
		return status;
	kill(b->pid, sig);

	uint64_t deadline = now_ms() + STOP_WAIT_MS;

	while (!child_try_reap(b->pid, &status)) {
		if (sig != SIGKILL && now_ms() >= deadline) {
			fprintf(stderr, "[harness] broker pid %d ignored SIGTERM for %d ms, killing\n",
				(int)b->pid, STOP_WAIT_MS);
			kill(b->pid, SIGKILL);
			sig = SIGKILL;
		}
		sleep_ms(5);
	}
	return status;
}

int broker_stop(struct broker *b)
{
	if (b->pid <= 0)
		return -1;

	int status = broker_end(b, SIGTERM);

	child_unregister(b->pid);
	b->pid = 0;

	char dir[256];

	dir_of(b->conf_path, dir, sizeof(dir));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		/* Clean run: nothing to look at later. */
		harness_remove_tree(dir);
	} else {
		fprintf(stderr, "[harness] broker ended with wait status 0x%x; files kept in %s\n",
			(unsigned)status, dir);
		broker_dump_log(b);
	}
	return status;
}

void broker_stop_clean(struct broker *b)
{
	int st = broker_stop(b);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "broker did not exit cleanly on SIGTERM (wait status 0x%x)", (unsigned)st);
}

void broker_kill(struct broker *b)
{
	int status;

	cr_assert(b->pid > 0 && !child_try_reap(b->pid, &status),
		  "broker_kill: the broker is not running");
	status = broker_end(b, SIGKILL);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "broker_kill: wait status 0x%x", (unsigned)status);
}

int broker_stop_keep(struct broker *b)
{
	cr_assert(b->pid > 0, "broker_stop_keep: the broker was never started");
	return broker_end(b, SIGTERM);
}

void broker_stop_keep_clean(struct broker *b)
{
	int st = broker_stop_keep(b);

	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		broker_dump_log(b);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "broker did not exit cleanly on SIGTERM (wait status 0x%x)", (unsigned)st);
}

bool broker_alive(struct broker *b)
{
	int status;

	if (b->pid <= 0)
		return false;
	if (child_try_reap(b->pid, &status)) {
		fprintf(stderr, "[harness] broker pid %d is gone (wait status 0x%x)\n",
			(int)b->pid, (unsigned)status);
		broker_dump_log(b);
		return false;
	}
	return true;
}

long broker_status_kb(struct broker *b, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)b->pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

void harness_bench_bin(char *out, size_t cap)
{
	const char *env = getenv("PETREL_BENCH_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(out, cap, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0, "readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	snprintf(out, cap, "%s/petrel-bench", dirname(self));
}

void harness_small_asan_quarantine(void)
{
	char opts[512];
	const char *prev = getenv("ASAN_OPTIONS");

	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=8", prev ? prev : "",
		 prev && prev[0] ? ":" : "");
	cr_assert_eq(setenv("ASAN_OPTIONS", opts, 1), 0);
}

int broker_log_count(struct broker *b, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(b->log_path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

bool broker_log_contains(struct broker *b, const char *needle)
{
	FILE *f = fopen(b->log_path, "r");

	if (!f)
		return false;

	/* Read in chunks with an overlap of strlen(needle)-1 so a match across a chunk
	 * boundary is still found; bounded by the file size. */
	size_t nlen = strlen(needle);
	char buf[65536];
	size_t keep = 0;
	bool found = false;

	if (nlen == 0 || nlen >= sizeof(buf) / 2) {
		fclose(f);
		return nlen == 0;
	}
	for (;;) {
		size_t n = fread(buf + keep, 1, sizeof(buf) - keep, f);

		if (n == 0)
			break;
		n += keep;
		if (memmem(buf, n, needle, nlen)) {
			found = true;
			break;
		}
		keep = nlen - 1 < n ? nlen - 1 : n;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

bool broker_wait_log(struct broker *b, const char *needle, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (broker_log_contains(b, needle))
			return true;
		if (now_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
}

void broker_stop_expect_total(struct broker *b, const char *counter)
{
	bool logged = false;

	cr_assert_eq(kill(b->pid, SIGTERM), 0);
	for (int i = 0; i < 500 && !(logged = broker_log_contains(b, "totals:")); i++)
		sleep_ms(20);
	cr_assert(logged, "no totals line at shutdown");
	cr_assert(broker_log_contains(b, counter), "totals lack %s", counter);
	broker_stop_clean(b);
}

/* ---- libmosquitto clients -------------------------------------------------------- */

#define SUBACK_SLOTS 256
#define ACK_SLOTS 4096

struct suback_ev {
	int mid;
	int granted;
};

struct client {
	struct mosquitto *mosq;
	struct broker *broker;       /* for log dumps; NULL before client_connect */

	pthread_mutex_t mu;          /* protects everything below */
	pthread_cond_t cv;           /* broadcast on every event */
	bool loop_running;           /* mosquitto_loop_start succeeded, not yet stopped */
	int connack_rc;              /* -1 until a CONNACK arrived */
	bool session_present;
	bool connected;
	bool disconnected;
	int disconnect_rc;

	struct rx_msg *rx;           /* ring of received messages */
	size_t rx_cap;
	size_t rx_head;
	size_t rx_count;
	unsigned long rx_dropped;

	struct suback_ev subacks[SUBACK_SLOTS];   /* ring: newest overwrite oldest */
	unsigned subacks_next;
	int unsubacks[SUBACK_SLOTS];
	unsigned unsubacks_next;
	/* on_publish events (PUBACK/PUBCOMP received, or a QoS 0 PUBLISH written), newest
	 * overwriting oldest, numbered by <ack_seq>. A waiter looks for its mid among
	 * events numbered after its publish started, so an old event for a reused mid
	 * (mids wrap at 65535, QoS 0 ones are never waited for) cannot fool it. */
	int ack_mids[ACK_SLOTS];     /* event n is at [n % ACK_SLOTS] */
	uint64_t ack_seq;            /* number of events so far */
};

static void client_lock(struct client *c)
{
	pthread_mutex_lock(&c->mu);
}

static void client_unlock(struct client *c)
{
	pthread_mutex_unlock(&c->mu);
}

/* Waits on the condvar until <deadline>. Returns false once the deadline passed. The
 * caller holds c->mu and re-checks its condition. */
static bool client_wait_until(struct client *c, uint64_t deadline)
{
	uint64_t now = now_ms();

	if (now >= deadline)
		return false;

	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t wait = deadline - now;

	ts.tv_sec += (time_t)(wait / 1000);
	ts.tv_nsec += (long)(wait % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	return true;
}

/* Callbacks run on the client's network thread. They only copy data under the mutex
 * (no I/O while holding it) and wake the waiters. */
static void on_connect_cb(struct mosquitto *mosq, void *obj, int rc, int flags)
{
	struct client *c = obj;

	client_lock(c);
	c->connack_rc = rc;
	c->session_present = (flags & 1) != 0;
	c->connected = rc == 0;
	pthread_cond_broadcast(&c->cv);
	client_unlock(c);
	/* A refused client must not retry on its own: marking it disconnected makes
	 * mosquitto_loop_forever end instead of reconnecting. */
	if (rc != 0)
		mosquitto_disconnect(mosq);
}

static void on_disconnect_cb(struct mosquitto *mosq, void *obj, int rc)
{
	struct client *c = obj;

	client_lock(c);
	c->connected = false;
	c->disconnected = true;
	c->disconnect_rc = rc;
	pthread_cond_broadcast(&c->cv);
	client_unlock(c);
	/* Same as above: libmosquitto would reconnect after an unexpected close (and a
	 * taken-over client would then take the session back). The socket is closed
	 * already, so this only sets the state. */
	mosquitto_disconnect(mosq);
}

static void on_message_cb(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	(void)mosq;
	struct client *c = obj;

	client_lock(c);
	if (c->rx_count == c->rx_cap) {
		size_t ncap = c->rx_cap ? c->rx_cap * 2 : 64;
		struct rx_msg *n = ncap <= RX_MAX_QUEUED ? calloc(ncap, sizeof(*n)) : NULL;

		if (!n) {
			c->rx_dropped++;
			client_unlock(c);
			return;
		}
		for (size_t i = 0; i < c->rx_count; i++)
			n[i] = c->rx[(c->rx_head + i) % c->rx_cap];
		free(c->rx);
		c->rx = n;
		c->rx_cap = ncap;
		c->rx_head = 0;
	}

	struct rx_msg *r = &c->rx[(c->rx_head + c->rx_count) % c->rx_cap];

	memset(r, 0, sizeof(*r));
	snprintf(r->topic, sizeof(r->topic), "%s", m->topic ? m->topic : "");
	r->payload_len = m->payloadlen;

	size_t copy = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;

	if (copy > sizeof(r->payload))
		copy = sizeof(r->payload);
	if (copy)
		memcpy(r->payload, m->payload, copy);
	r->qos = m->qos;
	r->retain = m->retain;
	r->mid = m->mid;
	c->rx_count++;
	pthread_cond_broadcast(&c->cv);
	client_unlock(c);
}

static void on_subscribe_cb(struct mosquitto *mosq, void *obj, int mid, int count,
			    const int *granted)
{
	(void)mosq;
	struct client *c = obj;

	client_lock(c);
	struct suback_ev *ev = &c->subacks[c->subacks_next++ % SUBACK_SLOTS];

	ev->mid = mid;
	ev->granted = count > 0 ? granted[0] : -1;
	pthread_cond_broadcast(&c->cv);
	client_unlock(c);
}

static void on_unsubscribe_cb(struct mosquitto *mosq, void *obj, int mid)
{
	(void)mosq;
	struct client *c = obj;

	client_lock(c);
	c->unsubacks[c->unsubacks_next++ % SUBACK_SLOTS] = mid;
	pthread_cond_broadcast(&c->cv);
	client_unlock(c);
}

static void on_publish_cb(struct mosquitto *mosq, void *obj, int mid)
{
	(void)mosq;
	struct client *c = obj;

	client_lock(c);
	c->ack_seq++;
	c->ack_mids[c->ack_seq % ACK_SLOTS] = mid;
	pthread_cond_broadcast(&c->cv);
	client_unlock(c);
}

struct client *client_create(const char *id, bool clean)
{
	harness_init_once();
	struct client *c = calloc(1, sizeof(*c));

	cr_assert(c, "out of memory");

	pthread_condattr_t ca;

	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->connack_rc = -1;
	c->mosq = mosquitto_new(id, clean, c);
	cr_assert(c->mosq, "mosquitto_new(%s, clean=%d) failed: %s", id ? id : "(null)",
		  (int)clean, strerror(errno));
	mosquitto_connect_with_flags_callback_set(c->mosq, on_connect_cb);
	mosquitto_disconnect_callback_set(c->mosq, on_disconnect_cb);
	mosquitto_message_callback_set(c->mosq, on_message_cb);
	mosquitto_subscribe_callback_set(c->mosq, on_subscribe_cb);
	mosquitto_unsubscribe_callback_set(c->mosq, on_unsubscribe_cb);
	mosquitto_publish_callback_set(c->mosq, on_publish_cb);
	return c;
}

int client_connect(struct client *c, struct broker *b, int keepalive)
{
	c->broker = b;
	int rc = mosquitto_connect(c->mosq, harness_host(), b->port, keepalive);

	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "[harness] mosquitto_connect to port %u: %s\n", (unsigned)b->port,
			mosquitto_strerror(rc));
		return -1;
	}
	rc = mosquitto_loop_start(c->mosq);
	cr_assert(rc == MOSQ_ERR_SUCCESS, "mosquitto_loop_start: %s", mosquitto_strerror(rc));

	uint64_t deadline = now_ms() + CONNACK_WAIT_MS;

	client_lock(c);
	c->loop_running = true;
	while (c->connack_rc < 0 && !c->disconnected && client_wait_until(c, deadline))
		;
	rc = c->connack_rc;
	client_unlock(c);
	if (rc < 0) {
		fprintf(stderr, "[harness] no CONNACK within %d ms\n", CONNACK_WAIT_MS);
		broker_dump_log(b);
	}
	return rc;
}

static struct client *client_new_common(struct broker *b, const char *id, bool clean,
					int keepalive, const char *will_topic,
					const char *will_payload, int will_qos, bool will_retain)
{
	struct client *c = client_create(id, clean);

	if (will_topic) {
		int len = will_payload ? (int)strlen(will_payload) : 0;
		int rc = mosquitto_will_set(c->mosq, will_topic, len, will_payload, will_qos,
					    will_retain);

		cr_assert(rc == MOSQ_ERR_SUCCESS, "mosquitto_will_set: %s", mosquitto_strerror(rc));
	}
	client_connect(c, b, keepalive);
	return c;
}

struct client *client_new(struct broker *b, const char *id, bool clean, int keepalive)
{
	return client_new_common(b, id, clean, keepalive, NULL, NULL, 0, false);
}

struct client *client_new_will(struct broker *b, const char *id, bool clean,
			       int keepalive, const char *will_topic,
			       const char *will_payload, int will_qos, bool will_retain)
{
	return client_new_common(b, id, clean, keepalive, will_topic, will_payload, will_qos,
				 will_retain);
}

int client_connack_rc(struct client *c)
{
	client_lock(c);
	int rc = c->connack_rc;

	client_unlock(c);
	return rc;
}

bool client_session_present(struct client *c)
{
	client_lock(c);
	bool sp = c->session_present;

	client_unlock(c);
	return sp;
}

struct mosquitto *client_mosq(struct client *c)
{
	return c->mosq;
}

bool client_is_connected(struct client *c)
{
	client_lock(c);
	bool up = c->connected;

	client_unlock(c);
	return up;
}

int client_subscribe(struct client *c, const char *filter, int qos)
{
	int mid = 0;
	int rc = mosquitto_subscribe(c->mosq, &mid, filter, qos);

	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "[harness] mosquitto_subscribe(%s): %s\n", filter,
			mosquitto_strerror(rc));
		return -1;
	}

	uint64_t deadline = now_ms() + ACK_WAIT_MS;
	int granted = -1;

	client_lock(c);
	do {
		for (unsigned i = 0; i < SUBACK_SLOTS && granted < 0; i++) {
			if (c->subacks[i].mid == mid) {
				granted = c->subacks[i].granted;
				c->subacks[i].mid = 0;
			}
		}
	} while (granted < 0 && !c->disconnected && client_wait_until(c, deadline));
	client_unlock(c);
	if (granted < 0) {
		fprintf(stderr, "[harness] no SUBACK for %s (mid %d)\n", filter, mid);
		broker_dump_log(c->broker);
	}
	return granted;
}

int client_unsubscribe(struct client *c, const char *filter)
{
	int mid = 0;
	int rc = mosquitto_unsubscribe(c->mosq, &mid, filter);

	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "[harness] mosquitto_unsubscribe(%s): %s\n", filter,
			mosquitto_strerror(rc));
		return -1;
	}

	uint64_t deadline = now_ms() + ACK_WAIT_MS;
	bool got = false;

	client_lock(c);
	do {
		for (unsigned i = 0; i < SUBACK_SLOTS && !got; i++) {
			if (c->unsubacks[i] == mid) {
				got = true;
				c->unsubacks[i] = 0;
			}
		}
	} while (!got && !c->disconnected && client_wait_until(c, deadline));
	client_unlock(c);
	if (!got) {
		fprintf(stderr, "[harness] no UNSUBACK for %s (mid %d)\n", filter, mid);
		broker_dump_log(c->broker);
	}
	return got ? 0 : -1;
}

int client_sync(struct client *c)
{
	/* UNSUBSCRIBE is always answered, matching or not (MQTT-3.10.4-5), and changes
	 * nothing. */
	return client_unsubscribe(c, "$harness/sync");
}

int client_publish(struct client *c, const char *topic, const void *payload, int len,
		   int qos, bool retain)
{
	int mid = 0;

	client_lock(c);
	uint64_t start_seq = c->ack_seq;

	client_unlock(c);

	int rc = mosquitto_publish(c->mosq, &mid, topic, len, payload, qos, retain);

	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "[harness] mosquitto_publish(%s): %s\n", topic,
			mosquitto_strerror(rc));
		return -1;
	}
	if (qos == 0)
		return 0;

	uint64_t deadline = now_ms() + ACK_WAIT_MS;
	bool acked = false;

	client_lock(c);
	do {
		/* Only the newest ACK_SLOTS events are kept; ours, if it came, is among
		 * them, as nothing else is published while we wait. */
		uint64_t oldest = c->ack_seq > ACK_SLOTS ? c->ack_seq - ACK_SLOTS : 0;

		for (uint64_t seq = c->ack_seq; seq > start_seq && seq > oldest && !acked; seq--)
			acked = c->ack_mids[seq % ACK_SLOTS] == mid;
	} while (!acked && !c->disconnected && client_wait_until(c, deadline));
	client_unlock(c);
	if (!acked) {
		fprintf(stderr, "[harness] publish to %s (qos %d, mid %d) not acknowledged\n",
			topic, qos, mid);
		broker_dump_log(c->broker);
	}
	return acked ? 0 : -1;
}

bool client_wait_msg(struct client *c, struct rx_msg *out, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	bool got = false;

	client_lock(c);
	for (;;) {
		if (c->rx_count > 0) {
			*out = c->rx[c->rx_head];
			c->rx_head = (c->rx_head + 1) % c->rx_cap;
			c->rx_count--;
			got = true;
			break;
		}
		if (!client_wait_until(c, deadline))
			break;
	}
	client_unlock(c);
	if (got) {
		/* Make short text payloads usable as C strings. */
		size_t n = out->payload_len > 0 ? (size_t)out->payload_len : 0;

		if (n < sizeof(out->payload))
			out->payload[n] = 0;
	}
	return got;
}

int client_pending(struct client *c)
{
	client_lock(c);
	int n = (int)c->rx_count;

	client_unlock(c);
	return n;
}

bool client_wait_disconnect(struct client *c, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	client_lock(c);
	while (!c->disconnected && client_wait_until(c, deadline))
		;
	bool down = c->disconnected;

	client_unlock(c);
	return down;
}

/* Joins the network thread. It ends by itself once the client is disconnected (the
 * callbacks saw to that); if it did not, cancel it rather than hang the test. */
static void client_stop_loop(struct client *c)
{
	client_lock(c);
	bool running = c->loop_running;
	bool down = c->disconnected;

	c->loop_running = false;
	client_unlock(c);
	if (running)
		mosquitto_loop_stop(c->mosq, !down);
}

void client_disconnect(struct client *c)
{
	mosquitto_disconnect(c->mosq);
	/* DISCONNECT is written by the network thread; on_disconnect fires after it. */
	client_wait_disconnect(c, 2000);
	client_stop_loop(c);
}

void client_drop(struct client *c)
{
	/* shutdown() rather than close(): the descriptor stays libmosquitto's, the peer
	 * sees a FIN without DISCONNECT, and the network thread notices the EOF, reports
	 * the disconnect and stops. */
	client_lock(c);
	bool down = c->disconnected;

	client_unlock(c);
	if (!down) {
		int fd = mosquitto_socket(c->mosq);

		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
	client_wait_disconnect(c, 2000);
	client_stop_loop(c);
}

void client_free(struct client *c)
{
	if (!c)
		return;
	client_lock(c);
	bool running = c->loop_running;
	bool down = c->disconnected;

	client_unlock(c);
	if (running && !down) {
		mosquitto_disconnect(c->mosq);
		client_wait_disconnect(c, 1000);
	}
	client_stop_loop(c);
	mosquitto_destroy(c->mosq);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->rx);
	free(c);
}

struct client *connected_client(struct broker *b, const char *id, bool clean)
{
	struct client *c = client_new(b, id, clean, 60);

	cr_assert_eq(client_connack_rc(c), 0, "client %s not connected", id);
	return c;
}

void client_close(struct client *c)
{
	client_disconnect(c);
	client_free(c);
}

bool msg_payload_is(const struct rx_msg *m, const char *s)
{
	return m->payload_len == (int)strlen(s) && memcmp(m->payload, s, strlen(s)) == 0;
}

int msg_payload_int(const struct rx_msg *m)
{
	char s[16];
	char *end;

	if (m->payload_len <= 0 || m->payload_len >= (int)sizeof s)
		return -1;
	memcpy(s, m->payload, (size_t)m->payload_len);
	s[m->payload_len] = '\0';
	long v = strtol(s, &end, 10);
	return *end == '\0' ? (int)v : -1;
}

/* ---- raw sockets ----------------------------------------------------------------- */

int raw_connect(struct broker *b)
{
	harness_init_once();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	int one = 1;

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	broker_sockaddr(&sa, b->port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = errno;

		close(fd);
		broker_dump_log(b);
		cr_assert_fail("connect to %s:%u: %s", harness_host(), (unsigned)b->port,
			       strerror(err));
	}
	/* Small hand-built packets should leave at once, not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int raw_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t deadline = now_ms() + 5000;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int left = ms_left(deadline);

			if (left == 0 || poll(&pfd, 1, left) <= 0)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

ssize_t raw_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	size_t got = 0;
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;

		ssize_t n = recv(fd, p + got, len - got, MSG_DONTWAIT);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		else
			break;       /* EOF or reset */
	}
	return (ssize_t)got;
}

size_t raw_drain(int fd, void *buf, size_t cap, int timeout_ms, bool *closed)
{
	uint8_t *out = buf;
	size_t total = 0;
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	*closed = false;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return total;

		uint8_t tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);

		if (n > 0) {
			if (out && total < cap) {
				size_t keep = cap - total < (size_t)n ? cap - total : (size_t)n;

				memcpy(out + total, tmp, keep);
			}
			total += (size_t)n;
		} else if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		} else {
			/* EOF, or ECONNRESET when the broker closed with our data unread. */
			*closed = true;
			return total;
		}
	}
}

bool raw_wait_closed(int fd, int timeout_ms)
{
	bool closed;

	raw_drain(fd, NULL, 0, timeout_ms, &closed);
	return closed;
}

ssize_t raw_recv_packet(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	size_t pos = 0;
	uint32_t remaining = 0;
	uint32_t mult = 1;

	if (cap < 2 || raw_recv(fd, buf, 1, ms_left(deadline)) != 1)
		return -1;
	pos = 1;
	for (int i = 0; i < 4; i++) {
		if (pos >= cap || raw_recv(fd, buf + pos, 1, ms_left(deadline)) != 1)
			return -1;
		remaining += (uint32_t)(buf[pos] & 0x7f) * mult;
		mult *= 128;
		if (!(buf[pos++] & 0x80)) {
			if ((size_t)remaining > cap - pos)
				return -1;
			if (remaining && raw_recv(fd, buf + pos, remaining, ms_left(deadline)) !=
			    (ssize_t)remaining)
				return -1;
			return (ssize_t)(pos + remaining);
		}
	}
	return -1;     /* a fifth length byte: not MQTT */
}

bool raw_ping(int fd, int timeout_ms)
{
	static const uint8_t pingreq[2] = { 0xC0, 0x00 };
	uint8_t resp[8];

	if (raw_send(fd, pingreq, sizeof(pingreq)) != 0)
		return false;
	return raw_recv_packet(fd, resp, sizeof(resp), timeout_ms) == 2 && resp[0] == 0xD0 &&
	       resp[1] == 0x00;
}

void raw_pkt_init(struct raw_pkt *p)
{
	p->len = 0;
	p->overflow = false;
}

void raw_pkt_bytes(struct raw_pkt *p, const void *data, size_t len)
{
	if (len > sizeof(p->body) - p->len) {
		p->overflow = true;
		return;
	}
	if (len)
		memcpy(p->body + p->len, data, len);
	p->len += len;
}

void raw_pkt_u8(struct raw_pkt *p, uint8_t v)
{
	raw_pkt_bytes(p, &v, 1);
}

void raw_pkt_u16(struct raw_pkt *p, uint16_t v)
{
	uint8_t be[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	raw_pkt_bytes(p, be, 2);
}

void raw_pkt_lstr(struct raw_pkt *p, const void *s, size_t len)
{
	raw_pkt_u16(p, (uint16_t)len);
	raw_pkt_bytes(p, s, len);
}

void raw_pkt_str(struct raw_pkt *p, const char *s)
{
	raw_pkt_lstr(p, s, strlen(s));
}

size_t raw_pkt_finish(const struct raw_pkt *p, uint8_t first_byte, uint8_t *out, size_t cap)
{
	uint8_t hdr[5];
	size_t hlen = 0;
	size_t rem = p->len;

	if (p->overflow)
		return 0;
	hdr[hlen++] = first_byte;
	do {
		uint8_t digit = (uint8_t)(rem % 128);

		rem /= 128;
		if (rem)
			digit |= 0x80;
		hdr[hlen++] = digit;
	} while (rem);
	if (hlen + p->len > cap)
		return 0;
	memcpy(out, hdr, hlen);
	memcpy(out + hlen, p->body, p->len);
	return hlen + p->len;
}

int raw_pkt_send(int fd, const struct raw_pkt *p, uint8_t first_byte)
{
	static uint8_t out[sizeof(((struct raw_pkt *)0)->body) + 5];
	static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

	/* The buffer is static only to keep 16 KiB off the stack; serialise its use. */
	pthread_mutex_lock(&out_mu);
	size_t n = raw_pkt_finish(p, first_byte, out, sizeof(out));
	int rc = n ? raw_send(fd, out, n) : -1;

	pthread_mutex_unlock(&out_mu);
	return rc;
}

size_t raw_build_connect(uint8_t *out, size_t cap, const struct raw_connect_opts *o)
{
	struct raw_pkt *p = malloc(sizeof(*p));
	uint8_t level = o->level ? o->level : 4;
	const char *name = o->protocol_name ? o->protocol_name : level == 3 ? "MQIsdp" : "MQTT";
	uint8_t flags = o->extra_flags;

	if (!p)
		return 0;
	raw_pkt_init(p);
	if (o->clean)
		flags |= 0x02;
	if (o->will_topic) {
		flags |= 0x04;
		flags |= (uint8_t)((o->will_qos & 3) << 3);
		if (o->will_retain)
			flags |= 0x20;
	}
	if (o->password)
		flags |= 0x40;
	if (o->username)
		flags |= 0x80;

	raw_pkt_str(p, name);
	raw_pkt_u8(p, level);
	raw_pkt_u8(p, flags);
	raw_pkt_u16(p, o->keepalive);
	if (level == 5)
		raw_pkt_u8(p, 0);          /* MQTT 5: empty CONNECT property block */
	raw_pkt_str(p, o->client_id ? o->client_id : "");
	if (o->will_topic) {
		if (level == 5)
			raw_pkt_u8(p, 0);  /* MQTT 5: empty will property block */
		raw_pkt_str(p, o->will_topic);
		raw_pkt_str(p, o->will_payload ? o->will_payload : "");
	}
	if (o->username)
		raw_pkt_str(p, o->username);
	if (o->password)
		raw_pkt_str(p, o->password);

	size_t n = raw_pkt_finish(p, 0x10, out, cap);

	free(p);
	return n;
}

int raw_mqtt_connect_opts(int fd, const struct raw_connect_opts *o, bool *session_present)
{
	uint8_t buf[1024];
	size_t n = raw_build_connect(buf, sizeof(buf), o);

	if (n == 0 || raw_send(fd, buf, n) != 0)
		return -1;

	ssize_t got = raw_recv_packet(fd, buf, sizeof(buf), CONNACK_WAIT_MS);

	if (got != 4 || buf[0] != 0x20 || buf[1] != 0x02)
		return -1;
	if (session_present)
		*session_present = (buf[2] & 1) != 0;
	return buf[3];
}

int raw_mqtt_connect(int fd, const char *client_id)
{
	struct raw_connect_opts o = {
		.client_id = client_id,
		.clean = true,
		.keepalive = 60,
	};

	return raw_mqtt_connect_opts(fd, &o, NULL);
}

/* ---- command line clients -------------------------------------------------------- */

/* Starts `timeout -k 2 <s> sh -c <cmd>` with stdout on <out_fd>. coreutils' timeout puts
 * itself and the command in their own process group and kills that group when time is
 * up, so a stuck mosquitto_sub cannot outlive its limit. */
static pid_t spawn_with_timeout(const char *cmd, int timeout_s, int out_fd,
				const char *out_path)
{
	char secs[16];
	char *const argv[] = {
		"timeout", "-k", "2", secs, "/bin/sh", "-c", (char *)(uintptr_t)cmd, NULL,
	};

	harness_init_once();
	snprintf(secs, sizeof(secs), "%d", timeout_s > 0 ? timeout_s : 1);
	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(out_fd, STDOUT_FILENO);
		child_prepare(parent);
		execvp("timeout", argv);
		_exit(127);
	}
	child_register(pid, true, NULL, out_path);
	return pid;
}

/* Waits for a spawned command until <deadline>, then kills its group. Returns its exit
 * status, or -1 if it timed out (timeout's 124, or killed). */
static int wait_spawned(pid_t pid, uint64_t deadline)
{
	int status = 0;
	bool done;

	while (!(done = child_try_reap(pid, &status)) && now_ms() < deadline)
		sleep_ms(10);
	if (!done) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		child_unregister(pid);
		return -1;
	}
	child_unregister(pid);
	if (!WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == 124 || WEXITSTATUS(status) == 137)
		return -1;
	return WEXITSTATUS(status);
}

static void read_file_into(const char *path, char *out, size_t cap)
{
	if (!out || cap == 0)
		return;
	out[0] = '\0';

	FILE *f = fopen(path, "r");

	if (!f)
		return;

	size_t n = fread(out, 1, cap - 1, f);

	out[n] = '\0';
	fclose(f);
}

void run_cmd_bg(struct bg_cmd *bc, const char *cmd, int timeout_s)
{
	char tmpl[] = "/tmp/petrel-it-cmd-XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);

	cr_assert(fd >= 0, "mkostemp: %s", strerror(errno));
	memset(bc, 0, sizeof(*bc));
	snprintf(bc->out_path, sizeof(bc->out_path), "%s", tmpl);
	bc->timeout_s = timeout_s;
	bc->started_ms = now_ms();
	bc->pid = spawn_with_timeout(cmd, timeout_s, fd, bc->out_path);
	close(fd);
}

bool bg_cmd_wait_output(struct bg_cmd *bc, const char *needle, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	bool found = false;

	cr_assert(buf, "out of memory");
	for (;;) {
		read_file_into(bc->out_path, buf, cap);
		if (strstr(buf, needle)) {
			found = true;
			break;
		}
		if (now_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	free(buf);
	return found;
}

int bg_cmd_finish(struct bg_cmd *bc, char *out, size_t cap)
{
	uint64_t deadline = bc->started_ms + (uint64_t)bc->timeout_s * 1000u + 3000u;
	int rc = wait_spawned(bc->pid, deadline);

	read_file_into(bc->out_path, out, cap);
	unlink(bc->out_path);
	bc->pid = 0;
	return rc;
}

int run_cmd(const char *cmd, int timeout_s, char *out, size_t cap)
{
	struct bg_cmd bc;

	/* Through a file rather than a pipe: nothing to pump while waiting, and a child
	 * that leaves a grandchild holding stdout cannot make us wait for EOF. */
	run_cmd_bg(&bc, cmd, timeout_s);
	return bg_cmd_finish(&bc, out, cap);
}
