/* Unit tests of core/policy: parsing, formatting and applying madvise policies. */
#include <sys/mman.h>

#include "unit.h"

#include "policy.h"

#define ALL_EXTRAS                                                                               \
	(POLICY_WILLNEED | POLICY_POPULATE | POLICY_HUGEPAGE | POLICY_NOHUGEPAGE | POLICY_COLD | \
	 POLICY_PAGEOUT | POLICY_DONTNEED)

/* A policy no parse produces, to see that a failed parse leaves @out alone. */
#define SENTINEL_POLICY ((struct policy){ POLICY_SEQUENTIAL, POLICY_COLD | POLICY_PAGEOUT })

struct parse_case {
	const char *text;
	enum policy_mode mode;
	unsigned extras;
};

static const struct parse_case valid_cases[] = {
	{ "normal", POLICY_NORMAL, 0 },
	{ "random", POLICY_RANDOM, 0 },
	{ "sequential", POLICY_SEQUENTIAL, 0 },
	{ "normal+willneed", POLICY_NORMAL, POLICY_WILLNEED },
	{ "normal+populate", POLICY_NORMAL, POLICY_POPULATE },
	{ "normal+hugepage", POLICY_NORMAL, POLICY_HUGEPAGE },
	{ "normal+nohugepage", POLICY_NORMAL, POLICY_NOHUGEPAGE },
	{ "normal+cold", POLICY_NORMAL, POLICY_COLD },
	{ "normal+pageout", POLICY_NORMAL, POLICY_PAGEOUT },
	{ "normal+dontneed", POLICY_NORMAL, POLICY_DONTNEED },
	{ "random+willneed", POLICY_RANDOM, POLICY_WILLNEED },
	{ "sequential+willneed+populate", POLICY_SEQUENTIAL, POLICY_WILLNEED | POLICY_POPULATE },
	{ "random+hugepage+cold+pageout+dontneed", POLICY_RANDOM,
	  POLICY_HUGEPAGE | POLICY_COLD | POLICY_PAGEOUT | POLICY_DONTNEED },
	{ "sequential+willneed+populate+nohugepage+cold+pageout+dontneed", POLICY_SEQUENTIAL,
	  ALL_EXTRAS & ~POLICY_HUGEPAGE },
	/* order does not matter, and the mode may come anywhere */
	{ "dontneed+willneed+random", POLICY_RANDOM, POLICY_DONTNEED | POLICY_WILLNEED },
	/* extras alone mean the normal mode */
	{ "willneed", POLICY_NORMAL, POLICY_WILLNEED },
	{ "populate", POLICY_NORMAL, POLICY_POPULATE },
	{ "hugepage", POLICY_NORMAL, POLICY_HUGEPAGE },
	{ "nohugepage", POLICY_NORMAL, POLICY_NOHUGEPAGE },
	{ "cold", POLICY_NORMAL, POLICY_COLD },
	{ "pageout", POLICY_NORMAL, POLICY_PAGEOUT },
	{ "dontneed", POLICY_NORMAL, POLICY_DONTNEED },
	{ "willneed+populate", POLICY_NORMAL, POLICY_WILLNEED | POLICY_POPULATE },
	/* surrounding blanks, and the one newline `echo` writes */
	{ "  random", POLICY_RANDOM, 0 },
	{ "random  ", POLICY_RANDOM, 0 },
	{ "\t sequential+willneed \t", POLICY_SEQUENTIAL, POLICY_WILLNEED },
	{ "random\n", POLICY_RANDOM, 0 },
	{ "sequential+willneed\n", POLICY_SEQUENTIAL, POLICY_WILLNEED },
	{ "  willneed \n", POLICY_NORMAL, POLICY_WILLNEED },
};

