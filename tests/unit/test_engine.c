/* Unit tests of core/engine: mappings shared by handles, reads, writes, sizes, the idle LRU. */
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <sys/uio.h>

#include "unit.h"

#include "engine.h"

#define MIB (1u << 20)

static uint64_t page_bytes(void)
{
	return residency_page_size();
}

static struct engine *new_engine_limited(enum engine_access access, unsigned max_idle_maps,
					 const struct rules *rules, uint64_t cow_limit_bytes)
{
	struct engine_config cfg = {
		.access = access,
		.max_idle_maps = max_idle_maps,
		.rules = rules,
		.cow_limit_bytes = cow_limit_bytes,
	};
	struct engine *engine = NULL;

	assert_int_equal(engine_new(&cfg, &engine), 0);
	assert_non_null(engine);
	assert_int_equal(engine_access(engine), access);
	return engine;
}

static struct engine *new_engine(enum engine_access access, unsigned max_idle_maps,
				 const struct rules *rules)
{
	return new_engine_limited(access, max_idle_maps, rules, 0);
}

/* An O_PATH fd of @path, as the FUSE glue holds for each inode. */
static int path_fd_of(const char *path)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* engine_open() of @path through a fresh O_PATH fd, closed again after the open. */
static struct mapping *open_file(struct engine *engine, const char *path, const char *relpath,
				 bool want_write)
{
	struct mapping *mapping = NULL;
	int path_fd = path_fd_of(path), rc;

	rc = engine_open(engine, path_fd, relpath, want_write, &mapping);
	if (rc)
		fail_msg("engine_open(%s, want_write %d) = %d", path, want_write, rc);
	assert_non_null(mapping);
	assert_int_equal(close(path_fd), 0);
	return mapping;
}

static void file_id(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	*dev = st.st_dev;
	*ino = st.st_ino;
}

/* Copy out one read reply of up to @size bytes at @offset. Return: its length. */
static size_t read_into(struct mapping *mapping, uint64_t offset, size_t size, void *buf)
{
	struct mapping_slice slice;
	size_t len;

	assert_int_equal(mapping_read_begin(mapping, offset, size, &slice), 0);
	assert_true(slice.len <= size);
	if (slice.iov_count) {
		size_t copied = 0;
		int i;

		/* cow: the reply is pieced together from the file and the overlay */
		for (i = 0; i < slice.iov_count; i++) {
			memcpy((char *)buf + copied, slice.iov[i].iov_base, slice.iov[i].iov_len);
			copied += slice.iov[i].iov_len;
		}
		assert_int_equal(copied, slice.len);
	} else if (slice.len) {
		assert_non_null(slice.data);
		memcpy(buf, slice.data, slice.len);
	}
	len = slice.len;
	mapping_read_end(mapping, &slice);
	return len;
}

/* The length of the read reply, the data itself not looked at. */
static size_t read_len(struct mapping *mapping, uint64_t offset, size_t size)
{
	struct mapping_slice slice;
	size_t len;

	assert_int_equal(mapping_read_begin(mapping, offset, size, &slice), 0);
	len = slice.len;
	mapping_read_end(mapping, &slice);
	return len;
}

static void assert_pattern(const unsigned char *data, uint64_t offset, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (data[i] != unit_pattern_byte(offset + i))
			fail_msg("byte at %" PRIu64 " is %#x, want %#x", offset + i, data[i],
				 unit_pattern_byte(offset + i));
}

static void assert_zeros(const unsigned char *data, uint64_t offset, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (data[i])
			fail_msg("byte at %" PRIu64 " is %#x, want 0", offset + i, data[i]);
}

/* pread @len bytes of the backing file @path at @offset into @buf. */
static void pread_file(const char *path, void *buf, size_t len, uint64_t offset)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)offset), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void write_ok(struct mapping *mapping, const void *buf, size_t size, uint64_t offset,
		     bool append)
{
	ssize_t done = mapping_write(mapping, buf, size, offset, append);

	if (done != (ssize_t)size)
		fail_msg("mapping_write(%zu bytes at %" PRIu64 ", append %d) = %zd", size, offset,
			 append, done);
}

/*
 * cmocka teardown: engine_free() unmaps and closes everything, so once a test is
 * done no fd and no mapping of its files may be left.
 */
static int engine_dir_teardown(void **state)
{
	struct unit_dir *dir = *state;
	unsigned fds = unit_fds_at(dir->path), maps = unit_maps_at(dir->path);
	int rc = 0;

	if (fds || maps) {
		print_error("%u fds and %u mappings of the test's files left after engine_free\n",
			    fds, maps);
		rc = -1;
	}
	unit_dir_teardown(state);
	return rc;
}

/* --- reads -------------------------------------------------------------------------------- */

static void test_read_slices(void **state)
{
	size_t size_bytes = 10000, got, total = 0;
	unsigned reads = 0;
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	unsigned char buf[8192];
	struct mapping_stats stats;
	struct engine_totals totals;
	struct mapping *mapping;
	char path[PATH_MAX];
	uint64_t offset;

	unit_create_pattern_file(unit_path(*state, "read", path), size_bytes);
	mapping = open_file(engine, path, "read", false);

	got = read_into(mapping, 0, 100, buf);
	reads++;
	total += got;
	assert_int_equal(got, 100);
	assert_pattern(buf, 0, got);

	got = read_into(mapping, 5000, 3000, buf);
	reads++;
	total += got;
	assert_int_equal(got, 3000);
	assert_pattern(buf, 5000, got);

	/* short at the end, empty at and past it */
	got = read_into(mapping, size_bytes - 10, 100, buf);
	reads++;
	total += got;
	assert_int_equal(got, 10);
	assert_pattern(buf, size_bytes - 10, got);
	assert_int_equal(read_len(mapping, size_bytes, 100), 0);
	assert_int_equal(read_len(mapping, size_bytes + 1, 100), 0);
	assert_int_equal(read_len(mapping, 1ull << 40, 100), 0);
	reads += 3;

	for (offset = 0; offset < size_bytes; offset += got) {
		got = read_into(mapping, offset, 4096, buf);
		reads++;
		total += got;
		assert_true(got > 0);
		assert_pattern(buf, offset, got);
	}
	assert_int_equal(offset, size_bytes);

	mapping_stats(mapping, &stats);
	assert_int_equal(stats.opens, 1);
	assert_int_equal(stats.open_handles, 1);
	assert_int_equal(stats.reads, reads);
	assert_int_equal(stats.read_bytes, total);
	assert_int_equal(stats.size_bytes, size_bytes);
	assert_true(stats.mapped);
	assert_false(stats.fd_path);
	assert_true(stats.map_len_bytes >= size_bytes);
	assert_true(stats.last_access.tv_sec > 0);

	engine_totals(engine, &totals);
	assert_int_equal(totals.files_known, 1);
	assert_int_equal(totals.files_mapped, 1);
	assert_int_equal(totals.bytes_mapped, size_bytes);
	assert_int_equal(totals.open_handles, 1);
	assert_int_equal(totals.idle_mappings, 0);
	assert_int_equal(totals.reads, reads);
	assert_int_equal(totals.read_bytes, total);
	assert_true(totals.resident_bytes > 0);

	engine_close(engine, mapping);
	engine_free(engine);
}

