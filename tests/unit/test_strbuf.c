/* Unit tests of core/strbuf: never NULL, always NUL-terminated, grows, resets, releases. */
#include "unit.h"

#include "strbuf.h"

/* The invariant every strbuf keeps, whatever was done to it. */
static void assert_strbuf_sane(const struct strbuf *sb)
{
	assert_non_null(sb->buf);
	assert_int_equal(sb->buf[sb->len], '\0');
	if (sb->alloc)
		assert_true(sb->len < sb->alloc);
	assert_int_equal(sb->error, 0);
}

static void test_init_is_empty(void **state)
{
	struct strbuf from_macro = STRBUF_INIT;
	struct strbuf from_call;

	(void)state;
	memset(&from_call, 0xa5, sizeof(from_call));
	strbuf_init(&from_call);
	assert_strbuf_sane(&from_macro);
	assert_strbuf_sane(&from_call);
	assert_int_equal(from_macro.len, 0);
	assert_int_equal(from_call.len, 0);
	assert_string_equal(from_macro.buf, "");
	assert_string_equal(from_call.buf, "");
	strbuf_release(&from_macro);
	strbuf_release(&from_call);
}

static void test_add_and_addstr(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_addstr(&sb, "hello");
	strbuf_add(&sb, ", world!!!", 7);
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, 12);
	assert_string_equal(sb.buf, "hello, world");
	strbuf_addstr(&sb, "");
	strbuf_add(&sb, "ignored", 0);
	assert_int_equal(sb.len, 12);
	assert_string_equal(sb.buf, "hello, world");
	strbuf_release(&sb);
}

static void test_add_binary(void **state)
{
	static const char bytes[] = { 'a', '\0', 'b', '\n', '\0' };
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_add(&sb, bytes, sizeof(bytes));
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, sizeof(bytes));
	assert_memory_equal(sb.buf, bytes, sizeof(bytes));
	strbuf_release(&sb);
}

static void test_addf_formats(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_addf(&sb, "%s: %d\n", "resident_pages", 3);
	strbuf_addf(&sb, "%" PRIu64 "-%" PRIu64 "\n", (uint64_t)0, (uint64_t)1 << 40);
	strbuf_addf(&sb, "%s", "");
	assert_strbuf_sane(&sb);
	assert_string_equal(sb.buf, "resident_pages: 3\n0-1099511627776\n");
	assert_int_equal(sb.len, strlen(sb.buf));
	strbuf_release(&sb);
}

/* One addf far larger than any initial allocation must come out whole. */
static void test_addf_one_large_piece(void **state)
{
	size_t piece_len = 100 * 1024;
	char *piece = malloc(piece_len + 1);
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_non_null(piece);
	memset(piece, 'q', piece_len);
	piece[piece_len] = '\0';
	strbuf_addstr(&sb, "<");
	strbuf_addf(&sb, "%s>", piece);
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, piece_len + 2);
	assert_int_equal(sb.buf[0], '<');
	assert_memory_equal(sb.buf + 1, piece, piece_len);
	assert_int_equal(sb.buf[piece_len + 1], '>');
	strbuf_release(&sb);
	free(piece);
}

/* Many small appends across many KiB: every byte lands where it should. */
static void test_growth_many_kib(void **state)
{
	size_t expect_alloc = 512 * 1024, expect_len = 0;
	char *expect = malloc(expect_alloc);
	struct strbuf sb = STRBUF_INIT;
	int line;

	(void)state;
	assert_non_null(expect);
	for (line = 0; line < 20000; line++) {
		int written;

		if (line % 3 == 0) {
			strbuf_addf(&sb, "line %d of the growth test\n", line);
			written = snprintf(expect + expect_len, expect_alloc - expect_len,
					   "line %d of the growth test\n", line);
		} else if (line % 3 == 1) {
			strbuf_addstr(&sb, "addstr\n");
			written = snprintf(expect + expect_len, expect_alloc - expect_len,
					   "addstr\n");
		} else {
			strbuf_add(&sb, "add:", 4);
			written = snprintf(expect + expect_len, expect_alloc - expect_len, "add:");
		}
		assert_true(written > 0 && (size_t)written < expect_alloc - expect_len);
		expect_len += (size_t)written;
		assert_int_equal(sb.len, expect_len);
		assert_int_equal(sb.buf[sb.len], '\0');
	}
	assert_true(sb.len > 200 * 1024);
	assert_strbuf_sane(&sb);
	assert_int_equal(strlen(sb.buf), sb.len);
	assert_memory_equal(sb.buf, expect, expect_len);
	strbuf_release(&sb);
	free(expect);
}

static void add_through_va_list(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_through_va_list(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

static void test_vaddf(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char big[300];

	(void)state;
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	add_through_va_list(&sb, "%s=%u;", "opens", 2u);
	/* longer than any first guess: the va_list must still be usable for the retry */
	add_through_va_list(&sb, "%s|%s|%d", big, big, 42);
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, strlen("opens=2;") + 2 * strlen(big) + 2 + 2);
	assert_memory_equal(sb.buf, "opens=2;", 8);
	assert_memory_equal(sb.buf + 8, big, strlen(big));
	assert_string_equal(sb.buf + sb.len - 3, "|42");
	strbuf_release(&sb);
}

static void test_reset_keeps_memory(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t alloc_before;
	int line;

	(void)state;
	/* resetting a buffer that owns nothing yet is fine too */
	strbuf_reset(&sb);
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, 0);

	for (line = 0; line < 1000; line++)
		strbuf_addf(&sb, "%04d\n", line);
	assert_int_equal(sb.len, 5000);
	alloc_before = sb.alloc;
	strbuf_reset(&sb);
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	assert_int_equal(sb.alloc, alloc_before);

	strbuf_addstr(&sb, "again");
	assert_string_equal(sb.buf, "again");
	assert_int_equal(sb.len, 5);
	strbuf_release(&sb);
}

static void test_release_leaves_usable(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb);
	strbuf_addf(&sb, "%0*d", 5000, 7);
	assert_int_equal(sb.len, 5000);
	strbuf_release(&sb);
	assert_strbuf_sane(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");

	strbuf_addstr(&sb, "after release");
	assert_strbuf_sane(&sb);
	assert_string_equal(sb.buf, "after release");
	strbuf_release(&sb);
	strbuf_release(&sb); /* twice is harmless */
	assert_strbuf_sane(&sb);
	assert_string_equal(sb.buf, "");
}

/* Two empty buffers share the static empty string; writing to one must not show in the other. */
static void test_empty_buffers_independent(void **state)
{
	struct strbuf first = STRBUF_INIT, second = STRBUF_INIT;

	(void)state;
	strbuf_addstr(&first, "x");
	assert_string_equal(first.buf, "x");
	assert_string_equal(second.buf, "");
	assert_int_equal(second.len, 0);
	strbuf_release(&first);
	strbuf_release(&second);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty),
		cmocka_unit_test(test_add_and_addstr),
		cmocka_unit_test(test_add_binary),
		cmocka_unit_test(test_addf_formats),
		cmocka_unit_test(test_addf_one_large_piece),
		cmocka_unit_test(test_growth_many_kib),
		cmocka_unit_test(test_vaddf),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_release_leaves_usable),
		cmocka_unit_test(test_empty_buffers_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
