/* Unit tests of core/render: the "key: value" text of the .mmstat files. */
#include "unit.h"

#include "render.h"

/*
 * Every line of @text is "key: value" with a lower-case key, no key appears
 * twice, and the text ends with a newline.
 */
static void assert_key_value_lines(const char *text)
{
	char keys[64][64];
	size_t key_count = 0, i;
	const char *line = text;

	assert_true(*text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*line) {
		const char *newline = strchr(line, '\n'), *colon = strchr(line, ':');
		size_t key_len;

		assert_non_null(newline);
		if (!colon || colon > newline || colon == line || colon[1] != ' ')
			fail_msg("not a \"key: value\" line: %.*s", (int)(newline - line), line);
		key_len = (size_t)(colon - line);
		for (i = 0; i < key_len; i++)
			if (!((line[i] >= 'a' && line[i] <= 'z') || line[i] == '_' ||
			      (line[i] >= '0' && line[i] <= '9')))
				fail_msg("bad key in line: %.*s", (int)(newline - line), line);
		assert_true(key_len < sizeof(keys[0]));
		assert_true(key_count < 64);
		memcpy(keys[key_count], line, key_len);
		keys[key_count][key_len] = '\0';
		for (i = 0; i < key_count; i++)
			if (!strcmp(keys[i], keys[key_count]))
				fail_msg("key '%s' appears twice", keys[i]);
		key_count++;
		line = newline + 1;
	}
}

/* @text has the line "@key: @value\n" (at the start of a line). */
static void assert_line(const char *text, const char *key, const char *value)
{
	char want[256];
	const char *at;

	snprintf(want, sizeof(want), "%s: %s\n", key, value);
	for (at = strstr(text, want); at; at = strstr(at + 1, want))
		if (at == text || at[-1] == '\n')
			return;
	fail_msg("no line \"%s: %s\" in:\n%s", key, value, text);
}

/* @text has a line for @key, whatever its value. */
static void assert_has_key(const char *text, const char *key)
{
	char want[128];
	const char *at;

	snprintf(want, sizeof(want), "%s: ", key);
	for (at = strstr(text, want); at; at = strstr(at + 1, want))
		if (at == text || at[-1] == '\n')
			return;
	fail_msg("no key \"%s\" in:\n%s", key, text);
}

static void assert_no_key(const char *text, const char *key)
{
	char want[128];
	const char *at;

	snprintf(want, sizeof(want), "%s: ", key);
	for (at = strstr(text, want); at; at = strstr(at + 1, want))
		if (at == text || at[-1] == '\n')
			fail_msg("key \"%s\" should be absent in:\n%s", key, text);
}

/* --- residency ------------------------------------------------------------------------------ */

static struct residency_info sample_residency(void)
{
	struct residency_info info = {
		.size_bytes = 10000,
		.page_size = 4096,
		.pages = 3,
		.resident_pages = 3,
		.accurate = true,
		.have_cachestat = false,
		.method = "mincore",
	};

	return info;
}

static void test_residency_keys(void **state)
{
	struct residency_info info = sample_residency();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	render_residency(&sb, &info, 1);
	assert_int_equal(sb.error, 0);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "size", "10000");
	assert_line(sb.buf, "page_size", "4096");
	assert_line(sb.buf, "pages", "3");
	assert_line(sb.buf, "resident_pages", "3");
	assert_has_key(sb.buf, "resident_bytes");
	assert_has_key(sb.buf, "resident_percent");
	assert_line(sb.buf, "mapped", "1");
	assert_line(sb.buf, "accurate", "1");
	assert_line(sb.buf, "method", "mincore");
	/* without cachestat those counts are not known: no line rather than a false 0 */
	assert_no_key(sb.buf, "dirty_pages");
	assert_no_key(sb.buf, "writeback_pages");
	assert_no_key(sb.buf, "evicted_pages");
	assert_no_key(sb.buf, "recently_evicted_pages");
	/* nor a private page count outside cow mode */
	assert_no_key(sb.buf, "private_pages");
	strbuf_release(&sb);
}

static void test_residency_private_pages(void **state)
{
	struct residency_info info = sample_residency();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	info.have_private = true;
	info.private_pages = 2;
	render_residency(&sb, &info, 1);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "private_pages", "2");
	strbuf_release(&sb);
}

static void test_residency_cachestat_keys(void **state)
{
	struct residency_info info = sample_residency();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	info.have_cachestat = true;
	info.method = "cachestat";
	info.resident_pages = 2;
	info.dirty_pages = 1;
	info.writeback_pages = 4;
	info.evicted_pages = 5;
	info.recently_evicted_pages = 6;
	render_residency(&sb, &info, 0);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "resident_pages", "2");
	assert_line(sb.buf, "dirty_pages", "1");
	assert_line(sb.buf, "writeback_pages", "4");
	assert_line(sb.buf, "evicted_pages", "5");
	assert_line(sb.buf, "recently_evicted_pages", "6");
	assert_line(sb.buf, "mapped", "0");
	assert_line(sb.buf, "method", "cachestat");
	strbuf_release(&sb);
}