static void test_read_empty_file(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping_stats stats;
	struct mapping *mapping;
	char path[PATH_MAX];

	unit_create_file(unit_path(*state, "empty", path), "", 0);
	mapping = open_file(engine, path, "empty", false);
	assert_int_equal(read_len(mapping, 0, 4096), 0);
	assert_int_equal(read_len(mapping, 100, 10), 0);
	mapping_stats(mapping, &stats);
	assert_int_equal(stats.size_bytes, 0);
	assert_int_equal(stats.read_bytes, 0);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* --- writes ------------------------------------------------------------------------------- */

static void test_write_extends(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	uint64_t far = 2 * page_bytes() + 3;
	unsigned char buf[3 * 4096 + 64], backing[3 * 4096 + 64];
	struct mapping_stats stats;
	struct engine_totals totals;
	struct mapping *mapping;
	char path[PATH_MAX];

	assert_true(far + 5 <= sizeof(buf));
	unit_create_file(unit_path(*state, "write", path), "", 0);
	mapping = open_file(engine, path, "write", true);

	write_ok(mapping, "hello", 5, 0, false);
	assert_int_equal(unit_file_size(path), 5);
	pread_file(path, backing, 5, 0);
	assert_memory_equal(backing, "hello", 5);

	write_ok(mapping, "world", 5, far, false);
	assert_int_equal(unit_file_size(path), far + 5);
	write_ok(mapping, "EL", 2, 1, false);
	assert_int_equal(unit_file_size(path), far + 5);

	pread_file(path, backing, far + 5, 0);
	assert_memory_equal(backing, "hELlo", 5);
	assert_zeros(backing + 5, 5, far - 5);
	assert_memory_equal(backing + far, "world", 5);

	assert_int_equal(read_into(mapping, 0, sizeof(buf), buf), far + 5);
	assert_memory_equal(buf, backing, far + 5);

	mapping_stats(mapping, &stats);
	assert_int_equal(stats.writes, 3);
	assert_int_equal(stats.write_bytes, 12);
	assert_int_equal(stats.size_bytes, far + 5);
	engine_totals(engine, &totals);
	assert_int_equal(totals.writes, 3);
	assert_int_equal(totals.write_bytes, 12);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* Sequential writes of a few MiB, then one far past any headroom: all land, all read back. */
static void test_write_large(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t chunk = 64 * 1024, total = 3 * MIB;
	uint64_t far = 200ull * MIB, offset;
	unsigned char *buf = malloc(chunk), byte;
	struct mapping_stats stats;
	struct engine_totals totals;
	struct mapping *mapping;
	char path[PATH_MAX];
	size_t i;

	assert_non_null(buf);
	unit_create_file(unit_path(*state, "large", path), "", 0);
	mapping = open_file(engine, path, "large", true);
	for (offset = 0; offset < total; offset += chunk) {
		for (i = 0; i < chunk; i++)
			buf[i] = unit_pattern_byte(offset + i);
		write_ok(mapping, buf, chunk, offset, false);
	}
	assert_int_equal(unit_file_size(path), total);
	write_ok(mapping, "!", 1, far, false);
	assert_int_equal(unit_file_size(path), far + 1);

	for (offset = 0; offset < total; offset += chunk) {
		assert_int_equal(read_into(mapping, offset, chunk, buf), chunk);
		assert_pattern(buf, offset, chunk);
	}
	assert_int_equal(read_into(mapping, far - 1, 10, buf), 2);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], '!');
	assert_int_equal(read_into(mapping, 100 * MIB, 1, buf), 1);
	assert_int_equal(buf[0], 0);
	pread_file(path, &byte, 1, far);
	assert_int_equal(byte, '!');
	pread_file(path, buf, chunk, total - chunk);
	assert_pattern(buf, total - chunk, chunk);

	mapping_stats(mapping, &stats);
	assert_int_equal(stats.size_bytes, far + 1);
	assert_true(stats.map_len_bytes >= far + 1);
	engine_totals(engine, &totals);
	assert_int_equal(totals.remaps, stats.remaps);
	engine_close(engine, mapping);
	engine_free(engine);
	free(buf);
}

static void test_append(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping;
	char path[PATH_MAX], buf[64];
	int fd;

	unit_create_file(unit_path(*state, "append", path), "abc", 3);
	mapping = open_file(engine, path, "append", true);
	/* the offset is ignored: appends go to the end */
	write_ok(mapping, "def", 3, 0, true);
	assert_int_equal(unit_file_size(path), 6);
	pread_file(path, buf, 6, 0);
	assert_memory_equal(buf, "abcdef", 6);

	/* the end is the file's true end, even when someone else moved it */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "XYZ", 3), 3);
	assert_int_equal(close(fd), 0);
	write_ok(mapping, "!", 1, 1, true);
	assert_int_equal(unit_file_size(path), 10);
	pread_file(path, buf, 10, 0);
	assert_memory_equal(buf, "abcdefXYZ!", 10);
	assert_int_equal(read_into(mapping, 0, sizeof(buf), buf), 10);
	assert_memory_equal(buf, "abcdefXYZ!", 10);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* --- sizes --------------------------------------------------------------------------------- */

static void test_truncate_shrink_grow(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 3 * page_bytes();
	unsigned char *buf = malloc(size_bytes + 1);
	struct mapping_stats stats;
	struct mapping *mapping;
	char path[PATH_MAX];

	assert_non_null(buf);
	unit_create_pattern_file(unit_path(*state, "trunc", path), size_bytes);
	mapping = open_file(engine, path, "trunc", true);
	assert_int_equal(read_into(mapping, 0, size_bytes, buf), size_bytes);

	assert_int_equal(mapping_truncate(mapping, 100), 0);
	assert_int_equal(unit_file_size(path), 100);
	assert_int_equal(read_into(mapping, 0, size_bytes, buf), 100);
	assert_pattern(buf, 0, 100);
	assert_int_equal(read_len(mapping, 100, 10), 0);

	assert_int_equal(mapping_truncate(mapping, size_bytes), 0);
	assert_int_equal(unit_file_size(path), size_bytes);
	memset(buf, 0xff, size_bytes);
	assert_int_equal(read_into(mapping, 0, size_bytes + 1, buf), size_bytes);
	assert_pattern(buf, 0, 100);
	assert_zeros(buf + 100, 100, size_bytes - 100);
	pread_file(path, buf, size_bytes, 0);
	assert_pattern(buf, 0, 100);
	assert_zeros(buf + 100, 100, size_bytes - 100);
	mapping_stats(mapping, &stats);
	assert_int_equal(stats.size_bytes, size_bytes);

	assert_int_equal(mapping_truncate(mapping, 0), 0);
	assert_int_equal(unit_file_size(path), 0);
	assert_int_equal(read_len(mapping, 0, 10), 0);
	engine_close(engine, mapping);
	engine_free(engine);
	free(buf);
}

