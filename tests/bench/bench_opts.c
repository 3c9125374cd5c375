/* bench_opts.c - parses and checks petrel-bench's command line. Defaults that depend
 * on the scenario (publishers, rate) are applied after all options are read, so the
 * order of arguments does not matter. */
#include "bench_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const bench_scenario_names[] = {
	[BENCH_FANIN] = "fanin",
	[BENCH_FANOUT] = "fanout",
	[BENCH_PAIRS] = "pairs",
	[BENCH_CONN] = "conn",
	[BENCH_LATENCY] = "latency",
	[BENCH_FLEET] = "fleet",
	[BENCH_STORM] = "storm",
	[BENCH_PERSIST] = "persist",
};

static const char *const bench_phase_names[] = {
	[BENCH_PHASE_ALL] = "all",
	[BENCH_PHASE_FILL] = "fill",
	[BENCH_PHASE_VERIFY] = "verify",
};

#define BENCH_NSCENARIOS (sizeof(bench_scenario_names) / sizeof(bench_scenario_names[0]))

static const char bench_usage[] =
	"Usage: petrel-bench SCENARIO [options]\n"
	"MQTT 3.1.1 load generator; prints one JSON line on stdout, a summary on stderr.\n"
	"\n"
	"Scenarios:\n"
	"  fanin    P publishers on bench/<i>, 1 subscriber on bench/#\n"
	"  fanout   1 publisher on bench/fan, S subscribers on bench/fan\n"
	"  pairs    N publisher->subscriber pairs on bench/pair/<i>\n"
	"  conn     open N connections as fast as possible and hold them; with --clean 0\n"
	"           each subscribes to bench/offline/<i> at QoS 1 and disconnects\n"
	"  latency  fanin with each publisher sending at a fixed --rate\n"
	"  fleet    N devices (--connections), each publishing one message every --interval\n"
	"           to bench/fleet/<i mod S>/<i>, spread evenly; S subscribers on\n"
	"           bench/fleet/<j>/#\n"
	"  storm    N persistent QoS 1 subscribers reset at once (RST), --messages queued\n"
	"           for each while away, then all reconnect at once\n"
	"  persist  N offline persistent sessions with --messages queued each, then\n"
	"           reconnected and checked (see --phase, --no-verify)\n"
	"\n"
	"Options:\n";

