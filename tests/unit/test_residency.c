/* Unit tests of core/residency: page size, extent merging, counting, extents, eviction. */
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "unit.h"

#include "residency.h"

#define FILE_BYTES  (8u << 20)
#define MAX_EXTENTS 64

/* Collects the extents a walk reports; @stop_after calls in, returns @stop_value. */
struct extent_list {
	uint64_t start[MAX_EXTENTS];
	uint64_t end[MAX_EXTENTS];
	size_t count;
	size_t stop_after; /* 0: never stop */
	int stop_value;
};

static int collect_extent(void *ctx, uint64_t start, uint64_t end)
{
	struct extent_list *list = ctx;

	assert_true(list->count < MAX_EXTENTS);
	list->start[list->count] = start;
	list->end[list->count] = end;
	list->count++;
	if (list->stop_after && list->count >= list->stop_after)
		return list->stop_value;
	return 0;
}

static uint64_t page_bytes(void)
{
	return residency_page_size();
}

static void test_page_size(void **state)
{
	(void)state;
	assert_int_equal(residency_page_size(), (size_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(residency_page_size(), residency_page_size());
}

/* --- extent merger ----------------------------------------------------------------------- */

static void test_merger_touching(void **state)
{
	struct extent_list list = { .count = 0 };
	struct extent_merger merger;

	(void)state;
	residency_merger_init(&merger, collect_extent, &list);
	assert_int_equal(residency_merger_add(&merger, 0, 10), 0);
	assert_int_equal(residency_merger_add(&merger, 10, 20), 0);
	assert_int_equal(residency_merger_add(&merger, 20, 4096), 0);
	assert_int_equal(list.count, 0); /* nothing passed on before the flush */
	assert_int_equal(residency_merger_flush(&merger), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.start[0], 0);
	assert_int_equal(list.end[0], 4096);
}

static void test_merger_overlapping(void **state)
{
	struct extent_list list = { .count = 0 };
	struct extent_merger merger;

	(void)state;
	residency_merger_init(&merger, collect_extent, &list);
	assert_int_equal(residency_merger_add(&merger, 100, 200), 0);
	assert_int_equal(residency_merger_add(&merger, 150, 300), 0);
	assert_int_equal(residency_merger_add(&merger, 160, 170), 0); /* inside */
	assert_int_equal(residency_merger_add(&merger, 300, 310), 0);
	assert_int_equal(residency_merger_flush(&merger), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.start[0], 100);
	assert_int_equal(list.end[0], 310);
}

static void test_merger_gaps(void **state)
{
	struct extent_list list = { .count = 0 };
	struct extent_merger merger;

	(void)state;
	residency_merger_init(&merger, collect_extent, &list);
	assert_int_equal(residency_merger_add(&merger, 0, 4096), 0);
	assert_int_equal(residency_merger_add(&merger, 4097, 8192), 0);
	/* the first is passed on once a non-touching one arrives */
	assert_int_equal(list.count, 1);
	assert_int_equal(residency_merger_add(&merger, 8192, 12288), 0);
	assert_int_equal(residency_merger_add(&merger, 1 << 20, (1 << 20) + 1), 0);
	assert_int_equal(list.count, 2);
	assert_int_equal(residency_merger_flush(&merger), 0);
	assert_int_equal(list.count, 3);
	assert_int_equal(list.start[0], 0);
	assert_int_equal(list.end[0], 4096);
	assert_int_equal(list.start[1], 4097);
	assert_int_equal(list.end[1], 12288);
	assert_int_equal(list.start[2], 1 << 20);
	assert_int_equal(list.end[2], (1 << 20) + 1);
	/* a second flush has nothing left to pass on */
	assert_int_equal(residency_merger_flush(&merger), 0);
	assert_int_equal(list.count, 3);
}

static void test_merger_empty_flush(void **state)
{
	struct extent_list list = { .count = 0 };
	struct extent_merger merger;

	(void)state;
	residency_merger_init(&merger, collect_extent, &list);
	assert_int_equal(residency_merger_flush(&merger), 0);
	assert_int_equal(list.count, 0);
}

static void test_merger_callback_stops(void **state)
{
	struct extent_list list = { .stop_after = 1, .stop_value = 42 };
	struct extent_merger merger;

	(void)state;
	residency_merger_init(&merger, collect_extent, &list);
	assert_int_equal(residency_merger_add(&merger, 0, 10), 0);
	assert_int_equal(residency_merger_add(&merger, 20, 30), 42);
	assert_int_equal(list.count, 1);

	/* the flush passes the callback's value on too */
	list.count = 0;
	residency_merger_init(&merger, collect_extent, &list);
	assert_int_equal(residency_merger_add(&merger, 0, 10), 0);
	assert_int_equal(residency_merger_flush(&merger), 42);
	assert_int_equal(list.count, 1);
}

/* --- files --------------------------------------------------------------------------------- */

/* Create @name with @len pattern bytes written, fsynced and read back (all cached). */
static int make_cached_file(const struct unit_dir *dir, const char *name, size_t len, char *path)
{
	size_t chunk = 1 << 20, done;
	char *buf = malloc(chunk);
	int fd;

	assert_non_null(buf);
	unit_create_pattern_file(unit_path(dir, name, path), len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), 0);
	for (done = 0; done < len;) {
		ssize_t got = pread(fd, buf, chunk, (off_t)done);

		assert_true(got > 0);
		assert_int_equal((unsigned char)buf[0], unit_pattern_byte(done));
		done += (size_t)got;
	}
	free(buf);
	return fd;
}

static void count_ok(int fd, uint64_t size_bytes, struct residency_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	assert_int_equal(residency_count(fd, size_bytes, info), 0);
	assert_int_equal(info->size_bytes, size_bytes);
	assert_int_equal(info->page_size, page_bytes());
	assert_int_equal(info->pages, (size_bytes + page_bytes() - 1) / page_bytes());
	assert_true(info->resident_pages <= info->pages);
	assert_non_null(info->method);
	assert_true(!strcmp(info->method, "cachestat") || !strcmp(info->method, "mincore") ||
		    !strcmp(info->method, "none"));
	if (info->have_cachestat)
		assert_string_equal(info->method, "cachestat");
}

static void skip_on_tmpfs(const struct unit_dir *dir)
{
	if (unit_on_tmpfs(dir->path)) {
		print_message("%s is tmpfs: its pages cannot be evicted; skipping\n", dir->path);
		skip();
	}
}

static void test_count_cached_then_evicted(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes();
	struct residency_info info;
	char path[PATH_MAX];
	int fd;

	fd = make_cached_file(*state, "count", FILE_BYTES, path);
	count_ok(fd, FILE_BYTES, &info);
	assert_true(info.accurate);
	assert_true(residency_accurate(fd));
	assert_int_equal(info.pages, pages);
	assert_true(info.resident_pages > 0);
	assert_true(info.resident_pages <= pages);

	/* the first MiB only */
	count_ok(fd, 1 << 20, &info);
	assert_int_equal(info.pages, (1 << 20) / page_bytes());
	assert_true(info.resident_pages > 0);

	skip_on_tmpfs(*state);
	assert_int_equal(residency_evict(fd, 0, 0), 0);
	count_ok(fd, FILE_BYTES, &info);
	assert_true(info.accurate);
	if (info.resident_pages >= pages / 10)
		fail_msg("%" PRIu64 " of %" PRIu64 " pages still resident after evict",
			 info.resident_pages, pages);
	assert_int_equal(close(fd), 0);
}

static void test_count_empty(void **state)
{
	struct residency_info info;
	char path[PATH_MAX];
	int fd;

	unit_create_file(unit_path(*state, "empty", path), "", 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	count_ok(fd, 0, &info);
	assert_int_equal(info.pages, 0);
	assert_int_equal(info.resident_pages, 0);
	assert_int_equal(close(fd), 0);
}

/* Evicting writes dirty pages back first, so unsynced data is evicted too and not lost. */
static void test_evict_dirty(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes();
	struct residency_info info;
	char path[PATH_MAX];
	unsigned char byte;
	int fd;

	skip_on_tmpfs(*state);
	unit_create_pattern_file(unit_path(*state, "dirty", path), FILE_BYTES);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(residency_evict(fd, 0, 0), 0);
	count_ok(fd, FILE_BYTES, &info);
	if (info.resident_pages >= pages / 10)
		fail_msg("%" PRIu64 " of %" PRIu64 " dirty pages still resident after evict",
			 info.resident_pages, pages);
	assert_int_equal(pread(fd, &byte, 1, FILE_BYTES - 1), 1);
	assert_int_equal(byte, unit_pattern_byte(FILE_BYTES - 1));
	assert_int_equal(close(fd), 0);
}

static void test_evict_range(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes();
	struct residency_info info;
	char path[PATH_MAX];
	int fd;

	skip_on_tmpfs(*state);
	fd = make_cached_file(*state, "half", FILE_BYTES, path);
	assert_int_equal(residency_evict(fd, 0, FILE_BYTES / 2), 0);
	count_ok(fd, FILE_BYTES, &info);
	if (info.resident_pages < pages * 4 / 10 || info.resident_pages > pages * 6 / 10)
		fail_msg("%" PRIu64 " of %" PRIu64 " pages resident after evicting half",
			 info.resident_pages, pages);
	/* the second half is what stayed */
	count_ok(fd, FILE_BYTES / 2, &info);
	assert_true(info.resident_pages < pages / 10);
	assert_int_equal(close(fd), 0);
}

/*
 * mlock(2) itself: AddressSanitizer intercepts mlock() and makes it a no-op that
 * returns 0, which would leave the "locked" pages free to be evicted.
 */
static int mlock_really(const void *addr, size_t len)
{
	return (int)syscall(SYS_mlock, addr, len);
}

/*
 * Evict @fd, map it with readahead off and mlock pages [@first, @first+@count):
 * exactly those are then resident. Return: the mapping (munmap @len bytes).
 */
static void *lock_pages(int fd, size_t len, uint64_t first, uint64_t count)
{
	char *addr = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

	assert_true(addr != MAP_FAILED);
	assert_int_equal(madvise(addr, len, MADV_RANDOM), 0);
	assert_int_equal(residency_evict(fd, 0, 0), 0);
	assert_int_equal(mlock_really(addr + first * page_bytes(), count * page_bytes()), 0);
	return addr;
}

static void test_count_locked_exact(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes(), first = pages / 4, count = pages / 8;
	struct residency_info info;
	char path[PATH_MAX];
	void *addr;
	int fd;

	skip_on_tmpfs(*state);
	fd = make_cached_file(*state, "locked", FILE_BYTES, path);
	addr = lock_pages(fd, FILE_BYTES, first, count);
	count_ok(fd, FILE_BYTES, &info);
	assert_true(info.accurate);
	if (info.resident_pages < count || info.resident_pages > count + pages / 10)
		fail_msg("%" PRIu64 " pages resident with %" PRIu64 " locked", info.resident_pages,
			 count);
	assert_int_equal(munmap(addr, FILE_BYTES), 0);
	assert_int_equal(close(fd), 0);
}

/* Extents come merged, in increasing order, within the file. */
static void assert_extents_well_formed(const struct extent_list *list, uint64_t size_bytes)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		assert_true(list->start[i] < list->end[i]);
		assert_true(list->end[i] <= size_bytes);
		if (i)
			assert_true(list->start[i] > list->end[i - 1]);
	}
}