/* Someone else shrinks and grows the backing file: reads follow its true size, never past it. */
static void test_external_resize(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 5 * page_bytes();
	unsigned char *buf = malloc(16 * page_bytes());
	struct mapping *mapping;
	char path[PATH_MAX];
	int fd;

	assert_non_null(buf);
	unit_create_pattern_file(unit_path(*state, "shrink", path), size_bytes);
	mapping = open_file(engine, path, "shrink", false);
	assert_int_equal(read_into(mapping, 0, size_bytes, buf), size_bytes);

	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000), 0);
	assert_int_equal(read_into(mapping, 0, size_bytes, buf), 1000);
	assert_pattern(buf, 0, 1000);
	assert_int_equal(read_into(mapping, 999, 100, buf), 1);
	assert_int_equal(read_len(mapping, 1000, 100), 0);
	assert_int_equal(read_len(mapping, 2 * page_bytes(), 100), 0);

	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(read_len(mapping, 0, size_bytes), 0);

	/* grown again, past what was ever mapped */
	memset(buf, 'g', 16 * page_bytes());
	unit_write_all(fd, buf, 16 * page_bytes(), 0);
	memset(buf, 0, 16 * page_bytes());
	assert_int_equal(read_into(mapping, 0, 16 * page_bytes(), buf), 16 * page_bytes());
	assert_int_equal(buf[0], 'g');
	assert_int_equal(buf[16 * page_bytes() - 1], 'g');
	assert_int_equal(read_into(mapping, 15 * page_bytes(), 2 * page_bytes(), buf),
			 page_bytes());
	assert_int_equal(close(fd), 0);
	engine_close(engine, mapping);
	engine_free(engine);
	free(buf);
}

static void test_fallocate(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 3 * page_bytes();
	unsigned char *buf = malloc(size_bytes);
	struct mapping_stats stats;
	struct mapping *mapping;
	char path[PATH_MAX];

	assert_non_null(buf);
	unit_create_file(unit_path(*state, "falloc", path), "", 0);
	mapping = open_file(engine, path, "falloc", true);
	assert_int_equal(mapping_fallocate(mapping, 0, 0, size_bytes), 0);
	assert_int_equal(unit_file_size(path), size_bytes);
	memset(buf, 0xff, size_bytes);
	assert_int_equal(read_into(mapping, 0, size_bytes, buf), size_bytes);
	assert_zeros(buf, 0, size_bytes);
	mapping_stats(mapping, &stats);
	assert_int_equal(stats.size_bytes, size_bytes);
	write_ok(mapping, "end", 3, size_bytes - 3, false);
	assert_int_equal(unit_file_size(path), size_bytes);
	engine_close(engine, mapping);
	engine_free(engine);
	free(buf);
}

static void test_sync(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping;
	char path[PATH_MAX];

	unit_create_pattern_file(unit_path(*state, "sync", path), 10000);
	mapping = open_file(engine, path, "sync", true);
	write_ok(mapping, "synced", 6, 20000, false);
	assert_int_equal(mapping_sync(mapping, false), 0);
	assert_int_equal(mapping_sync(mapping, true), 0);
	engine_close(engine, mapping);

	/* a read-only handle syncs too */
	mapping = open_file(engine, path, "sync", false);
	assert_int_equal(mapping_sync(mapping, true), 0);
	engine_close(engine, mapping);
	engine_free(engine);
}

static void test_mapping_fd(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping;
	char path[PATH_MAX];
	struct stat st;
	dev_t dev;
	ino_t ino;

	unit_create_pattern_file(unit_path(*state, "fd", path), 100);
	file_id(path, &dev, &ino);
	mapping = open_file(engine, path, "fd", false);
	assert_int_equal(fstat(mapping_fd(mapping), &st), 0);
	assert_int_equal(st.st_dev, dev);
	assert_int_equal(st.st_ino, ino);
	engine_close(engine, mapping);
	engine_free(engine);
}

static void test_cache_valid(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping;
	char path[PATH_MAX];
	int fd;

	unit_create_pattern_file(unit_path(*state, "cache", path), 100);
	mapping = open_file(engine, path, "cache", false);
	(void)mapping_cache_valid(mapping);
	assert_true(mapping_cache_valid(mapping));
	/* changed behind the engine's back */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "more", 4), 4);
	assert_int_equal(close(fd), 0);
	assert_false(mapping_cache_valid(mapping));
	assert_true(mapping_cache_valid(mapping));
	engine_close(engine, mapping);
	engine_free(engine);
}

/* --- records, handles and the idle LRU ------------------------------------------------------- */

static void test_find_and_put(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping, *found;
	struct mapping_stats stats;
	char path[PATH_MAX], other[PATH_MAX];
	dev_t dev, other_dev;
	ino_t ino, other_ino;

	unit_create_pattern_file(unit_path(*state, "found", path), 100);
	unit_create_pattern_file(unit_path(*state, "other", other), 100);
	file_id(path, &dev, &ino);
	file_id(other, &other_dev, &other_ino);

	assert_null(engine_find(engine, dev, ino));
	mapping = open_file(engine, path, "found", false);
	found = engine_find(engine, dev, ino);
	assert_ptr_equal(found, mapping);
	engine_put(engine, found);
	assert_null(engine_find(engine, other_dev, other_ino));
	mapping_stats(mapping, &stats);
	assert_int_equal(stats.opens, 1);
	assert_int_equal(stats.open_handles, 1);
	engine_close(engine, mapping);

	/* an idle mapping is found too, and finding it opens nothing */
	found = engine_find(engine, dev, ino);
	assert_non_null(found);
	mapping_stats(found, &stats);
	assert_int_equal(stats.opens, 1);
	assert_int_equal(stats.open_handles, 0);
	engine_put(engine, found);
	engine_free(engine);
}

