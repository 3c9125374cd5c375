/* test_store_files.c - the real petrel binary and its store directory
 * (docs/operations.md "Persistence"): every store it must refuse (garbage, truncated,
 * empty, another format version, not a directory, locked by a running petrel) ends it
 * within seconds with exit status 1 and one line naming the file, and leaves the files
 * exactly as they were; a missing directory is created; mosquitto's snapshot keys load
 * with a warning each; SIGTERM leaves a store the next start loads; and persistence
 * false creates nothing. Store files for the refusals are written byte by byte or with
 * liblmdb itself, never by the code under test. */
#include "harness.h"

#include <criterion/criterion.h>
#include <lmdb.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory of the running test, removed by the suite's fini also when an
 * assertion ended the test early: no test leaves a directory behind. */
static char store_files_top[64];

static void store_files_fini(void)
{
	harness_fini();
	if (store_files_top[0] != '\0')
		harness_remove_tree(store_files_top);
}

TestSuite(store_files, .fini = store_files_fini, .timeout = 120);

/* A refusal must come within this; the store is never waited for. */
#define REFUSAL_MAX_MS 15000

/* One test's directory: <top>/petrel.conf beside the store directory <top>/data. */
struct store_dir {
	char top[64];
	char data[128];
	char mdb[160];
	char conf[128];
};

static void store_dir_make(struct store_dir *d, bool mkdir_data)
{
	snprintf(d->top, sizeof(d->top), "%s", "/tmp/petrel-store-XXXXXX");
	cr_assert_not_null(mkdtemp(d->top), "mkdtemp: %s", strerror(errno));
	memcpy(store_files_top, d->top, sizeof(store_files_top));
	snprintf(d->data, sizeof(d->data), "%s/data", d->top);
	snprintf(d->mdb, sizeof(d->mdb), "%s/data.mdb", d->data);
	snprintf(d->conf, sizeof(d->conf), "%s/petrel.conf", d->top);
	if (mkdir_data)
		cr_assert_eq(mkdir(d->data, 0700), 0, "mkdir %s: %s", d->data, strerror(errno));
}

static void store_dir_remove(struct store_dir *d)
{
	harness_remove_tree(d->top);
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, buf, len), (ssize_t)len, "write %s", path);
	cr_assert_eq(close(fd), 0);
}

/* The whole file (malloc'd) and its length; NULL if it does not exist. */
static char *read_bytes(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size, "read %s", path);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* The names in <dir>, sorted, one per line, into <out>. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	size_t used = 0;
	int n = scandir(dir, &names, NULL, alphasort);

	out[0] = '\0';
	cr_assert_geq(n, 0, "scandir %s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s\n",
					 names[i]->d_name);
		free(names[i]);
	}
	free(names);
	cr_assert_lt(used, cap);
}

