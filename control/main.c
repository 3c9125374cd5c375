/* main.c - the petrel binary: configuration (defaults < file < command line),
 * start-up, signal handling and orderly shutdown. Workers do everything else.
 *
 * Start-up order (docs/architecture.md "Control plane"): the store, the control
 * socket (before any thread, DPDK's EAL included: the umask that makes it 0600 is
 * process-wide), the transport, the broker, the store's load, the control plane,
 * the workers, then READY=1 to systemd. Shutdown: STOPPING=1, the control plane
 * stops posting to the workers, the workers stop, the control plane commits their
 * last records and ends, the socket file goes. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/metrics.h"
#ifdef PETREL_HAVE_DPDK
#include "petrel/port.h"
#include "petrel/transport_dpdk.h"
#endif
#include "petrel/transport.h"
#include "petrel/worker.h"

#include "main_store.h"

#define PETREL_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: petrel [options]\n"
		"MQTT 3.1/3.1.1 broker (kernel sockets, or DPDK with --dpdk).\n\n"
		"  -c, --config FILE    read settings from FILE (mosquitto-style key value lines)\n"
		"  -p, --port PORT      listen on PORT (default 1883; 0 picks a free port)\n"
		"  -w, --workers N      worker threads (default: one per core)\n"
		"      --dpdk           run on DPDK with Petrel's TCP/IP stack (dataplane dpdk)\n"
		"  -v, --verbose        log at debug level\n"
		"      --keys           list the configuration keys with defaults and exit\n"
		"  -h, --help           show this help\n\n"
		"Settings are documented in docs/configuration.md.\n");
}

/* Prints each line of a config error list on a line of its own. */
static void print_errors(const char *err)
{
	while (*err != '\0') {
		size_t len = strcspn(err, "\n");

		fprintf(stderr, "petrel: %.*s\n", (int)len, err);
		err += len;
		if (*err == '\n')
			err++;
	}
}

/* pid_file: written once the listeners are bound, so a supervisor reading it finds a
 * broker that accepts connections. Returns 0 or -errno. */
static int pid_file_write(const char *path)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)len) != len)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(path);
	return rc;
}

/* Opens the log_dest file. Returns 0, or 1 (the exit status) with the error printed. */
static int log_dest_open(const struct config *cfg)
{
	int rc;

	if (cfg->log_file[0] == '\0')
		return 0;
	rc = log_open_file(cfg->log_file);
	if (rc < 0) {
		fprintf(stderr, "petrel: log_dest file %s: %s\n", cfg->log_file,
			strerror(-rc));
		return 1;
	}
	log_set_stderr(cfg->log_stderr);
	return 0;
}

/* The transport of cfg->dataplane, its EAL and port started for dpdk (after the signal
 * mask: EAL threads inherit it). Returns NULL with one line printed. */
