/* test_topic.c - topic names, filters and the reference matcher against every example
 * of MQTT 3.1.1 section 4.7 (4.7.1.2, 4.7.1.3, 4.7.2, 4.7.3), plus the edges that the
 * router and retained-message tries rely on (zero-length levels, '#' after '+'). */
#include <criterion/criterion.h>
#include <string.h>

#include "petrel/topic.h"

static bool name_ok(const char *s)
{
	return topic_name_valid(s, strlen(s));
}

static bool filter_ok(const char *s)
{
	return topic_filter_valid(s, strlen(s));
}

static bool match(const char *filter, const char *name)
{
	cr_assert(filter_ok(filter), "test filter \"%s\" must be valid", filter);
	cr_assert(name_ok(name), "test name \"%s\" must be valid", name);
	return topic_matches(filter, strlen(filter), name, strlen(name));
}

/* ---- 4.7.1.2 Multi-level wildcard ---- */

Test(topic, hash_after_levels_matches_those_levels_and_everything_below)
{
	cr_assert(match("sport/tennis/player1/#", "sport/tennis/player1"));
	cr_assert(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
	cr_assert(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
}

Test(topic, hash_matches_its_parent_level)
{
	cr_assert(match("sport/#", "sport"));
	cr_assert(match("sport/tennis/#", "sport/tennis"));
}

Test(topic, hash_alone_is_valid_and_matches_every_name)
{
	cr_assert(filter_ok("#"));
	cr_assert(match("#", "sport"));
	cr_assert(match("#", "sport/tennis/player1"));
	cr_assert(match("#", "/"));
	cr_assert(match("#", "/finance"));
}

Test(topic, hash_must_be_a_whole_last_level)
{
	cr_assert(filter_ok("sport/tennis/#"));
	cr_assert_not(filter_ok("sport/tennis#"));
	cr_assert_not(filter_ok("sport/tennis/#/ranking"));
	cr_assert_not(filter_ok("#/"));
	cr_assert_not(filter_ok("##"));
	cr_assert_not(filter_ok("#sport"));
}

Test(topic, hash_does_not_match_a_sibling_level)
{
	cr_assert_not(match("sport/tennis/player1/#", "sport/tennis/player2"));
	cr_assert_not(match("sport/tennis/player1/#", "sport/tennis"));
}

/* ---- 4.7.1.3 Single-level wildcard ---- */

Test(topic, plus_matches_exactly_one_level)
{
	cr_assert(match("sport/tennis/+", "sport/tennis/player1"));
	cr_assert(match("sport/tennis/+", "sport/tennis/player2"));
	cr_assert_not(match("sport/tennis/+", "sport/tennis/player1/ranking"));
}

Test(topic, plus_does_not_match_the_parent_but_matches_an_empty_level)
{
	cr_assert_not(match("sport/+", "sport"));
	cr_assert(match("sport/+", "sport/"));
}

Test(topic, plus_must_occupy_a_whole_level)
{
	cr_assert(filter_ok("+"));
	cr_assert(filter_ok("+/tennis/#"));
	cr_assert_not(filter_ok("sport+"));
	cr_assert(filter_ok("sport/+/player1"));
	cr_assert_not(filter_ok("+sport"));
	cr_assert_not(filter_ok("++"));
	cr_assert_not(filter_ok("sport/+player1"));
}

Test(topic, plus_in_the_middle_matches_any_one_level)
{
	cr_assert(match("sport/+/player1", "sport/tennis/player1"));
	cr_assert(match("sport/+/player1", "sport/golf/player1"));
	cr_assert_not(match("sport/+/player1", "sport/tennis/player2"));
	cr_assert(match("+/tennis/#", "sport/tennis/player1/ranking"));
	cr_assert(match("+/tennis/#", "sport/tennis"));
}

Test(topic, leading_empty_level_is_matched_by_plus)
{
	/* 4.7.1.3: "/finance" matches "+/+" and "/+", but not "+". */
	cr_assert(match("+/+", "/finance"));
	cr_assert(match("/+", "/finance"));
	cr_assert_not(match("+", "/finance"));
}

/* ---- 4.7.2 Topics beginning with $ ---- */

Test(topic, hash_never_matches_dollar_names)
{
	cr_assert_not(match("#", "$SYS"));
	cr_assert_not(match("#", "$SYS/monitor/Clients"));
	cr_assert_not(match("#", "$anything"));
}

Test(topic, leading_plus_never_matches_dollar_names)
{
	/* MQTT-4.7.2-1 */
	cr_assert_not(match("+/monitor/Clients", "$SYS/monitor/Clients"));
	cr_assert_not(match("+", "$SYS"));
	cr_assert_not(match("+/#", "$SYS/x"));
}

Test(topic, dollar_filters_match_dollar_names)
{
	cr_assert(match("$SYS/#", "$SYS/x"));
	cr_assert(match("$SYS/#", "$SYS/monitor/Clients"));
	cr_assert(match("$SYS/#", "$SYS"));
	cr_assert(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
}

Test(topic, both_hash_and_dollar_sys_hash_are_needed_for_everything)
{
	/* 4.7.2: to receive $SYS/ topics and the others, subscribe to both. */
	cr_assert(match("#", "sport/tennis"));
	cr_assert_not(match("#", "$SYS/broker/uptime"));
	cr_assert(match("$SYS/#", "$SYS/broker/uptime"));
	cr_assert_not(match("$SYS/#", "sport/tennis"));
}

Test(topic, dollar_below_the_first_level_is_an_ordinary_character)
{
	cr_assert(match("a/+", "a/$b"));
	cr_assert(match("a/#", "a/$b/c"));
	cr_assert(match("+/$b", "a/$b"));
}

/* ---- 4.7.3 Topic semantic and usage ---- */

Test(topic, names_and_filters_need_at_least_one_character)
{
	/* MQTT-4.7.3-1 */
	cr_assert_not(topic_name_valid("", 0));
	cr_assert_not(topic_filter_valid("", 0));
}

Test(topic, matching_is_case_sensitive)
{
	cr_assert_not(match("ACCOUNTS", "Accounts"));
	cr_assert(match("Accounts", "Accounts"));
}

Test(topic, spaces_are_allowed)
{
	cr_assert(name_ok("Accounts payable"));
	cr_assert(filter_ok("Accounts payable/+"));
	cr_assert(match("Accounts payable", "Accounts payable"));
	cr_assert_not(match("Accounts payable", "Accountspayable"));
}

Test(topic, leading_or_trailing_slash_makes_a_distinct_topic)
{
	cr_assert_not(match("finance", "/finance"));
	cr_assert_not(match("/finance", "finance"));
	cr_assert_not(match("finance", "finance/"));
	cr_assert(match("/finance", "/finance"));
}

Test(topic, a_lone_slash_is_valid)
{
	cr_assert(name_ok("/"));
	cr_assert(filter_ok("/"));
	cr_assert(match("/", "/"));
	cr_assert(match("+/+", "/"));
	cr_assert_not(match("+", "/"));
}

Test(topic, null_character_is_invalid)
{
	/* MQTT-4.7.3-2 */
	cr_assert_not(topic_name_valid("a\0b", 3));
	cr_assert_not(topic_filter_valid("a/\0", 3));
}

Test(topic, over_65535_bytes_is_invalid)
{
	static char big[65536];

	memset(big, 'a', sizeof(big));
	cr_assert(topic_name_valid(big, 65535));
	cr_assert_not(topic_name_valid(big, 65536));
	cr_assert(topic_filter_valid(big, 65535));
	cr_assert_not(topic_filter_valid(big, 65536));
}

/* ---- 4.7.1 names carry no wildcards ---- */

Test(topic, wildcards_are_invalid_in_names)
{
	/* MQTT-4.7.1-1 */
	cr_assert_not(name_ok("sport/#"));
	cr_assert_not(name_ok("#"));
	cr_assert_not(name_ok("+"));
	cr_assert_not(name_ok("sport/+/player1"));
	cr_assert_not(name_ok("sport+"));
	cr_assert(name_ok("sport/tennis/player1"));
}

/* ---- 4.7.1.1 zero-length levels ---- */

Test(topic, adjacent_separators_make_a_zero_length_level)
{
	cr_assert(name_ok("a//b"));
	cr_assert(match("a//b", "a//b"));
	cr_assert(match("a/+/b", "a//b"));
	cr_assert_not(match("a/b", "a//b"));
	cr_assert(match("+/+/+", "//"));
}

Test(topic, exact_filter_matches_only_the_same_name)
{
	cr_assert(match("sport/tennis/player1", "sport/tennis/player1"));
	cr_assert_not(match("sport/tennis/player1", "sport/tennis/player1/ranking"));
	cr_assert_not(match("sport/tennis/player1", "sport/tennis"));
	cr_assert_not(match("sport/tennis", "sport/tennis2"));
}
