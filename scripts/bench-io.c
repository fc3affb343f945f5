/*
 * bench-io: the timed inner loops of scripts/bench, in C so that the client's own
 * overhead does not pollute native numbers. scripts/bench compiles it with cc -O2
 * into the build directory; it is not part of the meson build.
 *
 * Every mode prints one line of key=value pairs on stdout (or an error on stderr
 * and exit status 1). Timed modes report secs (the timed loop only), bytes, ops,
 * and ok=1 when every sampled word matched the generator, else ok=0.
 *
 *   gen PATH SIZE SEED                 write SIZE bytes of generator data
 *   seq PATH SEED [BS]                 read(2) the whole file in BS blocks (1 MiB)
 *   pread PATH SEED OPS RSEED          OPS random 4 KiB pread(2)s
 *   mmap PATH SEED OPS RSEED ADVICE    OPS random 4 KiB memcpy()s out of an mmap;
 *                                      ADVICE: none|random|sequential (madvise)
 *   mscan PATH SEED ADVICE             memcpy() the whole mmap out in 1 MiB chunks
 *   warm PATH                          read the whole file (untimed) and print its size
 *   resid PATH...                      page-cache bytes of each file (cachestat)
 *   evict PATH...                      fdatasync + POSIX_FADV_DONTNEED each file
 *   verify PATH SEED                   check a few blocks (first, last, spread) exactly
 *   mkmeta DIR NFILES PERDIR           make DIR/dNNN/fNNNNN files of 64 bytes
 *   meta DIR...                        walk each DIR: readdir + lstat of every entry
 *   holdopen DIR NFILES PERDIR         open NFILES of the mkmeta tree, read a byte of
 *                                      each, print "ready", wait for stdin to close
 *   daemonsim PATH ADVICE HOW PATTERN N
 *                                      what the daemon does for N FUSE reads, without
 *                                      FUSE: memcpy out of a mapping of PATH advised
 *                                      ADVICE (normal|random|sequential), HOW: plain,
 *                                      or willneed (MADV_WILLNEED of each request's
 *                                      range first); PATTERN: seq (1 MiB requests in
 *                                      order) or rand (4 KiB at random). Run it on an
 *                                      evicted file to size a change to the read path
 *
 * Data: the 8-byte word at file offset 8*i is mix(SEED, i), so any block can be
 * checked without a reference copy. Sampling: two words of each 4 KiB page read
 * (one at a page-dependent position, one at its end), folded into a checksum that
 * is recomputed from the generator after the timed loop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

#define PAGE	       4096u
#define WORDS_PER_PAGE (PAGE / 8u)

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "bench-io: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, ": %s\n", strerror(errno));
	exit(1);
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !*s) {
		fprintf(stderr, "bench-io: bad number '%s'\n", s);
		exit(2);
	}
	return (uint64_t)v;
}

static inline uint64_t gen_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* The word index within page @page that gets sampled besides the last one. */
static inline uint64_t sample_slot(uint64_t page)
{
	return (page * 13u) % WORDS_PER_PAGE;
}

/* Fold the two sampled words of the page at file offset @off, held at @p. */
static inline uint64_t fold_page(uint64_t csum, const unsigned char *p, uint64_t off)
{
	uint64_t a, b;

	memcpy(&a, p + sample_slot(off / PAGE) * 8, 8);
	memcpy(&b, p + PAGE - 8, 8);
	return rotl(csum, 7) ^ a ^ rotl(b, 29);
}

static inline uint64_t fold_expected(uint64_t csum, uint64_t seed, uint64_t off)
{
	uint64_t first = off / 8;
	uint64_t a = gen_word(seed, first + sample_slot(off / PAGE));
	uint64_t b = gen_word(seed, first + WORDS_PER_PAGE - 1);

	return rotl(csum, 7) ^ a ^ rotl(b, 29);
}

/* Page faults (minor, major) and CPU seconds of this process in the timed loop. */
static long fault_base[2];
static double cpu_base;

