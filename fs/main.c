/*
 * mmapfs [-o OPTION[,OPTION...]] [-f] [-d] [-s] BACKING_DIR MOUNTPOINT
 *
 * Everything a user can get wrong is checked before mounting, with one line on
 * stderr: nothing is half-mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mmapfs.h"

/* FUSE asks in 128 KiB pieces by default; 1 MiB requests need a 1 MiB readahead window. */
#define DEFAULT_READ_AHEAD_KB 1024u
/* attributes and names: 1 s, or 60 s where inotify reports outside changes (watch.c) */
#define DEFAULT_TIMEOUT		1.0
#define DEFAULT_WATCHED_TIMEOUT 60.0

struct options {
	char *backing_dir;
	char *access;
	char *max_idle_maps;
	char *attr_timeout;
	char *entry_timeout;
	char *advice;
	char *rules_file;
	char *cow_limit;
	char *read_ahead_kb;
	struct strbuf advise; /* every -o advise=, joined with ':' in order */
	int mmstat_visible;
	int single_copy;
	int allow_other;
	int default_permissions;
};

#define OPTION(template, field)                              \
	{                                                    \
		template, offsetof(struct options, field), 1 \
	}

enum {
	KEY_ADVISE,
	KEY_ALLOW_OTHER,
	KEY_DEFAULT_PERMISSIONS
};

static const struct fuse_opt option_table[] = {
	OPTION("access=%s", access),
	OPTION("max_idle_maps=%s", max_idle_maps),
	OPTION("attr_timeout=%s", attr_timeout),
	OPTION("entry_timeout=%s", entry_timeout),
	OPTION("advice=%s", advice),
	OPTION("rules=%s", rules_file),
	OPTION("cow_limit=%s", cow_limit),
	OPTION("read_ahead_kb=%s", read_ahead_kb),
	OPTION("mmstat_visible", mmstat_visible),
	OPTION("single_copy", single_copy),
	FUSE_OPT_KEY("advise=", KEY_ADVISE),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_END,
};

static void usage(const char *prog)
{
	printf("usage: %s [-o OPTION[,OPTION...]] [-f] [-d] [-s] BACKING_DIR MOUNTPOINT\n\n"
	       "Mount BACKING_DIR on MOUNTPOINT; every read and write is served from the\n"
	       "daemon's own mmap of the backing file. Unmount with fusermount3 -u MOUNTPOINT.\n\n"
	       "mmapfs options:\n"
	       "    -o access=rw|ro|cow      rw (default): writes reach the backing files;\n"
	       "                             ro: a read-only mount;\n"
	       "                             cow: writes stay in the daemon's memory and are\n"
	       "                             LOST AT UNMOUNT; backing files are never written\n"
	       "    -o cow_limit=SIZE        cow: memory for changed pages, all files (default:\n"
	       "                             half of RAM); past it writes fail with ENOSPC\n"
	       "    -o advice=POLICY         default madvise policy of every file (normal)\n"
	       "    -o advise=GLOB=POLICY[:GLOB=POLICY...]\n"
	       "                             per-file policies, first match wins\n"
	       "    -o rules=FILE            per-file policies from FILE, one 'GLOB POLICY' a line\n"
	       "    -o mmstat_visible        list /.mmstat in the root directory\n"
	       "    -o single_copy           drop the backing file's pages once a read is\n"
	       "                             replied: the page cache holds one copy, not two\n"
	       "    -o max_idle_maps=N       mappings kept after their last close (default %u)\n"
	       "    -o read_ahead_kb=N       kernel readahead on the mount, KiB (default: the\n"
	       "                             backing disk's, at least %u; 0 keeps the\n"
	       "                             kernel's 128); needs root\n"
	       "    -o attr_timeout=SECONDS  how long the kernel caches attributes (default\n"
	       "                             60 where a directory watch reports changes, else 1;\n"
	       "                             given, it holds everywhere)\n"
	       "    -o entry_timeout=SECONDS how long the kernel caches names (the same)\n"
	       "    POLICY: normal|random|sequential, then '+'-joined extras: willneed,\n"
	       "            populate, hugepage, nohugepage, cold, pageout, dontneed\n"
	       "    -V, --version            print the version\n\n",
	       prog, ENGINE_DEFAULT_MAX_IDLE_MAPS, DEFAULT_READ_AHEAD_KB);
}