/* Removes the line <name> (with its '\n') from the listing <list>, if there. */
static void list_remove(char *list, const char *name)
{
	char *at = strstr(list, name);

	if (at != NULL && (at == list || at[-1] == '\n'))
		memmove(at, at + strlen(name), strlen(at + strlen(name)) + 1);
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Runs petrel -c <d->conf> -p 0 (any free port: should the store wrongly be accepted,
 * the broker runs into run_cmd's time limit instead of a busy port) with
 * persistence_location <location>. Returns the exit status (-1: still running after
 * 20 s), its output in <out>, the time it took in *took_ms. */
static int run_petrel(struct store_dir *d, const char *location, char *out, size_t cap,
		      uint64_t *took_ms)
{
	char text[512];
	char cmd[1024];
	uint64_t t0;
	int st;

	/* No control socket: should the store be accepted, the default ./petrel.sock
	 * would be shared with whatever runs beside. */
	snprintf(text, sizeof(text), "persistence_location %s\ncontrol_socket none\n",
		 location);
	write_bytes(d->conf, text, strlen(text));
	snprintf(cmd, sizeof(cmd), "'%s' -c %s -p 0 -w 1 2>&1", getenv("PETREL_BIN"),
		 d->conf);
	t0 = now_ms();
	st = run_cmd(cmd, 20, out, cap);
	*took_ms = now_ms() - t0;
	return st;
}

/* The store in <d> must be refused: exit 1 within seconds, one line "petrel: ..."
 * that names data.mdb's directory and contains <needle>, and every file of the
 * directory unchanged, none added. */
static void expect_refused(struct store_dir *d, const char *needle)
{
	char before[1024], after[1024], out[4096];
	size_t len0 = 0, len1 = 0;
	char *bytes0 = read_bytes(d->mdb, &len0);
	char *bytes1;
	uint64_t took;
	int st;

	list_dir(d->data, before, sizeof(before));
	st = run_petrel(d, d->data, out, sizeof(out), &took);
	cr_assert_neq(st, -1, "petrel still ran after 20 s on a bad store:\n%s", out);
	cr_assert_eq(st, 1, "exit status %d, output:\n%s", st, out);
	cr_assert_lt(took, REFUSAL_MAX_MS, "took %llu ms", (unsigned long long)took);
	cr_assert_eq(count_lines(out), 1, "one line expected, got:\n%s", out);
	cr_assert_eq(strncmp(out, "petrel: ", 8), 0, "%s", out);
	cr_assert_not_null(strstr(out, d->data), "the line must name the store: %s", out);
	cr_assert_not_null(strstr(out, needle), "'%s' not in: %s", needle, out);
	/* And what to do about it. */
	cr_assert_not_null(strstr(out, "move it away"), "no advice in: %s", out);
	list_dir(d->data, after, sizeof(after));
	/* The one file a refused start may leave: the empty lock file it took before
	 * reading data.mdb, so that no second petrel could change it meanwhile
	 * (store.h). */
	if (strstr(before, "petrel.lock\n") == NULL)
		list_remove(after, "petrel.lock\n");
	cr_assert_str_eq(after, before, "files added or removed by a refused start");
	bytes1 = read_bytes(d->mdb, &len1);
	cr_assert_eq(bytes0 == NULL, bytes1 == NULL);
	if (bytes0 != NULL) {
		cr_assert_eq(len1, len0, "data.mdb changed size: %zu -> %zu", len0, len1);
		cr_assert_eq(memcmp(bytes0, bytes1, len0), 0, "data.mdb changed");
	}
	free(bytes0);
	free(bytes1);
}

/* An LMDB environment in d->data made by liblmdb itself: the meta database holding
 * "format" -> <format> (4 bytes as given), and <filler> bytes of other records so the
 * file has pages beyond its meta pages. */
static void lmdb_write(struct store_dir *d, const uint8_t format[4], size_t filler)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, fill;
	char k[32], v[1000];
	MDB_val key, val;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64u << 20), 0);
	cr_assert_eq(mdb_env_open(env, d->data, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
	key = (MDB_val){ .mv_size = 6, .mv_data = "format" };
	val = (MDB_val){ .mv_size = 4, .mv_data = (void *)(uintptr_t)format };
	cr_assert_eq(mdb_put(txn, meta, &key, &val, 0), 0);
	cr_assert_eq(mdb_dbi_open(txn, "filler", MDB_CREATE, &fill), 0);
	memset(v, 'x', sizeof(v));
	for (size_t i = 0; i * sizeof(v) < filler; i++) {
		key = (MDB_val){ .mv_size = (size_t)snprintf(k, sizeof(k), "%08zu", i),
				 .mv_data = k };
		val = (MDB_val){ .mv_size = sizeof(v), .mv_data = v };
		cr_assert_eq(mdb_put(txn, fill, &key, &val, 0), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	/* liblmdb leaves its lock file; a store as petrel finds it after a crash. */
}

Test(store_files, garbage_is_refused_and_left_untouched)
{
	struct store_dir d;
	uint8_t junk[65536];
	uint32_t x = 12345;

	store_dir_make(&d, true);
	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	write_bytes(d.mdb, junk, sizeof(junk));
	expect_refused(&d, "data.mdb is not an LMDB store");
	store_dir_remove(&d);
}

Test(store_files, empty_file_is_refused_and_left_untouched)
{
	struct store_dir d;

	store_dir_make(&d, true);
	write_bytes(d.mdb, "", 0);
	expect_refused(&d, "data.mdb is empty");
	store_dir_remove(&d);
}

Test(store_files, truncated_store_is_refused_and_left_untouched)
{
	static const uint8_t v1[4] = { 0, 0, 0, 1 };
	struct store_dir d;

	store_dir_make(&d, true);
	lmdb_write(&d, v1, 256 * 1024);
	/* Keep the two meta pages only: they name data pages past the end. */
	cr_assert_eq(truncate(d.mdb, 2 * sysconf(_SC_PAGESIZE)), 0, "%s", strerror(errno));
	expect_refused(&d, "data.mdb is truncated");
	store_dir_remove(&d);
}

Test(store_files, another_format_version_is_refused_and_left_untouched)
{
	/* 0xffffffff in either byte order: no version Petrel ever wrote. */
	static const uint8_t vmax[4] = { 0xff, 0xff, 0xff, 0xff };
	struct store_dir d;

	store_dir_make(&d, true);
	lmdb_write(&d, vmax, 0);
	expect_refused(&d, "data.mdb has format version 4294967295");
	store_dir_remove(&d);
}

Test(store_files, a_file_where_the_directory_should_be_is_refused)
{
	struct store_dir d;
	char out[4096];
	char *bytes;
	size_t len = 0;
	uint64_t took;
	int st;

	store_dir_make(&d, false);
	write_bytes(d.data, "not a directory\n", 16);
	st = run_petrel(&d, d.data, out, sizeof(out), &took);
	cr_assert_eq(st, 1, "exit status %d, output:\n%s", st, out);
	cr_assert_eq(count_lines(out), 1, "one line expected, got:\n%s", out);
	cr_assert_not_null(strstr(out, d.data), "%s", out);
	bytes = read_bytes(d.data, &len);
	cr_assert(len == 16 && memcmp(bytes, "not a directory\n", 16) == 0);
	free(bytes);
	store_dir_remove(&d);
}

Test(store_files, a_store_in_use_by_a_running_petrel_is_refused)
{
	struct store_dir d;
	struct broker b;
	char out[4096];
	char pid[32];
	uint64_t took;
	int st;

	store_dir_make(&d, false);
	struct broker_opts o = { .workers = 1, .store_dir = d.data };

	broker_start_opts(&b, &o);
	st = run_petrel(&d, d.data, out, sizeof(out), &took);
	cr_assert_eq(st, 1, "exit status %d, output:\n%s", st, out);
	cr_assert_lt(took, REFUSAL_MAX_MS, "took %llu ms", (unsigned long long)took);
	cr_assert_eq(count_lines(out), 1, "one line expected, got:\n%s", out);
	cr_assert_not_null(strstr(out, d.data), "%s", out);
	snprintf(pid, sizeof(pid), "%d", (int)b.pid);
	cr_assert_not_null(strstr(out, pid), "the line must name the running petrel (%s): %s",
			   pid, out);
	/* The first one is not disturbed. */
	struct client *c = connected_client(&b, "still-here", false);

	client_close(c);
	broker_stop_clean(&b);
	store_dir_remove(&d);
}

Test(store_files, a_missing_directory_is_created)
{
	struct store_dir d;
	struct broker b;
	struct stat st;

	store_dir_make(&d, false);
	struct broker_opts o = { .workers = 1, .store_dir = d.data };

	broker_start_opts(&b, &o);
	cr_assert_eq(stat(d.data, &st), 0, "%s not created", d.data);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(access(d.mdb, F_OK), 0, "no %s", d.mdb);
	cr_assert(broker_log_contains(&b, "store: "), "no store line in the log");
	broker_stop_clean(&b);
	store_dir_remove(&d);
}

Test(store_files, mosquitto_snapshot_keys_load_with_a_warning_each)
{
	struct broker b;
	char db[300];

	struct broker_opts o = { .workers = 1,
				 .extra_config = "autosave_interval 1800\n"
						 "autosave_on_changes false\n"
						 "persistence_file mosquitto.db\n" };

	broker_start_opts(&b, &o);
	cr_assert_eq(broker_log_count(&b, "'autosave_interval' ignored: Petrel saves no "
				      "snapshots"), 1);
	cr_assert_eq(broker_log_count(&b, "'autosave_on_changes' ignored"), 1);
	cr_assert_eq(broker_log_count(&b, "'persistence_file mosquitto.db' ignored: "
				      "Petrel's store is the LMDB file data.mdb"), 1);
	snprintf(db, sizeof(db), "%s/mosquitto.db", b.store_dir);
	cr_assert_neq(access(db, F_OK), 0, "%s must not exist", db);
	snprintf(db, sizeof(db), "%s/data.mdb", b.store_dir);
	cr_assert_eq(access(db, F_OK), 0, "%s missing", db);
	broker_stop_clean(&b);
}

Test(store_files, persistence_false_creates_no_directory)
{
	struct broker b;
	struct broker_opts o = { .workers = 1, .extra_config = "persistence false\n" };

	broker_start_opts(&b, &o);
	struct client *c = connected_client(&b, "kept-in-memory", false);

	cr_assert_eq(client_subscribe(c, "mem/#", 1), 1);
	client_close(c);
	cr_assert_neq(access(b.store_dir, F_OK), 0, "%s created with persistence false",
		      b.store_dir);
	cr_assert_not(broker_log_contains(&b, "store: "), "store lines with persistence off");
	broker_stop_clean(&b);
}

/* SIGTERM: exit 0 with everything committed; the next start on the same store loads
 * the offline session (its subscription and queue) and the retained message, says so
 * in its load line, and the client gets its queue in order. */
Test(store_files, sigterm_leaves_a_store_the_next_start_loads)
{
	struct store_dir d;
	struct broker b;
	struct rx_msg m;
	char want[300];

	store_dir_make(&d, false);
	struct broker_opts o = { .workers = 2, .store_dir = d.data };

	broker_start_opts(&b, &o);
	struct client *keeper = connected_client(&b, "keeper", false);

	cr_assert_eq(client_subscribe(keeper, "keep/#", 1), 1);
	client_close(keeper);
	struct client *pub = connected_client(&b, "pub", true);

	cr_assert_eq(client_publish(pub, "keep/a", "m1", 2, 1, false), 0);
	cr_assert_eq(client_publish(pub, "keep/r", "r1", 2, 1, true), 0);
	client_close(pub);
	broker_stop_clean(&b);
	cr_assert_eq(access(d.mdb, F_OK), 0, "no %s after the stop", d.mdb);

	broker_start_opts(&b, &o);
	snprintf(want, sizeof(want), "store: loaded 1 sessions (1 subscriptions, 2 messages), "
		 "1 retained from ");
	cr_assert(broker_wait_log(&b, want, 5000), "no '%s' in the log", want);
	keeper = client_new(&b, "keeper", false, 60);
	cr_assert_eq(client_connack_rc(keeper), 0);
	cr_assert(client_session_present(keeper), "the stored session did not come back");
	cr_assert(client_wait_msg(keeper, &m, 5000), "queued message 1 not delivered");
	cr_assert_str_eq(m.topic, "keep/a");
	cr_assert(msg_payload_is(&m, "m1"));
	cr_assert(client_wait_msg(keeper, &m, 5000), "queued message 2 not delivered");
	cr_assert_str_eq(m.topic, "keep/r");
	cr_assert(msg_payload_is(&m, "r1"));
	client_close(keeper);
	broker_stop_clean(&b);
	store_dir_remove(&d);
}
