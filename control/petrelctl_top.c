/* petrelctl_top.c - `petrelctl top`: asks for status once a frame over one connection
 * and draws a summary and a per-worker table, like top(1) for the broker. On a
 * terminal each frame replaces the last (ANSI home + clear); into a pipe or a file the
 * frames follow one another, so a script or a test can read them. The broker computes
 * the rates (metrics.h samples each second); drops per second are the difference of
 * the drop total between two frames. With --json each frame is one compact JSON line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "petrelctl.h"

struct top_opts {
	unsigned long count;   /* frames; 0 = until interrupted */
	double delay_s;
};

static int parse_opts(int argc, char **argv, struct top_opts *o, struct pctl *p)
{
	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			p->json = true;
			continue;
		}
		if (strcmp(argv[i], "-n") && strcmp(argv[i], "-d")) {
			pctl_error("top: unexpected argument '%s' (usage: petrelctl top "
				   "[-n COUNT] [-d SECONDS])", argv[i]);
			return -1;
		}
		if (!v || !*v || *v == '-') {
			pctl_error("top: %s needs a value", argv[i]);
			return -1;
		}
		errno = 0;
		if (argv[i][1] == 'n') {
			o->count = strtoul(v, &end, 10);
			if (errno || *end) {
				pctl_error("top: -n needs a number of frames, not '%s'", v);
				return -1;
			}
		} else {
			o->delay_s = strtod(v, &end);
			if (errno || *end || !(o->delay_s >= 0.1 && o->delay_s <= 3600)) {
				pctl_error("top: -d needs seconds from 0.1 to 3600, not '%s'", v);
				return -1;
			}
		}
		i++;
	}
	return 0;
}

static void worker_table(json_t *status)
{
	static const char *const head[] = { "WORKER", "CPU%", "BUSY%", "CONNS", "SESSIONS",
		"MSG IN/S", "MSG OUT/S" };
	json_t *workers = fmt_get(status, "per_worker"), *w;
	struct fmt_table t;
	size_t i;

	fmt_table_init(&t, 7, "rrrrrrr", head);
	json_array_foreach(workers, i, w) {
		char id[16], cpu[16], busy[16], conns[16], sess[16], in[16], out[16];
		const char *cells[7] = { id, cpu, busy, conns, sess, in, out };

		snprintf(id, sizeof(id), "%.0f", fmt_num(w, "id"));
		snprintf(cpu, sizeof(cpu), "%.1f", fmt_num(w, "cpu_percent"));
		snprintf(busy, sizeof(busy), "%.1f", fmt_num(w, "busy_percent"));
		snprintf(conns, sizeof(conns), "%.0f", fmt_num(w, "connections"));
		snprintf(sess, sizeof(sess), "%.0f", fmt_num(w, "sessions"));
		fmt_rate(fmt_num(w, "messages_received_per_s"), in, sizeof(in));
		fmt_rate(fmt_num(w, "messages_sent_per_s"), out, sizeof(out));
		fmt_table_row(&t, cells);
	}
	fmt_table_print(&t, "");
}

static void frame(json_t *s, double drops_per_s, bool tty)
{
	char up[32], clock[16], mi[16], mo[16], bi[32], bo[32], dr[16];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("petrel %s - %s up %s, %s, %.0f workers\n", fmt_str(s, "version", "-"), clock,
	       fmt_duration(fmt_num(s, "uptime_s"), up, sizeof(up)), fmt_str(s, "mode", "-"),
	       fmt_num(s, "workers"));
	printf("connections %.0f, sessions %.0f online %.0f offline, subscriptions %.0f, "
	       "retained %.0f\n", fmt_num(s, "connections"), fmt_num(s, "sessions.online"),
	       fmt_num(s, "sessions.offline"), fmt_num(s, "subscriptions"),
	       fmt_num(s, "retained"));
	printf("messages in %s/s out %s/s, bytes in %s/s out %s/s\n",
	       fmt_rate(fmt_num(s, "messages.received_per_s"), mi, sizeof(mi)),
	       fmt_rate(fmt_num(s, "messages.sent_per_s"), mo, sizeof(mo)),
	       fmt_bytes(fmt_num(s, "bytes.received_per_s"), bi, sizeof(bi)),
	       fmt_bytes(fmt_num(s, "bytes.sent_per_s"), bo, sizeof(bo)));
	printf("drops %.0f (%s/s)\n\n", fmt_num(s, "drops.total"),
	       fmt_rate(drops_per_s, dr, sizeof(dr)));
	worker_table(s);
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - floor(s)) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int top_run(struct pctl *p, int argc, char **argv)
{
	struct top_opts o = { .count = 0, .delay_s = 1.0 };
	bool tty = isatty(STDOUT_FILENO);
	double last_drops = NAN;

	if (parse_opts(argc, argv, &o, p) < 0)
		return PCTL_USAGE;
	for (unsigned long n = 0; o.count == 0 || n < o.count; n++) {
		json_t *s = pctl_call(p, json_pack("{ss}", "cmd", "status"));
		double drops, rate;

		if (!s)
			return PCTL_FAILED;
		drops = fmt_num(s, "drops.total");
		rate = isnan(last_drops) ? 0 : (drops - last_drops) / o.delay_s;
		last_drops = drops;
		if (p->json) {
			json_dumpf(s, stdout, JSON_COMPACT | JSON_SORT_KEYS);
			putchar('\n');
			fflush(stdout);
		} else {
			frame(s, rate, tty);
		}
		json_decref(s);
		if (ferror(stdout))
			return PCTL_FAILED;
		if (o.count == 0 || n + 1 < o.count)
			sleep_s(o.delay_s);
	}
	return PCTL_OK;
}