static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *opts = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!opts->backing_dir) {
			opts->backing_dir = strdup(arg);
			return 0;
		}
		return 1; /* the mountpoint: fuse_parse_cmdline takes it */
	case KEY_ADVISE:
		if (opts->advise.len)
			strbuf_addstr(&opts->advise, ":");
		strbuf_addstr(&opts->advise, arg + strlen("advise="));
		return 0;
	case KEY_ALLOW_OTHER:
		opts->allow_other = 1;
		return 1;
	case KEY_DEFAULT_PERMISSIONS:
		opts->default_permissions = 1;
		return 1;
	default:
		return 1;
	}
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("mmapfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int parse_access(const char *text, struct mmapfs *fs)
{
	if (!text || !strcmp(text, "rw")) {
		fs->access = ENGINE_ACCESS_RW;
		fs->access_name = "rw";
	} else if (!strcmp(text, "ro")) {
		fs->access = ENGINE_ACCESS_RO;
		fs->access_name = "ro";
	} else if (!strcmp(text, "cow")) {
		fs->access = ENGINE_ACCESS_COW;
		fs->access_name = "cow";
	} else {
		return fail("bad value '%s' for -o access: expected rw, ro or cow", text);
	}
	return 0;
}

static int parse_unsigned(const char *name, const char *text, unsigned *out)
{
	unsigned long value;
	char *end;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (!*text || *end || errno || value > UINT_MAX || text[0] == '-')
		return fail("bad value '%s' for -o %s: expected a whole number from 0 to %u", text,
			    name, UINT_MAX);
	*out = (unsigned)value;
	return 0;
}

static int parse_seconds(const char *name, const char *text, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (!*text || *end || errno || *out < 0 || *out > 1e9 || *out != *out)
		return fail("bad value '%s' for -o %s: expected seconds, a number >= 0", text,
			    name);
	return 0;
}

/* SIZE: bytes, or a number with K, M, G or T (powers of 1024). */
static int parse_size(const char *name, const char *text, uint64_t *out)
{
	unsigned long long value;
	unsigned shift = 0;
	char *end;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (end != text && *end && !end[1]) {
		const char *units = "KMGT", *unit = strchr(units, *end & ~0x20);

		if (unit) {
			shift = 10 * (unsigned)(unit - units + 1);
			end++;
		}
	}
	if (!*text || text[0] == '-' || *end || errno || (shift && value > (UINT64_MAX >> shift)))
		return fail("bad value '%s' for -o %s: expected a size like 512M or 4G", text,
			    name);
	*out = (uint64_t)value << shift;
	return 0;
}

static uint64_t default_cow_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);

	return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size / 2 : 0;
}

static int build_rules(const struct options *opts, struct mmapfs *fs)
{
	struct policy def = POLICY_DEFAULT;
	char errmsg[1024], bad[64];

	if (opts->advice && policy_parse(opts->advice, &def, bad, sizeof(bad)))
		return fail("bad policy word '%s' in -o advice=%s; valid words: %s", bad,
			    opts->advice, policy_valid_words());
	fs->rules = rules_new(&def);
	if (!fs->rules)
		return fail("out of memory");
	if (opts->advice && rules_set_default(fs->rules, &def, "-o advice"))
		return fail("out of memory");
	if (opts->advise.len &&
	    rules_add_option(fs->rules, opts->advise.buf, errmsg, sizeof(errmsg)))
		return fail("%s", errmsg);
	if (opts->rules_file && rules_add_file(fs->rules, opts->rules_file, errmsg, sizeof(errmsg)))
		return fail("%s", errmsg);
	return 0;
}

