/*
 * relhelper - the client programs of the reliability tests (tests/reliability/t_*.sh).
 * Each subcommand prints what it did and exits 0 when every check held, 1 when one
 * failed (with the reason on stderr), 2 on a usage error, 3 when an operation stalled
 * longer than the watchdog allows (a hung mount).
 *
 *   storm-mutate DIR SECONDS NFILES SEED
 *       outside the mount: shrink, regrow, replace (rename over), rewrite and extend
 *       DIR/f<i> in a loop; every byte ever written is pattern_byte(offset, gen)
 *   storm-client DIR SECONDS NFILES read|mmap|write SEED
 *       through the mount: read (pread), map (mmap + read under a SIGBUS guard) or
 *       write DIR/f<i> in a loop; every byte read must be 0 or the pattern for its
 *       offset; a short read, EIO and (mmap) SIGBUS are allowed, nothing else
 *   shrink-regrow MOUNTFILE BACKINGFILE ROUNDS
 *       deterministic: outside, write / shrink / regrow the backing file; through the
 *       mount (an fd held open, a fresh open and a held client mapping) the size and
 *       bytes must follow at once (needs -o attr_timeout=0): never a byte past the new
 *       end, never the old bytes in the regrown range
 *   pattern FILE SIZE GEN            write a pattern file (outside the mount)
 *   verify FILE SIZE GEN             FILE holds exactly SIZE bytes of that pattern
 *   ring-writer FILE SLOTS STATUS [MAX]
 *       map FILE (through the mount) and append 64-byte records into a ring of SLOTS,
 *       msync(MS_SYNC) after each one, then record the last synced sequence number in
 *       STATUS (outside the mount); runs until killed or MAX records
 *   ring-check FILE SLOTS STATUS    every record the writer reported synced is there
 *   cachestat FILE                  print "cached dirty writeback" pages (cachestat(2))
 *   manyopen DIR N CMD              open DIR/f<i> for i < N at once, check each one's
 *                                   content, run CMD with all of them open (sh -c),
 *                                   check again, close; CMD's failure fails
 *   stripes FILE WRITERS MAPPERS READERS SECONDS
 *       many clients on one file: writers (pwrite) and mappers (MAP_SHARED + msync) each
 *       own a stripe and rewrite it with new generations, readers (pread and mmap) check
 *       that every byte is a valid generation for its offset; at the end every stripe
 *       must hold its owner's last generation
 *   fill FILE BYTES                 write BYTES of pattern (generation 7) with write(2)
 *                                   until done or an error; print "wrote N errno NAME"
 *   mapfill FILE BYTES              ftruncate, map, fill, msync; print the outcome
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STALL_SECONDS 20
#define MAX_FILE      (256 * 1024)

static const char *prog = "relhelper";
static size_t page_size;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* A failed check: exit 1. */
static void bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: FAIL: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rand_below(uint64_t *state, uint64_t bound)
{
	return bound ? next_rand(state) % bound : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- the watchdog: an operation through the mount that takes too long is a hang ---------- */

static const char *volatile current_op = "startup";

static void on_alarm(int sig)
{
	char msg[256];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg), "%s: FAIL: '%s' stalled for more than %d s (hung mount?)\n",
		     prog, current_op, STALL_SECONDS);
	if (n > 0)
		(void)!write(2, msg, (size_t)n);
	_exit(3);
}

static void watch(const char *op)
{
	current_op = op;
	alarm(STALL_SECONDS);
}

static void unwatch(void)
{
	alarm(0);
}

/* --- SIGBUS guard for client mappings ---------------------------------------------------- */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_bus(int sig)
{
	if (bus_armed) {
		bus_armed = 0;
		siglongjmp(bus_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_bus;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
}

/* Copy @len bytes from a client mapping; 0, or -1 if SIGBUS cut it short at *@done. */
static int guarded_copy(void *const volatile dst, const volatile unsigned char *const volatile src,
			volatile size_t len, size_t *const volatile done)
{
	volatile size_t i = 0;
	const size_t total = len;

	if (sigsetjmp(bus_jmp, 1)) {
		*done = i;
		return -1;
	}
	bus_armed = 1;
	for (; i < total; i++)
		((unsigned char *)dst)[i] = src[i];
	bus_armed = 0;
	*done = total;
	return 0;
}

/* Store pattern pages into a client mapping; 0, or -1 with *@fault_at if SIGBUS hit. */
static int guarded_store(unsigned char *map, const unsigned char *src, size_t len, size_t *fault_at)
{
	volatile size_t i = 0;
	const size_t total = len;

	if (sigsetjmp(bus_jmp, 1)) {
		*fault_at = i;
		return -1;
	}
	bus_armed = 1;
	for (; i < total; i += page_size)
		memcpy(map + i, src + i % (64 * page_size), page_size);
	bus_armed = 0;
	return 0;
}

/* --- the storm pattern --------------------------------------------------------------------- */

/*
 * Byte @off of generation @gen: 8-byte words of (magic, gen, scrambled word index). The
 * gen bytes may be anything (a concurrent rewrite tears them); every other byte is fixed
 * by the offset alone, so a reader checks "0 or the expected byte" per byte and a byte
 * from another offset or another file is caught.
 */
#define PATTERN_MAGIC 0xa55aull
static unsigned char pattern_byte(uint64_t off, unsigned gen)
{
	uint64_t index = (off / 8) ^ 0x5bd1e995u;
	uint64_t word = (PATTERN_MAGIC << 48) | ((uint64_t)(gen & 0xffff) << 32) |
			(index & 0xffffffffu);

	return (unsigned char)(word >> (8 * (off % 8)));
}

static bool pattern_ok(uint64_t off, unsigned char byte)
{
	unsigned k = (unsigned)(off % 8);

	if (byte == 0 || k == 4 || k == 5)
		return true;
	return byte == pattern_byte(off, 0);
}

static void fill_pattern(unsigned char *buf, uint64_t off, size_t len, unsigned gen)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(off + i, gen);
}

/* First offset in [off, off+len) whose byte is not valid, or -1. */
static long long check_pattern(const unsigned char *buf, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!pattern_ok(off + i, buf[i]))
			return (long long)(off + i);
	return -1;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EIO : -errno;
		done += (size_t)n;
	}
	return 0;
}

