/* Unit tests of core/rules: GLOB=POLICY rules, their matcher, sources and errors. */
#include "unit.h"

#include "rules.h"

#define ERRMSG_LEN 1024

static const struct policy random_policy = { POLICY_RANDOM, 0 };
static const struct policy seq_willneed = { POLICY_SEQUENTIAL, POLICY_WILLNEED };

static struct rules *new_rules(void)
{
	struct rules *rules = rules_new(&POLICY_DEFAULT);

	assert_non_null(rules);
	return rules;
}

static void assert_match(const struct rules *rules, const char *relpath, const struct policy *want)
{
	struct policy got = rules_match(rules, relpath);

	if (!policy_equal(&got, want)) {
		struct strbuf got_text = STRBUF_INIT, want_text = STRBUF_INIT;

		policy_format(&got, &got_text);
		policy_format(want, &want_text);
		fail_msg("rules_match(\"%s\") = %s, want %s", relpath, got_text.buf, want_text.buf);
	}
}

static void add_option_ok(struct rules *rules, const char *spec)
{
	char errmsg[ERRMSG_LEN] = "";
	int rc = rules_add_option(rules, spec, errmsg, sizeof(errmsg));

	if (rc)
		fail_msg("rules_add_option(\"%s\") = %d: %s", spec, rc, errmsg);
}

static void test_no_rules_gives_default(void **state)
{
	struct policy def = { POLICY_SEQUENTIAL, POLICY_COLD };
	struct rules *rules = rules_new(&def);

	(void)state;
	assert_non_null(rules);
	assert_match(rules, "a.idx", &def);
	assert_match(rules, "deep/dir/file", &def);
	assert_match(rules, "", &def);
	rules_free(rules);
	rules_free(NULL);
}