static int check_backing(const char *path, struct mmapfs *fs)
{
	char real[PATH_MAX];
	struct stat st;

	if (stat(path, &st) == -1)
		return fail("backing directory %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("backing directory %s: not a directory", path);
	if (access(path, R_OK | X_OK) == -1)
		return fail("backing directory %s: %s", path, strerror(errno));
	if (!realpath(path, real))
		return fail("backing directory %s: %s", path, strerror(errno));
	fs->backing_path = strdup(real);
	if (!fs->backing_path)
		return fail("out of memory");
	fs->backing_path_len = strcmp(real, "/") ? strlen(real) : 0;
	return 0;
}

static int check_mountpoint(const char *path, struct mmapfs *fs)
{
	char real[PATH_MAX];
	struct statx stx;

	if (statx(AT_FDCWD, path, 0, STATX_TYPE, &stx) == -1)
		return fail("mountpoint %s: %s", path, strerror(errno));
	if (!S_ISDIR(stx.stx_mode))
		return fail("mountpoint %s: not a directory", path);
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return fail("mountpoint %s: already a mount point (unmount it first: "
			    "fusermount3 -u %s)",
			    path, path);
	/* resolved now: once mounted, resolving it would ask this very daemon */
	if (!realpath(path, real) || !(fs->mountpoint = strdup(real)))
		return fail("mountpoint %s: %s", path, strerror(errno));
	return 0;
}

/*
 * The default readahead on the mount: the backing device's own when it is larger
 * than 1 MiB (the daemon's mapping reads ahead that much anyway, and more requests
 * in flight stream a cold file at the disk's speed), else 1 MiB.
 */
static unsigned backing_read_ahead_kb(const char *backing)
{
	unsigned device_kb = 0;
	char path[128];
	struct stat st;
	FILE *file;

	if (stat(backing, &st) == -1)
		return DEFAULT_READ_AHEAD_KB;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	file = fopen(path, "re");
	if (file) {
		if (fscanf(file, "%u", &device_kb) != 1)
			device_kb = 0;
		fclose(file);
	}
	return device_kb > DEFAULT_READ_AHEAD_KB ? device_kb : DEFAULT_READ_AHEAD_KB;
}

static int apply_options(struct options *opts, struct mmapfs *fs, struct fuse_args *args)
{
	unsigned max_idle = ENGINE_DEFAULT_MAX_IDLE_MAPS;
	uint64_t cow_limit = default_cow_limit();
	char *escaped = NULL, *fsname = NULL;
	int err;

	fs->attr_timeout = DEFAULT_TIMEOUT;
	fs->entry_timeout = DEFAULT_TIMEOUT;
	if (parse_access(opts->access, fs) ||
	    (opts->max_idle_maps &&
	     parse_unsigned("max_idle_maps", opts->max_idle_maps, &max_idle)) ||
	    (opts->attr_timeout &&
	     parse_seconds("attr_timeout", opts->attr_timeout, &fs->attr_timeout)) ||
	    (opts->entry_timeout &&
	     parse_seconds("entry_timeout", opts->entry_timeout, &fs->entry_timeout)) ||
	    (opts->cow_limit && parse_size("cow_limit", opts->cow_limit, &cow_limit)) ||
	    build_rules(opts, fs) || check_backing(opts->backing_dir, fs))
		return -1;
	/* a timeout the user gave holds everywhere; ours are longer where watches see changes */
	fs->watched_attr_timeout = opts->attr_timeout ? fs->attr_timeout : DEFAULT_WATCHED_TIMEOUT;
	fs->watched_entry_timeout = opts->entry_timeout ? fs->entry_timeout :
							  DEFAULT_WATCHED_TIMEOUT;
	fs->mmstat_visible = opts->mmstat_visible;
	fs->read_ahead_kb = backing_read_ahead_kb(fs->backing_path);
	if (opts->read_ahead_kb &&
	    parse_unsigned("read_ahead_kb", opts->read_ahead_kb, &fs->read_ahead_kb))
		return -1;
	fs->daemon_is_root = geteuid() == 0;
	/* With other users on the mount, the kernel must check file modes for them. */
	if (opts->allow_other && !opts->default_permissions)
		fuse_opt_add_arg(args, "-odefault_permissions");
	/* fsname first: a user's own fsname= later on the line wins */
	err = fuse_opt_add_opt_escaped(&escaped, fs->backing_path);
	if (!err && asprintf(&fsname, "fsname=%s,subtype=mmapfs", escaped) == -1)
		fsname = NULL;
	free(escaped);
	if (!fsname || fuse_opt_insert_arg(args, 1, "-o") || fuse_opt_insert_arg(args, 2, fsname)) {
		free(fsname);
		return fail("out of memory");
	}
	free(fsname);
	{
		struct engine_config cfg = {
			.access = fs->access,
			.max_idle_maps = max_idle,
			.rules = fs->rules,
			.cow_limit_bytes = cow_limit,
			.single_copy = opts->single_copy != 0,
		};

		err = engine_new(&cfg, &fs->engine);
	}
	if (err)
		return fail("cannot start the mapping engine: %s", strerror(-err));
	return 0;
}

/* The "MAJ:MIN" of our mount from /proc/self/mountinfo (mount points there are octal-escaped). */
static int find_mount_dev(const char *mountpoint, char *dev, size_t dev_len)
{
	char line[8192], point[4096], majmin[64], fstype[256];
	FILE *file;
	int found = -ENOENT;

	file = fopen("/proc/self/mountinfo", "re");
	if (!file)
		return -errno;
	while (fgets(line, sizeof(line), file)) {
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %63s %*s %4095s", majmin, point) != 2 ||
		    sscanf(sep + 3, "%255s", fstype) != 1)
			continue;
		if (!strcmp(fstype, "fuse.mmapfs") && !strcmp(point, mountpoint)) {
			snprintf(dev, dev_len, "%s", majmin);
			found = 0; /* keep going: the last one is ours */
		}
	}
	fclose(file);
	return found;
}

