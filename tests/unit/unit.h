/* Helpers shared by the cmocka unit tests of core/: temporary directories and files. */
#ifndef MMAPFS_TESTS_UNIT_H
#define MMAPFS_TESTS_UNIT_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/**
 * struct unit_dir - a private temporary directory for one test, made by
 * unit_dir_setup() and removed with everything in it by unit_dir_teardown(),
 * even when the test failed half-way.
 */
struct unit_dir {
	char path[PATH_MAX];
};

static inline int unit_remove_entry(const char *path, const struct stat *st, int type,
				    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

/** unit_dir_setup() - cmocka setup: mkdtemp under $TMPDIR (default /tmp). */
static inline int unit_dir_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct unit_dir *dir = calloc(1, sizeof(*dir));

	if (!dir)
		return -1;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(dir->path, sizeof(dir->path), "%s/mmapfs-unit-XXXXXX", tmp);
	if (!mkdtemp(dir->path)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

/** unit_dir_teardown() - cmocka teardown: remove the directory tree of unit_dir_setup(). */
static inline int unit_dir_teardown(void **state)
{
	struct unit_dir *dir = *state;

	if (!dir)
		return 0;
	(void)nftw(dir->path, unit_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	*state = NULL;
	return 0;
}

/** unit_path() - "@dir/@name" into @out (PATH_MAX bytes). */
static inline const char *unit_path(const struct unit_dir *dir, const char *name, char *out)
{
	int written = snprintf(out, PATH_MAX, "%s/%s", dir->path, name);

	assert_true(written > 0 && written < PATH_MAX);
	return out;
}

/** unit_write_all() - pwrite all of @len bytes at @offset or fail the test. */
static inline void unit_write_all(int fd, const void *data, size_t len, off_t offset)
{
	const char *bytes = data;

	while (len) {
		ssize_t done = pwrite(fd, bytes, len, offset);

		assert_true(done > 0);
		bytes += done;
		len -= (size_t)done;
		offset += done;
	}
}

/** unit_create_file() - create (or replace) @path holding @len bytes of @data. */
static inline void unit_create_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	if (len)
		unit_write_all(fd, data, len, 0);
	assert_int_equal(close(fd), 0);
}

/** unit_pattern_byte() - the byte at @offset of the files the tests fill with a pattern. */
static inline unsigned char unit_pattern_byte(uint64_t offset)
{
	return (unsigned char)('a' + (offset * 7 + offset / 4096) % 26);
}

/** unit_create_pattern_file() - create @path with @len bytes of unit_pattern_byte(). */
static inline void unit_create_pattern_file(const char *path, size_t len)
{
	unsigned char *data = malloc(len ? len : 1);
	size_t i;

	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = unit_pattern_byte(i);
	unit_create_file(path, data, len);
	free(data);
}

/** unit_file_size() - st_size of @path, or fail the test. */
static inline uint64_t unit_file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/** unit_on_tmpfs() - whether @path is on tmpfs, whose pages cannot be evicted by fadvise. */
static inline bool unit_on_tmpfs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

/** unit_now_ms() - CLOCK_MONOTONIC in milliseconds, for "returns quickly" checks. */
static inline uint64_t unit_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/**
 * unit_vma_flags() - copy the "VmFlags:" value of the mapping holding @addr from
 * /proc/self/smaps into @flags (" rd sh rr ..."). Return: true when found.
 */
static inline bool unit_vma_flags(const void *addr, char *flags, size_t flags_len)
{
	uintptr_t where = (uintptr_t)addr;
	bool inside = false, found = false;
	char line[512];
	FILE *smaps;

	smaps = fopen("/proc/self/smaps", "re");
	if (!smaps)
		return false;
	while (!found && fgets(line, sizeof(line), smaps)) {
		unsigned long start, end;
		char dash;

		if (sscanf(line, "%lx%c%lx ", &start, &dash, &end) == 3 && dash == '-') {
			inside = where >= start && where < end;
			continue;
		}
		if (inside && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, flags_len, " %s", line + 8);
			flags[strcspn(flags, "\n")] = ' ';
			found = true;
		}
	}
	fclose(smaps);
	return found;
}

/** unit_has_vmflag() - whether the two-letter @flag is in unit_vma_flags()' text. */
static inline bool unit_has_vmflag(const char *flags, const char *flag)
{
	char token[8];

	snprintf(token, sizeof(token), " %s ", flag);
	return strstr(flags, token) != NULL;
}

/* Whether @target names @path, a file under it, or @path " (deleted)". */
static inline bool unit_names_path(const char *target, const char *path)
{
	size_t len = strlen(path);

	return !strncmp(target, path, len) && strchr("/ \n", target[len]);
}

/** unit_fds_at() - how many of this process's fds are of @path or of files under it. */
static inline unsigned unit_fds_at(const char *path)
{
	unsigned count = 0;
	struct dirent *entry;
	DIR *fds;

	fds = opendir("/proc/self/fd");
	assert_non_null(fds);
	while ((entry = readdir(fds))) {
		char link[PATH_MAX + 32], target[PATH_MAX + 32];
		ssize_t len;

		if (entry->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", entry->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (unit_names_path(target, path))
			count++;
	}
	closedir(fds);
	return count;
}

/** unit_maps_at() - how many of this process's mappings are of @path or files under it. */
static inline unsigned unit_maps_at(const char *path)
{
	unsigned count = 0;
	char line[PATH_MAX + 256];
	FILE *maps;

	maps = fopen("/proc/self/maps", "re");
	assert_non_null(maps);
	while (fgets(line, sizeof(line), maps)) {
		const char *mapped = strchr(line, '/');

		if (mapped && unit_names_path(mapped, path))
			count++;
	}
	fclose(maps);
	return count;
}

#endif