static void test_reopen_reuses(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *first, *second, *third;
	struct engine_totals totals;
	struct mapping_stats stats;
	unsigned char buf[16];
	char path[PATH_MAX];

	unit_create_pattern_file(unit_path(*state, "reuse", path), 10000);
	first = open_file(engine, path, "reuse", false);
	assert_int_equal(read_into(first, 0, 16, buf), 16);
	engine_close(engine, first);

	engine_totals(engine, &totals);
	assert_int_equal(totals.files_known, 1);
	assert_int_equal(totals.files_mapped, 1);
	assert_int_equal(totals.idle_mappings, 1);
	assert_int_equal(totals.open_handles, 0);

	second = open_file(engine, path, "reuse", false);
	mapping_stats(second, &stats);
	assert_int_equal(stats.opens, 2);
	assert_int_equal(stats.open_handles, 1);
	assert_int_equal(stats.reads, 1);
	assert_true(stats.mapped);
	engine_totals(engine, &totals);
	assert_int_equal(totals.files_known, 1);
	assert_int_equal(totals.idle_mappings, 0);
	assert_int_equal(totals.open_handles, 1);

	/* two handles at once share one mapping */
	third = open_file(engine, path, "reuse", false);
	assert_ptr_equal(third, second);
	mapping_stats(third, &stats);
	assert_int_equal(stats.opens, 3);
	assert_int_equal(stats.open_handles, 2);
	engine_close(engine, third);
	mapping_stats(second, &stats);
	assert_int_equal(stats.open_handles, 1);
	engine_close(engine, second);
	engine_free(engine);
}

/* A read-only handle then a writable one of the same file: one mapping, writes seen by both. */
static void test_upgrade_to_write(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *reader, *writer;
	unsigned char buf[16];
	char path[PATH_MAX];

	unit_create_pattern_file(unit_path(*state, "upgrade", path), 10000);
	reader = open_file(engine, path, "upgrade", false);
	assert_int_equal(read_into(reader, 0, 16, buf), 16);
	writer = open_file(engine, path, "upgrade", true);
	assert_ptr_equal(writer, reader);
	write_ok(writer, "NEW", 3, 4, false);
	assert_int_equal(read_into(reader, 0, 16, buf), 16);
	assert_memory_equal(buf + 4, "NEW", 3);
	assert_pattern(buf, 0, 4);
	pread_file(path, buf, 3, 4);
	assert_memory_equal(buf, "NEW", 3);
	engine_close(engine, writer);
	engine_close(engine, reader);
	engine_free(engine);
}

static void test_idle_limit(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, 1, NULL);
	struct mapping *older, *newer, *found;
	struct engine_totals totals;
	struct mapping_stats stats;
	unsigned char buf[16];
	char older_path[PATH_MAX], newer_path[PATH_MAX];
	dev_t dev;
	ino_t ino;

	unit_create_pattern_file(unit_path(*state, "older", older_path), 10000);
	unit_create_pattern_file(unit_path(*state, "newer", newer_path), 10000);
	older = open_file(engine, older_path, "older", false);
	assert_int_equal(read_into(older, 0, 16, buf), 16);
	engine_close(engine, older);
	newer = open_file(engine, newer_path, "newer", false);
	assert_int_equal(read_into(newer, 0, 16, buf), 16);
	engine_close(engine, newer);

	engine_totals(engine, &totals);
	assert_true(totals.idle_mappings <= 1);
	assert_true(totals.files_mapped <= 1);
	assert_int_equal(totals.idle_evictions, 1);
	assert_int_equal(totals.open_handles, 0);

	/* the older one is unmapped and closed; the newer one stayed mapped */
	assert_int_equal(unit_fds_at(older_path), 0);
	assert_int_equal(unit_maps_at(older_path), 0);
	assert_int_equal(unit_maps_at(newer_path), 1);
	file_id(newer_path, &dev, &ino);
	found = engine_find(engine, dev, ino);
	assert_non_null(found);
	mapping_stats(found, &stats);
	assert_true(stats.mapped);
	engine_put(engine, found);
	file_id(older_path, &dev, &ino);
	found = engine_find(engine, dev, ino);
	if (found) {
		mapping_stats(found, &stats);
		assert_false(stats.mapped);
		engine_put(engine, found);
	}

	/* and it still opens and reads fine */
	older = open_file(engine, older_path, "older", false);
	assert_int_equal(read_into(older, 100, 16, buf), 16);
	assert_pattern(buf, 100, 16);
	engine_close(engine, older);
	engine_totals(engine, &totals);
	assert_true(totals.idle_mappings <= 1);
	assert_int_equal(totals.idle_evictions, 2);
	engine_free(engine);
}

static void test_idle_limit_zero(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, 0, NULL);
	struct engine_totals totals;
	struct mapping *mapping;
	unsigned char buf[16];
	char path[PATH_MAX];

	unit_create_pattern_file(unit_path(*state, "zero", path), 10000);
	mapping = open_file(engine, path, "zero", false);
	assert_int_equal(read_into(mapping, 0, 16, buf), 16);
	engine_close(engine, mapping);
	engine_totals(engine, &totals);
	assert_int_equal(totals.idle_mappings, 0);
	assert_int_equal(totals.files_mapped, 0);
	assert_int_equal(totals.bytes_mapped, 0);
	assert_int_equal(unit_fds_at(path), 0);
	assert_int_equal(unit_maps_at(path), 0);
	engine_free(engine);
}

static void test_forget_if_unlinked(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct engine_totals totals;
	struct mapping *mapping, *found;
	unsigned char buf[16];
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;

	unit_create_pattern_file(unit_path(*state, "doomed", path), 10000);
	file_id(path, &dev, &ino);
	mapping = open_file(engine, path, "doomed", false);
	assert_int_equal(read_into(mapping, 0, 16, buf), 16);

	/* still linked: nothing happens */
	engine_forget_if_unlinked(engine, dev, ino);
	found = engine_find(engine, dev, ino);
	assert_ptr_equal(found, mapping);
	engine_put(engine, found);

	/* unlinked but open: kept, and still readable */
	assert_int_equal(unlink(path), 0);
	engine_forget_if_unlinked(engine, dev, ino);
	found = engine_find(engine, dev, ino);
	assert_ptr_equal(found, mapping);
	engine_put(engine, found);
	assert_int_equal(read_into(mapping, 5000, 16, buf), 16);
	assert_pattern(buf, 5000, 16);

	/* unlinked and idle: gone, its fd closed and its mapping unmapped so the space is freed */
	engine_close(engine, mapping);
	engine_forget_if_unlinked(engine, dev, ino);
	assert_null(engine_find(engine, dev, ino));
	assert_int_equal(unit_fds_at(path), 0);
	assert_int_equal(unit_maps_at(path), 0);
	engine_totals(engine, &totals);
	assert_int_equal(totals.files_known, 0);
	assert_int_equal(totals.files_mapped, 0);
	assert_int_equal(totals.idle_mappings, 0);
	engine_free(engine);
}

/* --- access modes -------------------------------------------------------------------------- */