/* resident_bytes never exceeds the size (the last page is partial) and the percent follows. */
static void test_residency_derived_values(void **state)
{
	struct residency_info info = sample_residency();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	render_residency(&sb, &info, 1);
	assert_line(sb.buf, "resident_bytes", "10000");
	assert_non_null(strstr(sb.buf, "resident_percent: 100"));

	strbuf_reset(&sb);
	info.size_bytes = 4 * 4096;
	info.pages = 4;
	info.resident_pages = 1;
	render_residency(&sb, &info, 1);
	assert_line(sb.buf, "resident_bytes", "4096");
	assert_non_null(strstr(sb.buf, "resident_percent: 25"));

	strbuf_reset(&sb);
	info.size_bytes = 0;
	info.pages = 0;
	info.resident_pages = 0;
	render_residency(&sb, &info, 0);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "pages", "0");
	assert_line(sb.buf, "resident_bytes", "0");
	assert_non_null(strstr(sb.buf, "resident_percent: 0"));
	strbuf_release(&sb);
}

static void test_residency_not_accurate(void **state)
{
	struct residency_info info = sample_residency();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	info.accurate = false;
	info.resident_pages = 0;
	info.method = "none";
	render_residency(&sb, &info, 0);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "accurate", "0");
	assert_line(sb.buf, "resident_pages", "0");
	assert_line(sb.buf, "method", "none");
	strbuf_release(&sb);
}

/* Renderers append: what was in the buffer stays in front. */
static void test_render_appends(void **state)
{
	struct residency_info info = sample_residency();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_addstr(&sb, "first: line\n");
	render_residency(&sb, &info, 1);
	assert_memory_equal(sb.buf, "first: line\n", 12);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "resident_pages", "3");
	strbuf_release(&sb);
}

/* --- stats ---------------------------------------------------------------------------------- */

static struct mapping_stats sample_stats(void)
{
	struct mapping_stats stats = {
		.opens = 11,
		.open_handles = 2,
		.reads = 33,
		.read_bytes = 4444,
		.writes = 55,
		.write_bytes = 6666,
		.remaps = 7,
		.size_bytes = 8888,
		.map_len_bytes = 12288,
		.mapped = true,
		.fd_path = false,
		.private_pages = 9,
		.cow_changed = false,
		.policy = { POLICY_RANDOM, POLICY_WILLNEED },
		.policy_error = { 0, NULL },
		.last_access = { 1700000000, 5 },
	};

	return stats;
}

static void test_stats_keys(void **state)
{
	struct mapping_stats stats = sample_stats();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	render_stats(&sb, &stats);
	assert_int_equal(sb.error, 0);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "opens", "11");
	assert_line(sb.buf, "open_handles", "2");
	assert_line(sb.buf, "reads", "33");
	assert_line(sb.buf, "read_bytes", "4444");
	assert_line(sb.buf, "writes", "55");
	assert_line(sb.buf, "write_bytes", "6666");
	assert_line(sb.buf, "remaps", "7");
	assert_line(sb.buf, "mapped", "1");
	assert_line(sb.buf, "map_len", "12288");
	assert_line(sb.buf, "fd_path", "0");
	assert_line(sb.buf, "private_pages", "9");
	assert_line(sb.buf, "policy", "random+willneed");
	assert_line(sb.buf, "madvise_error", "none");
	assert_has_key(sb.buf, "last_access");
	assert_non_null(strstr(sb.buf, "last_access: 1700000000"));
	strbuf_release(&sb);
}

static void test_stats_policy_error(void **state)
{
	struct mapping_stats stats = sample_stats();
	struct strbuf sb = STRBUF_INIT;
	const char *line;

	(void)state;
	stats.policy = (struct policy){ POLICY_NORMAL, POLICY_HUGEPAGE };
	stats.policy_error = (struct policy_error){ -EINVAL, "MADV_HUGEPAGE" };
	stats.mapped = false;
	stats.fd_path = true;
	render_stats(&sb, &stats);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "policy", "normal+hugepage");
	assert_line(sb.buf, "mapped", "0");
	assert_line(sb.buf, "fd_path", "1");
	line = strstr(sb.buf, "madvise_error: ");
	assert_non_null(line);
	assert_null(strstr(sb.buf, "madvise_error: none"));
	/* names the advice that failed, and why */
	assert_true(strstr(line, "MADV_HUGEPAGE") &&
		    strstr(line, "MADV_HUGEPAGE") < strchr(line, '\n'));
	assert_true(strstr(line, strerror(EINVAL)) &&
		    strstr(line, strerror(EINVAL)) < strchr(line, '\n'));
	strbuf_release(&sb);
}

/* --- summary -------------------------------------------------------------------------------- */