static void test_one_rule(void **state)
{
	struct rules *rules = new_rules();

	(void)state;
	add_option_ok(rules, "*.idx=random");
	assert_match(rules, "a.idx", &random_policy);
	assert_match(rules, ".idx", &random_policy);
	assert_match(rules, "a.idx.bak", &POLICY_DEFAULT);
	assert_match(rules, "a.idxx", &POLICY_DEFAULT);
	assert_match(rules, "a.id", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_several_rules(void **state)
{
	struct rules *rules = new_rules();

	(void)state;
	add_option_ok(rules, "*.idx=random:data/**=sequential+willneed");
	assert_match(rules, "x.idx", &random_policy);
	assert_match(rules, "data/blob", &seq_willneed);
	assert_match(rules, "data/a/b/c.bin", &seq_willneed);
	/* first match wins: the *.idx rule comes first */
	assert_match(rules, "data/a/b/c.idx", &random_policy);
	assert_match(rules, "other/blob", &POLICY_DEFAULT);
	assert_match(rules, "database/blob", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_first_match_wins(void **state)
{
	struct rules *rules = new_rules();
	struct policy seq = { POLICY_SEQUENTIAL, 0 };

	(void)state;
	add_option_ok(rules, "*.log=random:*.log=sequential");
	add_option_ok(rules, "logs/*=sequential:*=sequential+willneed");
	assert_match(rules, "a.log", &random_policy);
	assert_match(rules, "logs/a.log", &random_policy);
	assert_match(rules, "logs/a.txt", &seq);
	assert_match(rules, "elsewhere.txt", &seq_willneed);
	rules_free(rules);
}

/* A later call appends after what earlier calls added. */
static void test_add_appends(void **state)
{
	struct rules *rules = new_rules();
	struct policy seq = { POLICY_SEQUENTIAL, 0 };

	(void)state;
	add_option_ok(rules, "*.a=random");
	add_option_ok(rules, "*.a=sequential:*.b=sequential");
	assert_match(rules, "x.a", &random_policy);
	assert_match(rules, "x.b", &seq);
	rules_free(rules);
}

static void test_glob_without_slash_matches_basename(void **state)
{
	struct rules *rules = new_rules();

	(void)state;
	add_option_ok(rules, "core=random");
	assert_match(rules, "core", &random_policy);
	assert_match(rules, "a/core", &random_policy);
	assert_match(rules, "a/b/c/d/core", &random_policy);
	assert_match(rules, "core/file", &POLICY_DEFAULT);
	assert_match(rules, "a/core.1", &POLICY_DEFAULT);
	assert_match(rules, "acore", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_glob_with_slash_matches_whole_path(void **state)
{
	struct rules *rules = new_rules();

	(void)state;
	add_option_ok(rules, "data/*.bin=random");
	assert_match(rules, "data/a.bin", &random_policy);
	assert_match(rules, "x/data/a.bin", &POLICY_DEFAULT);
	assert_match(rules, "data/sub/a.bin", &POLICY_DEFAULT);
	assert_match(rules, "a.bin", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_double_star_rules(void **state)
{
	struct rules *rules = new_rules();

	(void)state;
	add_option_ok(rules, "**/x.log=random");
	assert_match(rules, "x.log", &random_policy);
	assert_match(rules, "a/x.log", &random_policy);
	assert_match(rules, "a/b/c/x.log", &random_policy);
	assert_match(rules, "a/bx.log", &POLICY_DEFAULT);
	assert_match(rules, "x.log/y", &POLICY_DEFAULT);
	rules_free(rules);
}

struct glob_case {
	const char *glob;
	const char *path;
	bool match;
};

static const struct glob_case glob_cases[] = {
	{ "abc", "abc", true },
	{ "abc", "abcd", false },
	{ "abc", "ab", false },
	{ "", "", true },
	{ "", "a", false },
	/* '*' stays within one component */
	{ "*", "anything", true },
	{ "*", "", true },
	{ "*", "a/b", false },
	{ "*.c", "main.c", true },
	{ "*.c", "src/main.c", false },
	{ "a/*", "a/b", true },
	{ "a/*", "a/b/c", false },
	{ "a/*/c", "a/b/c", true },
	{ "a/*/c", "a/b/x/c", false },
	{ "a*b*c", "aXXbYYc", true },
	{ "a*b*c", "aXXbYY/c", false },
	/* '**' crosses '/' */
	{ "a/**", "a/b", true },
	{ "a/**", "a/b/c/d", true },
	{ "a/**", "b/c", false },
	{ "**", "a/b/c", true },
	{ "a/**/z", "a/b/z", true },
	{ "a/**/z", "a/b/c/z", true },
	{ "a/**/z", "a/z", true }, /* zero directories, as in gitignore */
	{ "a/**/z", "a/b/c/y", false },
	{ "a/**/z", "b/a/z", false },
	{ "a/**/z", "a/bz", false },
	{ "**/x.log", "x.log", true },
	{ "**/x.log", "d/x.log", true },
	{ "**/x.log", "d/e/f/x.log", true },
	{ "**/x.log", "ax.log", false },
	{ "**/x.log", "d/x.logs", false },
	/* '?' is one character, never '/' */
	{ "?.c", "a.c", true },
	{ "?.c", "ab.c", false },
	{ "?.c", ".c", false },
	{ "a?b", "a/b", false },
	{ "a?b", "axb", true },
	/* character classes */
	{ "[a-c].txt", "a.txt", true },
	{ "[a-c].txt", "b.txt", true },
	{ "[a-c].txt", "c.txt", true },
	{ "[a-c].txt", "d.txt", false },
	{ "[a-c].txt", "ab.txt", false },
	{ "[abx]y", "xy", true },
	{ "[abx]y", "cy", false },
	{ "[!a-c]x", "dx", true },
	{ "[!a-c]x", "bx", false },
	{ "dir[0-9]/*", "dir7/f", true },
	{ "dir[0-9]/*", "dirx/f", false },
	{ "a[/]b", "a/b", false },
};

static void test_glob_match(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(glob_cases) / sizeof(glob_cases[0]); i++) {
		const struct glob_case *c = &glob_cases[i];

		if (rules_glob_match(c->glob, c->path) != c->match)
			fail_msg("rules_glob_match(\"%s\", \"%s\") != %s", c->glob, c->path,
				 c->match ? "true" : "false");
	}
}

static void render_to(const struct rules *rules, struct strbuf *sb)
{
	strbuf_reset(sb);
	rules_render(rules, sb);
	assert_int_equal(sb->error, 0);
}

/*
 * A bad spec returns -EINVAL, adds nothing (not even the good rules before the
 * bad one) and explains itself in one line naming @token, "-o advise" and the
 * valid policy words.
 */
static void check_option_error(const char *spec, const char *token)
{
	struct rules *rules = new_rules();
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	char errmsg[ERRMSG_LEN];
	int rc;

	add_option_ok(rules, "keep.me=random");
	render_to(rules, &before);
	memset(errmsg, 0, sizeof(errmsg));
	rc = rules_add_option(rules, spec, errmsg, sizeof(errmsg));
	if (rc != -EINVAL)
		fail_msg("rules_add_option(\"%s\") = %d, want -EINVAL", spec, rc);
	if (!strstr(errmsg, token))
		fail_msg("error for \"%s\" does not name '%s': %s", spec, token, errmsg);
	if (!strstr(errmsg, "-o advise"))
		fail_msg("error for \"%s\" does not name the source -o advise: %s", spec, errmsg);
	if (!strstr(errmsg, policy_valid_words()))
		fail_msg("error for \"%s\" does not list the valid words: %s", spec, errmsg);
	if (strchr(errmsg, '\n'))
		fail_msg("error for \"%s\" is not one line: %s", spec, errmsg);
	render_to(rules, &after);
	assert_string_equal(before.buf, after.buf);
	assert_match(rules, "good.bin", &POLICY_DEFAULT);
	assert_match(rules, "keep.me", &random_policy);
	strbuf_release(&before);
	strbuf_release(&after);
	rules_free(rules);
}

static void test_option_error_missing_equals(void **state)
{
	(void)state;
	check_option_error("*.idx", "*.idx");
	check_option_error("good.bin=random:*.idx", "*.idx");
	check_option_error("good.bin=random:", ""); /* an empty rule after the ':' */
}

static void test_option_error_empty_glob(void **state)
{
	(void)state;
	check_option_error("=random", "=random");
	check_option_error("good.bin=random:=sequential", "=sequential");
}

static void test_option_error_bad_word(void **state)
{
	(void)state;
	check_option_error("*.idx=bogus", "bogus");
	check_option_error("good.bin=random:*.idx=random+speedy", "speedy");
	check_option_error("good.bin=random:*.idx=random+sequential", "sequential");
	check_option_error("*.idx=", "*.idx=");
}

/* @errmsg is never overrun and always terminated, however short. */
static void test_option_error_short_buffer(void **state)
{
	struct rules *rules = new_rules();
	char errmsg[24];

	(void)state;
	memset(errmsg, 'X', sizeof(errmsg));
	assert_int_equal(rules_add_option(rules, "*.idx=bogusword", errmsg, 16), -EINVAL);
	assert_non_null(memchr(errmsg, '\0', 16));
	assert_int_equal(errmsg[16], 'X');
	assert_int_equal(errmsg[23], 'X');
	rules_free(rules);
}

static void write_text(const char *path, const char *text)
{
	unit_create_file(path, text, strlen(text));
}

static void test_file_rules(void **state)
{
	const char *text = "# mmapfs rules\n"
			   "\n"
			   "*.idx random\n"
			   "   \t\n"
			   "  data/**   sequential+willneed  \n"
			   "\t# an indented comment\n"
			   "*.tmp dontneed"; /* no newline at the end */
	struct rules *rules = new_rules();
	char path[PATH_MAX], errmsg[ERRMSG_LEN] = "", source[PATH_MAX + 16];
	struct strbuf rendered = STRBUF_INIT;
	struct policy dontneed = { POLICY_NORMAL, POLICY_DONTNEED };
	int rc;

	write_text(unit_path(*state, "rules.conf", path), text);
	rc = rules_add_file(rules, path, errmsg, sizeof(errmsg));
	if (rc)
		fail_msg("rules_add_file = %d: %s", rc, errmsg);
	assert_match(rules, "a/b.idx", &random_policy);
	assert_match(rules, "data/x", &seq_willneed);
	assert_match(rules, "data/x.idx", &random_policy);
	assert_match(rules, "x.tmp", &dontneed);
	assert_match(rules, "x.txt", &POLICY_DEFAULT);

	/* each rule carries "FILE:LINE" as its source */
	render_to(rules, &rendered);
	snprintf(source, sizeof(source), "%s:3", path);
	assert_non_null(strstr(rendered.buf, source));
	snprintf(source, sizeof(source), "%s:5", path);
	assert_non_null(strstr(rendered.buf, source));
	snprintf(source, sizeof(source), "%s:7", path);
	assert_non_null(strstr(rendered.buf, source));
	strbuf_release(&rendered);
	rules_free(rules);
}

static void test_file_error_names_line(void **state)
{
	const char *text = "# comment\n"
			   "good.bin random\n"
			   "\n"
			   "*.bin bogus\n"
			   "*.late sequential\n";
	struct rules *rules = new_rules();
	char path[PATH_MAX], errmsg[ERRMSG_LEN] = "", where[PATH_MAX + 16];

	write_text(unit_path(*state, "bad.conf", path), text);
	assert_int_equal(rules_add_file(rules, path, errmsg, sizeof(errmsg)), -EINVAL);
	snprintf(where, sizeof(where), "%s:4", path);
	if (!strstr(errmsg, where))
		fail_msg("error does not name %s: %s", where, errmsg);
	if (!strstr(errmsg, "bogus"))
		fail_msg("error does not name the bad word: %s", errmsg);
	assert_null(strchr(errmsg, '\n'));
	/* nothing added, not even the good line before the bad one */
	assert_match(rules, "good.bin", &POLICY_DEFAULT);
	assert_match(rules, "x.late", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_file_error_missing_policy(void **state)
{
	struct rules *rules = new_rules();
	char path[PATH_MAX], errmsg[ERRMSG_LEN] = "", where[PATH_MAX + 16];

	write_text(unit_path(*state, "nopolicy.conf", path), "*.a random\n*.b\n");
	assert_int_equal(rules_add_file(rules, path, errmsg, sizeof(errmsg)), -EINVAL);
	snprintf(where, sizeof(where), "%s:2", path);
	if (!strstr(errmsg, where))
		fail_msg("error does not name %s: %s", where, errmsg);
	assert_match(rules, "x.a", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_file_missing(void **state)
{
	struct rules *rules = new_rules();
	char path[PATH_MAX], errmsg[ERRMSG_LEN] = "";

	unit_path(*state, "no-such-file.conf", path);
	assert_int_equal(rules_add_file(rules, path, errmsg, sizeof(errmsg)), -ENOENT);
	assert_non_null(strstr(errmsg, path));
	assert_match(rules, "x", &POLICY_DEFAULT);
	rules_free(rules);
}

static void test_set_default(void **state)
{
	struct rules *rules = new_rules();
	struct strbuf rendered = STRBUF_INIT;

	(void)state;
	add_option_ok(rules, "*.idx=random");
	assert_int_equal(rules_set_default(rules, &seq_willneed, "-o advise_default"), 0);
	assert_match(rules, "x.idx", &random_policy);
	assert_match(rules, "x.bin", &seq_willneed);
	render_to(rules, &rendered);
	assert_non_null(strstr(rendered.buf, "-o advise_default"));
	strbuf_release(&rendered);
	rules_free(rules);
}

/* Split @text into at most @max lines (NUL-terminated in place). Return: the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t count = 0;
	char *line = text, *newline;

	while (*line && count < max) {
		newline = strchr(line, '\n');
		assert_non_null(newline); /* every line ends with '\n' */
		*newline = '\0';
		lines[count++] = line;
		line = newline + 1;
	}
	return count;
}

static void test_render_order_and_sources(void **state)
{
	struct rules *rules = new_rules();
	struct strbuf rendered = STRBUF_INIT;
	char path[PATH_MAX], errmsg[ERRMSG_LEN] = "", source[PATH_MAX + 16];
	char *lines[8];
	size_t count;

	add_option_ok(rules, "*.idx=random:data/**=sequential+willneed");
	write_text(unit_path(*state, "r.conf", path), "# c\n*.log cold\n");
	assert_int_equal(rules_add_file(rules, path, errmsg, sizeof(errmsg)), 0);
	assert_int_equal(rules_set_default(rules, &random_policy, "-o advise_default"), 0);

	render_to(rules, &rendered);
	count = split_lines(rendered.buf, lines, 8);
	assert_int_equal(count, 4);

	assert_non_null(strstr(lines[0], "*.idx"));
	assert_non_null(strstr(lines[0], "random"));
	assert_non_null(strstr(lines[0], "-o advise"));

	assert_non_null(strstr(lines[1], "data/**"));
	assert_non_null(strstr(lines[1], "sequential+willneed"));
	assert_non_null(strstr(lines[1], "-o advise"));

	snprintf(source, sizeof(source), "%s:2", path);
	assert_non_null(strstr(lines[2], "*.log"));
	assert_non_null(strstr(lines[2], "normal+cold"));
	assert_non_null(strstr(lines[2], source));

	/* the default comes last */
	assert_non_null(strstr(lines[3], "random"));
	assert_non_null(strstr(lines[3], "-o advise_default"));
	assert_null(strstr(lines[3], "*.idx"));
	strbuf_release(&rendered);
	rules_free(rules);
}

static void test_render_default_only(void **state)
{
	struct rules *rules = new_rules();
	struct strbuf rendered = STRBUF_INIT;

	(void)state;
	strbuf_addstr(&rendered, "before\n");
	rules_render(rules, &rendered);
	/* rendering appends */
	assert_memory_equal(rendered.buf, "before\n", 7);
	assert_non_null(strstr(rendered.buf + 7, "normal"));
	/* one line: the default */
	assert_int_equal(rendered.buf[rendered.len - 1], '\n');
	assert_ptr_equal(strchr(rendered.buf + 7, '\n'), rendered.buf + rendered.len - 1);
	strbuf_release(&rendered);
	rules_free(rules);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_rules_gives_default),
		cmocka_unit_test(test_one_rule),
		cmocka_unit_test(test_several_rules),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_add_appends),
		cmocka_unit_test(test_glob_without_slash_matches_basename),
		cmocka_unit_test(test_glob_with_slash_matches_whole_path),
		cmocka_unit_test(test_double_star_rules),
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test(test_option_error_missing_equals),
		cmocka_unit_test(test_option_error_empty_glob),
		cmocka_unit_test(test_option_error_bad_word),
		cmocka_unit_test(test_option_error_short_buffer),
		cmocka_unit_test_setup_teardown(test_file_rules, unit_dir_setup, unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_error_names_line, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_error_missing_policy, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_missing, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test(test_set_default),
		cmocka_unit_test_setup_teardown(test_render_order_and_sources, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test(test_render_default_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
