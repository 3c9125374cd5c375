/* petrelctl_fmt.c - petrelctl's output for people: one printer per command over the
 * broker's result object (ctl.h, the contract's result shapes), aligned tables with
 * headers, "key: value" blocks, sizes and rates made readable. A field the broker did
 * not send prints as "-" rather than failing: an older broker still gets a table. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "petrelctl.h"

/* ---- values ----------------------------------------------------------------------- */

json_t *fmt_get(json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (dot != NULL);
	}
	return o;
}

double fmt_num(json_t *o, const char *path)
{
	return json_number_value(fmt_get(o, path));
}

const char *fmt_str(json_t *o, const char *path, const char *dflt)
{
	const char *s = json_string_value(fmt_get(o, path));

	return s ? s : dflt;
}

const char *fmt_bytes(double n, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%.0f B", n);
		return buf;
	}
	n /= 1024;
	while (n >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", n, units[u]);
	return buf;
}

const char *fmt_rate(double n, char *buf, size_t len)
{
	if (n < 1000)
		snprintf(buf, len, "%.1f", n);
	else if (n < 1e6)
		snprintf(buf, len, "%.1fk", n / 1e3);
	else
		snprintf(buf, len, "%.1fM", n / 1e6);
	return buf;
}

const char *fmt_duration(double s, char *buf, size_t len)
{
	unsigned long long t = s > 0 ? (unsigned long long)s : 0;

	if (t < 60)
		snprintf(buf, len, "%llus", t);
	else if (t < 3600)
		snprintf(buf, len, "%llum %02llus", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%lluh %02llum", t / 3600, t / 60 % 60);
	else
		snprintf(buf, len, "%llud %02lluh", t / 86400, t / 3600 % 24);
	return buf;
}

/* A number as an integer when it is one: counts never print as "3.000000". */
static const char *num_text(json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.2f", json_real_value(v));
	else if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return buf;
}

/* Unix seconds as UTC "2026-12-01T10:40:01Z", or "-" for null. */
static const char *time_text(json_t *v, char *buf, size_t len)
{
	time_t t = (time_t)json_number_value(v);
	struct tm tm;

	if (!json_is_number(v) || !gmtime_r(&t, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* "key:" padded so every value of a block starts in one column. */
static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-*s ", 16, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void shown_line(json_t *r, size_t shown)
{
	double total = fmt_num(r, "total");

	if (total > (double)shown)
		printf("%zu of %.0f shown (--limit N, 0 = all)\n", shown, total);
}

/* ---- tables ----------------------------------------------------------------------- */

void fmt_table_init(struct fmt_table *t, unsigned ncols, const char *align,
		    const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->align = align;
	if (headers)
		fmt_table_row(t, headers);
}

void fmt_table_row(struct fmt_table *t, const char *const *cells)
{
	if ((t->rows + 1) * t->ncols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : (size_t)t->ncols * 16;
		char **nc = realloc(t->cells, cap * sizeof(*nc));

		if (!nc)
			return;   /* the row is lost, not the program */
		t->cells = nc;
		t->cap = cap;
	}
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[t->rows * t->ncols + i] = strdup(cells[i] ? cells[i] : "-");
	t->rows++;
}

void fmt_table_print(struct fmt_table *t, const char *indent)
{
	size_t width[16] = { 0 };

	for (size_t r = 0; r < t->rows; r++)
		for (unsigned i = 0; i < t->ncols && i < 16; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = s ? strlen(s) : 0;

			if (n > width[i])
				width[i] = n;
		}
	for (size_t r = 0; r < t->rows; r++) {
		fputs(indent, stdout);
		for (unsigned i = 0; i < t->ncols && i < 16; i++) {
			const char *s = t->cells[r * t->ncols + i];
			bool last = i + 1 == t->ncols;

			if (!s)
				s = "-";
			if (t->align[i] == 'r')
				printf("%*s", (int)width[i], s);
			else
				printf("%-*s", last ? 0 : (int)width[i], s);
			if (!last)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- status ----------------------------------------------------------------------- */

static void traffic_line(json_t *r, const char *key, const char *what, bool bytes)
{
	char path[64], a[32], b[32], label[32];

	snprintf(path, sizeof(path), "%s.%s", key, what);
	snprintf(label, sizeof(label), "%s %s:", key, strcmp(what, "received") ? "out" : "in");
	if (bytes) {
		fmt_bytes(fmt_num(r, path), a, sizeof(a));
		snprintf(path, sizeof(path), "%s.%s_per_s", key, what);
		fmt_bytes(fmt_num(r, path), b, sizeof(b));
		kv(label, "%s (%s/s)", a, b);
	} else {
		snprintf(path, sizeof(path), "%s.%s_per_s", key, what);
		fmt_rate(fmt_num(r, path), b, sizeof(b));
		snprintf(path, sizeof(path), "%s.%s", key, what);
		kv(label, "%.0f (%s/s)", fmt_num(r, path), b);
	}
}

/* "12 (queue_full 10, slow_subscriber 2)": the reasons that counted anything. */
static void drops_text(json_t *r, char *buf, size_t len)
{
	json_t *drops = fmt_get(r, "drops"), *v;
	const char *name;
	size_t at;
	bool any = false;

	at = (size_t)snprintf(buf, len, "%.0f", fmt_num(drops, "total"));
	json_object_foreach(drops, name, v) {
		int n;

		if (strcmp(name, "total") == 0 || json_number_value(v) == 0 || at >= len)
			continue;
		n = snprintf(buf + at, len - at, "%s%s %.0f", any ? ", " : " (", name,
			     json_number_value(v));
		any = true;
		if (n > 0)
			at += (size_t)n;
	}
	if (any && at < len)
		snprintf(buf + at, len - at, ")");
}

void fmt_status(json_t *r)
{
	char a[32], b[32], drops[512];
	json_t *store = fmt_get(r, "store");

	kv("version:", "%s", fmt_str(r, "version", "-"));
	kv("uptime:", "%s", fmt_duration(fmt_num(r, "uptime_s"), a, sizeof(a)));
	kv("mode:", "%s, %.0f workers", fmt_str(r, "mode", "-"), fmt_num(r, "workers"));
	kv("connections:", "%.0f", fmt_num(r, "connections"));
	kv("sessions:", "%.0f online, %.0f offline, %.0f total",
	   fmt_num(r, "sessions.online"), fmt_num(r, "sessions.offline"),
	   fmt_num(r, "sessions.total"));
	kv("subscriptions:", "%.0f", fmt_num(r, "subscriptions"));
	kv("retained:", "%.0f", fmt_num(r, "retained"));
	traffic_line(r, "messages", "received", false);
	traffic_line(r, "messages", "sent", false);
	traffic_line(r, "bytes", "received", true);
	traffic_line(r, "bytes", "sent", true);
	drops_text(r, drops, sizeof(drops));
	kv("drops:", "%s", drops);
	if (store)
		kv("store:", "%s file (%s used); sessions %.0f, messages %.0f, retained %.0f",
		   fmt_bytes(fmt_num(store, "file_bytes"), a, sizeof(a)),
		   fmt_bytes(fmt_num(store, "used_bytes"), b, sizeof(b)),
		   fmt_num(store, "sessions"), fmt_num(store, "msgs"),
		   fmt_num(store, "retained"));
}

/* ---- clients, sessions, subscriptions ---------------------------------------------- */

static void client_row(struct fmt_table *t, json_t *c)
{
	bool online = json_is_true(json_object_get(c, "connected"));
	char worker[16], keepalive[16], subs[16], inflight[16], queued[16], since[32];
	const char *cells[9];

	cells[0] = fmt_str(c, "client", "-");
	cells[1] = num_text(json_object_get(c, "worker"), worker, sizeof(worker));
	cells[2] = online ? "online" : "offline";
	cells[3] = fmt_str(c, "address", "-");
	cells[4] = num_text(json_object_get(c, "keepalive"), keepalive, sizeof(keepalive));
	cells[5] = num_text(json_object_get(c, "subscriptions"), subs, sizeof(subs));
	cells[6] = num_text(json_object_get(c, "inflight"), inflight, sizeof(inflight));
	cells[7] = num_text(json_object_get(c, "queued"), queued, sizeof(queued));
	cells[8] = time_text(json_object_get(c, online ? "connected_since" : "offline_since"),
			     since, sizeof(since));
	fmt_table_row(t, cells);
}

void fmt_clients(json_t *r)
{
	static const char *const head[] = { "CLIENT", "WORKER", "STATE", "ADDRESS",
		"KEEPALIVE", "SUBS", "INFLIGHT", "QUEUED", "SINCE" };
	json_t *list = json_object_get(r, "clients"), *c;
	struct fmt_table t;
	size_t i;

	fmt_table_init(&t, 9, "lrllrrrrl", head);
	json_array_foreach(list, i, c)
		client_row(&t, c);
	fmt_table_print(&t, "");
	shown_line(r, json_array_size(list));
}

void fmt_session(json_t *r)
{
	bool online = json_is_true(json_object_get(r, "connected"));
	json_t *subs = json_object_get(r, "subscriptions_list"), *s;
	char a[32], b[32], d[32];
	double since = fmt_num(r, online ? "connected_since" : "offline_since");
	struct fmt_table t;
	size_t i;

	kv("client:", "%s", fmt_str(r, "client", "-"));
	kv("state:", "%s on worker %.0f", online ? "online" : "offline", fmt_num(r, "worker"));
	kv("address:", "%s", fmt_str(r, "address", "-"));
	kv("protocol:", "%s", fmt_str(r, "protocol", "-"));
	kv("clean session:", "%s", num_text(json_object_get(r, "clean"), a, sizeof(a)));
	if (json_is_number(json_object_get(r, "keepalive")))
		kv("keep-alive:", "%.0f s", fmt_num(r, "keepalive"));
	else
		kv("keep-alive:", "-");
	kv(online ? "connected since:" : "offline since:", "%s (%s ago)",
	   time_text(json_object_get(r, online ? "connected_since" : "offline_since"),
		     a, sizeof(a)),
	   fmt_duration(since > 0 ? (double)time(NULL) - since : 0, d, sizeof(d)));
	kv("inflight:", "%.0f", fmt_num(r, "inflight"));
	kv("awaiting pubrel:", "%.0f", fmt_num(r, "awaiting_pubrel"));
	kv("queued:", "%.0f (%s)", fmt_num(r, "queued"),
	   fmt_bytes(fmt_num(r, "queued_bytes"), b, sizeof(b)));
	kv("subscriptions:", "%zu", json_array_size(subs));
	if (json_array_size(subs) == 0)
		return;
	fmt_table_init(&t, 2, "lr", (const char *const[]){ "FILTER", "QOS" });
	json_array_foreach(subs, i, s) {
		const char *cells[2] = { fmt_str(s, "filter", "-"),
			num_text(json_object_get(s, "qos"), a, sizeof(a)) };

		fmt_table_row(&t, cells);
	}
	fmt_table_print(&t, "  ");
}

void fmt_subscriptions(json_t *r)
{
	json_t *list = json_object_get(r, "subscriptions"), *s;
	struct fmt_table t;
	char q[16];
	size_t i;

	fmt_table_init(&t, 3, "llr", (const char *const[]){ "CLIENT", "FILTER", "QOS" });
	json_array_foreach(list, i, s) {
		const char *cells[3] = { fmt_str(s, "client", "-"), fmt_str(s, "filter", "-"),
			num_text(json_object_get(s, "qos"), q, sizeof(q)) };

		fmt_table_row(&t, cells);
	}
	fmt_table_print(&t, "");
	shown_line(r, json_array_size(list));
}

void fmt_kick(json_t *r)
{
	printf("kicked %s\n", fmt_str(r, "kicked", "-"));
}

/* ---- retained --------------------------------------------------------------------- */

/* The payload on one line: control characters escaped, cut at 48 characters. */
static void payload_text(json_t *p, char *buf, size_t len)
{
	const char *s = json_string_value(p);
	size_t at = 0, n = 0;

	if (!s) {
		snprintf(buf, len, "(binary)");
		return;
	}
	for (; *s && at + 8 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (n++ == 48) {
			at += (size_t)snprintf(buf + at, len - at, "...");
			break;
		}
		if (ch < 0x20 || ch == 0x7f)
			at += (size_t)snprintf(buf + at, len - at, "\\x%02x", ch);
		else
			buf[at++] = (char)ch;
	}
	buf[at] = '\0';
}

void fmt_retained_list(json_t *r)
{
	json_t *list = json_object_get(r, "retained"), *m;
	struct fmt_table t;
	char q[16], size[32], payload[512];
	size_t i;

	fmt_table_init(&t, 4, "lrrl", (const char *const[]){ "TOPIC", "QOS", "SIZE",
							    "PAYLOAD" });
	json_array_foreach(list, i, m) {
		const char *cells[4] = { fmt_str(m, "topic", "-"),
			num_text(json_object_get(m, "qos"), q, sizeof(q)),
			fmt_bytes(fmt_num(m, "bytes"), size, sizeof(size)), payload };

		payload_text(json_object_get(m, "payload"), payload, sizeof(payload));
		fmt_table_row(&t, cells);
	}
	fmt_table_print(&t, "");
	shown_line(r, json_array_size(list));
}

void fmt_retained_delete(json_t *r)
{
	printf("deleted the retained message of %s\n", fmt_str(r, "deleted", "-"));
}

/* ---- the rest --------------------------------------------------------------------- */

void fmt_log_level(json_t *r)
{
	printf("log level: %s\n", fmt_str(r, "level", "-"));
}

static void changes(json_t *list, const char *title)
{
	struct fmt_table t;
	json_t *ch;
	size_t i;

	if (json_array_size(list) == 0)
		return;
	printf("%s:\n", title);
	fmt_table_init(&t, 3, "lll", (const char *const[]){ "KEY", "FROM", "TO" });
	json_array_foreach(list, i, ch) {
		const char *cells[3] = { fmt_str(ch, "key", "-"), fmt_str(ch, "from", "(unset)"),
			fmt_str(ch, "to", "(unset)") };

		fmt_table_row(&t, cells);
	}
	fmt_table_print(&t, "  ");
}

void fmt_reload(json_t *r)
{
	json_t *applied = json_object_get(r, "applied");
	json_t *restart = json_object_get(r, "restart_needed");

	if (json_array_size(applied) + json_array_size(restart) == 0) {
		printf("reloaded: nothing changed\n");
		return;
	}
	changes(applied, "applied");
	changes(restart, "need a restart (not applied)");
}

void fmt_metrics(json_t *r)
{
	fputs(fmt_str(r, "text", ""), stdout);
}

void fmt_shutdown(json_t *r)
{
	printf("petrel is shutting down\n");
}

/* Every member as a "key: value" row, sizes for *_bytes; an object's members as
 * "object.member". */
static void kv_members(struct fmt_table *t, json_t *o, const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		char label[96], val[64];
		const char *cells[2] = { label, val };
		size_t n = strlen(key);

		if (json_is_object(v)) {
			snprintf(label, sizeof(label), "%s%s.", prefix, key);
			kv_members(t, v, label);
			continue;
		}
		snprintf(label, sizeof(label), "%s%s:", prefix, key);
		if (json_is_number(v) && n > 6 && strcmp(key + n - 6, "_bytes") == 0)
			fmt_bytes(json_number_value(v), val, sizeof(val));
		else
			num_text(v, val, sizeof(val));
		fmt_table_row(t, cells);
	}
}

void fmt_store_stats(json_t *r)
{
	struct fmt_table t;

	fmt_table_init(&t, 2, "ll", NULL);
	kv_members(&t, r, "");
	fmt_table_print(&t, "");
}

void fmt_store_compact(json_t *r)
{
	char a[32], b[32];

	printf("compacted: %s -> %s in %.0f ms\n",
	       fmt_bytes(fmt_num(r, "before_bytes"), a, sizeof(a)),
	       fmt_bytes(fmt_num(r, "after_bytes"), b, sizeof(b)), fmt_num(r, "elapsed_ms"));
}