static void test_summary_keys(void **state)
{
	struct render_summary_input in = {
		.access = "cow",
		.page_size = 4096,
		.totals = {
			.files_known = 101,
			.files_mapped = 102,
			.bytes_mapped = 103,
			.idle_mappings = 104,
			.open_handles = 105,
			.reads = 106,
			.read_bytes = 107,
			.writes = 108,
			.write_bytes = 109,
			.remaps = 110,
			.idle_evictions = 111,
			.resident_bytes = 112,
			.private_bytes = 117,
		},
		.resident_bytes_mapped = 112,
		.daemon_rss_bytes = 113,
		.daemon_minor_faults = 114,
		.daemon_major_faults = 115,
		.uptime_seconds = 116,
	};
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	render_summary(&sb, &in);
	assert_int_equal(sb.error, 0);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "access", "cow");
	assert_line(sb.buf, "page_size", "4096");
	assert_line(sb.buf, "files_known", "101");
	assert_line(sb.buf, "files_mapped", "102");
	assert_line(sb.buf, "bytes_mapped", "103");
	assert_line(sb.buf, "idle_mappings", "104");
	assert_line(sb.buf, "open_handles", "105");
	assert_line(sb.buf, "reads", "106");
	assert_line(sb.buf, "read_bytes", "107");
	assert_line(sb.buf, "writes", "108");
	assert_line(sb.buf, "write_bytes", "109");
	assert_line(sb.buf, "remaps", "110");
	assert_line(sb.buf, "idle_evictions", "111");
	assert_line(sb.buf, "resident_bytes", "112");
	assert_line(sb.buf, "daemon_rss_bytes", "113");
	assert_line(sb.buf, "daemon_minor_faults", "114");
	assert_line(sb.buf, "daemon_major_faults", "115");
	assert_line(sb.buf, "uptime_seconds", "116");
	assert_line(sb.buf, "private_bytes", "117");
	strbuf_release(&sb);
}

static void test_summary_large_values(void **state)
{
	struct render_summary_input in = { .access = "rw", .page_size = 65536 };
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	in.totals.bytes_mapped = UINT64_MAX;
	in.totals.read_bytes = 1ull << 40;
	render_summary(&sb, &in);
	assert_key_value_lines(sb.buf);
	assert_line(sb.buf, "access", "rw");
	assert_line(sb.buf, "page_size", "65536");
	assert_line(sb.buf, "bytes_mapped", "18446744073709551615");
	assert_line(sb.buf, "read_bytes", "1099511627776");
	assert_line(sb.buf, "files_known", "0");
	strbuf_release(&sb);
}

/* --- extents and process stats --------------------------------------------------------------- */

static void test_extent_lines(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_int_equal(render_extent(&sb, 0, 4096), 0);
	assert_string_equal(sb.buf, "0-4096\n");
	assert_int_equal(render_extent(&sb, 8192, 12289), 0);
	assert_int_equal(render_extent(&sb, 1ull << 40, (1ull << 40) + 4096), 0);
	assert_string_equal(sb.buf, "0-4096\n8192-12289\n1099511627776-1099511631872\n");
	strbuf_release(&sb);
}

/* render_extent is a residency_extent_fn: the merger drives it directly. */
static void test_extent_through_merger(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct extent_merger merger;

	(void)state;
	residency_merger_init(&merger, render_extent, &sb);
	assert_int_equal(residency_merger_add(&merger, 0, 4096), 0);
	assert_int_equal(residency_merger_add(&merger, 4096, 8192), 0);
	assert_int_equal(residency_merger_add(&merger, 16384, 20480), 0);
	assert_int_equal(residency_merger_flush(&merger), 0);
	assert_string_equal(sb.buf, "0-8192\n16384-20480\n");
	strbuf_release(&sb);
}

static void test_process_stats(void **state)
{
	uint64_t rss_bytes = 0, minor_faults = 0, major_faults = 0;

	(void)state;
	assert_int_equal(render_process_stats(&rss_bytes, &minor_faults, &major_faults), 0);
	assert_true(rss_bytes > 0);
	assert_int_equal(rss_bytes % (uint64_t)sysconf(_SC_PAGESIZE), 0);
	assert_true(minor_faults > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_residency_keys),
		cmocka_unit_test(test_residency_cachestat_keys),
		cmocka_unit_test(test_residency_private_pages),
		cmocka_unit_test(test_residency_derived_values),
		cmocka_unit_test(test_residency_not_accurate),
		cmocka_unit_test(test_render_appends),
		cmocka_unit_test(test_stats_keys),
		cmocka_unit_test(test_stats_policy_error),
		cmocka_unit_test(test_summary_keys),
		cmocka_unit_test(test_summary_large_values),
		cmocka_unit_test(test_extent_lines),
		cmocka_unit_test(test_extent_through_merger),
		cmocka_unit_test(test_process_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
