/* test_fuzz_replay.c - every file of the fuzz seed corpora (tests/fuzz/corpus/<target>/)
 * through its target's entry point, in every build: the seeds keep the targets honest
 * where libFuzzer is not built (gcc), and a finding's reproducer, once added to the
 * corpus, stays a regression test. A target aborts on a broken invariant (a crash
 * here); leaks are checked after each corpus under ASan. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit_util.h"

int fuzz_codec_one(const uint8_t *data, size_t size);
int fuzz_engine_one(const uint8_t *data, size_t size);

/* Reads <path> into a buffer of exactly its size, as libFuzzer hands inputs over, so
 * that ASan sees a read one byte past the end. */
static uint8_t *read_input(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fileno(f), &st), 0);
	*size = (size_t)st.st_size;
	buf = malloc(*size > 0 ? *size : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, *size, f), *size, "%s: short read", path);
	fclose(f);
	return buf;
}

/* Runs every regular file of corpus/<target> through <entry>; returns how many. */
static unsigned replay(const char *target, int (*entry)(const uint8_t *, size_t))
{
	char dir[4096], path[8192];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", FUZZ_CORPUS_DIR, target);
	d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		uint8_t *buf;
		size_t size;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		buf = read_input(path, &size);
		/* Named on stderr first: if the target aborts, this is the culprit. */
		fprintf(stderr, "replay %s\n", path);
		cr_assert_eq(entry(buf, size), 0, "%s", path);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

Test(fuzz_replay, codec_corpus)
{
	cr_assert_gt(replay("codec", fuzz_codec_one), 10, "codec corpus missing");
	assert_no_leaks();
}

Test(fuzz_replay, engine_corpus)
{
	cr_assert_gt(replay("engine", fuzz_engine_one), 10, "engine corpus missing");
	assert_no_leaks_rcu();
}