/* In two parts: ISO C only promises string literals up to 4095 bytes. */
static const char bench_usage_opts[] =
	"  --host ADDR           broker IPv4 address (127.0.0.1)\n"
	"  --port N              broker port (1883)\n"
	"  --qos 0|1|2           QoS of publications and subscriptions (0; fleet, storm and\n"
	"                        persist 1, storm and persist refuse 0)\n"
	"  --payload BYTES       payload size, at least 24 (64)\n"
	"  --duration SEC        measurement window (10); conn: how long to hold them\n"
	"  --warmup SEC          publishing before the window, not counted (2)\n"
	"  --drain SEC           wait for outstanding deliveries after publishing (2; fleet\n"
	"                        the --interval if longer); ends early once all are in\n"
	"  --publishers P        fanin, latency (8); fanout always has 1\n"
	"  --subscribers S       fanout (8); fanin and latency always have 1\n"
	"  --pairs N             pairs (16)\n"
	"  --connections N       conn, fleet (devices), storm, persist (10000)\n"
	"  --interval SEC        fleet: each device publishes every SEC seconds (10)\n"
	"  --messages M          storm (1), persist (10): messages queued per session\n"
	"  --no-verify           persist: fill only, do not reconnect and collect\n"
	"  --phase all|fill|verify  persist: both halves (all), or one, so that the broker\n"
	"                        can be restarted in between; needs --client-prefix\n"
	"  --timeout SEC         fleet, storm, persist: longest any one phase may take;\n"
	"                        what is not done by then counts as failed or lost (100)\n"
	"  --progress SEC        progress line on stderr (from 3 s into the run) and the\n"
	"                        JSON \"series\" sampled every SEC seconds; 0 = off (1)\n"
	"  --clean 0|1           cleanSession of the conn scenario's connections and of the\n"
	"                        subscribers (1); publishers always connect with 1\n"
	"  --inflight N          unacknowledged messages per QoS>0 publisher (32; fleet\n"
	"                        devices 2)\n"
	"  --conn-inflight N     conn and set-up: connects in flight (100)\n"
	"  --rate R              messages/s per publisher, 0 = unlimited (latency 1000, else 0);\n"
	"                        message k is stamped with its due time t0 + k/R, so latency\n"
	"                        counts from when it was due, stalls included\n"
	"  --threads J           generator threads, each with its own epoll (1)\n"
	"  --source-range A-B    bind connections round robin to source addresses A..B\n"
	"  --broker-pid PID      sample VmRSS of PID before and after\n"
	"  --dpdk                open connections with Petrel's TCP stack over a DPDK port\n"
	"                        (one lcore per thread) instead of kernel sockets; with it:\n"
	"  --dpdk-eal \"ARGS\"     EAL arguments, e.g. \"--no-huge -m 1024 --no-pci\n"
	"                        --file-prefix gen --vdev=net_memif0,role=client,socket=S\"\n"
	"  --dpdk-address A/LEN  the generator's first address and on-link prefix (needed);\n"
	"                        --source-range then gives all its addresses (one per 60k\n"
	"                        connections to one broker address and port)\n"
	"  --dpdk-gateway ADDR   next hop for an off-link broker (none)\n"
	"  --dpdk-mbufs N        mbufs per thread (8192)\n"
	"  --label TEXT          copied into the JSON\n"
	"  --client-prefix TEXT  client id prefix (pb-<pid>-)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 run completed, 1 could not run, 2 usage error.\n";

enum bench_opt_id {
	OPT_HOST = 256, OPT_PORT, OPT_QOS, OPT_PAYLOAD, OPT_DURATION, OPT_WARMUP,
	OPT_DRAIN, OPT_PUBLISHERS, OPT_SUBSCRIBERS, OPT_PAIRS, OPT_CONNECTIONS,
	OPT_CLEAN, OPT_INFLIGHT, OPT_CONN_INFLIGHT, OPT_RATE, OPT_THREADS,
	OPT_SOURCE_RANGE, OPT_BROKER_PID, OPT_LABEL, OPT_CLIENT_PREFIX,
	OPT_INTERVAL, OPT_MESSAGES, OPT_NO_VERIFY, OPT_PHASE, OPT_TIMEOUT, OPT_PROGRESS,
	OPT_DPDK, OPT_DPDK_EAL, OPT_DPDK_ADDRESS, OPT_DPDK_GATEWAY, OPT_DPDK_MBUFS,
};

static const struct option bench_long_opts[] = {
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "qos", required_argument, NULL, OPT_QOS },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "drain", required_argument, NULL, OPT_DRAIN },
	{ "publishers", required_argument, NULL, OPT_PUBLISHERS },
	{ "subscribers", required_argument, NULL, OPT_SUBSCRIBERS },
	{ "pairs", required_argument, NULL, OPT_PAIRS },
	{ "connections", required_argument, NULL, OPT_CONNECTIONS },
	{ "clean", required_argument, NULL, OPT_CLEAN },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "conn-inflight", required_argument, NULL, OPT_CONN_INFLIGHT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "source-range", required_argument, NULL, OPT_SOURCE_RANGE },
	{ "broker-pid", required_argument, NULL, OPT_BROKER_PID },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "client-prefix", required_argument, NULL, OPT_CLIENT_PREFIX },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "messages", required_argument, NULL, OPT_MESSAGES },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "phase", required_argument, NULL, OPT_PHASE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "dpdk", no_argument, NULL, OPT_DPDK },
	{ "dpdk-eal", required_argument, NULL, OPT_DPDK_EAL },
	{ "dpdk-address", required_argument, NULL, OPT_DPDK_ADDRESS },
	{ "dpdk-gateway", required_argument, NULL, OPT_DPDK_GATEWAY },
	{ "dpdk-mbufs", required_argument, NULL, OPT_DPDK_MBUFS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void bench_print_usage(FILE *f)
{
	fputs(bench_usage, f);
	fputs(bench_usage_opts, f);
}

const char *bench_scenario_name(enum bench_scenario s)
{
	return (size_t)s < BENCH_NSCENARIOS ? bench_scenario_names[s] : "?";
}

static int bench_bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "petrel-bench: --%s '%s': %s (try --help)\n", opt, val, why);
	return -EINVAL;
}