static void test_extents_of_locked_range(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes(), first = pages / 4, count = pages / 8;
	uint64_t range_start = first * page_bytes(), range_end = (first + count) * page_bytes();
	struct extent_list list = { .count = 0 };
	uint64_t total = 0;
	bool covered = false;
	char path[PATH_MAX];
	void *addr;
	size_t i;
	int fd;

	skip_on_tmpfs(*state);
	fd = make_cached_file(*state, "extents", FILE_BYTES, path);
	addr = lock_pages(fd, FILE_BYTES, first, count);
	assert_int_equal(residency_extents(fd, FILE_BYTES, collect_extent, &list), 0);
	assert_extents_well_formed(&list, FILE_BYTES);
	for (i = 0; i < list.count; i++) {
		total += list.end[i] - list.start[i];
		if (list.start[i] <= range_start && list.end[i] >= range_end)
			covered = true;
	}
	if (!covered) {
		for (i = 0; i < list.count; i++)
			print_message("extent %" PRIu64 "-%" PRIu64 "\n", list.start[i],
				      list.end[i]);
		fail_msg("no extent covers the locked %" PRIu64 "-%" PRIu64, range_start,
			 range_end);
	}
	assert_true(total <= range_end - range_start + FILE_BYTES / 10);
	assert_int_equal(munmap(addr, FILE_BYTES), 0);
	assert_int_equal(close(fd), 0);
}