static double cpu_of(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1e-6;
}

static void faults_start(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	fault_base[0] = ru.ru_minflt;
	fault_base[1] = ru.ru_majflt;
	cpu_base = cpu_of(&ru);
}

static void faults_stop(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	fault_base[0] = ru.ru_minflt - fault_base[0];
	fault_base[1] = ru.ru_majflt - fault_base[1];
	cpu_base = cpu_of(&ru) - cpu_base;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keep the compiler from dropping copies whose result is only partly read. */
static inline void clobber(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static uint64_t file_size(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		die("fstat %s", path);
	return (uint64_t)st.st_size;
}

struct cachestat_range {
	uint64_t off, len;
};
struct cachestat_counts {
	uint64_t cache, dirty, writeback, evicted, recently_evicted;
};

/* Resident bytes of @fd's page cache; -1 when neither cachestat nor mincore works. */
static int64_t resident_bytes(int fd)
{
	struct cachestat_range r = { 0, 0 };
	struct cachestat_counts c;
	uint64_t size, pages, i, n = 0;
	unsigned char *vec;
	void *map;

	if (syscall(__NR_cachestat, fd, &r, &c, 0) == 0)
		return (int64_t)(c.cache * PAGE);
	size = file_size(fd, "file");
	if (!size)
		return 0;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -1;
	pages = (size + PAGE - 1) / PAGE;
	vec = malloc(pages);
	if (!vec || mincore(map, size, vec) == -1) {
		free(vec);
		munmap(map, size);
		return -1;
	}
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, size);
	return (int64_t)(n * PAGE);
}

static int open_ro(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		die("open %s", path);
	return fd;
}

/* Print what every timed mode prints: the page cache of the file as opened, etc. */
static void report(const char *mode, double secs, uint64_t bytes, uint64_t ops, uint64_t unique,
		   int64_t res_open, int64_t res_end, int ok)
{
	printf("mode=%s secs=%.9f bytes=%" PRIu64 " ops=%" PRIu64 " unique_bytes=%" PRIu64
	       " resident_at_open=%" PRId64 " resident_at_end=%" PRId64
	       " client_minflt=%ld client_majflt=%ld client_cpu=%.6f ok=%d\n",
	       mode, secs, bytes, ops, unique, res_open, res_end, fault_base[0], fault_base[1],
	       cpu_base, ok);
}

static int cmd_gen(const char *path, uint64_t size, uint64_t seed)
{
	const size_t bs = 1u << 20;
	uint64_t *buf = malloc(bs), off, i;
	int fd;

	if (!buf || size % PAGE) {
		fprintf(stderr, "bench-io: size must be a multiple of %u\n", PAGE);
		return 1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		die("create %s", path);
	for (off = 0; off < size; off += bs) {
		size_t len = size - off < bs ? (size_t)(size - off) : bs;
		size_t done = 0;

		for (i = 0; i < len / 8; i++)
			buf[i] = gen_word(seed, off / 8 + i);
		while (done < len) {
			ssize_t n = write(fd, (char *)buf + done, len - done);

			if (n <= 0)
				die("write %s", path);
			done += (size_t)n;
		}
	}
	if (fsync(fd) == -1 || close(fd) == -1)
		die("fsync %s", path);
	free(buf);
	printf("mode=gen bytes=%" PRIu64 "\n", size);
	return 0;
}

static int cmd_seq(const char *path, uint64_t seed, size_t bs)
{
	unsigned char *buf = aligned_alloc(PAGE, bs);
	uint64_t size, got = 0, csum = 0, expect = 0, off;
	int64_t res_open;
	double t0, t1;
	int fd = open_ro(path), ok;

	if (!buf || bs % PAGE)
		return 1;
	size = file_size(fd, path);
	res_open = resident_bytes(fd);
	faults_start();
	t0 = now();
	for (;;) {
		ssize_t n = read(fd, buf, bs);
		size_t p;

		if (n < 0)
			die("read %s", path);
		if (n == 0)
			break;
		clobber(buf);
		for (p = 0; p + PAGE <= (size_t)n; p += PAGE)
			csum = fold_page(csum, buf + p, got + p);
		got += (uint64_t)n;
		if ((size_t)n % PAGE)
			break; /* a short read that is not page sized: only at EOF */
	}
	t1 = now();
	faults_stop();
	for (off = 0; off + PAGE <= got; off += PAGE)
		expect = fold_expected(expect, seed, off);
	ok = got == size && csum == expect;
	report("seq", t1 - t0, got, (got + bs - 1) / bs, got, res_open, resident_bytes(fd), ok);
	close(fd);
	free(buf);
	return 0;
}

/* @ops page-aligned offsets drawn uniformly from the file's pages (xorshift64*). */
static uint64_t *random_offsets(uint64_t size, uint64_t ops, uint64_t rseed, uint64_t *unique)
{
	uint64_t pages = size / PAGE, x = rseed * 2654435761u + 0x1234567u, i;
	uint64_t *offs = malloc(ops * sizeof(*offs));
	unsigned char *seen = calloc(pages ? pages : 1, 1);

	if (!offs || !seen || !pages) {
		fprintf(stderr, "bench-io: file too small or out of memory\n");
		exit(1);
	}
	*unique = 0;
	for (i = 0; i < ops; i++) {
		uint64_t page;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		page = (x * 0x2545F4914F6CDD1Dull >> 11) % pages;
		offs[i] = page * PAGE;
		if (!seen[page]) {
			seen[page] = 1;
			*unique += PAGE;
		}
	}
	free(seen);
	return offs;
}

static uint64_t expected_random(const uint64_t *offs, uint64_t ops, uint64_t seed)
{
	uint64_t expect = 0, i;

	for (i = 0; i < ops; i++)
		expect = fold_expected(expect, seed, offs[i]);
	return expect;
}

static int cmd_pread(const char *path, uint64_t seed, uint64_t ops, uint64_t rseed)
{
	unsigned char *buf = aligned_alloc(PAGE, PAGE);
	uint64_t size, unique, *offs, csum = 0, i;
	int64_t res_open;
	double t0, t1;
	int fd = open_ro(path), ok = 1;

	size = file_size(fd, path);
	offs = random_offsets(size, ops, rseed, &unique);
	res_open = resident_bytes(fd);
	faults_start();
	t0 = now();
	for (i = 0; i < ops; i++) {
		ssize_t n = pread(fd, buf, PAGE, (off_t)offs[i]);

		if (n != (ssize_t)PAGE) {
			ok = 0;
			memset(buf, 0, PAGE);
		}
		clobber(buf);
		csum = fold_page(csum, buf, offs[i]);
	}
	t1 = now();
	faults_stop();
	ok = ok && csum == expected_random(offs, ops, seed);
	report("pread", t1 - t0, ops * PAGE, ops, unique, res_open, resident_bytes(fd), ok);
	close(fd);
	free(offs);
	free(buf);
	return 0;
}

static int advice_of(const char *name)
{
	if (!strcmp(name, "none") || !strcmp(name, "normal"))
		return MADV_NORMAL;
	if (!strcmp(name, "random"))
		return MADV_RANDOM;
	if (!strcmp(name, "sequential"))
		return MADV_SEQUENTIAL;
	fprintf(stderr, "bench-io: bad advice '%s'\n", name);
	exit(2);
}

static unsigned char *map_file(int fd, uint64_t size, const char *path, const char *advice)
{
	unsigned char *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED)
		die("mmap %s", path);
	if (strcmp(advice, "none") && madvise(map, size, advice_of(advice)) == -1)
		die("madvise %s", path);
	return map;
}

static int cmd_mmap(const char *path, uint64_t seed, uint64_t ops, uint64_t rseed,
		    const char *advice)
{
	unsigned char *buf = aligned_alloc(PAGE, PAGE), *map;
	uint64_t size, unique, *offs, csum = 0, i;
	int64_t res_open;
	double t0, t1;
	int fd = open_ro(path), ok;

	size = file_size(fd, path);
	offs = random_offsets(size, ops, rseed, &unique);
	res_open = resident_bytes(fd);
	map = map_file(fd, size, path, advice);
	faults_start();
	t0 = now();
	for (i = 0; i < ops; i++) {
		memcpy(buf, map + offs[i], PAGE);
		clobber(buf);
		csum = fold_page(csum, buf, offs[i]);
	}
	t1 = now();
	faults_stop();
	munmap(map, size);
	ok = csum == expected_random(offs, ops, seed);
	report("mmap", t1 - t0, ops * PAGE, ops, unique, res_open, resident_bytes(fd), ok);
	close(fd);
	free(offs);
	free(buf);
	return 0;
}

static int cmd_mscan(const char *path, uint64_t seed, const char *advice)
{
	const size_t bs = 1u << 20;
	unsigned char *buf = aligned_alloc(PAGE, bs), *map;
	uint64_t size, csum = 0, expect = 0, off;
	int64_t res_open;
	double t0, t1;
	int fd = open_ro(path), ok;

	size = file_size(fd, path) / PAGE * PAGE;
	res_open = resident_bytes(fd);
	map = map_file(fd, size, path, advice);
	faults_start();
	t0 = now();
	for (off = 0; off < size; off += bs) {
		size_t len = size - off < bs ? (size_t)(size - off) : bs, p;

		memcpy(buf, map + off, len);
		clobber(buf);
		for (p = 0; p < len; p += PAGE)
			csum = fold_page(csum, buf + p, off + p);
	}
	t1 = now();
	faults_stop();
	munmap(map, size);
	for (off = 0; off < size; off += PAGE)
		expect = fold_expected(expect, seed, off);
	ok = csum == expect;
	report("mscan", t1 - t0, size, (size + bs - 1) / bs, size, res_open, resident_bytes(fd),
	       ok);
	close(fd);
	free(buf);
	return 0;
}

static int cmd_warm(const char *path)
{
	const size_t bs = 1u << 20;
	char *buf = malloc(bs);
	uint64_t total = 0;
	ssize_t n;
	int fd = open_ro(path);

	while ((n = read(fd, buf, bs)) > 0)
		total += (uint64_t)n;
	if (n < 0)
		die("read %s", path);
	printf("mode=warm bytes=%" PRIu64 " resident=%" PRId64 "\n", total, resident_bytes(fd));
	close(fd);
	free(buf);
	return 0;
}

static int cmd_resid(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		int fd = open_ro(argv[i]);

		printf("%s%" PRId64, i ? " " : "", resident_bytes(fd));
		close(fd);
	}
	printf("\n");
	return 0;
}

