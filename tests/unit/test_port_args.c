/* test_port_args.c - port_split_args (dataplane/port.c): dpdk_eal_args split into
 * EAL's argv like a POSIX shell splits words (XCU 2.2 quoting), without expansion. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "petrel/port.h"

static int split(const char *s, char **argv, int max, char *buf, size_t buflen)
{
	char err[128] = "";
	int n = port_split_args(s, argv, max, buf, buflen, err, sizeof(err));

	if (n < 0)
		cr_assert_neq(err[0], '\0', "an error without a reason");
	return n;
}

Test(port_args, blanks_separate_words)
{
	char *argv[8], buf[256];
	int n = split("  --no-huge\t-m 512 \n --vdev=net_tap0,iface=a ", argv, 8, buf,
		      sizeof(buf));

	cr_assert_eq(n, 4);
	cr_assert_str_eq(argv[0], "--no-huge");
	cr_assert_str_eq(argv[1], "-m");
	cr_assert_str_eq(argv[2], "512");
	cr_assert_str_eq(argv[3], "--vdev=net_tap0,iface=a");
	cr_assert_null(argv[4]);
	cr_assert_eq(split("", argv, 8, buf, sizeof(buf)), 0);
	cr_assert_eq(split("   ", argv, 8, buf, sizeof(buf)), 0);
}

Test(port_args, quotes_join_and_keep_what_is_inside)
{
	char *argv[8], buf[256];
	int n = split("--vdev='net_tap0,iface=a b' \"x \\\"y\\\" $z\" 'a\\b' c\\ d ''", argv, 8,
		      buf, sizeof(buf));

	cr_assert_eq(n, 5);
	cr_assert_str_eq(argv[0], "--vdev=net_tap0,iface=a b");
	/* In "...", \ escapes only " \ $ ` and newline (XCU 2.2.3). */
	cr_assert_str_eq(argv[1], "x \"y\" $z");
	/* In '...', nothing is special. */
	cr_assert_str_eq(argv[2], "a\\b");
	cr_assert_str_eq(argv[3], "c d");
	/* An empty quoted word is still a word. */
	cr_assert_str_eq(argv[4], "");
	n = split("\"a\\b\"", argv, 8, buf, sizeof(buf));
	cr_assert_eq(n, 1);
	cr_assert_str_eq(argv[0], "a\\b");
}

Test(port_args, errors)
{
	char *argv[4], buf[16];

	cr_assert_eq(split("'open", argv, 4, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(split("\"open", argv, 4, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(split("trailing\\", argv, 4, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(split("a b c d e", argv, 4, buf, sizeof(buf)), -E2BIG);
	cr_assert_eq(split("0123456789abcdefXYZ", argv, 4, buf, sizeof(buf)), -E2BIG);
}