/* A fully cached file whose size is not a page multiple is one extent [0, size). */
static void test_extents_whole_file(void **state)
{
	size_t size_bytes = 3 * page_bytes() + 100;
	struct extent_list list = { .count = 0 };
	char path[PATH_MAX];
	int fd;

	fd = make_cached_file(*state, "whole", size_bytes, path);
	assert_int_equal(residency_extents(fd, size_bytes, collect_extent, &list), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.start[0], 0);
	assert_int_equal(list.end[0], size_bytes);
	assert_int_equal(close(fd), 0);
}

static void test_extents_callback_stops(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes();
	struct extent_list list = { .stop_after = 1, .stop_value = 42 };
	char path[PATH_MAX];
	char *addr;
	int fd;

	skip_on_tmpfs(*state);
	fd = make_cached_file(*state, "stop", FILE_BYTES, path);
	/* two separate locked ranges: two extents */
	addr = lock_pages(fd, FILE_BYTES, 16, 16);
	assert_int_equal(mlock_really(addr + pages / 2 * page_bytes(), 16 * page_bytes()), 0);
	assert_int_equal(residency_extents(fd, FILE_BYTES, collect_extent, &list), 42);
	assert_int_equal(list.count, 1);
	assert_int_equal(munmap(addr, FILE_BYTES), 0);
	assert_int_equal(close(fd), 0);
}