static int cmd_evict(int argc, char **argv)
{
	int i, err;

	for (i = 0; i < argc; i++) {
		int fd = open_ro(argv[i]);

		if (fdatasync(fd) == -1)
			die("fdatasync %s", argv[i]);
		err = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (err) {
			errno = err;
			die("posix_fadvise %s", argv[i]);
		}
		printf("%s%" PRId64, i ? " " : "", resident_bytes(fd));
		close(fd);
	}
	printf("\n");
	return 0;
}

/* Exact check of a few whole blocks: the first, the last, and some spread between. */
static int cmd_verify(const char *path, uint64_t seed)
{
	unsigned char *buf = malloc(PAGE * 4);
	uint64_t size, pages, blocks[10], bad = 0, checked = 0;
	int fd = open_ro(path), i;

	size = file_size(fd, path);
	pages = size / PAGE;
	if (!buf || pages < 4)
		return 1;
	for (i = 0; i < 10; i++)
		blocks[i] = (pages - 4) * (uint64_t)i / 9; /* 4-page blocks, 0 .. end */
	for (i = 0; i < 10; i++) {
		uint64_t off = blocks[i] * PAGE, w;
		ssize_t n = pread(fd, buf, PAGE * 4, (off_t)off);

		if (n != (ssize_t)(PAGE * 4)) {
			bad++;
			continue;
		}
		for (w = 0; w < PAGE * 4 / 8; w++) {
			uint64_t got;

			memcpy(&got, buf + w * 8, 8);
			bad += got != gen_word(seed, off / 8 + w);
			checked++;
		}
	}
	printf("mode=verify words=%" PRIu64 " bad=%" PRIu64 " ok=%d\n", checked, bad, bad == 0);
	close(fd);
	free(buf);
	return 0;
}