/* Larger kernel readahead on the mount: FUSE then asks in up to 1 MiB pieces. */
static void set_read_ahead(struct mmapfs *fs)
{
	char dev[64], path[128], value[32];
	int fd, len;

	if (!fs->read_ahead_kb || strpbrk(fs->mountpoint, " \t\n\\"))
		return; /* 0: keep the default; odd characters: mountinfo escapes them */
	if (find_mount_dev(fs->mountpoint, dev, sizeof(dev)))
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	len = snprintf(value, sizeof(value), "%u", fs->read_ahead_kb);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1 || write(fd, value, (size_t)len) != len)
		fuse_log(FUSE_LOG_NOTICE, "mmapfs: notice: cannot set %s: %s\n", path,
			 strerror(errno));
	if (fd != -1)
		close(fd);
}

static void warn_shadowed(struct mmapfs *fs)
{
	struct stat st;

	if (fstatat(fs->root.fd, MMSTAT_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0)
		fuse_log(FUSE_LOG_WARNING,
			 "mmapfs: warning: %s/%s is hidden by the virtual %s tree\n",
			 fs->backing_path, MMSTAT_NAME, MMSTAT_NAME);
}

static int run_session(struct mmapfs *fs, struct fuse_args *args,
		       const struct fuse_cmdline_opts *cmdline)
{
	struct fuse_loop_config *loop;
	int ret = 1;

	fs->se = fuse_session_new(args, &mmapfs_ops, sizeof(mmapfs_ops), fs);
	if (!fs->se)
		return 1; /* libfuse printed why, e.g. an unknown option */
	if (fuse_set_signal_handlers(fs->se) != 0)
		goto out_destroy;
	if (fuse_session_mount(fs->se, cmdline->mountpoint) != 0)
		goto out_signals;
	set_read_ahead(fs);
	fuse_daemonize(cmdline->foreground);
	fs->start_time = time(NULL);
	if (notify_start(fs))
		goto out_unmount;
	if (watch_start(fs))
		fuse_log(FUSE_LOG_NOTICE, "mmapfs: notice: no inotify: files changed by others "
					  "while open are seen at their next open only\n");
	if (cmdline->singlethread) {
		ret = fuse_session_loop(fs->se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_notify;
		fuse_loop_cfg_set_clone_fd(loop, (unsigned)cmdline->clone_fd);
		if (cmdline->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, cmdline->max_idle_threads);
		fuse_loop_cfg_set_max_threads(loop, cmdline->max_threads);
		ret = fuse_session_loop_mt(fs->se, loop);
		fuse_loop_cfg_destroy(loop);
	}
out_notify:
	watch_stop(fs);
	notify_stop(fs);
out_unmount:
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_destroy:
	fuse_session_destroy(fs->se);
	return ret ? 1 : 0;
}

/*
 * Every node the kernel knows holds an O_PATH fd (like passthrough_ll), so a find
 * over 100,000 files needs as many: raise the limit as far as the system allows.
 */
static void raise_fd_limit(void)
{
	struct rlimit limit;
	unsigned long nr_open = 0;
	FILE *file;

	if (getrlimit(RLIMIT_NOFILE, &limit) == -1)
		return;
	file = fopen("/proc/sys/fs/nr_open", "re");
	if (file) {
		if (fscanf(file, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(file);
	}
	if (nr_open > limit.rlim_max) {
		struct rlimit wanted = { nr_open, nr_open };

		if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) /* root only */
			return;
	}
	limit.rlim_cur = limit.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &limit);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options opts = { .advise = STRBUF_INIT };
	struct fuse_cmdline_opts cmdline = { 0 };
	struct mmapfs fs = { .root.fd = -1 };
	int ret = 1;

	umask(0); /* the kernel already applied the caller's umask */
	raise_fd_limit();
	if (fuse_opt_parse(&args, &opts, option_table, option_proc) == -1 ||
	    fuse_parse_cmdline(&args, &cmdline) != 0)
		goto out_free;
	if (cmdline.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_free;
	}
	if (cmdline.show_version) {
		printf("mmapfs %s\nFUSE library version %s\n", MMAPFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out_free;
	}
	if (!opts.backing_dir || !cmdline.mountpoint) {
		fail("need BACKING_DIR and MOUNTPOINT (see %s --help)", argv[0]);
		goto out_free;
	}
	if (apply_options(&opts, &fs, &args) || check_mountpoint(cmdline.mountpoint, &fs))
		goto out_free;
	ret = node_init_root(&fs, fs.backing_path);
	if (ret) {
		fail("backing directory %s: %s", fs.backing_path, strerror(-ret));
		ret = 1;
		goto out_free;
	}
	warn_shadowed(&fs);
	ret = run_session(&fs, &args, &cmdline);
	node_destroy_all(&fs);
out_free:
	engine_free(fs.engine);
	rules_free(fs.rules);
	free(fs.backing_path);
	free(fs.mountpoint);
	free(cmdline.mountpoint);
	free(opts.backing_dir);
	free(opts.access);
	free(opts.max_idle_maps);
	free(opts.attr_timeout);
	free(opts.entry_timeout);
	free(opts.advice);
	free(opts.rules_file);
	free(opts.cow_limit);
	free(opts.read_ahead_kb);
	strbuf_release(&opts.advise);
	fuse_opt_free_args(&args);
	return ret;
}