static void test_parse_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct parse_case *c = &valid_cases[i];
		struct policy parsed = SENTINEL_POLICY;
		char bad[64] = "untouched";
		int rc;

		rc = policy_parse(c->text, &parsed, bad, sizeof(bad));
		if (rc != 0)
			fail_msg("policy_parse(\"%s\") = %d, bad '%s'", c->text, rc, bad);
		if (parsed.mode != c->mode || parsed.extras != c->extras)
			fail_msg("policy_parse(\"%s\") gave mode %d extras %#x, want %d %#x",
				 c->text, parsed.mode, parsed.extras, c->mode, c->extras);
	}
}

static void test_parse_bad_may_be_null(void **state)
{
	struct policy parsed = SENTINEL_POLICY;

	(void)state;
	assert_int_equal(policy_parse("random+willneed", &parsed, NULL, 0), 0);
	assert_int_equal(parsed.mode, POLICY_RANDOM);
	assert_int_equal(parsed.extras, POLICY_WILLNEED);
	parsed = SENTINEL_POLICY;
	assert_int_equal(policy_parse("bogus", &parsed, NULL, 0), -EINVAL);
	assert_true(policy_equal(&parsed, &SENTINEL_POLICY));
}

struct error_case {
	const char *text;
	const char *bad_word; /* NULL: any word; "hugepage|nohugepage": either */
};

static const struct error_case error_cases[] = {
	{ "bogus", "bogus" },
	{ "random+bogus", "bogus" },
	{ "bogus+random", "bogus" },
	{ "sequential+willneed+fast", "fast" },
	{ "Random", "Random" },
	{ "random sequential", NULL },
	{ "random+sequential", "sequential" },
	{ "normal+random", "random" },
	{ "sequential+willneed+normal", "normal" },
	{ "willneed+willneed", "willneed" },
	{ "random+random", "random" },
	{ "random+cold+pageout+cold", "cold" },
	{ "hugepage+nohugepage", "hugepage|nohugepage" },
	{ "random+nohugepage+willneed+hugepage", "hugepage|nohugepage" },
	{ "", NULL },
	{ "   ", NULL },
	{ "\n", NULL },
	{ "random\n\n", NULL },
	{ "random+", NULL },
	{ "+random", NULL },
	{ "random++willneed", NULL },
	{ "+", NULL },
};

static void test_parse_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct policy parsed = SENTINEL_POLICY;
		char bad[64];
		int rc;

		memset(bad, 'X', sizeof(bad));
		bad[sizeof(bad) - 1] = '\0';
		rc = policy_parse(c->text, &parsed, bad, sizeof(bad));
		if (rc != -EINVAL)
			fail_msg("policy_parse(\"%s\") = %d, want -EINVAL", c->text, rc);
		if (!policy_equal(&parsed, &SENTINEL_POLICY))
			fail_msg("policy_parse(\"%s\") changed @out on error", c->text);
		if (!memchr(bad, '\0', sizeof(bad)))
			fail_msg("policy_parse(\"%s\") left @bad unterminated", c->text);
		if (!c->bad_word)
			continue;
		if (!strcmp(c->bad_word, "hugepage|nohugepage")) {
			if (strcmp(bad, "hugepage") && strcmp(bad, "nohugepage"))
				fail_msg(
					"policy_parse(\"%s\"): bad '%s', want hugepage or nohugepage",
					c->text, bad);
		} else if (strcmp(bad, c->bad_word)) {
			fail_msg("policy_parse(\"%s\"): bad '%s', want '%s'", c->text, bad,
				 c->bad_word);
		}
	}
}

static void test_parse_bad_truncated(void **state)
{
	struct policy parsed = SENTINEL_POLICY;
	char bad[8];

	(void)state;
	memset(bad, 'X', sizeof(bad));
	assert_int_equal(policy_parse("random+averylongbogusword", &parsed, bad, 4), -EINVAL);
	assert_string_equal(bad, "ave");
	/* nothing written past bad_len */
	assert_int_equal(bad[4], 'X');
	assert_int_equal(bad[7], 'X');
}

static void format_to(const struct policy *p, struct strbuf *sb)
{
	strbuf_reset(sb);
	policy_format(p, sb);
	assert_int_equal(sb->error, 0);
}