static int bench_parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max,
			   uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		char why[64];

		snprintf(why, sizeof(why), "want an integer in %u..%u", min, max);
		return bench_bad(opt, s, why);
	}
	*out = (uint32_t)v;
	return 0;
}

static int bench_parse_secs(const char *opt, const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > max)
		return bench_bad(opt, s, "want a non-negative number in range");
	*out = v;
	return 0;
}

static int bench_parse_ipv4(const char *opt, const char *s, struct in_addr *a)
{
	if (inet_pton(AF_INET, s, a) != 1)
		return bench_bad(opt, s, "want an IPv4 address");
	return 0;
}

/* A-B, both IPv4, A <= B: connections bind to A, A+1, ... B, A, ... */
static int bench_parse_range(const char *s, struct bench_opts *o)
{
	const char *dash = strchr(s, '-');
	struct in_addr a, b;
	char first[INET_ADDRSTRLEN];
	size_t n;
	uint32_t lo, hi;

	if (dash == NULL || (n = (size_t)(dash - s)) >= sizeof(first))
		return bench_bad("source-range", s, "want A-B");
	memcpy(first, s, n);
	first[n] = '\0';
	if (bench_parse_ipv4("source-range", first, &a) < 0 ||
	    bench_parse_ipv4("source-range", dash + 1, &b) < 0)
		return -EINVAL;
	lo = ntohl(a.s_addr);
	hi = ntohl(b.s_addr);
	if (hi < lo || hi - lo >= 65536)
		return bench_bad("source-range", s, "want A <= B, at most 65536 addresses");
	o->src_first = lo;
	o->src_count = hi - lo + 1;
	return 0;
}

/* A.B.C.D/LEN */
static int bench_parse_prefix(const char *s, struct bench_opts *o)
{
	const char *slash = strchr(s, '/');
	char addr[INET_ADDRSTRLEN];
	struct in_addr a;
	uint32_t len;
	size_t n;

	if (slash == NULL || (n = (size_t)(slash - s)) >= sizeof(addr))
		return bench_bad("dpdk-address", s, "want A.B.C.D/LEN");
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (bench_parse_ipv4("dpdk-address", addr, &a) < 0 ||
	    bench_parse_u32("dpdk-address", slash + 1, 1, 32, &len) < 0)
		return -EINVAL;
	o->dpdk_ip = ntohl(a.s_addr);
	o->dpdk_prefix_len = (uint8_t)len;
	return 0;
}

/* DPDK mode's options, or -1 when <id> is not one of them. */
static int bench_opt_dpdk(struct bench_opts *o, int id, const char *v)
{
	struct in_addr a;

	switch (id) {
	case OPT_DPDK:
		o->dpdk = true;
		return 0;
	case OPT_DPDK_EAL:
		o->dpdk_eal = v;
		return 0;
	case OPT_DPDK_ADDRESS:
		return bench_parse_prefix(v, o);
	case OPT_DPDK_GATEWAY:
		if (bench_parse_ipv4("dpdk-gateway", v, &a) < 0)
			return -EINVAL;
		o->dpdk_gateway = ntohl(a.s_addr);
		return 0;
	case OPT_DPDK_MBUFS:
		return bench_parse_u32("dpdk-mbufs", v, 1024, 1u << 24, &o->dpdk_mbufs);
	default:
		return -1;
	}
}