static void write_pattern_file(const char *path, size_t size, unsigned gen)
{
	unsigned char *buf = malloc(size ? size : 1);
	int fd;

	if (!buf)
		die("out of memory");
	fill_pattern(buf, 0, size, gen);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write_all(fd, buf, size, 0) || close(fd) == -1)
		die("writing %s: %s", path, strerror(errno));
	free(buf);
}

/* --- storm-mutate ---------------------------------------------------------------------------- */

static int cmd_storm_mutate(int argc, char **argv)
{
	const char *dir;
	double seconds, end;
	unsigned nfiles, gen = 1;
	uint64_t rng;
	unsigned long counts[6] = { 0 };
	unsigned char *buf = malloc(MAX_FILE);
	char path[4096], tmp[4096];

	if (argc != 4)
		die("usage: storm-mutate DIR SECONDS NFILES SEED");
	dir = argv[0];
	seconds = atof(argv[1]);
	nfiles = (unsigned)atoi(argv[2]);
	rng = strtoull(argv[3], NULL, 0);
	if (!buf || !nfiles)
		die("bad arguments");
	end = now() + seconds;
	while (now() < end) {
		unsigned i = (unsigned)rand_below(&rng, nfiles);
		unsigned what = (unsigned)rand_below(&rng, 6);
		size_t size = (size_t)rand_below(&rng, MAX_FILE);
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), "%s/f%u", dir, i);
		gen++;
		switch (what) {
		case 0: /* shrink */
			if (stat(path, &st) == 0 && truncate(path, st.st_size / 3) == -1)
				die("truncate %s: %s", path, strerror(errno));
			break;
		case 1: /* regrow: zeros */
			if (truncate(path, (off_t)size) == -1)
				die("truncate %s: %s", path, strerror(errno));
			break;
		case 2: /* replace: a new inode renamed over the name */
			snprintf(tmp, sizeof(tmp), "%s/.tmp%u", dir, i);
			write_pattern_file(tmp, size, gen);
			if (rename(tmp, path) == -1)
				die("rename %s: %s", tmp, strerror(errno));
			break;
		case 3: /* rewrite in place (truncate first) */
			fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
			if (fd == -1)
				die("open %s: %s", path, strerror(errno));
			fill_pattern(buf, 0, size, gen);
			if (write_all(fd, buf, size, 0))
				die("write %s: %s", path, strerror(errno));
			close(fd);
			break;
		case 4: /* extend with pattern */
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd == -1 || fstat(fd, &st) == -1)
				die("open %s: %s", path, strerror(errno));
			if ((size_t)st.st_size < MAX_FILE) {
				size_t len =
					(size_t)rand_below(&rng, MAX_FILE - (size_t)st.st_size);

				fill_pattern(buf, (uint64_t)st.st_size, len, gen);
				if (write_all(fd, buf, len, st.st_size))
					die("write %s: %s", path, strerror(errno));
			}
			close(fd);
			break;
		default: /* truncate to zero */
			if (truncate(path, 0) == -1)
				die("truncate %s: %s", path, strerror(errno));
			break;
		}
		counts[what]++;
		if (rand_below(&rng, 4) == 0)
			usleep(500);
	}
	printf("storm-mutate: shrink %lu regrow %lu replace %lu rewrite %lu extend %lu zero %lu\n",
	       counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
	if (counts[0] + counts[1] + counts[2] + counts[3] + counts[4] + counts[5] < 50)
		bad("only %lu changes in %.1f s: the storm did not storm",
		    counts[0] + counts[1] + counts[2] + counts[3] + counts[4] + counts[5], seconds);
	free(buf);
	return 0;
}

/* --- storm-client ------------------------------------------------------------------------------ */

struct storm_counts {
	unsigned long ops, full, shorts, eio, sigbus, bytes, enoent, writes;
};

static void storm_read_once(const char *path, uint64_t *rng, unsigned char *buf,
			    struct storm_counts *c)
{
	int fd;
	size_t off = (size_t)rand_below(rng, MAX_FILE), len = 1 + (size_t)rand_below(rng, MAX_FILE);
	ssize_t n;
	long long badoff;

	if (rand_below(rng, 3) == 0)
		off = 0;
	watch("open for read");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	unwatch();
	if (fd == -1) {
		if (errno == ENOENT) {
			c->enoent++;
			return;
		}
		bad("open %s: %s", path, strerror(errno));
	}
	watch("pread");
	n = pread(fd, buf, len, (off_t)off);
	unwatch();
	c->ops++;
	if (n == -1) {
		if (errno != EIO)
			bad("pread %s [%zu, +%zu): %s (allowed: a short read or EIO)", path, off,
			    len, strerror(errno));
		c->eio++;
	} else {
		if ((size_t)n < len)
			c->shorts++;
		else
			c->full++;
		c->bytes += (unsigned long)n;
		badoff = check_pattern(buf, off, (size_t)n);
		if (badoff >= 0)
			bad("pread %s [%zu, +%zu) returned 0x%02x at offset %lld: neither 0 nor the "
			    "pattern byte 0x%02x (bytes of another offset or file, or garbage)",
			    path, off, len, buf[badoff - (long long)off], badoff,
			    pattern_byte((uint64_t)badoff, 0));
	}
	close(fd);
}