static void test_sparse_terabyte(void **state)
{
	uint64_t size_bytes = 1ull << 40, written_at = 1ull << 39, started;
	struct extent_list list = { .count = 0 };
	struct residency_info info;
	char path[PATH_MAX], page[4096];
	int fd;

	unit_path(*state, "sparse", path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size_bytes), 0);

	started = unit_now_ms();
	count_ok(fd, size_bytes, &info);
	assert_true(info.accurate);
	assert_int_equal(info.resident_pages, 0);
	assert_int_equal(residency_extents(fd, size_bytes, collect_extent, &list), 0);
	assert_int_equal(list.count, 0);
	assert_true(unit_now_ms() - started < 5000);

	/* one cached page in the middle of the terabyte is found, and quickly */
	memset(page, 'x', sizeof(page));
	unit_write_all(fd, page, sizeof(page), (off_t)written_at);
	started = unit_now_ms();
	count_ok(fd, size_bytes, &info);
	assert_true(info.resident_pages >= 1);
	assert_true(info.resident_pages <= 1 + 4096 / page_bytes() + 32);
	assert_int_equal(residency_extents(fd, size_bytes, collect_extent, &list), 0);
	assert_true(unit_now_ms() - started < 5000);
	assert_extents_well_formed(&list, size_bytes);
	assert_true(list.count >= 1);
	assert_true(list.start[0] <= written_at);
	assert_true(list.end[list.count - 1] >= written_at + sizeof(page));
	assert_int_equal(close(fd), 0);
}