/* DPDK mode needs a port and an address; its addresses are the range, or that one. */
static int bench_opts_finish_dpdk(struct bench_opts *o)
{
	uint32_t mask;

	if (!o->dpdk)
		return 0;
#ifndef PETREL_HAVE_DPDK
	fprintf(stderr, "petrel-bench: --dpdk: this build has no DPDK\n");
	return -EINVAL;
#endif
	if (o->dpdk_eal == NULL || o->dpdk_ip == 0) {
		fprintf(stderr, "petrel-bench: --dpdk needs --dpdk-eal and --dpdk-address\n");
		return -EINVAL;
	}
	if (o->src_count == 0) {
		o->src_first = o->dpdk_ip;
		o->src_count = 1;
	}
	/* Every address we own must be on the link --dpdk-address names. */
	mask = o->dpdk_prefix_len >= 32 ? UINT32_MAX : ~(UINT32_MAX >> o->dpdk_prefix_len);
	if (((o->src_first ^ o->dpdk_ip) & mask) != 0 ||
	    (((o->src_first + o->src_count - 1) ^ o->dpdk_ip) & mask) != 0) {
		fprintf(stderr, "petrel-bench: --source-range is not inside --dpdk-address's "
			"prefix /%u\n", o->dpdk_prefix_len);
		return -EINVAL;
	}
	return 0;
}

static int bench_parse_scenario(const char *s, struct bench_opts *o)
{
	size_t i;

	for (i = 0; i < BENCH_NSCENARIOS; i++) {
		if (strcmp(s, bench_scenario_names[i]) == 0) {
			o->scenario = (enum bench_scenario)i;
			return 0;
		}
	}
	fprintf(stderr, "petrel-bench: unknown scenario '%s' (fanin, fanout, pairs, conn, "
		"latency, fleet, storm, persist)\n", s);
	return -EINVAL;
}

const char *bench_phase_name(enum bench_phase p)
{
	return (size_t)p < sizeof(bench_phase_names) / sizeof(bench_phase_names[0]) ?
	       bench_phase_names[p] : "?";
}

static int bench_parse_phase(const char *s, struct bench_opts *o)
{
	size_t i;

	for (i = 0; i < sizeof(bench_phase_names) / sizeof(bench_phase_names[0]); i++) {
		if (strcmp(s, bench_phase_names[i]) == 0) {
			o->phase = (enum bench_phase)i;
			return 0;
		}
	}
	return bench_bad("phase", s, "want all, fill or verify");
}

static void bench_opts_defaults(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->broker.sin_family = AF_INET;
	o->broker.sin_port = htons(1883);
	o->broker.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	o->payload = 64;
	o->duration_s = 10;
	o->warmup_s = 2;
	o->drain_s = 2;
	o->subscribers = 8;
	o->pairs = 16;
	o->connections = 10000;
	o->clean = true;
	o->inflight = 32;
	o->conn_window = 100;
	o->threads = 1;
	o->interval_s = 10;
	o->verify = true;
	o->phase_timeout_s = 100;
	o->progress_s = 1;
	o->dpdk_mbufs = 8192;
	o->label = "";
	snprintf(o->client_prefix, sizeof(o->client_prefix), "pb-%ld-", (long)getpid());
}

struct bench_opt_seen {
	bool publishers;
	bool rate;
	bool qos;
	bool clean;
	bool inflight;
	bool messages;
	bool client_prefix;
	bool drain;
};