static void storm_map_once(const char *path, uint64_t *rng, unsigned char *buf,
			   struct storm_counts *c)
{
	struct stat st;
	size_t len, done;
	void *map;
	int fd;
	long long badoff;

	watch("open for mmap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	unwatch();
	if (fd == -1) {
		if (errno == ENOENT) {
			c->enoent++;
			return;
		}
		bad("open %s: %s", path, strerror(errno));
	}
	watch("fstat");
	if (fstat(fd, &st) == -1)
		bad("fstat %s: %s", path, strerror(errno));
	unwatch();
	len = (size_t)st.st_size;
	if (len == 0 || len > MAX_FILE * 2) {
		if (len > MAX_FILE * 2)
			bad("%s has size %zu, more than any writer made", path, len);
		close(fd);
		return;
	}
	map = mmap(NULL, len, PROT_READ, rand_below(rng, 2) ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		bad("mmap %s (%zu bytes): %s", path, len, strerror(errno));
	c->ops++;
	watch("read through a client mapping");
	if (guarded_copy(buf, map, len, &done))
		c->sigbus++; /* the file shrank: normal for a client mapping */
	else
		c->full++;
	unwatch();
	c->bytes += done;
	badoff = check_pattern(buf, 0, done);
	if (badoff >= 0)
		bad("mapping of %s: byte 0x%02x at offset %lld is neither 0 nor the pattern 0x%02x",
		    path, buf[badoff], badoff, pattern_byte((uint64_t)badoff, 0));
	munmap(map, len);
	close(fd);
}

static void storm_write_once(const char *path, uint64_t *rng, unsigned char *buf,
			     struct storm_counts *c)
{
	size_t off = (size_t)rand_below(rng, MAX_FILE), len = 1 + (size_t)rand_below(rng, 16384);
	ssize_t n;
	int fd;

	if (off + len > MAX_FILE)
		len = MAX_FILE - off;
	fill_pattern(buf, off, len, 0xffff);
	watch("open for write");
	fd = open(path, O_WRONLY | O_CLOEXEC);
	unwatch();
	if (fd == -1) {
		if (errno == ENOENT) {
			c->enoent++;
			return;
		}
		bad("open %s for writing: %s", path, strerror(errno));
	}
	watch("pwrite");
	n = pwrite(fd, buf, len, (off_t)off);
	unwatch();
	c->ops++;
	if (n == -1 && errno != EIO)
		bad("pwrite %s [%zu, +%zu): %s (allowed: EIO)", path, off, len, strerror(errno));
	if (n == -1)
		c->eio++;
	else
		c->writes++;
	watch("close after write");
	close(fd);
	unwatch();
}

static int cmd_storm_client(int argc, char **argv)
{
	struct storm_counts c = { 0 };
	const char *dir, *mode;
	double end;
	unsigned nfiles;
	uint64_t rng;
	unsigned char *buf = malloc(2 * MAX_FILE);
	char path[4096];

	if (argc != 5)
		die("usage: storm-client DIR SECONDS NFILES read|mmap|write SEED");
	dir = argv[0];
	end = now() + atof(argv[1]);
	nfiles = (unsigned)atoi(argv[2]);
	mode = argv[3];
	rng = strtoull(argv[4], NULL, 0);
	if (!buf || !nfiles)
		die("bad arguments");
	install_handlers();
	while (now() < end) {
		snprintf(path, sizeof(path), "%s/f%u", dir, (unsigned)rand_below(&rng, nfiles));
		if (!strcmp(mode, "read"))
			storm_read_once(path, &rng, buf, &c);
		else if (!strcmp(mode, "mmap"))
			storm_map_once(path, &rng, buf, &c);
		else if (!strcmp(mode, "write"))
			storm_write_once(path, &rng, buf, &c);
		else
			die("unknown mode %s", mode);
	}
	printf("storm-client %s: ops %lu full %lu short %lu eio %lu sigbus %lu enoent %lu "
	       "writes %lu bytes %lu\n",
	       mode, c.ops, c.full, c.shorts, c.eio, c.sigbus, c.enoent, c.writes, c.bytes);
	if (c.ops < 20)
		bad("only %lu operations in the storm: the test did not test", c.ops);
	if (c.enoent)
		bad("%lu opens failed with ENOENT: a name that always exists vanished", c.enoent);
	free(buf);
	return 0;
}

/* --- shrink-regrow ---------------------------------------------------------------------------- */

static ssize_t read_upto(int fd, unsigned char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);

		if (n == -1)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t read_fresh(const char *path, unsigned char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -errno;
	n = read_upto(fd, buf, len, 0);
	close(fd);
	return n;
}

struct view {
	const char *path;
	int held;	    /* an fd opened once, before any change */
	unsigned char *map; /* a client mapping of the file as it first was */
	size_t map_len;
	unsigned char *got;
	size_t cap;
	bool mapping_first;   /* check the mapping before any syscall could refresh the size */
	unsigned long sigbus; /* expected faults past the end */
};

/* Compare a read with the file's content; NULL or why not, in @msg. */
static const char *compare_read(const char *what, ssize_t n, const unsigned char *got,
				const unsigned char *want, size_t want_len, char *msg, size_t len)
{
	size_t i;

	if (n < 0) {
		snprintf(msg, len, "%s: %s", what, strerror((int)-n));
		return msg;
	}
	if ((size_t)n != want_len) {
		snprintf(msg, len, "%s returned %zd bytes, the file has %zu%s", what, n, want_len,
			 (size_t)n > want_len ? " (bytes past the new end)" : "");
		return msg;
	}
	for (i = 0; i < want_len && got[i] == want[i]; i++)
		;
	if (i < want_len) {
		snprintf(msg, len, "%s: byte %zu is 0x%02x, want 0x%02x%s", what, i, got[i],
			 want[i],
			 want[i] == 0 ? " (old bytes where the file now has zeros)" :
					" (old bytes)");
		return msg;
	}
	return NULL;
}

/* The client mapping: the file's bytes, then zeros or SIGBUS past its end, never old bytes. */
static const char *compare_mapping(struct view *v, const unsigned char *want, size_t want_len,
				   char *msg, size_t len)
{
	size_t done, i, within = v->map_len < want_len ? v->map_len : want_len;

	watch("read through a held client mapping");
	if (guarded_copy(v->got, v->map, v->map_len, &done))
		v->sigbus++;
	unwatch();
	if (done < within) {
		snprintf(msg, len,
			 "the client mapping faulted (SIGBUS) at %zu, inside the file (%zu bytes)",
			 done, want_len);
		return msg;
	}
	for (i = 0; i < within && v->got[i] == want[i]; i++)
		;
	if (i < within) {
		snprintf(msg, len, "the client mapping shows 0x%02x at %zu, the file 0x%02x",
			 v->got[i], i, want[i]);
		return msg;
	}
	for (i = within; i < done; i++) {
		if (v->got[i]) {
			snprintf(msg, len,
				 "the client mapping shows 0x%02x at %zu, past the file's end %zu "
				 "(old bytes; want 0 or SIGBUS)",
				 v->got[i], i, want_len);
			return msg;
		}
	}
	return NULL;
}

static const char *verify_view(struct view *v, const unsigned char *want, size_t want_len,
			       char *msg, size_t len)
{
	const char *err = NULL;
	ssize_t n;

	if (v->mapping_first)
		err = compare_mapping(v, want, want_len, msg, len);
	if (!err) {
		watch("read through the held fd");
		n = read_upto(v->held, v->got, v->cap, 0);
		unwatch();
		err = compare_read("a read through the fd held open", n, v->got, want, want_len,
				   msg, len);
	}
	if (!err) {
		watch("read at the end through the held fd");
		n = pread(v->held, v->got, 4096, (off_t)want_len);
		unwatch();
		if (n != 0) {
			snprintf(msg, len,
				 "a read at the end (%zu) through the held fd returned %zd, want 0",
				 want_len, n);
			err = msg;
		}
	}
	if (!err) {
		watch("read through a fresh open");
		n = read_fresh(v->path, v->got, v->cap);
		unwatch();
		err = compare_read("a read through a fresh open", n, v->got, want, want_len, msg,
				   len);
	}
	if (!err && !v->mapping_first)
		err = compare_mapping(v, want, want_len, msg, len);
	return err;
}

/*
 * Check at once (@poll 0) or retry until @poll seconds have passed. With @map_first the
 * held mapping is checked before any read: only an invalidation from the daemon can then
 * have replaced its pages (a page fault never asks for the size again, so this is for
 * changes that keep the size).
 */
static void settle(struct view *v, const unsigned char *want, size_t want_len, double poll,
		   int round, const char *stage, bool map_first)
{
	double deadline = now() + poll;
	char msg[512];
	const char *err;

	v->mapping_first = map_first;

	while ((err = verify_view(v, want, want_len, msg, sizeof(msg)))) {
		if (now() >= deadline)
			bad("round %d, after %s (size %zu)%s: %s", round, stage, want_len,
			    poll > 0 ? " and waiting" : "", err);
		usleep(10000);
	}
}

static int cmd_shrink_regrow(int argc, char **argv)
{
	const char *bpath;
	int rounds, round;
	unsigned char *want;
	uint64_t rng = 42;
	double poll = 0;
	struct view v = { .cap = 512 * 1024 };
	size_t first = 400000, cur = first;

	if (argc != 3 && argc != 4)
		die("usage: shrink-regrow MOUNTFILE BACKINGFILE ROUNDS [POLL_SECONDS]");
	v.path = argv[0];
	bpath = argv[1];
	rounds = atoi(argv[2]);
	if (argc == 4)
		poll = atof(argv[3]);
	want = calloc(1, v.cap);
	v.got = malloc(v.cap);
	if (!want || !v.got)
		die("out of memory");
	install_handlers();
	write_pattern_file(bpath, first, 1);
	fill_pattern(want, 0, first, 1);
	v.held = open(v.path, O_RDONLY | O_CLOEXEC);
	if (v.held == -1)
		bad("open %s: %s", v.path, strerror(errno));
	v.map_len = first;
	v.map = mmap(NULL, v.map_len, PROT_READ, MAP_SHARED, v.held, 0);
	if (v.map == MAP_FAILED)
		bad("mmap %s: %s", v.path, strerror(errno));
	settle(&v, want, first, 0, 0, "the first open", false);
	for (round = 1; round <= rounds; round++) {
		size_t big = 65536 + (size_t)rand_below(&rng, 300000);
		size_t small = (size_t)rand_below(&rng, big);
		size_t regrow = small + 1 + (size_t)rand_below(&rng, v.cap - small - 1);

		/* 1. new content, written outside; every fourth round in place, same size */
		if (round % 4 == 0) {
			int fd = open(bpath, O_WRONLY | O_CLOEXEC);

			big = cur;
			fill_pattern(want, 0, big, (unsigned)round + 1);
			if (fd == -1 || write_all(fd, want, big, 0) || close(fd) == -1)
				die("rewriting %s: %s", bpath, strerror(errno));
		} else {
			write_pattern_file(bpath, big, (unsigned)round + 1);
		}
		memset(want, 0, v.cap);
		fill_pattern(want, 0, big, (unsigned)round + 1);
		settle(&v, want, big, poll, round,
		       round % 4 == 0 ? "an outside rewrite in place" : "an outside rewrite",
		       poll > 0 && round % 4 == 0);
		/* 2. shrink outside */
		if (truncate(bpath, (off_t)small) == -1)
			die("truncate: %s", strerror(errno));
		memset(want + small, 0, v.cap - small);
		settle(&v, want, small, poll, round, "an outside shrink", false);
		/* 3. regrow outside: the new range reads as zeros */
		if (truncate(bpath, (off_t)regrow) == -1)
			die("truncate: %s", strerror(errno));
		settle(&v, want, regrow, poll, round, "an outside regrow", false);
		cur = regrow;
	}
	munmap(v.map, v.map_len);
	close(v.held);
	printf("shrink-regrow: %d rounds (%s), %lu expected SIGBUS past the end\n", rounds,
	       poll > 0 ? "polled" : "checked at once", v.sigbus);
	free(want);
	free(v.got);
	return 0;
}

/* verify FILE SIZE GEN: FILE has SIZE bytes, each the pattern byte of GEN for its offset */
static int cmd_verify(int argc, char **argv)
{
	size_t size, i;
	unsigned gen;
	unsigned char *buf;
	ssize_t n;
	int fd;

	if (argc != 3)
		die("usage: verify FILE SIZE GEN");
	size = (size_t)strtoull(argv[1], NULL, 0);
	gen = (unsigned)atoi(argv[2]);
	buf = malloc(size + 1);
	if (!buf)
		die("out of memory");
	install_handlers();
	watch("reading the file to verify");
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		bad("open %s: %s", argv[0], strerror(errno));
	n = read_upto(fd, buf, size + 1, 0);
	close(fd);
	unwatch();
	if (n != (ssize_t)size)
		bad("%s: read %zd bytes, want %zu", argv[0], n, size);
	for (i = 0; i < size; i++)
		if (buf[i] != pattern_byte(i, gen))
			bad("%s: byte %zu is 0x%02x, want 0x%02x", argv[0], i, buf[i],
			    pattern_byte(i, gen));
	printf("verify: %zu bytes of generation %u\n", size, gen);
	free(buf);
	return 0;
}

static int cmd_pattern(int argc, char **argv)
{
	if (argc != 3)
		die("usage: pattern FILE SIZE GEN");
	write_pattern_file(argv[0], (size_t)strtoull(argv[1], NULL, 0), (unsigned)atoi(argv[2]));
	return 0;
}

/* --- the ring buffer ----------------------------------------------------------------------------- */

#define RING_HEADER 4096
#define RING_REC    64
#define RING_MAGIC  0x52494e47u /* "RING" */

struct ring_record {
	uint32_t magic;
	uint32_t slot;
	uint64_t seq;
	unsigned char payload[40];
	uint64_t check;
};

static uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static void ring_fill(struct ring_record *r, uint64_t seq, uint32_t slots)
{
	uint64_t state = seq;
	size_t i;

	r->magic = RING_MAGIC;
	r->slot = (uint32_t)(seq % slots);
	r->seq = seq;
	for (i = 0; i < sizeof(r->payload); i++)
		r->payload[i] = (unsigned char)next_rand(&state);
	r->check = fnv1a(r, offsetof(struct ring_record, check));
}

static int cmd_ring_writer(int argc, char **argv)
{
	const char *path, *status;
	uint32_t slots;
	uint64_t max = 0, seq;
	size_t len;
	unsigned char *map;
	int fd, sfd;
	char line[32];

	if (argc != 3 && argc != 4)
		die("usage: ring-writer FILE SLOTS STATUS [MAX]");
	_Static_assert(sizeof(struct ring_record) == RING_REC, "record size");
	path = argv[0];
	slots = (uint32_t)atoi(argv[1]);
	status = argv[2];
	if (argc == 4)
		max = strtoull(argv[3], NULL, 0);
	len = RING_HEADER + (size_t)slots * RING_REC;
	sfd = open(status, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sfd == -1)
		die("open %s: %s", status, strerror(errno));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1 || ftruncate(fd, (off_t)len) == -1)
		bad("create %s: %s", path, strerror(errno));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		bad("mmap %s: %s", path, strerror(errno));
	memcpy(map, "RINGHDR1", 8);
	if (msync(map, RING_HEADER, MS_SYNC) == -1)
		bad("msync header: %s", strerror(errno));
	for (seq = 1; !max || seq <= max; seq++) {
		size_t off = RING_HEADER + (size_t)(seq % slots) * RING_REC;
		size_t page = off / page_size * page_size;
		struct ring_record rec;

		ring_fill(&rec, seq, slots);
		memcpy(map + off, &rec, sizeof(rec));
		if (msync(map + page, off + RING_REC - page, MS_SYNC) == -1) {
			/* the daemon died under us: the last reported record is the last synced */
			fprintf(stderr, "ring-writer: msync of record %" PRIu64 " failed: %s\n",
				seq, strerror(errno));
			return 3;
		}
		snprintf(line, sizeof(line), "%020" PRIu64 "\n", seq);
		if (pwrite(sfd, line, 21, 0) != 21)
			die("write %s: %s", status, strerror(errno));
	}
	printf("ring-writer: %" PRIu64 " records synced\n", seq - 1);
	return 0;
}

static int cmd_ring_check(int argc, char **argv)
{
	uint32_t slots;
	uint64_t last, seq, first, checked = 0;
	size_t len;
	unsigned char *buf;
	char line[64] = "";
	ssize_t n;
	int fd;

	if (argc != 3)
		die("usage: ring-check FILE SLOTS STATUS");
	slots = (uint32_t)atoi(argv[1]);
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd == -1 || read(fd, line, sizeof(line) - 1) <= 0)
		bad("no status in %s: the writer synced nothing", argv[2]);
	close(fd);
	last = strtoull(line, NULL, 10);
	len = RING_HEADER + (size_t)slots * RING_REC;
	buf = malloc(len);
	if (!buf)
		die("out of memory");
	watch("open the ring file");
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		bad("open %s: %s", argv[0], strerror(errno));
	n = read_upto(fd, buf, len, 0);
	close(fd);
	unwatch();
	if (n != (ssize_t)len)
		bad("%s: read %zd bytes, want %zu", argv[0], n, len);
	if (memcmp(buf, "RINGHDR1", 8))
		bad("%s: the synced header is gone", argv[0]);
	first = last >= slots ? last - slots + 1 : 1;
	for (seq = first; seq <= last; seq++) {
		struct ring_record rec, want;

		/* the slot after the last reported one may hold a newer, unsynced record */
		if (last >= slots && seq % slots == (last + 1) % slots)
			continue;
		memcpy(&rec, buf + RING_HEADER + (size_t)(seq % slots) * RING_REC, sizeof(rec));
		ring_fill(&want, seq, slots);
		if (memcmp(&rec, &want, sizeof(rec)))
			bad("%s: synced record %" PRIu64 " (slot %" PRIu64 ", last synced %" PRIu64
			    ") is lost: the slot holds seq %" PRIu64 " magic 0x%08x",
			    argv[0], seq, seq % slots, last, rec.seq, rec.magic);
		checked++;
	}
	printf("ring-check: last synced record %" PRIu64 ", %" PRIu64 " records checked\n", last,
	       checked);
	free(buf);
	return 0;
}

