/* test_headers.c - every public header (the .h files of include/petrel) stays free of
 * liburcu flavours (issue 6, "Boundaries"): a flavour header (<urcu-qsbr.h>, <urcu.h>, ...)
 * maps the whole RCU API onto one flavour, so a public header that pulls one in
 * chooses the flavour for every file that includes it, and a second engine or a DPDK
 * build could not choose its own. The flavour belongs to the .c files (and private
 * headers) that use RCU.
 *
 * Flavour-neutral liburcu headers are fine: urcu/list.h, urcu/wfcqueue.h. Not
 * neutral, so refused here too: urcu/call-rcu.h (struct rcu_head) declares call_rcu()
 * and rcu_barrier() unmapped, and urcu/rculfhash.h defines cds_lfht_new() only when a
 * flavour came first; both depend on include order.
 *
 * Each header is compiled alone with the project's compiler (it must stand on its
 * own), its include tree is listed (-H) and its preprocessor output searched for
 * flavour symbols.
 *
 * And the other boundary of the issue: the worker loop reaches the MQTT engine only
 * through engine_ops (engine.h), so no source outside dataplane/mqtt includes the
 * engine's private headers (mqtt/proto_int.h, mqtt/engine_int.h). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PETREL_CC
#error "PETREL_CC: the C compiler meson uses (tests/unit/meson.build)"
#endif

#define HEADER_DIR PETREL_SRC_ROOT "/include/petrel"

/* An included file that is a flavour header or depends on one. */
static const char *const forbidden_file =
	"(/urcu(-[a-z]+)?\\.h$|/urcu/(urcu-[a-z]+|call-rcu|defer|flavor|rculfhash)\\.h$|"
	"/urcu/(map|static)/urcu)";
/* A symbol only a flavour header brings. */
static const char *const forbidden_symbol =
	"(urcu_(qsbr|memb|mb|signal|bp)_|rcu_flavor|struct rcu_head)";

/* Runs <cmd>, returns its output (stdout and stderr) in a malloc'd string and its exit
 * status in *status. */
static char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	size_t len = 0, cap = 4096;
	char *out = malloc(cap);
	size_t n;

	cr_assert_not_null(p, "popen %s", cmd);
	cr_assert_not_null(out);
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			out = realloc(out, cap);
			cr_assert_not_null(out);
		}
	}
	out[len] = '\0';
	*status = pclose(p);
	return out;
}

/* The first line of <text> matching <re>, or NULL. Copies it into <line>. */
static const char *grep(const char *text, const char *re, char *line, size_t cap)
{
	regex_t rx;
	const char *l = text;

	cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0, "bad regex %s", re);
	while (*l != '\0') {
		const char *end = strchr(l, '\n');
		size_t len = end != NULL ? (size_t)(end - l) : strlen(l);

		snprintf(line, cap, "%.*s", (int)len, l);
		if (regexec(&rx, line, 0, NULL, 0) == 0) {
			regfree(&rx);
			return line;
		}
		l += len + (end != NULL);
	}
	regfree(&rx);
	return NULL;
}

/* Checks one header; returns the number of problems (reported). */
static int check_header(const char *name)
{
	static const char flags[] = "-std=gnu11 -D_GNU_SOURCE -Wall -Werror -I" PETREL_SRC_ROOT
				    "/include -x c";
	char cmd[1024], line[512];
	const char *bad;
	int status, problems = 0;
	char *out;

	/* Alone, it compiles; -H lists every file it pulls in, on stderr. */
	snprintf(cmd, sizeof(cmd), "printf '#include \"petrel/%s\"\\n' | %s %s -H -fsyntax-only - 2>&1",
		 name, PETREL_CC, flags);
	out = run(cmd, &status);
	if (status != 0) {
		cr_log_error("%s does not compile alone:\n%s", name, out);
		problems++;
	}
	bad = grep(out, forbidden_file, line, sizeof(line));
	if (bad != NULL) {
		cr_log_error("%s includes a liburcu flavour header: %s", name, bad);
		problems++;
	}
	free(out);

	snprintf(cmd, sizeof(cmd), "printf '#include \"petrel/%s\"\\n' | %s %s -E -P - 2>&1",
		 name, PETREL_CC, flags);
	out = run(cmd, &status);
	cr_assert_eq(status, 0, "%s: preprocessor failed:\n%s", name, out);
	bad = grep(out, forbidden_symbol, line, sizeof(line));
	if (bad != NULL) {
		cr_log_error("%s brings a liburcu flavour symbol: %s", name, bad);
		problems++;
	}
	free(out);
	return problems;
}

Test(headers, public_headers_stand_alone_without_urcu_flavour, .timeout = 240)
{
	DIR *d = opendir(HEADER_DIR);
	struct dirent *e;
	int problems = 0, checked = 0;

	cr_assert_not_null(d, "cannot open %s", HEADER_DIR);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
			continue;
		problems += check_header(e->d_name);
		checked++;
	}
	closedir(d);
	cr_assert_gt(checked, 10, "only %d headers found in %s", checked, HEADER_DIR);
	cr_assert_eq(problems, 0, "%d problems in public headers (see above)", problems);
}

/* The check can fail: a flavour header is caught by both of its tests. */
Test(headers, flavour_header_is_caught)
{
	char line[512];
	int status;
	char *out = run("printf '#include <urcu-qsbr.h>\\n' | " PETREL_CC
			" -std=gnu11 -D_GNU_SOURCE -x c -H -E -P - 2>&1", &status);

	cr_assert_eq(status, 0, "%s", out);
	cr_assert_not_null(grep(out, forbidden_file, line, sizeof(line)));
	cr_assert_not_null(grep(out, forbidden_symbol, line, sizeof(line)));
	free(out);
}

static const char private_include[] = "#include \"mqtt/";

/* Sources of <dir> (relative to the tree) that include an engine-private header;
 * returns how many (reported). */
static int private_includes_in(const char *dir)
{
	char path[512], line[512];
	int found = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/%s", PETREL_SRC_ROOT, dir);
	d = opendir(path);
	cr_assert_not_null(d, "cannot open %s", path);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		FILE *f;

		if (len < 3 || (strcmp(e->d_name + len - 2, ".c") != 0 &&
				strcmp(e->d_name + len - 2, ".h") != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", PETREL_SRC_ROOT, dir, e->d_name);
		f = fopen(path, "r");
		cr_assert_not_null(f, "cannot read %s", path);
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, private_include, strlen(private_include)) == 0) {
				cr_log_error("%s/%s: %s", dir, e->d_name, line);
				found++;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

Test(headers, engine_private_headers_stay_in_the_engine)
{
	int found = private_includes_in("dataplane") + private_includes_in("control") +
		    private_includes_in("include/petrel");

	cr_assert_eq(found, 0, "%d includes of the engine's private headers outside "
		     "dataplane/mqtt (see above)", found);
}