static void meta_name(char *buf, size_t len, const char *dir, uint64_t i, uint64_t perdir)
{
	snprintf(buf, len, "%s/d%03" PRIu64 "/f%05" PRIu64, dir, i / perdir, i % perdir);
}

static int cmd_mkmeta(const char *dir, uint64_t nfiles, uint64_t perdir)
{
	char path[4096], content[64];
	uint64_t i;

	memset(content, 'm', sizeof(content));
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		die("mkdir %s", dir);
	for (i = 0; i < nfiles; i++) {
		int fd;

		if (i % perdir == 0) {
			snprintf(path, sizeof(path), "%s/d%03" PRIu64, dir, i / perdir);
			if (mkdir(path, 0755) == -1 && errno != EEXIST)
				die("mkdir %s", path);
		}
		meta_name(path, sizeof(path), dir, i, perdir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd == -1)
			die("create %s", path);
		if (write(fd, content, sizeof(content)) != (ssize_t)sizeof(content))
			die("write %s", path);
		close(fd);
	}
	printf("mode=mkmeta files=%" PRIu64 "\n", nfiles);
	return 0;
}

struct walk {
	uint64_t files, dirs, bytes, errors;
	int first_errno;
};

static void walk_error(struct walk *w)
{
	if (!w->first_errno)
		w->first_errno = errno;
	w->errors++;
}