/* --- cachestat ----------------------------------------------------------------------------------- */

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct cs_range {
	uint64_t off, len;
};

struct cs_stat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static int cmd_cachestat(int argc, char **argv)
{
	struct cs_range range = { 0, 0 };
	struct cs_stat st;
	int fd;

	if (argc != 1)
		die("usage: cachestat FILE");
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s: %s", argv[0], strerror(errno));
	memset(&st, 0, sizeof(st));
	if (syscall(__NR_cachestat, fd, &range, &st, 0) == -1)
		die("cachestat %s: %s", argv[0], strerror(errno));
	printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", st.nr_cache, st.nr_dirty, st.nr_writeback);
	close(fd);
	return 0;
}

/* --- manyopen ------------------------------------------------------------------------------------ */

static void expected_content(unsigned i, char *buf, size_t len)
{
	snprintf(buf, len, "file %u of the many-open test\n", i);
}

static void check_content(int fd, unsigned i, const char *when)
{
	char want[64], got[64];
	ssize_t n;

	expected_content(i, want, sizeof(want));
	n = pread(fd, got, sizeof(got), 0);
	if (n < 0)
		bad("%s: read of file %u: %s", when, i, strerror(errno));
	if ((size_t)n != strlen(want) || memcmp(got, want, (size_t)n))
		bad("%s: file %u holds %.*s, want %s", when, i, (int)(n > 0 ? n : 0), got, want);
}

