/* Unit tests of core/safecopy: copies that survive a file truncated under its mapping. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "unit.h"

#include "safecopy.h"

#define FILE_PAGES 4

static size_t page_bytes(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* A file of FILE_PAGES pattern pages mapped shared read/write; its fd in *@fd_out. */
static unsigned char *map_file(const struct unit_dir *dir, int *fd_out)
{
	size_t len = FILE_PAGES * page_bytes();
	char path[PATH_MAX];
	void *addr;
	int fd;

	unit_create_pattern_file(unit_path(dir, "mapped", path), len);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(addr != MAP_FAILED);
	*fd_out = fd;
	return addr;
}

/*
 * cmocka installs its own SIGBUS handler around every test, setup and teardown
 * and restores the old one after, so each test installs safecopy's in its body.
 */
static void init_guard(void)
{
	assert_int_equal(safecopy_init(), 0);
}

static void test_init_twice(void **state)
{
	(void)state;
	assert_int_equal(safecopy_init(), 0);
	assert_int_equal(safecopy_init(), 0);
}

static void test_copy_from_mapping(void **state)
{
	size_t len = FILE_PAGES * page_bytes(), i;
	unsigned char *dst = malloc(len);
	unsigned char *addr;
	int fd;

	init_guard();
	assert_non_null(dst);
	addr = map_file(*state, &fd);
	memset(dst, 0, len);
	assert_int_equal(safecopy(dst, addr, len), 0);
	for (i = 0; i < len; i++)
		if (dst[i] != unit_pattern_byte(i))
			fail_msg("byte %zu is %#x, want %#x", i, dst[i], unit_pattern_byte(i));
	assert_int_equal(safecopy(dst, addr + 10, 0), 0);
	assert_int_equal(munmap(addr, len), 0);
	assert_int_equal(close(fd), 0);
	free(dst);
}

static void test_copy_to_mapping(void **state)
{
	size_t len = FILE_PAGES * page_bytes();
	unsigned char *addr, byte;
	int fd;

	init_guard();
	addr = map_file(*state, &fd);
	assert_int_equal(safecopy(addr + page_bytes() - 2, "XYZW", 4), 0);
	assert_int_equal(msync(addr, len, MS_SYNC), 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)page_bytes() + 1), 1);
	assert_int_equal(byte, 'W');
	assert_int_equal(munmap(addr, len), 0);
	assert_int_equal(close(fd), 0);
}

/*
 * The calls that fault run in a child process, so a SIGBUS that safecopy fails
 * to catch is reported as a failed check instead of killing the whole test
 * program. @body fills @results; the child sends them back through a pipe.
 * Return: the child's wait status (the results are valid when it exited).
 */