static void test_format_canonical(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct policy p;

	(void)state;
	format_to(&POLICY_DEFAULT, &sb);
	assert_string_equal(sb.buf, "normal");

	p = (struct policy){ POLICY_RANDOM, 0 };
	format_to(&p, &sb);
	assert_string_equal(sb.buf, "random");

	p = (struct policy){ POLICY_NORMAL, POLICY_WILLNEED };
	format_to(&p, &sb);
	assert_string_equal(sb.buf, "normal+willneed");

	p = (struct policy){ POLICY_SEQUENTIAL, ALL_EXTRAS };
	format_to(&p, &sb);
	assert_string_equal(
		sb.buf, "sequential+willneed+populate+hugepage+nohugepage+cold+pageout+dontneed");

	/* any input order comes out in the canonical one */
	assert_int_equal(policy_parse("dontneed+pageout+cold+hugepage+populate+willneed+random", &p,
				      NULL, 0),
			 0);
	format_to(&p, &sb);
	assert_string_equal(sb.buf, "random+willneed+populate+hugepage+cold+pageout+dontneed");

	/* format appends to what is there */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "policy: ");
	policy_format(&POLICY_DEFAULT, &sb);
	assert_string_equal(sb.buf, "policy: normal");
	strbuf_release(&sb);
}

/* Every parseable policy: parse(format(p)) == p. */
static void test_format_round_trip(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned mode, extras, checked = 0;

	(void)state;
	for (mode = POLICY_NORMAL; mode <= POLICY_SEQUENTIAL; mode++) {
		for (extras = 0; extras <= ALL_EXTRAS; extras++) {
			struct policy p = { (enum policy_mode)mode, extras }, back;
			char bad[64] = "";

			if ((extras & POLICY_HUGEPAGE) && (extras & POLICY_NOHUGEPAGE))
				continue;
			format_to(&p, &sb);
			back = SENTINEL_POLICY;
			if (policy_parse(sb.buf, &back, bad, sizeof(bad)))
				fail_msg("format gave \"%s\", which does not parse (bad '%s')",
					 sb.buf, bad);
			if (!policy_equal(&p, &back))
				fail_msg("\"%s\" parsed back as mode %d extras %#x", sb.buf,
					 back.mode, back.extras);
			checked++;
		}
	}
	assert_int_equal(checked, 3 * 96);
	strbuf_release(&sb);
}

static void test_equal(void **state)
{
	struct policy a = { POLICY_RANDOM, POLICY_WILLNEED }, b = a;

	(void)state;
	assert_true(policy_equal(&a, &b));
	b.extras |= POLICY_COLD;
	assert_false(policy_equal(&a, &b));
	b = a;
	b.mode = POLICY_SEQUENTIAL;
	assert_false(policy_equal(&a, &b));
	assert_true(policy_equal(&POLICY_DEFAULT, &POLICY_DEFAULT));
}

/* Whether @word appears in @list as a whole word (not as part of "nohugepage"). */
static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	const char *at;

	for (at = strstr(list, word); at; at = strstr(at + 1, word)) {
		bool starts = at == list || !(at[-1] >= 'a' && at[-1] <= 'z');
		bool ends = !(at[len] >= 'a' && at[len] <= 'z');

		if (starts && ends)
			return true;
	}
	return false;
}