static int cmd_manyopen(int argc, char **argv)
{
	unsigned n, i;
	int *fds, rc;
	char path[4096];

	if (argc != 3)
		die("usage: manyopen DIR N CMD");
	n = (unsigned)atoi(argv[1]);
	fds = calloc(n, sizeof(*fds));
	if (!fds)
		die("out of memory");
	install_handlers();
	watch("opening many files");
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%05u", argv[0], i);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] == -1)
			bad("open %s (file %u of %u held open): %s", path, i, n, strerror(errno));
		check_content(fds[i], i, "while opening");
	}
	unwatch();
	printf("manyopen: %u files open\n", n);
	fflush(stdout);
	rc = system(argv[2]);
	watch("checking many files");
	for (i = 0; i < n; i++)
		check_content(fds[i], i, "after the command");
	for (i = 0; i < n; i++)
		if (close(fds[i]) == -1)
			bad("close of file %u: %s", i, strerror(errno));
	unwatch();
	if (rc != 0)
		bad("the command run with %u files open failed (status %d)", n, rc);
	printf("manyopen: all %u files read back right before and after\n", n);
	free(fds);
	return 0;
}

/* --- stripes: many clients on one file -------------------------------------------------------------- */

#define STRIPE (64 * 1024)
#define GENS   16