/*
 * A process that may not write the file is told nothing rather than something
 * false: accurate is false and the counts are 0, even with every page cached.
 */
static void test_not_accurate_for_others(void **state)
{
	struct residency_info info;
	struct extent_list list = { .count = 0 };
	char path[PATH_MAX];
	int fd, status;
	pid_t child;

	if (geteuid() != 0) {
		print_message("not root: cannot become another user; skipping\n");
		skip();
	}
	fd = make_cached_file(*state, "others", 1 << 20, path);
	assert_int_equal(fchmod(fd, 0644), 0);
	count_ok(fd, 1 << 20, &info);
	assert_true(info.accurate);
	assert_true(info.resident_pages > 0);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* no cmocka in the child: report through the exit status */
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(10);
		if (residency_accurate(fd))
			_exit(11);
		if (residency_count(fd, 1 << 20, &info))
			_exit(12);
		if (info.accurate)
			_exit(13);
		if (info.resident_pages)
			_exit(14);
		if (residency_extents(fd, 1 << 20, collect_extent, &list) || list.count)
			_exit(15);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("as another user, check %d failed (10 setuid, 11 residency_accurate, "
			 "12 count rc, 13 accurate, 14 resident_pages, 15 extents)",
			 WEXITSTATUS(status));
	assert_int_equal(close(fd), 0);
}

/* --- the mincore path, for kernels without cachestat (Linux < 6.5, Debian 12's 6.1) ----- */

/* What a child with cachestat blocked saw, sent back through a pipe. */
struct fallback_report {
	int count_rc;
	bool method_mincore;
	bool accurate;
	bool have_cachestat;
	uint64_t resident_pages;
	int extents_rc;
	bool extents_sorted;
	bool locked_covered;
	uint64_t extent_bytes;
	int sparse_count_rc;
	uint64_t sparse_resident_pages;
	int sparse_extents_rc;
	bool sparse_page_found;
	uint64_t sparse_ms;
};

/* A collector for the child: no cmocka there. */
struct plain_extents {
	uint64_t start[MAX_EXTENTS];
	uint64_t end[MAX_EXTENTS];
	size_t count;
};

static int collect_plain(void *ctx, uint64_t start, uint64_t end)
{
	struct plain_extents *list = ctx;

	if (list->count >= MAX_EXTENTS)
		return -E2BIG;
	list->start[list->count] = start;
	list->end[list->count] = end;
	list->count++;
	return 0;
}

/* Make cachestat(2) fail with ENOSYS in this process, as on a kernel without it. */
static int block_cachestat(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 451, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog program = { sizeof(filter) / sizeof(filter[0]), filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program))
		return -errno;
	return 0;
}

static void fallback_child(int fd, uint64_t range_start, uint64_t range_end, int sparse_fd,
			   uint64_t sparse_size, uint64_t sparse_at, struct fallback_report *report)
{
	static struct plain_extents list, sparse_list;
	struct residency_info info;
	uint64_t started;
	size_t i;

	report->count_rc = residency_count(fd, FILE_BYTES, &info);
	report->method_mincore = info.method && !strcmp(info.method, "mincore");
	report->accurate = info.accurate;
	report->have_cachestat = info.have_cachestat;
	report->resident_pages = info.resident_pages;
	report->extents_rc = residency_extents(fd, FILE_BYTES, collect_plain, &list);
	report->extents_sorted = true;
	for (i = 0; i < list.count; i++) {
		if (list.start[i] >= list.end[i] || list.end[i] > FILE_BYTES ||
		    (i && list.start[i] <= list.end[i - 1]))
			report->extents_sorted = false;
		if (list.start[i] <= range_start && list.end[i] >= range_end)
			report->locked_covered = true;
		report->extent_bytes += list.end[i] - list.start[i];
	}

	started = unit_now_ms();
	report->sparse_count_rc = residency_count(sparse_fd, sparse_size, &info);
	report->sparse_resident_pages = info.resident_pages;
	report->sparse_extents_rc =
		residency_extents(sparse_fd, sparse_size, collect_plain, &sparse_list);
	for (i = 0; i < sparse_list.count; i++)
		if (sparse_list.start[i] <= sparse_at && sparse_list.end[i] > sparse_at)
			report->sparse_page_found = true;
	report->sparse_ms = unit_now_ms() - started;
}