static void test_ro_engine(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RO, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping = NULL;
	unsigned char buf[64];
	char path[PATH_MAX];
	int path_fd;

	unit_create_pattern_file(unit_path(*state, "ro", path), 10000);
	path_fd = path_fd_of(path);
	assert_int_equal(engine_open(engine, path_fd, "ro", true, &mapping), -EROFS);
	assert_int_equal(engine_open(engine, path_fd, "ro", false, &mapping), 0);
	assert_non_null(mapping);
	assert_int_equal(close(path_fd), 0);
	assert_int_equal(read_into(mapping, 9990, 64, buf), 10);
	assert_pattern(buf, 9990, 10);
	assert_true(mapping_write(mapping, "x", 1, 0, false) < 0);
	assert_true(mapping_truncate(mapping, 10) < 0);
	assert_int_equal(unit_file_size(path), 10000);
	pread_file(path, buf, 1, 0);
	assert_pattern(buf, 0, 1);
	engine_close(engine, mapping);
	engine_free(engine);
}

/*
 * A handle that may write fails with the backing errno when the file cannot be
 * opened for writing. Root may write anything, so this runs as nobody in a child.
 */
static void test_open_write_denied(void **state)
{
	int pipe_fds[2], results[2] = { 1, 1 }, status, path_fd;
	char path[PATH_MAX];
	pid_t child;

	if (geteuid() != 0) {
		print_message("not root: cannot become another user; skipping\n");
		skip();
	}
	unit_create_pattern_file(unit_path(*state, "denied", path), 100);
	assert_int_equal(chmod(path, 0644), 0);
	path_fd = path_fd_of(path);
	assert_int_equal(pipe(pipe_fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct engine_config cfg = { .access = ENGINE_ACCESS_RW, .max_idle_maps = 4 };
		struct mapping *mapping;
		struct engine *engine;

		(void)close(pipe_fds[0]);
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) || prctl(PR_SET_DUMPABLE, 1) ||
		    engine_new(&cfg, &engine))
			_exit(2);
		results[0] = engine_open(engine, path_fd, "denied", true, &mapping);
		if (!results[0])
			engine_close(engine, mapping);
		results[1] = engine_open(engine, path_fd, "denied", false, &mapping);
		if (!results[1])
			engine_close(engine, mapping);
		engine_free(engine);
		_exit(write(pipe_fds[1], results, sizeof(results)) == sizeof(results) ? 0 : 3);
	}
	(void)close(pipe_fds[1]);
	if (read(pipe_fds[0], results, sizeof(results)) != sizeof(results))
		results[0] = results[1] = 1;
	(void)close(pipe_fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(results[0], -EACCES);
	assert_int_equal(results[1], 0);
	assert_int_equal(close(path_fd), 0);
}

/* --- cow mode ------------------------------------------------------------------------------ */