static unsigned char stripe_hash(uint64_t off)
{
	uint64_t z = off * 0x9e3779b97f4a7c15ull;

	return (unsigned char)((z ^ (z >> 29)) >> 24);
}

/* byte of generation g at off: valid iff (b - hash) * 37^-1 mod 256 < GENS */
static unsigned char stripe_byte(uint64_t off, unsigned gen)
{
	return (unsigned char)(stripe_hash(off) + 37u * (gen % GENS));
}

static unsigned stripe_gen_of(uint64_t off, unsigned char b)
{
	/* 37 * 173 = 6401 = 25 * 256 + 1 */
	return (unsigned)(unsigned char)((unsigned char)(b - stripe_hash(off)) * 173u);
}

static void stripe_fill(unsigned char *buf, uint64_t off, size_t len, unsigned gen)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = stripe_byte(off + i, gen);
}

static long long stripe_check(const unsigned char *buf, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (stripe_gen_of(off + i, buf[i]) >= GENS)
			return (long long)(off + i);
	return -1;
}

static unsigned final_gen(unsigned stripe)
{
	return (stripe * 5 + 3) % GENS;
}

static int stripe_writer(const char *path, unsigned stripe, double end, uint64_t seed)
{
	unsigned char *buf = malloc(STRIPE);
	unsigned gen = 0;
	unsigned long ops = 0;
	int fd;

	watch("writer open");
	fd = open(path, O_WRONLY | O_CLOEXEC);
	unwatch();
	if (fd == -1 || !buf)
		bad("writer %u: open %s: %s", stripe, path, strerror(errno));
	while (now() < end) {
		size_t off = (size_t)rand_below(&seed, STRIPE),
		       len = 1 + (size_t)rand_below(&seed, STRIPE - off);
		uint64_t base = (uint64_t)stripe * STRIPE + off;

		gen = (gen + 1) % GENS;
		stripe_fill(buf, base, len, gen);
		watch("writer pwrite");
		if (write_all(fd, buf, len, (off_t)base))
			bad("writer %u: pwrite [%" PRIu64 ", +%zu): %s", stripe, base, len,
			    strerror(errno));
		unwatch();
		ops++;
	}
	stripe_fill(buf, (uint64_t)stripe * STRIPE, STRIPE, final_gen(stripe));
	watch("writer final pwrite");
	if (write_all(fd, buf, STRIPE, (off_t)stripe * STRIPE) || fsync(fd) == -1 ||
	    close(fd) == -1)
		bad("writer %u: final write: %s", stripe, strerror(errno));
	unwatch();
	printf("stripes: writer %u: %lu writes\n", stripe, ops);
	free(buf);
	return 0;
}