static int bench_opt_apply(struct bench_opts *o, struct bench_opt_seen *seen, int id,
			   const char *v)
{
	uint32_t u;
	int rc = bench_opt_dpdk(o, id, v);

	if (rc != -1)
		return rc;
	switch (id) {
	case OPT_HOST:
		return bench_parse_ipv4("host", v, &o->broker.sin_addr);
	case OPT_PORT:
		if (bench_parse_u32("port", v, 1, 65535, &u) < 0)
			return -EINVAL;
		o->broker.sin_port = htons((uint16_t)u);
		return 0;
	case OPT_QOS:
		seen->qos = true;
		if (bench_parse_u32("qos", v, 0, 2, &u) < 0)
			return -EINVAL;
		o->qos = (uint8_t)u;
		return 0;
	case OPT_PAYLOAD:
		return bench_parse_u32("payload", v, BENCH_PAYLOAD_MIN, BENCH_PAYLOAD_MAX,
				       &o->payload);
	case OPT_DURATION:
		return bench_parse_secs("duration", v, 86400, &o->duration_s);
	case OPT_WARMUP:
		return bench_parse_secs("warmup", v, 3600, &o->warmup_s);
	case OPT_DRAIN:
		seen->drain = true;
		return bench_parse_secs("drain", v, 3600, &o->drain_s);
	case OPT_PUBLISHERS:
		seen->publishers = true;
		return bench_parse_u32("publishers", v, 1, 100000, &o->publishers);
	case OPT_SUBSCRIBERS:
		return bench_parse_u32("subscribers", v, 1, 100000, &o->subscribers);
	case OPT_PAIRS:
		return bench_parse_u32("pairs", v, 1, 50000, &o->pairs);
	case OPT_CONNECTIONS:
		return bench_parse_u32("connections", v, 1, 10000000, &o->connections);
	case OPT_CLEAN:
		seen->clean = true;
		if (bench_parse_u32("clean", v, 0, 1, &u) < 0)
			return -EINVAL;
		o->clean = u == 1;
		return 0;
	case OPT_INFLIGHT:
		seen->inflight = true;
		return bench_parse_u32("inflight", v, 1, 65535, &o->inflight);
	case OPT_CONN_INFLIGHT:
		return bench_parse_u32("conn-inflight", v, 1, 1000000, &o->conn_window);
	case OPT_RATE:
		seen->rate = true;
		return bench_parse_secs("rate", v, 1e9, &o->rate);
	case OPT_THREADS:
		return bench_parse_u32("threads", v, 1, 256, &o->threads);
	case OPT_SOURCE_RANGE:
		return bench_parse_range(v, o);
	case OPT_BROKER_PID:
		if (bench_parse_u32("broker-pid", v, 1, 0x3fffffff, &u) < 0)
			return -EINVAL;
		o->broker_pid = (pid_t)u;
		return 0;
	case OPT_LABEL:
		o->label = v;
		return 0;
	case OPT_CLIENT_PREFIX:
		if (strlen(v) >= sizeof(o->client_prefix) - 16)
			return bench_bad("client-prefix", v, "too long");
		snprintf(o->client_prefix, sizeof(o->client_prefix), "%s", v);
		seen->client_prefix = true;
		return 0;
	case OPT_INTERVAL:
		if (bench_parse_secs("interval", v, 86400, &o->interval_s) < 0)
			return -EINVAL;
		return o->interval_s > 0 ? 0 : bench_bad("interval", v, "want > 0");
	case OPT_MESSAGES:
		seen->messages = true;
		return bench_parse_u32("messages", v, 1, 1000000, &o->messages);
	case OPT_NO_VERIFY:
		o->verify = false;
		return 0;
	case OPT_PHASE:
		return bench_parse_phase(v, o);
	case OPT_TIMEOUT:
		if (bench_parse_secs("timeout", v, 86400, &o->phase_timeout_s) < 0)
			return -EINVAL;
		return o->phase_timeout_s > 0 ? 0 : bench_bad("timeout", v, "want > 0");
	case OPT_PROGRESS:
		return bench_parse_secs("progress", v, 3600, &o->progress_s);
	default:
		bench_print_usage(stderr);
		return -EINVAL;
	}
}

static int bench_opts_refuse(const char *why)
{
	fprintf(stderr, "petrel-bench: %s (try --help)\n", why);
	return -EINVAL;
}

