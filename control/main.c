/* main.c - the petrel binary: configuration (defaults < file < command line),
 * start-up, signal handling and orderly shutdown. Workers do everything else. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/transport.h"
#include "petrel/worker.h"

#define PETREL_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: petrel [options]\n"
		"MQTT 3.1/3.1.1 broker (kernel sockets).\n\n"
		"  -c, --config FILE    read settings from FILE (mosquitto-style key value lines)\n"
		"  -p, --port PORT      listen on PORT (default 1883; 0 picks a free port)\n"
		"  -w, --workers N      worker threads (default: one per core)\n"
		"  -v, --verbose        log at debug level\n"
		"  -h, --help           show this help\n\n"
		"Settings are documented in docs/configuration.md.\n");
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL, *port = NULL, *workers = NULL;
	bool verbose = false;
	struct config cfg;
	struct broker *b;
	sigset_t sigs;
	char err[512];
	int opt, sig;

	while ((opt = getopt_long(argc, argv, "c:p:w:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'p': port = optarg; break;
		case 'w': workers = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
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
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	if ((port != NULL && apply(&cfg, "port", port) < 0) ||
	    (workers != NULL && apply(&cfg, "workers", workers) < 0))
		return 1;
	if (config_finalize(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	log_set_level(verbose ? LOG_DEBUG : (enum log_level)cfg.log_level);

	/* Only the main thread takes these signals; workers inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	b = malloc(sizeof(*b));
	if (b == NULL || broker_init(b, &cfg, &transport_kernel_ops) < 0) {
		free(b);
		return 1;
	}
	if (broker_start_workers(b) < 0) {
		broker_shutdown(b);
		free(b);
		return 1;
	}
	log_notice("petrel %s listening on %s:%u with %u worker%s (kernel sockets)",
		   PETREL_VERSION, b->cfg.bind_address, b->cfg.port, b->nworkers,
		   b->nworkers == 1 ? "" : "s");
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_notice("SIGHUP: reload is not supported yet, ignored");
			continue;
		}
		break;
	}
	log_notice("signal %d: shutting down", sig);
	broker_shutdown(b);
	free(b);
	log_notice("stopped");
	return 0;
}