static int stripe_mapper(const char *path, unsigned stripe, size_t file_len, double end,
			 uint64_t seed)
{
	unsigned char *map, *buf = malloc(STRIPE);
	unsigned gen = 0;
	unsigned long ops = 0;
	int fd;

	watch("mapper open");
	fd = open(path, O_RDWR | O_CLOEXEC);
	unwatch();
	if (fd == -1 || !buf)
		bad("mapper %u: open %s: %s", stripe, path, strerror(errno));
	map = mmap(NULL, file_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		bad("mapper %u: mmap: %s", stripe, strerror(errno));
	while (now() < end) {
		size_t off = (size_t)rand_below(&seed, STRIPE),
		       len = 1 + (size_t)rand_below(&seed, STRIPE - off);
		uint64_t base = (uint64_t)stripe * STRIPE + off;

		gen = (gen + 1) % GENS;
		stripe_fill(buf, base, len, gen);
		watch("mapper store and msync");
		memcpy(map + base, buf, len);
		if (rand_below(&seed, 4) == 0 && msync(map, file_len, MS_SYNC) == -1)
			bad("mapper %u: msync: %s", stripe, strerror(errno));
		unwatch();
		ops++;
	}
	stripe_fill(buf, (uint64_t)stripe * STRIPE, STRIPE, final_gen(stripe));
	watch("mapper final store");
	memcpy(map + (size_t)stripe * STRIPE, buf, STRIPE);
	if (msync(map, file_len, MS_SYNC) == -1)
		bad("mapper %u: final msync: %s", stripe, strerror(errno));
	unwatch();
	munmap(map, file_len);
	close(fd);
	printf("stripes: mapper %u: %lu stores\n", stripe, ops);
	free(buf);
	return 0;
}

static int stripe_reader(const char *path, unsigned id, size_t file_len, double end, uint64_t seed)
{
	unsigned char *buf = malloc(file_len);
	unsigned long ops = 0;
	long long badoff;
	int fd;

	watch("reader open");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	unwatch();
	if (fd == -1 || !buf)
		bad("reader %u: open %s: %s", id, path, strerror(errno));
	while (now() < end) {
		size_t off = (size_t)rand_below(&seed, file_len),
		       len = 1 + (size_t)rand_below(&seed, file_len - off);
		ssize_t n;

		if (id % 2) {
			unsigned char *map = mmap(NULL, file_len, PROT_READ, MAP_SHARED, fd, 0);

			if (map == MAP_FAILED)
				bad("reader %u: mmap: %s", id, strerror(errno));
			watch("reader copy from a mapping");
			memcpy(buf, map + off, len);
			unwatch();
			munmap(map, file_len);
			n = (ssize_t)len;
		} else {
			watch("reader pread");
			n = read_upto(fd, buf, len, (off_t)off);
			unwatch();
			if (n != (ssize_t)len)
				bad("reader %u: pread [%zu, +%zu) returned %zd (%s)", id, off, len,
				    n, n < 0 ? strerror((int)-n) : "short");
		}
		badoff = stripe_check(buf, off, (size_t)n);
		if (badoff >= 0)
			bad("reader %u (%s): byte 0x%02x at offset %lld is no generation of that "
			    "offset",
			    id, id % 2 ? "mmap" : "pread", buf[badoff - (long long)off], badoff);
		ops++;
	}
	close(fd);
	printf("stripes: reader %u (%s): %lu checked reads\n", id, id % 2 ? "mmap" : "pread", ops);
	free(buf);
	return 0;
}

static int cmd_stripes(int argc, char **argv)
{
	unsigned writers, mappers, readers, i, total, owners;
	size_t file_len;
	double end;
	unsigned char *buf;
	pid_t *pids;
	int fd, failed = 0;
	long long badoff;

	if (argc != 5)
		die("usage: stripes FILE WRITERS MAPPERS READERS SECONDS");
	writers = (unsigned)atoi(argv[1]);
	mappers = (unsigned)atoi(argv[2]);
	readers = (unsigned)atoi(argv[3]);
	owners = writers + mappers;
	total = owners + readers;
	file_len = (size_t)owners * STRIPE;
	if (!owners)
		die("need a writer or a mapper");
	buf = malloc(file_len);
	pids = calloc(total, sizeof(*pids));
	if (!buf || !pids)
		die("out of memory");
	install_handlers();
	stripe_fill(buf, 0, file_len, 0);
	watch("creating the shared file");
	fd = open(argv[0], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write_all(fd, buf, file_len, 0) || close(fd) == -1)
		bad("create %s: %s", argv[0], strerror(errno));
	unwatch();
	end = now() + atof(argv[4]);
	for (i = 0; i < total; i++) {
		pids[i] = fork();
		if (pids[i] == -1)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			uint64_t seed = 1000 + i;

			if (i < writers)
				_exit(stripe_writer(argv[0], i, end, seed));
			if (i < owners)
				_exit(stripe_mapper(argv[0], i, file_len, end, seed));
			_exit(stripe_reader(argv[0], i - owners, file_len, end, seed));
		}
	}
	for (i = 0; i < total; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) == -1)
			die("waitpid: %s", strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "stripes: client %u %s %d\n", i,
				WIFEXITED(status) ? "exited" : "killed by signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			failed = 1;
		}
	}
	if (failed)
		bad("a client failed");
	/* every stripe holds its owner's last generation, through a fresh open */
	watch("final check");
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd == -1 || read_upto(fd, buf, file_len + 1, 0) != (ssize_t)file_len)
		bad("final read of %s failed or has the wrong size", argv[0]);
	close(fd);
	unwatch();
	badoff = stripe_check(buf, 0, file_len);
	if (badoff >= 0)
		bad("final content: byte at %lld is no generation of that offset", badoff);
	for (i = 0; i < file_len; i++) {
		unsigned owner = (unsigned)(i / STRIPE);

		if (stripe_gen_of(i, buf[i]) != final_gen(owner))
			bad("final content: offset %u (stripe %u, %s) holds generation %u, want the "
			    "owner's last, %u",
			    i, owner, owner < writers ? "pwrite" : "mmap", stripe_gen_of(i, buf[i]),
			    final_gen(owner));
	}
	printf("stripes: %u writers, %u mappers, %u readers: final content right\n", writers,
	       mappers, readers);
	free(buf);
	free(pids);
	return 0;
}