static void walk_dir(int dfd, struct walk *w)
{
	DIR *d = fdopendir(dfd);
	struct dirent *ent;

	if (!d) {
		walk_error(w);
		close(dfd);
		return;
	}
	while ((ent = readdir(d))) {
		struct stat st;

		if (ent->d_name[0] == '.' &&
		    (!ent->d_name[1] || (ent->d_name[1] == '.' && !ent->d_name[2])))
			continue;
		if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			walk_error(w);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), ent->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			w->dirs++;
			if (sub == -1)
				walk_error(w);
			else
				walk_dir(sub, w);
		} else {
			w->files++;
			w->bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
}

/* Walk each directory (find DIR... -ls, without the printing). */
static int cmd_meta(int argc, char **argv)
{
	struct walk w = { 0 };
	double t0, t1;
	int fd, i;

	t0 = now();
	for (i = 0; i < argc; i++) {
		fd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1)
			die("open %s", argv[i]);
		walk_dir(fd, &w);
	}
	t1 = now();
	printf("mode=meta secs=%.9f files=%" PRIu64 " dirs=%" PRIu64 " bytes=%" PRIu64
	       " errors=%" PRIu64 " first_error=%s ok=%d\n",
	       t1 - t0, w.files, w.dirs, w.bytes, w.errors,
	       w.first_errno ? strerrorname_np(w.first_errno) : "none", w.errors == 0);
	return 0;
}

static int cmd_holdopen(const char *dir, uint64_t nfiles, uint64_t perdir)
{
	struct rlimit rl;
	char path[4096], c, line[64];
	uint64_t i, opened = 0, failed = 0;
	int *fds = malloc(nfiles * sizeof(*fds)), first_errno = 0;

	if (!fds)
		return 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nfiles + 64) {
		rl.rlim_cur = nfiles + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			die("setrlimit(RLIMIT_NOFILE) %s", "");
	}
	for (i = 0; i < nfiles; i++) {
		meta_name(path, sizeof(path), dir, i, perdir);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] == -1 || pread(fds[i], &c, 1, 0) != 1) {
			if (!first_errno)
				first_errno = errno ? errno : EIO;
			failed++;
			continue;
		}
		opened++;
	}
	printf("ready opened=%" PRIu64 " failed=%" PRIu64 " first_error=%s\n", opened, failed,
	       first_errno ? strerrorname_np(first_errno) : "none");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	for (i = 0; i < nfiles; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return 0;
}