static void test_mincore_fallback(void **state)
{
	uint64_t pages = FILE_BYTES / page_bytes(), first = pages / 4, count = pages / 8;
	uint64_t sparse_size = 1ull << 40, sparse_at = 1ull << 39;
	struct fallback_report report;
	char path[PATH_MAX], sparse_path[PATH_MAX], page[4096];
	int fd, sparse_fd, pipe_fds[2], status;
	void *addr;
	pid_t child;

	skip_on_tmpfs(*state);
	fd = make_cached_file(*state, "fallback", FILE_BYTES, path);
	addr = lock_pages(fd, FILE_BYTES, first, count);
	sparse_fd =
		open(unit_path(*state, "sparse", sparse_path), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(sparse_fd >= 0);
	assert_int_equal(ftruncate(sparse_fd, (off_t)sparse_size), 0);
	memset(page, 's', sizeof(page));
	unit_write_all(sparse_fd, page, sizeof(page), (off_t)sparse_at);

	assert_int_equal(pipe(pipe_fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		memset(&report, 0, sizeof(report));
		(void)close(pipe_fds[0]);
		if (block_cachestat())
			_exit(2);
		fallback_child(fd, first * page_bytes(), (first + count) * page_bytes(), sparse_fd,
			       sparse_size, sparse_at, &report);
		_exit(write(pipe_fds[1], &report, sizeof(report)) == sizeof(report) ? 0 : 3);
	}
	(void)close(pipe_fds[1]);
	memset(&report, 0, sizeof(report));
	assert_int_equal(read(pipe_fds[0], &report, sizeof(report)), sizeof(report));
	(void)close(pipe_fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(report.count_rc, 0);
	assert_true(report.method_mincore);
	assert_true(report.accurate);
	assert_false(report.have_cachestat);
	if (report.resident_pages < count || report.resident_pages > count + pages / 10)
		fail_msg("mincore: %" PRIu64 " pages resident with %" PRIu64 " locked",
			 report.resident_pages, count);
	assert_int_equal(report.extents_rc, 0);
	assert_true(report.extents_sorted);
	assert_true(report.locked_covered);
	assert_true(report.extent_bytes <= count * page_bytes() + FILE_BYTES / 10);

	assert_int_equal(report.sparse_count_rc, 0);
	assert_true(report.sparse_resident_pages >= 1);
	assert_true(report.sparse_resident_pages <= 1 + 4096 / page_bytes() + 32);
	assert_int_equal(report.sparse_extents_rc, 0);
	assert_true(report.sparse_page_found);
	if (report.sparse_ms >= 5000)
		fail_msg("mincore path took %" PRIu64 " ms over a sparse 1 TiB file",
			 report.sparse_ms);

	assert_int_equal(munmap(addr, FILE_BYTES), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(sparse_fd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_size),
		cmocka_unit_test(test_merger_touching),
		cmocka_unit_test(test_merger_overlapping),
		cmocka_unit_test(test_merger_gaps),
		cmocka_unit_test(test_merger_empty_flush),
		cmocka_unit_test(test_merger_callback_stops),
		cmocka_unit_test_setup_teardown(test_count_cached_then_evicted, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_count_empty, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_evict_dirty, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_evict_range, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_count_locked_exact, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_extents_of_locked_range, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_extents_whole_file, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_extents_callback_stops, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_sparse_terabyte, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_not_accurate_for_others, unit_dir_setup,
						unit_dir_teardown),
		cmocka_unit_test_setup_teardown(test_mincore_fallback, unit_dir_setup,
						unit_dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