static const struct transport_ops *transport_pick(const struct config *cfg)
{
#ifdef PETREL_HAVE_DPDK
	char err[1024];
	const struct port_info *pi;
	struct port *port;

	if (cfg->dataplane != DATAPLANE_DPDK)
		return &transport_kernel_ops;
	if (transport_dpdk_open(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return NULL;
	}
	port = transport_dpdk_port();
	pi = port_get_info(port);
	log_notice("dpdk_port %u (%s, %s): %02x:%02x:%02x:%02x:%02x:%02x, MTU %u, %u "
		   "queue pair%s%s, link %s", pi->port_id, pi->name, pi->driver,
		   pi->mac[0], pi->mac[1], pi->mac[2], pi->mac[3], pi->mac[4], pi->mac[5],
		   pi->mtu, pi->nqueues, pi->nqueues == 1 ? "" : "s",
		   pi->steering ? " (single-queue: worker 0 steers by hash)" : "",
		   pi->link_up ? "up" : "down");
	return &transport_dpdk_ops;
#else
	/* config refuses dataplane dpdk in a build without DPDK. */
	(void)cfg;
	return &transport_kernel_ops;
#endif
}

/* --keys: the key table itself, so the list can never drift from the parser. */
static void print_keys(void)
{
	for (const struct config_key *k = config_keys; k->name != NULL; k++)
		printf("%-28s %-14s %s\n", k->name, k->def != NULL ? k->def : "-", k->help);
}

static int apply(struct config *cfg, const char *key, const char *value)
{
	char err[256];

	if (config_set(cfg, key, value, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return -1;
	}
	return 0;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The control plane: started over the loaded store, before the workers. Returns 0 or
 * 1 (one line printed). */
static int control_plane_start(struct cplane **cp, struct broker *b, struct store *st,
			       int ctl_fd, const char *conf_path,
			       const char *const *overrides)
{
	static struct metrics_info info = { .version = PETREL_VERSION };
	struct cplane_params prm = {
		.b = b, .st = st, .ctl_fd = ctl_fd, .config_path = conf_path,
		.overrides = overrides, .metrics_info = &info,
	};
	char err[1024];

	info.start_wall_ms = wall_ms();
	if (cplane_start(cp, &prm, err, sizeof(err)) < 0) {
		/* As the other refusals at start: one line on stderr. */
		*cp = NULL;
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "keys", no_argument, NULL, 'K' },
		{ "dpdk", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL, *port = NULL, *workers = NULL;
	const char *overrides[9];   /* key, value pairs of the command line, NULL */
	unsigned noverrides = 0;
	struct cplane *cp = NULL;
	int ctl_fd = -1;
	bool verbose = false, dpdk = false;
	struct config cfg;
	const struct transport_ops *tops;
	struct main_store ms;
	struct broker *b;
	sigset_t sigs;
	char err[8192];
	int opt, sig, status;

	while ((opt = getopt_long(argc, argv, "c:p:w:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'p': port = optarg; break;
		case 'w': workers = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'K': print_keys(); return 0;
		case 'D': dpdk = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "petrel: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	log_set_thread_name("main");
	config_defaults(&cfg);
	if (conf_path != NULL && config_load_file(&cfg, conf_path, err, sizeof(err)) < 0) {
		print_errors(err);
		return 1;
	}
	if ((port != NULL && apply(&cfg, "port", port) < 0) ||
	    (workers != NULL && apply(&cfg, "workers", workers) < 0) ||
	    (dpdk && apply(&cfg, "dataplane", "dpdk") < 0) ||
	    (verbose && apply(&cfg, "log_level", "debug") < 0))
		return 1;
	/* What a reload applies again after re-reading the file. */
	if (port != NULL) {
		overrides[noverrides++] = "port";
		overrides[noverrides++] = port;
	}
	if (workers != NULL) {
		overrides[noverrides++] = "workers";
		overrides[noverrides++] = workers;
	}
	if (dpdk) {
		overrides[noverrides++] = "dataplane";
		overrides[noverrides++] = "dpdk";
	}
	/* -v is log_level debug from the command line: a reload keeps it. */
	if (verbose) {
		overrides[noverrides++] = "log_level";
		overrides[noverrides++] = "debug";
	}
	overrides[noverrides] = NULL;
	if (config_finalize(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	log_set_level((enum log_level)cfg.log_level);
	if (log_dest_open(&cfg) != 0)
		return 1;

	/* Only the main thread takes these signals; workers inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread: jansson's hash seed (admin.h). */
	json_object_seed(0);

	/* The store first: a store petrel may not use stops it before a socket, a
	 * thread or a DPDK port exists. */
	if (main_store_open(&ms, &cfg) != 0)
		return 1;
	if (ctl_listen(&cfg, &ctl_fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: %s\n", err);
		main_store_close(&ms, NULL);
		return 1;
	}
	tops = transport_pick(&cfg);
	if (tops == NULL) {
		ctl_unlisten(&cfg, ctl_fd);
		main_store_close(&ms, NULL);
		return 1;
	}
	b = malloc(sizeof(*b));
	if (b == NULL || broker_init(b, &cfg, tops, &mqtt_engine_ops) < 0) {
		free(b);
		ctl_unlisten(&cfg, ctl_fd);
		main_store_close(&ms, NULL);
		return 1;
	}
	status = main_store_start(&ms, b);
	if (status == 0)
		status = control_plane_start(&cp, b, ms.st, ctl_fd, conf_path, overrides);
	if (status == 0 && cfg.pid_file[0] != '\0') {
		int rc = pid_file_write(cfg.pid_file);

		if (rc < 0) {
			log_err("pid_file %s: %s", cfg.pid_file, strerror(-rc));
			status = 1;
		}
	}
	if (status == 0 && broker_start_workers(b) < 0) {
		status = 1;
		if (cfg.pid_file[0] != '\0')
			unlink(cfg.pid_file);
	}
	if (status != 0) {
		cplane_quiesce(cp);
		broker_stop_workers(b);
		main_store_stop(&ms, cp);
		broker_shutdown(b);
		main_store_close(&ms, b);
		free(b);
		ctl_unlisten(&cfg, ctl_fd);
		return 1;
	}
	/* Listeners bound, workers running, the control socket served. */
	sd_notify(0, "READY=1");
	if (cfg.dataplane == DATAPLANE_DPDK)
		log_notice("petrel %s listening on %u.%u.%u.%u:%u with %u worker%s (dpdk)",
			   PETREL_VERSION, cfg.dpdk_ip >> 24, (cfg.dpdk_ip >> 16) & 255,
			   (cfg.dpdk_ip >> 8) & 255, cfg.dpdk_ip & 255,
			   cfg.port != 0 ? cfg.port : 1883, b->nworkers,
			   b->nworkers == 1 ? "" : "s");
	else
		log_notice("petrel %s listening on %s:%u with %u worker%s (kernel sockets)",
			   PETREL_VERSION, b->cfg.bind_address, b->cfg.port, b->nworkers,
			   b->nworkers == 1 ? "" : "s");
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_notice("SIGHUP: reloading the configuration");
			cplane_request_reload(cp);
			continue;
		}
		break;
	}
	sd_notify(0, "STOPPING=1");
	log_notice("signal %d: shutting down", sig);
	/* The control plane posts nothing more to the workers (nothing is left on a
	 * stopped worker's queue); the workers close their connections and push their
	 * last records (sessions going offline); then the control plane commits and
	 * syncs them, while the workers it notifies still exist. */
	cplane_quiesce(cp);
	broker_stop_workers(b);
	status = main_store_stop(&ms, cp);
	broker_shutdown_for_exit(b);
	main_store_close(&ms, b);
	free(b);
	ctl_unlisten(&cfg, ctl_fd);
	if (cfg.pid_file[0] != '\0' && unlink(cfg.pid_file) < 0)
		log_warn("pid_file %s: %s", cfg.pid_file, strerror(errno));
	log_notice("%s", status == 0 ? "stopped" : "stopped, with the store's last changes lost");
	log_close_file();
	return status;
}