static int cmd_daemonsim(const char *path, const char *advice, const char *how, const char *pattern,
			 uint64_t n)
{
	int fd = open_ro(path), willneed = !strcmp(how, "willneed"), seq = !strcmp(pattern, "seq");
	uint64_t size = file_size(fd, path) / PAGE * PAGE, x = 88172645463325252ull, i;
	size_t len = seq ? (size_t)1 << 20 : PAGE;
	unsigned char *map = map_file(fd, size, path, advice), *buf = malloc(len);
	int64_t res0 = resident_bytes(fd);
	double t0, t1;

	if (!buf)
		return 1;
	faults_start();
	t0 = now();
	for (i = 0; i < n; i++) {
		uint64_t off;

		if (seq) {
			off = i * len;
			if (off + len > size)
				break;
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			off = x % (size / PAGE) * PAGE;
		}
		if (willneed)
			madvise(map + off, len, MADV_WILLNEED);
		memcpy(buf, map + off, len);
		clobber(buf);
	}
	t1 = now();
	faults_stop();
	printf("mode=daemonsim advice=%s how=%s pattern=%s requests=%" PRIu64
	       " secs=%.6f us_per_request=%.1f read_in_bytes=%" PRId64 " majflt=%ld\n",
	       advice, how, pattern, i, t1 - t0, i ? (t1 - t0) / (double)i * 1e6 : 0.0,
	       resident_bytes(fd) - res0, fault_base[1]);
	munmap(map, size);
	close(fd);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "gen") && argc == 5)
		return cmd_gen(argv[2], parse_u64(argv[3]), parse_u64(argv[4]));
	if (!strcmp(mode, "seq") && (argc == 4 || argc == 5))
		return cmd_seq(argv[2], parse_u64(argv[3]),
			       argc == 5 ? (size_t)parse_u64(argv[4]) : (size_t)1 << 20);
	if (!strcmp(mode, "pread") && argc == 6)
		return cmd_pread(argv[2], parse_u64(argv[3]), parse_u64(argv[4]),
				 parse_u64(argv[5]));
	if (!strcmp(mode, "mmap") && argc == 7)
		return cmd_mmap(argv[2], parse_u64(argv[3]), parse_u64(argv[4]), parse_u64(argv[5]),
				argv[6]);
	if (!strcmp(mode, "mscan") && argc == 5)
		return cmd_mscan(argv[2], parse_u64(argv[3]), argv[4]);
	if (!strcmp(mode, "warm") && argc == 3)
		return cmd_warm(argv[2]);
	if (!strcmp(mode, "resid") && argc >= 3)
		return cmd_resid(argc - 2, argv + 2);
	if (!strcmp(mode, "evict") && argc >= 3)
		return cmd_evict(argc - 2, argv + 2);
	if (!strcmp(mode, "verify") && argc == 4)
		return cmd_verify(argv[2], parse_u64(argv[3]));
	if (!strcmp(mode, "mkmeta") && argc == 5)
		return cmd_mkmeta(argv[2], parse_u64(argv[3]), parse_u64(argv[4]));
	if (!strcmp(mode, "meta") && argc >= 3)
		return cmd_meta(argc - 2, argv + 2);
	if (!strcmp(mode, "holdopen") && argc == 5)
		return cmd_holdopen(argv[2], parse_u64(argv[3]), parse_u64(argv[4]));
	if (!strcmp(mode, "daemonsim") && argc == 7)
		return cmd_daemonsim(argv[2], argv[3], argv[4], argv[5], parse_u64(argv[6]));
	fprintf(stderr, "usage: see the comment at the top of scripts/bench-io.c\n");
	return 2;
}