/* fleet, storm and persist: their defaults and what they refuse. */
static int bench_opts_finish_sessions(struct bench_opts *o, const struct bench_opt_seen *seen)
{
	bool queued = o->scenario == BENCH_STORM || o->scenario == BENCH_PERSIST;

	if (!seen->qos)
		o->qos = 1;
	if (o->scenario == BENCH_FLEET) {
		/* One message per interval: two slots cover an ack that is a little late,
		 * and 1M devices x 32 pre-encoded slots would not fit. */
		if (!seen->inflight)
			o->inflight = 2;
		/* A message stamped just before the stop may wait for its device's next
		 * turn (a full window); the drain ends early once all are in. */
		if (!seen->drain && o->drain_s < o->interval_s)
			o->drain_s = o->interval_s;
		if (o->subscribers > o->connections)
			return bench_opts_refuse("fleet wants --subscribers <= --connections");
		return 0;
	}
	if (queued && o->qos == 0)
		return bench_opts_refuse("storm and persist queue QoS 1 or 2 messages: "
					 "--qos 0 does not apply");
	if (queued && seen->clean && o->clean)
		return bench_opts_refuse("storm and persist sessions are persistent: "
					 "--clean 1 does not apply");
	o->clean = false;
	if (!seen->messages)
		o->messages = o->scenario == BENCH_STORM ? 1 : 10;
	if (o->phase != BENCH_PHASE_ALL && o->scenario != BENCH_PERSIST)
		return bench_opts_refuse("--phase is for persist");
	if (o->phase != BENCH_PHASE_ALL && !seen->client_prefix)
		return bench_opts_refuse("--phase needs --client-prefix: the verifying run "
					 "must use the filling run's client ids");
	if (o->phase == BENCH_PHASE_VERIFY && !o->verify)
		return bench_opts_refuse("--phase verify contradicts --no-verify");
	if (o->phase == BENCH_PHASE_FILL)
		o->verify = false;
	return 0;
}

/* The defaults that depend on the scenario, then the checks across options. */
static int bench_opts_finish(struct bench_opts *o, const struct bench_opt_seen *seen)
{
	if (o->scenario == BENCH_FANOUT)
		o->publishers = 1;
	else if (!seen->publishers)
		o->publishers = 8;
	if (!seen->rate && o->scenario == BENCH_LATENCY)
		o->rate = 1000;
	if ((o->scenario == BENCH_FLEET || o->scenario == BENCH_STORM ||
	     o->scenario == BENCH_PERSIST) && bench_opts_finish_sessions(o, seen) < 0)
		return -EINVAL;
	if (o->scenario != BENCH_CONN && o->scenario != BENCH_STORM &&
	    o->scenario != BENCH_PERSIST && o->duration_s <= 0) {
		fprintf(stderr, "petrel-bench: --duration must be > 0 for %s\n",
			bench_scenario_name(o->scenario));
		return -EINVAL;
	}
	return bench_opts_finish_dpdk(o);
}

int bench_opts_parse(struct bench_opts *o, int argc, char **argv)
{
	struct bench_opt_seen seen;
	int id;

	bench_opts_defaults(o);
	memset(&seen, 0, sizeof(seen));
	opterr = 0;
	while ((id = getopt_long(argc, argv, "h", bench_long_opts, NULL)) != -1) {
		if (id == 'h') {
			bench_print_usage(stdout);
			return 1;
		}
		if (id == '?' || id == ':') {
			fprintf(stderr, "petrel-bench: bad or incomplete option '%s' (try --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (bench_opt_apply(o, &seen, id, optarg) < 0)
			return -EINVAL;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "petrel-bench: want exactly one SCENARIO (try --help)\n");
		return -EINVAL;
	}
	if (bench_parse_scenario(argv[optind], o) < 0)
		return -EINVAL;
	return bench_opts_finish(o, &seen);
}