static int run_in_child(void (*body)(void *ctx, int *results), void *ctx, int *results,
			size_t count)
{
	size_t want = count * sizeof(*results), got = 0;
	int pipe_fds[2], status;
	pid_t child;

	assert_int_equal(pipe(pipe_fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		const char *bytes = (const char *)results;
		size_t sent = 0;

		(void)close(pipe_fds[0]);
		/* each result goes out as soon as it is known, in case a later call kills us */
		body(ctx, results);
		while (sent < want) {
			ssize_t done = write(pipe_fds[1], bytes + sent, want - sent);

			if (done <= 0)
				_exit(2);
			sent += (size_t)done;
		}
		_exit(0);
	}
	(void)close(pipe_fds[1]);
	while (got < want) {
		ssize_t done = read(pipe_fds[0], (char *)results + got, want - got);

		if (done <= 0)
			break;
		got += (size_t)done;
	}
	(void)close(pipe_fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	if (WIFSIGNALED(status))
		fail_msg("killed by signal %d (%s): safecopy did not catch the fault",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(got, want);
	return status;
}

struct truncated_copy {
	unsigned char *addr; /* the mapping of a file cut to one page */
	unsigned char *dst;
	size_t len;
};

static void copy_from_truncated_body(void *ctx, int *results)
{
	struct truncated_copy *copy = ctx;

	results[0] = safecopy(copy->dst, copy->addr, copy->len);
	/* again: the handler still works after a fault (SIGBUS is not left blocked) */
	results[1] = safecopy(copy->dst, copy->addr + 2 * page_bytes(), 16);
	results[2] = safecopy(copy->dst, copy->addr, page_bytes());
}

static void test_copy_from_truncated(void **state)
{
	size_t len = FILE_PAGES * page_bytes();
	struct truncated_copy copy = { .len = len };
	int results[3], fd;

	init_guard();
	copy.dst = malloc(len);
	assert_non_null(copy.dst);
	memset(copy.dst, 0, len);
	copy.addr = map_file(*state, &fd);
	assert_int_equal(ftruncate(fd, (off_t)page_bytes()), 0);
	run_in_child(copy_from_truncated_body, &copy, results, 3);
	/* @dst is partly written: which part depends on memcpy, so it is not checked */
	assert_int_equal(results[0], -EIO);
	assert_int_equal(results[1], -EIO);
	/* the page still inside the file copies fine */
	assert_int_equal(results[2], 0);
	assert_int_equal(safecopy(copy.dst, copy.addr, page_bytes()), 0);
	assert_int_equal(copy.dst[page_bytes() - 1], unit_pattern_byte(page_bytes() - 1));
	assert_int_equal(munmap(copy.addr, len), 0);
	assert_int_equal(close(fd), 0);
	free(copy.dst);
}

static void copy_to_truncated_body(void *ctx, int *results)
{
	struct truncated_copy *copy = ctx;

	results[0] = safecopy(copy->addr + page_bytes(), copy->dst, copy->len);
	results[1] = safecopy(copy->addr, copy->dst, copy->len);
}

static void test_copy_to_truncated(void **state)
{
	size_t len = FILE_PAGES * page_bytes();
	unsigned char src[64];
	struct truncated_copy copy = { .dst = src, .len = sizeof(src) };
	int results[2], fd;

	init_guard();
	memset(src, 'w', sizeof(src));
	copy.addr = map_file(*state, &fd);
	assert_int_equal(ftruncate(fd, 0), 0);
	run_in_child(copy_to_truncated_body, &copy, results, 2);
	assert_int_equal(results[0], -EIO);
	assert_int_equal(results[1], -EIO);
	assert_int_equal(munmap(copy.addr, len), 0);
	assert_int_equal(close(fd), 0);
}

static void touch_truncated_body(void *ctx, int *results)
{
	struct truncated_copy *copy = ctx;

	results[0] = safecopy_touch(copy->addr, copy->len, page_bytes());
	results[1] = safecopy_touch(copy->addr + 3 * page_bytes(), 1, page_bytes());
}

static void test_touch(void **state)
{
	size_t len = FILE_PAGES * page_bytes();
	struct truncated_copy copy = { .len = len };
	int results[2], fd;

	init_guard();
	copy.addr = map_file(*state, &fd);
	assert_int_equal(safecopy_touch(copy.addr, len, page_bytes()), 0);
	assert_int_equal(safecopy_touch(copy.addr, 0, page_bytes()), 0);
	assert_int_equal(ftruncate(fd, (off_t)(2 * page_bytes())), 0);
	assert_int_equal(safecopy_touch(copy.addr, 2 * page_bytes(), page_bytes()), 0);
	run_in_child(touch_truncated_body, &copy, results, 2);
	assert_int_equal(results[0], -EIO);
	assert_int_equal(results[1], -EIO);
	assert_int_equal(munmap(copy.addr, len), 0);
	assert_int_equal(close(fd), 0);
}

/* A SIGBUS outside safecopy() still kills the process as usual, even after a caught one. */
static void test_sigbus_outside_still_kills(void **state)
{
	size_t len = FILE_PAGES * page_bytes();
	volatile unsigned char *addr;
	int pipe_fds[2], fd, status, copy_rc = 0;
	pid_t child;

	init_guard();
	addr = map_file(*state, &fd);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pipe(pipe_fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int scratch, rc;

		(void)close(pipe_fds[0]);
		rc = safecopy(&scratch, (const void *)addr, sizeof(scratch));
		if (write(pipe_fds[1], &rc, sizeof(rc)) != sizeof(rc))
			_exit(2);
		(void)addr[0];
		_exit(0);
	}
	(void)close(pipe_fds[1]);
	if (read(pipe_fds[0], &copy_rc, sizeof(copy_rc)) != sizeof(copy_rc))
		copy_rc = 1;
	(void)close(pipe_fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	if (copy_rc != -EIO)
		fail_msg("the guarded copy before the unguarded touch did not return -EIO "
			 "(got %d: 1 means the child died inside safecopy)",
			 copy_rc);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
	assert_int_equal(munmap((void *)addr, len), 0);
	assert_int_equal(close(fd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_twice),
		cmocka_unit_test_setup_teardown(test_copy_from_mapping, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_copy_to_mapping, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_copy_from_truncated, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_copy_to_truncated, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_touch, unit_dir_setup, unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_sigbus_outside_still_kills, unit_dir_setup,
						unit_dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