static void test_valid_words(void **state)
{
	char words[] = "normal random sequential willneed populate hugepage nohugepage cold "
		       "pageout dontneed";
	const char *list = policy_valid_words();
	char *word, *save = NULL;

	(void)state;
	assert_non_null(list);
	for (word = strtok_r(words, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
		struct policy p;

		if (!has_word(list, word))
			fail_msg("policy_valid_words() \"%s\" lacks '%s'", list, word);
		/* and every listed word parses on its own */
		assert_int_equal(policy_parse(word, &p, NULL, 0), 0);
	}
}

/* --- policy_apply ------------------------------------------------------------------------ */

#define REGION_PAGES 8

static size_t page_bytes(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static void *map_anonymous(size_t len)
{
	void *addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(addr != MAP_FAILED);
	return addr;
}

/* A temp file of @len pattern bytes mapped shared with @prot; its fd in *@fd_out. */
static void *map_temp_file(const struct unit_dir *dir, size_t len, int prot, int *fd_out)
{
	char path[PATH_MAX];
	void *addr;
	int fd;

	unit_create_pattern_file(unit_path(dir, "mapped", path), len);
	fd = open(path, (prot & PROT_WRITE) ? O_RDWR : O_RDONLY);
	assert_true(fd >= 0);
	addr = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	assert_true(addr != MAP_FAILED);
	*fd_out = fd;
	return addr;
}

/* Apply @p and expect success, with @out reset from a dirty start. */
static void apply_ok(const struct policy *p, void *addr, size_t len, bool writable)
{
	struct policy_error out = { -12345, "stale" };
	struct strbuf name = STRBUF_INIT;
	int rc;

	rc = policy_apply(p, addr, len, writable, &out);
	if (rc != 0 || out.err != 0 || out.advice != NULL) {
		policy_format(p, &name);
		fail_msg("policy_apply(%s) = %d, err %d advice %s", name.buf, rc, out.err,
			 out.advice ? out.advice : "(null)");
	}
	strbuf_release(&name);
}

/* The readahead-mode VmFlags of the VMA at @addr must be exactly @want ("rr", "sr" or ""). */
static void assert_mode_flags(const void *addr, const char *want)
{
	char flags[512];

	assert_true(unit_vma_flags(addr, flags, sizeof(flags)));
	if (!strcmp(want, "rr")) {
		assert_true(unit_has_vmflag(flags, "rr"));
		assert_false(unit_has_vmflag(flags, "sr"));
	} else if (!strcmp(want, "sr")) {
		assert_true(unit_has_vmflag(flags, "sr"));
		assert_false(unit_has_vmflag(flags, "rr"));
	} else {
		assert_false(unit_has_vmflag(flags, "rr"));
		assert_false(unit_has_vmflag(flags, "sr"));
	}
}

static void check_modes(void *addr, size_t len, bool writable)
{
	struct policy p = POLICY_DEFAULT;

	p.mode = POLICY_RANDOM;
	apply_ok(&p, addr, len, writable);
	assert_mode_flags(addr, "rr");
	/* normal undoes random */
	p.mode = POLICY_NORMAL;
	apply_ok(&p, addr, len, writable);
	assert_mode_flags(addr, "");
	p.mode = POLICY_SEQUENTIAL;
	apply_ok(&p, addr, len, writable);
	assert_mode_flags(addr, "sr");
	/* random replaces sequential */
	p.mode = POLICY_RANDOM;
	apply_ok(&p, addr, len, writable);
	assert_mode_flags(addr, "rr");
	p.mode = POLICY_NORMAL;
	apply_ok(&p, addr, len, writable);
	assert_mode_flags(addr, "");
}

static void test_apply_modes_anonymous(void **state)
{
	size_t len = REGION_PAGES * page_bytes();
	void *addr = map_anonymous(len);

	(void)state;
	check_modes(addr, len, true);
	assert_int_equal(munmap(addr, len), 0);
}

static void test_apply_modes_file(void **state)
{
	size_t len = REGION_PAGES * page_bytes();
	int fd;
	void *addr = map_temp_file(*state, len, PROT_READ, &fd);

	check_modes(addr, len, false);
	assert_int_equal(munmap(addr, len), 0);
	assert_int_equal(close(fd), 0);
}

/* Extras a shared file mapping always accepts: willneed, populate, cold, pageout, dontneed. */
static void test_apply_extras_file(void **state)
{
	size_t len = REGION_PAGES * page_bytes();
	struct policy p = { POLICY_SEQUENTIAL, POLICY_WILLNEED | POLICY_POPULATE | POLICY_COLD |
						       POLICY_PAGEOUT | POLICY_DONTNEED };
	unsigned char *addr;
	int fd;

	addr = map_temp_file(*state, len, PROT_READ | PROT_WRITE, &fd);
	apply_ok(&p, addr, len, true);
	assert_mode_flags(addr, "sr");
	/* dontneed on a shared file mapping drops page-table entries, never the data */
	assert_int_equal(addr[0], unit_pattern_byte(0));
	assert_int_equal(addr[len - 1], unit_pattern_byte(len - 1));
	assert_int_equal(munmap(addr, len), 0);
	assert_int_equal(close(fd), 0);
}

/* @writable picks MADV_POPULATE_WRITE, which a read-only mapping refuses. */
static void test_apply_populate_picks_write(void **state)
{
	size_t len = REGION_PAGES * page_bytes();
	struct policy p = { POLICY_NORMAL, POLICY_POPULATE };
	struct policy_error out;
	void *addr;
	int fd, rc;

	addr = map_temp_file(*state, len, PROT_READ, &fd);
	apply_ok(&p, addr, len, false);
	rc = policy_apply(&p, addr, len, true, &out);
	assert_int_not_equal(rc, 0);
	assert_int_equal(rc, out.err);
	assert_true(out.err < 0);
	assert_non_null(out.advice);
	assert_string_equal(out.advice, "MADV_POPULATE_WRITE");
	assert_int_equal(munmap(addr, len), 0);
	assert_int_equal(close(fd), 0);
}

static void test_apply_misaligned(void **state)
{
	size_t len = REGION_PAGES * page_bytes();
	struct policy p = { POLICY_RANDOM, POLICY_WILLNEED | POLICY_COLD };
	char *addr = map_anonymous(len);
	struct policy_error out = { 0, NULL };
	int rc;

	(void)state;
	rc = policy_apply(&p, addr + 1, len - page_bytes(), true, &out);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(out.err, -EINVAL);
	assert_non_null(out.advice);
	/* the first call made, the mode, is the first to fail */
	assert_string_equal(out.advice, "MADV_RANDOM");
	assert_int_equal(munmap(addr, len), 0);
}

/*
 * A failed call does not stop the ones after it: populate-write fails on a
 * read-only private mapping, and dontneed, applied after it, still zaps the
 * private pages (they read back as zeros).
 */
static void test_apply_continues_after_failure(void **state)
{
	size_t len = REGION_PAGES * page_bytes();
	struct policy p = { POLICY_RANDOM, POLICY_POPULATE | POLICY_DONTNEED };
	unsigned char *addr = map_anonymous(len);
	struct policy_error out = { 0, NULL };
	size_t i;
	int rc;

	(void)state;
	memset(addr, 0xaa, len);
	assert_int_equal(mprotect(addr, len, PROT_READ), 0);
	rc = policy_apply(&p, addr, len, true, &out);
	assert_true(rc < 0);
	assert_int_equal(out.err, rc);
	assert_non_null(out.advice);
	assert_string_equal(out.advice, "MADV_POPULATE_WRITE");
	for (i = 0; i < len; i += page_bytes())
		assert_int_equal(addr[i], 0);
	/* and the mode, applied before, took effect */
	assert_mode_flags(addr, "rr");
	assert_int_equal(munmap(addr, len), 0);
}

static void test_apply_empty_range(void **state)
{
	struct policy p = { POLICY_RANDOM, POLICY_WILLNEED };
	struct policy_error out = { -1, "stale" };

	(void)state;
	assert_int_equal(policy_apply(&p, NULL, 0, false, &out), 0);
	assert_int_equal(out.err, 0);
	assert_null(out.advice);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_bad_may_be_null),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_bad_truncated),
		cmocka_unit_test(test_format_canonical),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_valid_words),
		cmocka_unit_test(test_apply_modes_anonymous),
		cmocka_unit_test_setup_teardown(test_apply_modes_file, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_apply_extras_file, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_apply_populate_picks_write, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test(test_apply_misaligned),
		cmocka_unit_test(test_apply_continues_after_failure),
		cmocka_unit_test(test_apply_empty_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