/* MAP_PRIVATE: a write is seen through the engine and never reaches the backing file. */
static void test_cow_write_stays_private(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_COW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 10000;
	struct engine_totals totals;
	struct mapping_stats stats;
	struct mapping *mapping, *reader;
	unsigned char buf[16];
	char path[PATH_MAX];
	ssize_t done;

	unit_create_pattern_file(unit_path(*state, "cow", path), size_bytes);
	mapping = open_file(engine, path, "cow", true);
	mapping_stats(mapping, &stats);
	assert_int_equal(stats.private_pages, 0);
	assert_false(stats.cow_changed);

	done = mapping_write(mapping, "COW", 3, 8, false);
	if (done != 3)
		fail_msg("mapping_write in cow mode = %zd, want 3", done);
	assert_int_equal(read_into(mapping, 0, 16, buf), 16);
	assert_memory_equal(buf + 8, "COW", 3);
	assert_pattern(buf, 0, 8);
	/* another handle of the mount sees the change too */
	reader = open_file(engine, path, "cow", false);
	assert_int_equal(read_into(reader, 8, 3, buf), 3);
	assert_memory_equal(buf, "COW", 3);
	engine_close(engine, reader);

	/* the backing file is untouched */
	pread_file(path, buf, 16, 0);
	assert_pattern(buf, 0, 16);
	assert_int_equal(unit_file_size(path), size_bytes);

	mapping_stats(mapping, &stats);
	assert_true(stats.cow_changed);
	assert_int_equal(stats.private_pages, 1);
	assert_int_equal(stats.writes, 1);
	assert_int_equal(stats.write_bytes, 3);
	engine_totals(engine, &totals);
	assert_int_equal(totals.private_bytes, page_bytes());
	assert_int_equal(mapping_sync(mapping, false), 0);
	pread_file(path, buf, 16, 0);
	assert_pattern(buf, 0, 16);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* Growing and shrinking in cow mode changes the mount's view, never the file. */
static void test_cow_resize(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_COW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 2 * page_bytes();
	unsigned char *buf = malloc(4 * page_bytes());
	struct mapping_stats stats;
	struct mapping *mapping;
	char path[PATH_MAX];
	struct stat st;

	assert_non_null(buf);
	unit_create_pattern_file(unit_path(*state, "cowsize", path), size_bytes);
	mapping = open_file(engine, path, "cowsize", true);

	/* append past the end */
	write_ok(mapping, "tail", 4, 0, true);
	assert_int_equal(read_into(mapping, size_bytes - 2, 16, buf), 6);
	assert_pattern(buf, size_bytes - 2, 2);
	assert_memory_equal(buf + 2, "tail", 4);
	mapping_stats(mapping, &stats);
	assert_int_equal(stats.size_bytes, size_bytes + 4);
	assert_int_equal(unit_file_size(path), size_bytes);
	assert_int_equal(stat(path, &st), 0);
	engine_fix_stat(engine, &st);
	assert_int_equal(st.st_size, size_bytes + 4);

	/* shrink, then grow: zeros, as on a real file */
	assert_int_equal(mapping_truncate(mapping, 100), 0);
	assert_int_equal(read_into(mapping, 0, 4 * page_bytes(), buf), 100);
	assert_pattern(buf, 0, 100);
	assert_int_equal(mapping_truncate(mapping, 3 * page_bytes()), 0);
	memset(buf, 0xff, 4 * page_bytes());
	assert_int_equal(read_into(mapping, 0, 4 * page_bytes(), buf), 3 * page_bytes());
	assert_pattern(buf, 0, 100);
	assert_zeros(buf + 100, 100, 3 * page_bytes() - 100);
	assert_int_equal(stat(path, &st), 0);
	engine_fix_stat(engine, &st);
	assert_int_equal(st.st_size, 3 * page_bytes());

	/* the backing file never changed */
	assert_int_equal(unit_file_size(path), size_bytes);
	pread_file(path, buf, size_bytes, 0);
	assert_pattern(buf, 0, size_bytes);
	engine_close(engine, mapping);
	engine_free(engine);
	free(buf);
}

static void test_cow_discard(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_COW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 10000;
	struct engine_totals totals;
	struct mapping_stats stats;
	struct mapping *mapping;
	unsigned char buf[64];
	char path[PATH_MAX];
	struct stat before, fixed;

	unit_create_pattern_file(unit_path(*state, "discard", path), size_bytes);
	mapping = open_file(engine, path, "discard", true);
	write_ok(mapping, "changed", 7, 0, false);
	write_ok(mapping, "more", 4, size_bytes, false);
	assert_int_equal(mapping_discard(mapping), 0);

	mapping_stats(mapping, &stats);
	assert_false(stats.cow_changed);
	assert_int_equal(stats.private_pages, 0);
	assert_int_equal(stats.size_bytes, size_bytes);
	engine_totals(engine, &totals);
	assert_int_equal(totals.private_bytes, 0);
	assert_int_equal(read_into(mapping, 0, 16, buf), 16);
	assert_pattern(buf, 0, 16);
	assert_int_equal(read_len(mapping, size_bytes - 10, 64), 10);

	/* with no private changes, the stat is the backing file's */
	assert_int_equal(stat(path, &before), 0);
	fixed = before;
	engine_fix_stat(engine, &fixed);
	assert_int_equal(fixed.st_size, before.st_size);
	assert_int_equal(fixed.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(fixed.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* Outside cow mode there is nothing to discard, and stat is left alone. */
static void test_cow_calls_outside_cow(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct mapping *mapping;
	char path[PATH_MAX];
	struct stat before, after;

	unit_create_pattern_file(unit_path(*state, "notcow", path), 100);
	mapping = open_file(engine, path, "notcow", true);
	write_ok(mapping, "abc", 3, 200, false);
	assert_int_equal(mapping_discard(mapping), -EINVAL);
	assert_int_equal(unit_file_size(path), 203);
	assert_int_equal(stat(path, &before), 0);
	after = before;
	engine_fix_stat(engine, &after);
	assert_memory_equal(&after, &before, sizeof(before));
	engine_close(engine, mapping);
	engine_free(engine);
}

/* engine_fix_stat() shows the time of the private change as the mtime. */
static void test_cow_fix_stat_mtime(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_COW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct timespec before_write;
	struct mapping *mapping;
	char path[PATH_MAX];
	struct stat st;

	unit_create_pattern_file(unit_path(*state, "mtime", path), 100);
	/* an old mtime on the backing file, so "newer" is unambiguous */
	{
		struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

		assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	}
	mapping = open_file(engine, path, "mtime", true);
	clock_gettime(CLOCK_REALTIME, &before_write);
	write_ok(mapping, "x", 1, 0, false);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	engine_fix_stat(engine, &st);
	assert_true(st.st_mtim.tv_sec >= before_write.tv_sec - 1);
	assert_int_equal(st.st_size, 100);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* cow_limit_bytes: a write that would pass the limit fails with -ENOSPC, before copying. */
static void test_cow_limit(void **state)
{
	struct engine *engine = new_engine_limited(ENGINE_ACCESS_COW, ENGINE_DEFAULT_MAX_IDLE_MAPS,
						   NULL, 2 * page_bytes());
	size_t size_bytes = 8 * page_bytes();
	struct engine_totals totals;
	struct mapping *mapping;
	unsigned char buf[4];
	char path[PATH_MAX];

	unit_create_pattern_file(unit_path(*state, "limit", path), size_bytes);
	mapping = open_file(engine, path, "limit", true);
	write_ok(mapping, "a", 1, 0, false);
	write_ok(mapping, "b", 1, 3 * page_bytes(), false);
	/* the same pages again cost nothing */
	write_ok(mapping, "c", 1, 1, false);
	assert_int_equal(mapping_write(mapping, "d", 1, 5 * page_bytes(), false), -ENOSPC);
	assert_int_equal(read_into(mapping, 5 * page_bytes(), 1, buf), 1);
	assert_pattern(buf, 5 * page_bytes(), 1);
	engine_totals(engine, &totals);
	assert_int_equal(totals.private_bytes, 2 * page_bytes());

	/* discarding frees the budget */
	assert_int_equal(mapping_discard(mapping), 0);
	write_ok(mapping, "d", 1, 5 * page_bytes(), false);
	engine_close(engine, mapping);
	engine_free(engine);
}

/*
 * The backing file of a changed cow mapping is cut underneath: a write over pages
 * that no longer exist in the file still lands in private memory (the page reads
 * as zeros plus the write), never SIGBUS. It runs in a child so that a SIGBUS
 * fails this test instead of the program; the private page written before the
 * cut keeps its byte.
 */
static void test_cow_write_after_backing_truncated(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_COW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 4 * page_bytes(), len = 2 * page_bytes();
	unsigned char *data = malloc(len);
	struct mapping *mapping;
	char path[PATH_MAX];
	int pipe_fds[2], status, fd;
	ssize_t done = 1;
	pid_t child;

	assert_non_null(data);
	memset(data, 'n', len);
	unit_create_pattern_file(unit_path(*state, "cut", path), size_bytes);
	mapping = open_file(engine, path, "cut", true);
	write_ok(mapping, "x", 1, 0, false);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(close(fd), 0);

	assert_int_equal(pipe(pipe_fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		ssize_t rc;

		(void)close(pipe_fds[0]);
		rc = mapping_write(mapping, data, len, page_bytes(), false);
		_exit(write(pipe_fds[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 2);
	}
	(void)close(pipe_fds[1]);
	if (read(pipe_fds[0], &done, sizeof(done)) != sizeof(done))
		done = 1;
	(void)close(pipe_fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	if (WIFSIGNALED(status))
		fail_msg("mapping_write killed the process with signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (done != (ssize_t)len)
		fail_msg("mapping_write over a vanished page = %zd, want %zu", done, len);
	{
		unsigned char first;

		/* the child's write died with it; the parent's private page is still there */
		assert_int_equal(read_into(mapping, 0, 1, &first), 1);
		assert_int_equal(first, 'x');
	}
	engine_close(engine, mapping);
	engine_free(engine);
	free(data);
}

/* --- policies ------------------------------------------------------------------------------ */

/* The readahead-mode flags ("rr" random, "sr" sequential) of the VMA behind @mapping. */
static void mapping_vma_flags(struct mapping *mapping, char *flags, size_t flags_len)
{
	struct mapping_slice slice;

	assert_int_equal(mapping_read_begin(mapping, 0, 1, &slice), 0);
	assert_int_equal(slice.len, 1);
	assert_true(unit_vma_flags(slice.data, flags, flags_len));
	mapping_read_end(mapping, &slice);
}

static void test_set_policy(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	struct policy random_willneed = { POLICY_RANDOM, POLICY_WILLNEED };
	struct policy sequential = { POLICY_SEQUENTIAL, 0 };
	struct mapping_stats stats;
	struct policy got;
	struct mapping *mapping;
	char path[PATH_MAX], flags[512];
	int path_fd;
	dev_t dev;
	ino_t ino;

	unit_create_pattern_file(unit_path(*state, "policy", path), 64 * 1024);
	file_id(path, &dev, &ino);
	mapping = open_file(engine, path, "policy", false);
	mapping_stats(mapping, &stats);
	assert_true(policy_equal(&stats.policy, &POLICY_DEFAULT));

	path_fd = path_fd_of(path);
	assert_int_equal(engine_set_policy(engine, path_fd, &random_willneed), 0);
	mapping_stats(mapping, &stats);
	assert_true(policy_equal(&stats.policy, &random_willneed));
	got = engine_policy_for(engine, dev, ino, "policy");
	assert_true(policy_equal(&got, &random_willneed));
	/* re-applied to the live mapping */
	mapping_vma_flags(mapping, flags, sizeof(flags));
	assert_true(unit_has_vmflag(flags, "rr"));

	assert_int_equal(engine_set_policy(engine, path_fd, &sequential), 0);
	mapping_stats(mapping, &stats);
	assert_true(policy_equal(&stats.policy, &sequential));
	mapping_vma_flags(mapping, flags, sizeof(flags));
	assert_true(unit_has_vmflag(flags, "sr"));
	assert_false(unit_has_vmflag(flags, "rr"));
	assert_int_equal(close(path_fd), 0);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* A policy set before any open, kept across unmapping, for the engine's life. */
static void test_set_policy_before_open(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, 0, NULL);
	struct policy random_policy = { POLICY_RANDOM, 0 };
	struct mapping_stats stats;
	struct mapping *mapping;
	char path[PATH_MAX], flags[512];
	int path_fd;
	dev_t dev;
	ino_t ino;

	unit_create_pattern_file(unit_path(*state, "early", path), 64 * 1024);
	file_id(path, &dev, &ino);
	path_fd = path_fd_of(path);
	assert_int_equal(engine_set_policy(engine, path_fd, &random_policy), 0);
	assert_int_equal(close(path_fd), 0);
	stats.policy = engine_policy_for(engine, dev, ino, "early");
	assert_true(policy_equal(&stats.policy, &random_policy));

	mapping = open_file(engine, path, "early", false);
	mapping_stats(mapping, &stats);
	assert_true(policy_equal(&stats.policy, &random_policy));
	mapping_vma_flags(mapping, flags, sizeof(flags));
	assert_true(unit_has_vmflag(flags, "rr"));
	engine_close(engine, mapping); /* max_idle_maps 0: unmapped now */

	mapping = open_file(engine, path, "early", false);
	mapping_stats(mapping, &stats);
	assert_true(policy_equal(&stats.policy, &random_policy));
	engine_close(engine, mapping);
	engine_free(engine);
}

static void test_rules_pick_policy(void **state)
{
	struct policy random_policy = { POLICY_RANDOM, 0 };
	struct rules *rules = rules_new(&POLICY_DEFAULT);
	struct mapping *indexed, *plain;
	struct mapping_stats stats;
	struct engine *engine;
	char path[PATH_MAX], flags[512], errmsg[256];
	struct policy got;

	assert_non_null(rules);
	assert_int_equal(rules_add_option(rules, "*.idx=random", errmsg, sizeof(errmsg)), 0);
	engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, rules);

	unit_create_pattern_file(unit_path(*state, "a.idx", path), 64 * 1024);
	indexed = open_file(engine, path, "sub/a.idx", false);
	mapping_stats(indexed, &stats);
	assert_true(policy_equal(&stats.policy, &random_policy));
	mapping_vma_flags(indexed, flags, sizeof(flags));
	assert_true(unit_has_vmflag(flags, "rr"));

	unit_create_pattern_file(unit_path(*state, "b.bin", path), 64 * 1024);
	plain = open_file(engine, path, "sub/b.bin", false);
	mapping_stats(plain, &stats);
	assert_true(policy_equal(&stats.policy, &POLICY_DEFAULT));

	/* a file the engine has no record of gets the rules' answer */
	got = engine_policy_for(engine, 0, 0, "other/z.idx");
	assert_true(policy_equal(&got, &random_policy));
	got = engine_policy_for(engine, 0, 0, "other/z.bin");
	assert_true(policy_equal(&got, &POLICY_DEFAULT));

	engine_close(engine, indexed);
	engine_close(engine, plain);
	engine_free(engine);
	rules_free(rules);
}

/* --- residency ----------------------------------------------------------------------------- */

struct extent_list {
	uint64_t start[64];
	uint64_t end[64];
	size_t count;
};

static int collect_extent(void *ctx, uint64_t start, uint64_t end)
{
	struct extent_list *list = ctx;

	assert_true(list->count < 64);
	list->start[list->count] = start;
	list->end[list->count] = end;
	list->count++;
	return 0;
}

static uint64_t resident_pages(struct mapping *mapping)
{
	struct residency_info info;

	assert_int_equal(mapping_residency(mapping, &info), 0);
	assert_true(info.accurate);
	return info.resident_pages;
}

static void test_touch_and_evict(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 4 * MIB;
	uint64_t pages = size_bytes / page_bytes(), resident;
	struct extent_list list = { .count = 0 };
	struct residency_info info;
	struct mapping *mapping;
	char path[PATH_MAX];
	bool covered = false;
	size_t i;
	int fd;

	if (unit_on_tmpfs(((struct unit_dir *)*state)->path)) {
		print_message("tmpfs: its pages cannot be evicted; skipping\n");
		skip();
	}
	unit_create_pattern_file(unit_path(*state, "touch", path), size_bytes);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(residency_evict(fd, 0, 0), 0);
	assert_int_equal(close(fd), 0);

	mapping = open_file(engine, path, "touch", false);
	assert_int_equal(mapping_residency(mapping, &info), 0);
	assert_int_equal(info.size_bytes, size_bytes);
	assert_int_equal(info.pages, pages);
	assert_true(info.resident_pages < pages / 10);

	/* a middle range */
	assert_int_equal(mapping_touch(mapping, MIB, MIB), 0);
	assert_int_equal(mapping_extents(mapping, collect_extent, &list), 0);
	for (i = 0; i < list.count; i++)
		if (list.start[i] <= MIB && list.end[i] >= 2 * MIB)
			covered = true;
	assert_true(covered);

	/* everything */
	assert_int_equal(mapping_touch(mapping, 0, 0), 0);
	resident = resident_pages(mapping);
	if (resident < pages * 9 / 10)
		fail_msg("%" PRIu64 " of %" PRIu64 " pages resident after mapping_touch", resident,
			 pages);
	list.count = 0;
	assert_int_equal(mapping_extents(mapping, collect_extent, &list), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.start[0], 0);
	assert_int_equal(list.end[0], size_bytes);

	assert_int_equal(mapping_evict(mapping, 0, 0), 0);
	resident = resident_pages(mapping);
	if (resident >= pages / 10)
		fail_msg("%" PRIu64 " of %" PRIu64 " pages resident after mapping_evict", resident,
			 pages);
	engine_close(engine, mapping);
	engine_free(engine);
}

/* Bytes of [@offset, @offset+@len) of @path in the page cache (mincore of our own mapping). */
static uint64_t cached_bytes(const char *path, uint64_t offset, size_t len)
{
	size_t pages = len / page_bytes(), i;
	unsigned char *vec = calloc(pages, 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t resident = 0;
	void *addr;

	assert_non_null(vec);
	assert_true(fd >= 0);
	addr = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)offset);
	assert_true(addr != MAP_FAILED);
	assert_int_equal(mincore(addr, len, vec), 0);
	for (i = 0; i < pages; i++)
		resident += (vec[i] & 1) ? page_bytes() : 0;
	munmap(addr, len);
	close(fd);
	free(vec);
	return resident;
}

/*
 * single_copy: a 2 MiB block leaves the backing file's cache once all its pages were
 * replied, whatever their order, and not before; the last close drops the rest.
 */
static void test_single_copy_blocks(void **state)
{
	struct engine_config cfg = { .access = ENGINE_ACCESS_RW,
				     .max_idle_maps = ENGINE_DEFAULT_MAX_IDLE_MAPS,
				     .single_copy = true };
	struct engine *engine = NULL;
	struct mapping *mapping;
	char path[PATH_MAX], *buf = malloc(4 * MIB);
	int fd;

	assert_non_null(buf);
	if (unit_on_tmpfs(((struct unit_dir *)*state)->path)) {
		print_message("tmpfs: its pages cannot be dropped; skipping\n");
		free(buf);
		skip();
	}
	assert_int_equal(engine_new(&cfg, &engine), 0);
	unit_create_pattern_file(unit_path(*state, "single", path), 4 * MIB);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(residency_evict(fd, 0, 0), 0); /* written back: dirty pages stay */
	assert_int_equal(close(fd), 0);
	pread_file(path, buf, 4 * MIB, 0); /* all of it cached, clean */
	assert_true(cached_bytes(path, 0, 4 * MIB) >= 4 * MIB * 9 / 10);
	mapping = open_file(engine, path, "single", false);

	/* the second half of block 0 first: the first half was not replied, so it stays */
	assert_int_equal(read_len(mapping, MIB, MIB), MIB);
	if (cached_bytes(path, 0, MIB) < MIB * 9 / 10)
		fail_msg("the unreplied first MiB was dropped: %" PRIu64 " bytes cached",
			 cached_bytes(path, 0, MIB));
	/* now block 0 is complete: all of it goes, block 1 (never replied) stays */
	assert_int_equal(read_len(mapping, 0, MIB), MIB);
	assert_int_equal(cached_bytes(path, 0, 2 * MIB), 0);
	assert_true(cached_bytes(path, 2 * MIB, 2 * MIB) >= 2 * MIB * 9 / 10);
	/* the last close drops what no reply covered */
	engine_close(engine, mapping);
	assert_int_equal(cached_bytes(path, 0, 4 * MIB), 0);
	engine_free(engine);
	free(buf);
}

/* AddressSanitizer turns mlock() into a no-op returning 0: nothing stays locked. */
#ifdef __SANITIZE_ADDRESS__
#define UNIT_MLOCK_IS_NOOP 1
#else
#define UNIT_MLOCK_IS_NOOP 0
#endif

static void test_lock_unlock(void **state)
{
	struct engine *engine = new_engine(ENGINE_ACCESS_RW, ENGINE_DEFAULT_MAX_IDLE_MAPS, NULL);
	size_t size_bytes = 4 * page_bytes();
	struct mapping *mapping;
	char path[PATH_MAX];
	int rc;

	unit_create_pattern_file(unit_path(*state, "lock", path), size_bytes);
	mapping = open_file(engine, path, "lock", false);
	rc = mapping_lock(mapping, 0, size_bytes, true);
	if (rc && geteuid() != 0 && (rc == -EPERM || rc == -ENOMEM)) {
		print_message("mlock refused (%d) by RLIMIT_MEMLOCK; skipping\n", rc);
		engine_close(engine, mapping);
		engine_free(engine);
		skip();
	}
	assert_int_equal(rc, 0);
	if (!unit_on_tmpfs(((struct unit_dir *)*state)->path) && !UNIT_MLOCK_IS_NOOP) {
		/* locked pages survive an eviction */
		assert_int_equal(mapping_evict(mapping, 0, 0), 0);
		assert_int_equal(resident_pages(mapping), size_bytes / page_bytes());
	}
	assert_int_equal(mapping_lock(mapping, 0, size_bytes, false), 0);
	if (!unit_on_tmpfs(((struct unit_dir *)*state)->path)) {
		assert_int_equal(mapping_evict(mapping, 0, 0), 0);
		assert_int_equal(resident_pages(mapping), 0);
	}
	engine_close(engine, mapping);
	engine_free(engine);
}

int main(void)
{
#define DIR_TEST(fn) cmocka_unit_test_setup_teardown(fn, unit_dir_setup, engine_dir_teardown)
	const struct CMUnitTest tests[] = {
		DIR_TEST(test_read_slices),
		DIR_TEST(test_read_empty_file),
		DIR_TEST(test_write_extends),
		DIR_TEST(test_write_large),
		DIR_TEST(test_append),
		DIR_TEST(test_truncate_shrink_grow),
		DIR_TEST(test_external_resize),
		DIR_TEST(test_fallocate),
		DIR_TEST(test_sync),
		DIR_TEST(test_mapping_fd),
		DIR_TEST(test_cache_valid),
		DIR_TEST(test_find_and_put),
		DIR_TEST(test_reopen_reuses),
		DIR_TEST(test_upgrade_to_write),
		DIR_TEST(test_idle_limit),
		DIR_TEST(test_idle_limit_zero),
		DIR_TEST(test_forget_if_unlinked),
		DIR_TEST(test_ro_engine),
		DIR_TEST(test_open_write_denied),
		DIR_TEST(test_cow_write_stays_private),
		DIR_TEST(test_cow_resize),
		DIR_TEST(test_cow_discard),
		DIR_TEST(test_cow_calls_outside_cow),
		DIR_TEST(test_cow_fix_stat_mtime),
		DIR_TEST(test_cow_limit),
		DIR_TEST(test_cow_write_after_backing_truncated),
		DIR_TEST(test_set_policy),
		DIR_TEST(test_set_policy_before_open),
		DIR_TEST(test_rules_pick_policy),
		DIR_TEST(test_touch_and_evict),
		DIR_TEST(test_single_copy_blocks),
		DIR_TEST(test_lock_unlock),
	};
#undef DIR_TEST

	return cmocka_run_group_tests(tests, NULL, NULL);
}