/* --- fill / mapfill (full disk) ----------------------------------------------------------------------- */

static const char *errno_name(int err)
{
	switch (err) {
	case 0:
		return "OK";
	case ENOSPC:
		return "ENOSPC";
	case EIO:
		return "EIO";
	case EDQUOT:
		return "EDQUOT";
	case EFBIG:
		return "EFBIG";
	case ENOTCONN:
		return "ENOTCONN";
	case ECONNABORTED:
		return "ECONNABORTED";
	default:
		return strerror(err);
	}
}

static int cmd_fill(int argc, char **argv)
{
	size_t want, done = 0, chunk = 1 << 20;
	unsigned char *buf = malloc(chunk);
	int fd, err = 0;

	if (argc != 2)
		die("usage: fill FILE BYTES");
	want = (size_t)strtoull(argv[1], NULL, 0);
	if (!buf)
		die("out of memory");
	install_handlers();
	watch("open for fill");
	fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		bad("open %s: %s", argv[0], strerror(errno));
	while (done < want) {
		size_t len = want - done < chunk ? want - done : chunk;
		ssize_t n;

		fill_pattern(buf, done, len, 7);
		watch("write while filling");
		n = write(fd, buf, len);
		unwatch();
		if (n == -1) {
			err = errno;
			break;
		}
		done += (size_t)n;
	}
	watch("close after fill");
	if (close(fd) == -1 && !err)
		err = errno;
	unwatch();
	printf("wrote %zu errno %s\n", done, errno_name(err));
	free(buf);
	return 0;
}

static int cmd_mapfill(int argc, char **argv)
{
	size_t want, fault_at;
	unsigned char *map, *src;
	int fd, err = 0;

	if (argc != 2)
		die("usage: mapfill FILE BYTES");
	want = (size_t)strtoull(argv[1], NULL, 0);
	src = malloc(64 * page_size);
	if (!src)
		die("out of memory");
	fill_pattern(src, 0, 64 * page_size, 9);
	install_handlers();
	watch("open for mapfill");
	fd = open(argv[0], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || ftruncate(fd, (off_t)want) == -1)
		bad("create %s: %s", argv[0], strerror(errno));
	unwatch();
	map = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		bad("mmap: %s", strerror(errno));
	watch("storing into a client mapping");
	if (guarded_store(map, src, want, &fault_at)) {
		printf("SIGBUS at %zu\n", fault_at);
		free(src);
		return 0;
	}
	unwatch();
	watch("msync after mapfill");
	if (msync(map, want, MS_SYNC) == -1)
		err = errno;
	unwatch();
	munmap(map, want);
	watch("close after mapfill");
	close(fd);
	unwatch();
	printf("msync errno %s\n", errno_name(err));
	free(src);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "storm-mutate", cmd_storm_mutate },
		{ "storm-client", cmd_storm_client },
		{ "shrink-regrow", cmd_shrink_regrow },
		{ "pattern", cmd_pattern },
		{ "verify", cmd_verify },
		{ "ring-writer", cmd_ring_writer },
		{ "ring-check", cmd_ring_check },
		{ "cachestat", cmd_cachestat },
		{ "manyopen", cmd_manyopen },
		{ "stripes", cmd_stripes },
		{ "fill", cmd_fill },
		{ "mapfill", cmd_mapfill },
	};
	size_t i;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: relhelper COMMAND ARGS... (see the comment at the top of relhelper.c)");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			prog = cmds[i].name;
			return cmds[i].fn(argc - 2, argv + 2);
		}
	}
	die("unknown command %s", argv[1]);
}
