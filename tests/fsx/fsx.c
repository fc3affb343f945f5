/*
 * fsx - a file system exerciser in the spirit of the classic fsx: random reads,
 * writes, mapped reads, mapped writes, truncations, fsyncs and close/reopens on a
 * file, each result checked against an in-memory model of what the file must hold.
 *
 *   fsx [options] PATH
 *
 *   -N OPS       operations per thread (default 10000; 0: until -T runs out)
 *   -T SECONDS   stop after this many seconds (default: no limit)
 *   -S SEED      random seed (default: from the clock); printed either way
 *   -l BYTES     largest file size (default 262144)
 *   -o BYTES     largest read/write length (default 65536)
 *   -t THREADS   worker threads (default 1)
 *   -m same|diff threads share PATH (one model, a lock around each operation and
 *                its model update) or each use PATH.<n> with its own model (default)
 *   -r           read-only: read, mapped read, fsync and reopen O_RDONLY over an
 *                existing file; the model is the reference file (-B) or, without
 *                one, what a first read of PATH returns
 *   -B PATH      the backing file behind PATH (PATH.<n> with -m diff): in read-write
 *                mode it must equal the model after the final fsync; in read-only
 *                mode it is the reference the model is loaded from
 *   -x OP[,OP]   leave out operations: read, write, mapread, mapwrite, truncate,
 *                fsync, reopen
 *   -c N         check the whole file every N operations (default 200; 0: only at end)
 *   -p N         print progress every N operations
 *   -v           print every operation
 *   -q           quiet: only the seed line and failures
 *
 * Exit status: 0 every check passed, 1 a mismatch or an unexpected error (the last
 * operations and the first differing offset are printed), 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_SIZE 64
#define LOG_SHOW 20

enum op {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNCATE,
	OP_FSYNC,
	OP_REOPEN,
	OP_CHECK, /* whole-file check, not drawn at random */
	OP_COUNT,
};

static const char *const op_names[OP_COUNT] = {
	"read", "write", "mapread", "mapwrite", "truncate", "fsync", "reopen", "check",
};

/* Relative frequencies in read-write and read-only mode. */
static const unsigned rw_weights[OP_COUNT] = { 22, 22, 14, 14, 10, 4, 4, 0 };
static const unsigned ro_weights[OP_COUNT] = { 50, 0, 35, 0, 0, 5, 10, 0 };

struct options {
	unsigned long ops;
	double seconds;
	uint64_t seed;
	size_t maxlen;
	size_t oplen;
	unsigned threads;
	bool same;
	bool readonly;
	const char *backing;
	bool excluded[OP_COUNT];
	unsigned long check_every;
	unsigned long progress;
	bool verbose;
	bool quiet;
	const char *path;
};

struct log_entry {
	unsigned long opnum;
	unsigned thread;
	enum op op;
	uint64_t offset, len;
	uint64_t size_before, size_after;
	int err; /* errno of the operation, 0 if it succeeded */
	bool skipped;
};

struct oplog {
	struct log_entry entries[LOG_SIZE];
	unsigned long count;
};

/* What the file must hold: @size bytes of @buf; bytes past @size are zero. */
struct model {
	unsigned char *buf;
	uint32_t *writer; /* op number (thread-tagged) that last wrote each byte; 0: initial */
	size_t size;
	size_t cap;
	struct oplog log;
	pthread_mutex_t lock;
	bool shared;
	unsigned long opnum; /* operations done on this model */
};

struct worker {
	unsigned id;
	char *path;
	char *backing;
	int fd;
	struct model *model;
	uint64_t rng;
	unsigned char *data;  /* random data for a write */
	unsigned char *check; /* what a read returned */
	pthread_t thread;
	int status; /* 0 ok, 1 failed */
};

static struct options opt = {
	.ops = 10000,
	.maxlen = 256 * 1024,
	.oplen = 64 * 1024,
	.threads = 1,
	.check_every = 200,
};

static size_t page_size;
static volatile int stop_all;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec start_time;
static unsigned weights[OP_COUNT];
static unsigned weight_total;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("fsx: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* splitmix64: small, fast, and a good seed mixer */
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

static double elapsed(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start_time.tv_sec) +
	       (double)(now.tv_nsec - start_time.tv_nsec) / 1e9;
}

static void model_init(struct model *m, size_t cap, bool shared)
{
	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->buf = calloc(1, cap);
	m->writer = calloc(cap, sizeof(*m->writer));
	if (!m->buf || !m->writer)
		die("out of memory for a model of %zu bytes", cap);
	m->shared = shared;
	pthread_mutex_init(&m->lock, NULL);
}

static void model_resize(struct model *m, size_t size, uint32_t tag)
{
	if (size < m->size) {
		memset(m->buf + size, 0, m->size - size);
		memset(m->writer + size, 0, (m->size - size) * sizeof(*m->writer));
	} else {
		size_t i;

		for (i = m->size; i < size; i++)
			m->writer[i] = tag; /* zeros from this truncate or extension */
	}
	m->size = size;
}

static void model_write(struct model *m, const unsigned char *data, size_t off, size_t len,
			uint32_t tag)
{
	size_t i;

	if (off > m->size)
		model_resize(m, off, tag);
	memcpy(m->buf + off, data, len);
	for (i = 0; i < len; i++)
		m->writer[off + i] = tag;
	if (off + len > m->size)
		m->size = off + len;
}

static void log_op(struct model *m, const struct log_entry *e)
{
	m->log.entries[m->log.count % LOG_SIZE] = *e;
	m->log.count++;
}

static void format_entry(const struct log_entry *e, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "#%-7lu t%-2u %-8s off=0x%-7" PRIx64 " len=0x%-6" PRIx64 " size 0x%" PRIx64
			 " -> 0x%" PRIx64,
			 e->opnum, e->thread, op_names[e->op], e->offset, e->len, e->size_before,
			 e->size_after);

	if (n > 0 && (size_t)n < len && e->skipped)
		snprintf(buf + n, len - (size_t)n, " (skipped)");
	else if (n > 0 && (size_t)n < len && e->err)
		snprintf(buf + n, len - (size_t)n, " -> %s", strerror(e->err));
}

static void print_log(const struct model *m)
{
	unsigned long first = m->log.count > LOG_SHOW ? m->log.count - LOG_SHOW : 0, i;
	char line[256];

	fprintf(stderr, "fsx: last %lu operations on this file (oldest first):\n",
		m->log.count - first);
	for (i = first; i < m->log.count; i++) {
		format_entry(&m->log.entries[i % LOG_SIZE], line, sizeof(line));
		fprintf(stderr, "    %s\n", line);
	}
}

static void hexdump(const char *what, const unsigned char *buf, size_t start, size_t end,
		    size_t base)
{
	size_t i;

	fprintf(stderr, "    %-8s @0x%zx:", what, base + start);
	for (i = start; i < end; i++)
		fprintf(stderr, " %02x", buf[i]);
	fputc('\n', stderr);
}

static void describe_tag(uint32_t tag, char *buf, size_t len)
{
	if (!tag)
		snprintf(buf, len, "the initial content");
	else
		snprintf(buf, len, "op #%u of thread %u", tag >> 8, (tag & 0xff) - 1);
}

/*
 * Report that @got (what the file returned for [@off, @off+@len)) differs from the
 * model, with the first differing offset. Caller holds the model (it is ours or locked).
 */
static void report_mismatch(struct worker *w, const char *what, size_t off,
			    const unsigned char *got, size_t len)
{
	const struct model *m = w->model;
	size_t i, lo, hi;
	char who[64];

	for (i = 0; i < len && got[i] == m->buf[off + i]; i++)
		;
	pthread_mutex_lock(&print_lock);
	fprintf(stderr, "fsx: MISMATCH in %s of %s [0x%zx, 0x%zx) (seed %" PRIu64 ")\n", what,
		w->path, off, off + len, opt.seed);
	if (i < len) {
		describe_tag(m->writer[off + i], who, sizeof(who));
		fprintf(stderr,
			"fsx: first differing offset 0x%zx (%zu): expected 0x%02x, got 0x%02x;"
			" expected byte from %s; model size 0x%zx\n",
			off + i, off + i, m->buf[off + i], got[i], who, m->size);
		lo = i > 8 ? i - 8 : 0;
		hi = i + 24 < len ? i + 24 : len;
		hexdump("expected", m->buf + off, lo, hi, off);
		hexdump("got", got, lo, hi, off);
	}
	print_log(m);
	pthread_mutex_unlock(&print_lock);
}

static void report_error(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report_error(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&print_lock);
	fprintf(stderr, "fsx: FAILURE on %s (thread %u, seed %" PRIu64 "): ", w->path, w->id,
		opt.seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_log(w->model);
	pthread_mutex_unlock(&print_lock);
}

static int open_file(struct worker *w, bool create)
{
	int flags = opt.readonly ? O_RDONLY : O_RDWR;

	if (create)
		flags |= O_CREAT | O_TRUNC;
	w->fd = open(w->path, flags | O_CLOEXEC, 0644);
	return w->fd == -1 ? -errno : 0;
}

/* pread until @len bytes or end of file; -errno on error */
static ssize_t read_full(int fd, unsigned char *buf, size_t len, size_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t got = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return -errno;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

static ssize_t write_full(int fd, const unsigned char *buf, size_t len, size_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t put = pwrite(fd, buf + done, len - done, (off_t)(off + done));

		if (put == -1 && errno == EINTR)
			continue;
		if (put == -1)
			return -errno;
		if (put == 0)
			return -EIO;
		done += (size_t)put;
	}
	return (ssize_t)done;
}

/* Compare the file's size with the model's. */
static int check_size(struct worker *w, const char *after)
{
	struct stat st;

	if (fstat(w->fd, &st) == -1) {
		report_error(w, "fstat after %s: %s", after, strerror(errno));
		return -1;
	}
	if ((uint64_t)st.st_size != w->model->size) {
		report_error(w, "after %s the file size is 0x%jx (%jd), the model's 0x%zx (%zu)",
			     after, (intmax_t)st.st_size, (intmax_t)st.st_size, w->model->size,
			     w->model->size);
		return -1;
	}
	return 0;
}

/* Read [off, off+len) and compare; the model says how much must come back. */
static int do_read(struct worker *w, size_t off, size_t len, struct log_entry *e)
{
	struct model *m = w->model;
	size_t want = off >= m->size ? 0 : (len < m->size - off ? len : m->size - off);
	ssize_t got = read_full(w->fd, w->check, len, off);

	if (got < 0) {
		e->err = (int)-got;
		log_op(m, e);
		report_error(w, "read off=0x%zx len=0x%zx: %s", off, len, strerror(e->err));
		return -1;
	}
	log_op(m, e);
	if ((size_t)got != want) {
		report_error(w, "read off=0x%zx len=0x%zx returned 0x%zx bytes, expected 0x%zx",
			     off, len, (size_t)got, want);
		return -1;
	}
	if (memcmp(w->check, m->buf + off, want)) {
		report_mismatch(w, "read", off, w->check, want);
		return -1;
	}
	return 0;
}

static int do_write(struct worker *w, size_t off, size_t len, uint32_t tag, struct log_entry *e)
{
	struct model *m = w->model;
	ssize_t put;
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t r = next_rand(&w->rng);

		memcpy(w->data + i, &r, len - i < 8 ? len - i : 8);
	}
	put = write_full(w->fd, w->data, len, off);
	if (put < 0) {
		e->err = (int)-put;
		log_op(m, e);
		report_error(w, "write off=0x%zx len=0x%zx: %s", off, len, strerror(e->err));
		return -1;
	}
	model_write(m, w->data, off, len, tag);
	e->size_after = m->size;
	log_op(m, e);
	return 0;
}

static int map_range(struct worker *w, size_t off, size_t len, int prot, int flags, void **base,
		     size_t *map_len)
{
	size_t pg = off / page_size * page_size;

	*map_len = off + len - pg;
	*base = mmap(NULL, *map_len, prot, flags, w->fd, (off_t)pg);
	if (*base == MAP_FAILED)
		return -errno;
	return (int)(off - pg);
}

static int do_mapread(struct worker *w, size_t off, size_t len, struct log_entry *e)
{
	struct model *m = w->model;
	void *base;
	size_t map_len;
	int delta, flags = rand_below(&w->rng, 4) ? MAP_SHARED : MAP_PRIVATE;

	if (!m->size) {
		e->skipped = true;
		log_op(m, e);
		return 0;
	}
	if (off >= m->size)
		off = (size_t)rand_below(&w->rng, m->size);
	if (len > m->size - off)
		len = m->size - off;
	if (!len)
		len = 1;
	e->offset = off;
	e->len = len;
	delta = map_range(w, off, len, PROT_READ, flags, &base, &map_len);
	if (delta < 0) {
		e->err = -delta;
		log_op(m, e);
		report_error(w, "mmap for mapread off=0x%zx len=0x%zx: %s", off, len,
			     strerror(e->err));
		return -1;
	}
	memcpy(w->check, (char *)base + delta, len);
	munmap(base, map_len);
	log_op(m, e);
	if (memcmp(w->check, m->buf + off, len)) {
		report_mismatch(w, "mapread", off, w->check, len);
		return -1;
	}
	return 0;
}

static int do_mapwrite(struct worker *w, size_t off, size_t len, uint32_t tag, struct log_entry *e)
{
	struct model *m = w->model;
	void *base;
	size_t map_len, i;
	int delta;

	if (off + len > m->size) {
		/* a mapping cannot extend a file: grow it first, as a program would */
		if (ftruncate(w->fd, (off_t)(off + len)) == -1) {
			e->err = errno;
			log_op(m, e);
			report_error(w, "ftruncate to 0x%zx before mapwrite: %s", off + len,
				     strerror(e->err));
			return -1;
		}
		model_resize(m, off + len, tag);
	}
	for (i = 0; i < len; i += 8) {
		uint64_t r = next_rand(&w->rng);

		memcpy(w->data + i, &r, len - i < 8 ? len - i : 8);
	}
	delta = map_range(w, off, len, PROT_READ | PROT_WRITE, MAP_SHARED, &base, &map_len);
	if (delta < 0) {
		e->err = -delta;
		log_op(m, e);
		report_error(w, "mmap for mapwrite off=0x%zx len=0x%zx: %s", off, len,
			     strerror(e->err));
		return -1;
	}
	memcpy((char *)base + delta, w->data, len);
	if (rand_below(&w->rng, 2) && msync(base, map_len, MS_SYNC) == -1) {
		e->err = errno;
		munmap(base, map_len);
		log_op(m, e);
		report_error(w, "msync after mapwrite off=0x%zx len=0x%zx: %s", off, len,
			     strerror(e->err));
		return -1;
	}
	munmap(base, map_len);
	model_write(m, w->data, off, len, tag);
	e->size_after = m->size;
	log_op(m, e);
	return 0;
}

static int do_truncate(struct worker *w, size_t size, uint32_t tag, struct log_entry *e)
{
	struct model *m = w->model;

	e->offset = size;
	e->len = 0;
	if (ftruncate(w->fd, (off_t)size) == -1) {
		e->err = errno;
		log_op(m, e);
		report_error(w, "ftruncate to 0x%zx: %s", size, strerror(e->err));
		return -1;
	}
	model_resize(m, size, tag);
	e->size_after = m->size;
	log_op(m, e);
	return 0;
}

static int do_fsync(struct worker *w, struct log_entry *e)
{
	bool data = rand_below(&w->rng, 2);

	e->len = data;
	if ((data ? fdatasync(w->fd) : fsync(w->fd)) == -1) {
		e->err = errno;
		log_op(w->model, e);
		report_error(w, "%s: %s", data ? "fdatasync" : "fsync", strerror(e->err));
		return -1;
	}
	log_op(w->model, e);
	return 0;
}

static int do_reopen(struct worker *w, struct log_entry *e)
{
	int err;

	if (close(w->fd) == -1) {
		e->err = errno;
		log_op(w->model, e);
		report_error(w, "close: %s", strerror(e->err));
		return -1;
	}
	w->fd = -1;
	err = open_file(w, false);
	if (err) {
		e->err = -err;
		log_op(w->model, e);
		report_error(w, "reopen: %s", strerror(-err));
		return -1;
	}
	log_op(w->model, e);
	return 0;
}

/* Read the whole file in large chunks and compare with the model. */
static int check_all(struct worker *w, const char *why)
{
	struct model *m = w->model;
	size_t off = 0, chunk = opt.oplen;
	ssize_t got;

	if (check_size(w, why))
		return -1;
	while (off < m->size) {
		size_t len = m->size - off < chunk ? m->size - off : chunk;

		got = read_full(w->fd, w->check, len, off);
		if (got < 0) {
			report_error(w, "whole-file check (%s) read at 0x%zx: %s", why, off,
				     strerror((int)-got));
			return -1;
		}
		if ((size_t)got != len) {
			report_error(w,
				     "whole-file check (%s): short read at 0x%zx: 0x%zx of 0x%zx",
				     why, off, (size_t)got, len);
			return -1;
		}
		if (memcmp(w->check, m->buf + off, len)) {
			report_mismatch(w, why, off, w->check, len);
			return -1;
		}
		off += len;
	}
	/* nothing past the end */
	got = read_full(w->fd, w->check, 1, m->size);
	if (got != 0) {
		report_error(w, "whole-file check (%s): a read at the end 0x%zx returned %zd", why,
			     m->size, got);
		return -1;
	}
	return 0;
}

/* Offsets like a test author picks them: near page boundaries and the end of file. */
static size_t pick_offset(struct worker *w, size_t limit)
{
	uint64_t r = rand_below(&w->rng, 8);
	size_t off;

	if (!limit)
		return 0;
	if (r == 0 && w->model->size < limit) {
		off = w->model->size; /* at the end */
	} else if (r == 1) {
		off = (size_t)rand_below(&w->rng, limit / page_size + 1) * page_size;
		off += (size_t)rand_below(&w->rng, 3);
		off = off >= 1 ? off - 1 : off; /* just before, on or after a page boundary */
	} else {
		off = (size_t)rand_below(&w->rng, limit);
	}
	return off < limit ? off : limit - 1;
}

static size_t pick_len(struct worker *w, size_t room)
{
	size_t max = room < opt.oplen ? room : opt.oplen;

	if (!max)
		return 0;
	switch (rand_below(&w->rng, 4)) {
	case 0:
		return 1 + (size_t)rand_below(&w->rng, max < 16 ? max : 16);
	case 1:
		return max < page_size ? max : page_size;
	default:
		return 1 + (size_t)rand_below(&w->rng, max);
	}
}

static size_t pick_size(struct worker *w)
{
	size_t cur = w->model->size;

	switch (rand_below(&w->rng, 4)) {
	case 0:
		return 0;
	case 1: /* a little shorter or longer */ {
		size_t d = (size_t)rand_below(&w->rng, 2 * page_size);
		size_t s = rand_below(&w->rng, 2) ? cur + d : (cur > d ? cur - d : 0);

		return s > opt.maxlen ? opt.maxlen : s;
	}
	default:
		return (size_t)rand_below(&w->rng, opt.maxlen + 1);
	}
}

static enum op pick_op(struct worker *w)
{
	uint64_t r = rand_below(&w->rng, weight_total);
	unsigned i;

	for (i = 0; i < OP_COUNT; i++) {
		if (r < weights[i])
			return (enum op)i;
		r -= weights[i];
	}
	return OP_READ;
}

/* One random operation and its checks. The model is ours or locked. */
static int one_op(struct worker *w)
{
	struct model *m = w->model;
	enum op op = pick_op(w);
	struct log_entry e = { .thread = w->id, .op = op };
	uint32_t tag;
	size_t off, len;
	int err = 0;

	m->opnum++;
	tag = (uint32_t)((m->opnum & 0xffffff) << 8) | ((w->id + 1) & 0xff);
	e.opnum = m->opnum;
	e.size_before = e.size_after = m->size;
	switch (op) {
	case OP_READ:
		off = pick_offset(w, m->size + page_size);
		len = pick_len(w, opt.maxlen + page_size - off);
		e.offset = off;
		e.len = len;
		err = do_read(w, off, len, &e);
		break;
	case OP_WRITE:
	case OP_MAPWRITE:
		off = pick_offset(w, opt.maxlen);
		len = pick_len(w, opt.maxlen - off);
		if (!len) {
			off = opt.maxlen - 1;
			len = 1;
		}
		e.offset = off;
		e.len = len;
		err = op == OP_WRITE ? do_write(w, off, len, tag, &e) :
				       do_mapwrite(w, off, len, tag, &e);
		break;
	case OP_MAPREAD:
		off = pick_offset(w, m->size);
		len = pick_len(w, m->size > off ? m->size - off : 0);
		e.offset = off;
		e.len = len;
		err = do_mapread(w, off, len, &e);
		break;
	case OP_TRUNCATE:
		err = do_truncate(w, pick_size(w), tag, &e);
		break;
	case OP_FSYNC:
		err = do_fsync(w, &e);
		break;
	case OP_REOPEN:
		err = do_reopen(w, &e);
		break;
	default:
		break;
	}
	if (opt.verbose) {
		char line[256];

		format_entry(&e, line, sizeof(line));
		pthread_mutex_lock(&print_lock);
		printf("%s\n", line);
		pthread_mutex_unlock(&print_lock);
	}
	if (!err && !opt.readonly)
		err = check_size(w, op_names[op]);
	if (!err && opt.check_every && m->opnum % opt.check_every == 0)
		err = check_all(w, "periodic check");
	return err;
}

/* Load the model from the reference file (-B) or from a first read through PATH. */
static int load_model(struct worker *w)
{
	const char *ref = w->backing ? w->backing : w->path;
	struct model *m = w->model;
	struct stat st;
	ssize_t got;
	int fd;

	fd = open(ref, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1)
		die("read-only mode: cannot open %s: %s", ref, strerror(errno));
	if ((size_t)st.st_size > m->cap) {
		unsigned char *buf = realloc(m->buf, (size_t)st.st_size);
		uint32_t *writer = realloc(m->writer, (size_t)st.st_size * sizeof(*writer));

		if (!buf || !writer)
			die("out of memory for a model of %jd bytes", (intmax_t)st.st_size);
		m->buf = buf;
		m->writer = writer;
		m->cap = (size_t)st.st_size;
	}
	got = read_full(fd, m->buf, (size_t)st.st_size, 0);
	close(fd);
	if (got != st.st_size)
		die("read-only mode: reading %s returned %zd of %jd bytes", ref, got,
		    (intmax_t)st.st_size);
	memset(m->writer, 0, (size_t)st.st_size * sizeof(*m->writer));
	m->size = (size_t)st.st_size;
	if (opt.maxlen < m->size)
		opt.maxlen = m->size;
	return 0;
}

/* After the run: fsync, then the backing file must hold exactly the model. */
static int check_backing(struct worker *w)
{
	struct model *m = w->model;
	struct stat st;
	unsigned char *buf;
	ssize_t got;
	int fd;

	if (fsync(w->fd) == -1) {
		report_error(w, "final fsync: %s", strerror(errno));
		return -1;
	}
	fd = open(w->backing, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		report_error(w, "backing file %s: %s", w->backing, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((size_t)st.st_size != m->size) {
		report_error(w, "backing file %s has size 0x%jx, the model 0x%zx", w->backing,
			     (intmax_t)st.st_size, m->size);
		close(fd);
		return -1;
	}
	buf = malloc(m->size ? m->size : 1);
	if (!buf)
		die("out of memory");
	got = read_full(fd, buf, m->size, 0);
	close(fd);
	if (got != (ssize_t)m->size || memcmp(buf, m->buf, m->size)) {
		if (got == (ssize_t)m->size)
			report_mismatch(w, "backing file check", 0, buf, m->size);
		else
			report_error(w, "backing file %s: read %zd of 0x%zx", w->backing, got,
				     m->size);
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

static bool time_is_up(void)
{
	return opt.seconds > 0 && elapsed() >= opt.seconds;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct model *m = w->model;
	unsigned long i;
	int err = 0;

	for (i = 0; (!opt.ops || i < opt.ops) && !stop_all && !time_is_up(); i++) {
		if (m->shared)
			pthread_mutex_lock(&m->lock);
		err = one_op(w);
		if (m->shared)
			pthread_mutex_unlock(&m->lock);
		if (err)
			break;
		if (opt.progress && (i + 1) % opt.progress == 0 && !opt.quiet) {
			pthread_mutex_lock(&print_lock);
			printf("fsx: thread %u: %lu operations, size 0x%zx, %.1f s\n", w->id, i + 1,
			       m->size, elapsed());
			fflush(stdout);
			pthread_mutex_unlock(&print_lock);
		}
	}
	if (err) {
		stop_all = 1;
		w->status = 1;
		return NULL;
	}
	if (m->shared)
		pthread_mutex_lock(&m->lock);
	if (check_all(w, "final check"))
		w->status = 1;
	if (m->shared)
		pthread_mutex_unlock(&m->lock);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: fsx [-N ops] [-T seconds] [-S seed] [-l maxlen] [-o oplen]"
			" [-t threads] [-m same|diff] [-r] [-B backing] [-x op,...] [-c N]"
			" [-p N] [-v] [-q] PATH\n");
	exit(2);
}

static unsigned long parse_number(const char *text, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || text[0] == '-')
		die("bad %s '%s'", what, text);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		die("bad %s '%s'", what, text);
	return (unsigned long)v;
}

static void parse_exclusions(char *list)
{
	char *save = NULL, *word;
	unsigned i;

	for (word = strtok_r(list, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < OP_COUNT && strcmp(word, op_names[i]); i++)
			;
		if (i >= OP_CHECK)
			die("unknown operation '%s' for -x", word);
		opt.excluded[i] = true;
	}
}

static void parse_options(int argc, char **argv)
{
	bool have_seed = false;
	int c;

	while ((c = getopt(argc, argv, "N:T:S:l:o:t:m:rB:x:c:p:vqh")) != -1) {
		switch (c) {
		case 'N':
			opt.ops = parse_number(optarg, "operation count");
			break;
		case 'T':
			opt.seconds = strtod(optarg, NULL);
			break;
		case 'S':
			opt.seed = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'l':
			opt.maxlen = parse_number(optarg, "file size");
			break;
		case 'o':
			opt.oplen = parse_number(optarg, "operation length");
			break;
		case 't':
			opt.threads = (unsigned)parse_number(optarg, "thread count");
			break;
		case 'm':
			if (!strcmp(optarg, "same"))
				opt.same = true;
			else if (!strcmp(optarg, "diff"))
				opt.same = false;
			else
				die("-m takes same or diff");
			break;
		case 'r':
			opt.readonly = true;
			break;
		case 'B':
			opt.backing = optarg;
			break;
		case 'x':
			parse_exclusions(optarg);
			break;
		case 'c':
			opt.check_every = parse_number(optarg, "check interval");
			break;
		case 'p':
			opt.progress = parse_number(optarg, "progress interval");
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'q':
			opt.quiet = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	opt.path = argv[optind];
	if (!opt.threads || opt.threads > 64)
		die("thread count must be 1 to 64");
	if (!opt.maxlen || !opt.oplen)
		die("file size and operation length must be positive");
	if (opt.oplen > opt.maxlen)
		opt.oplen = opt.maxlen;
	if (!opt.ops && opt.seconds <= 0)
		die("-N 0 needs -T");
	if (!have_seed) {
		struct timeval tv;

		gettimeofday(&tv, NULL);
		opt.seed = ((uint64_t)tv.tv_sec * 1000003u) ^ (uint64_t)tv.tv_usec ^
			   ((uint64_t)getpid() << 20);
		opt.seed %= 1000000000000ull;
	}
}

static char *name_for(const char *base, unsigned i, bool suffix)
{
	char *name;

	if (!base)
		return NULL;
	if (!suffix)
		return strdup(base);
	if (asprintf(&name, "%s.%u", base, i) == -1)
		return NULL;
	return name;
}

int main(int argc, char **argv)
{
	struct model *models;
	struct worker *workers;
	unsigned i, nmodels;
	int status = 0;

	parse_options(argc, argv);
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	weight_total = 0;
	for (i = 0; i < OP_COUNT; i++) {
		weights[i] = opt.excluded[i] ? 0 : (opt.readonly ? ro_weights : rw_weights)[i];
		weight_total += weights[i];
	}
	if (!weight_total)
		die("every operation is excluded");
	printf("fsx: seed %" PRIu64 " (rerun with -S %" PRIu64 "), %lu ops x %u thread(s) on %s,"
	       " %s, maxlen 0x%zx, oplen 0x%zx\n",
	       opt.seed, opt.seed, opt.ops, opt.threads,
	       opt.threads == 1 ? "one file" :
	       opt.same		? "the same file" :
				  "different files",
	       opt.readonly ? "read-only" : "read-write", opt.maxlen, opt.oplen);
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &start_time);

	nmodels = opt.same ? 1 : opt.threads;
	models = calloc(nmodels, sizeof(*models));
	workers = calloc(opt.threads, sizeof(*workers));
	if (!models || !workers)
		die("out of memory");
	for (i = 0; i < nmodels; i++)
		model_init(&models[i], opt.maxlen + page_size, opt.same && opt.threads > 1);
	for (i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		bool suffix = !opt.same && opt.threads > 1;

		w->id = i;
		w->model = &models[opt.same ? 0 : i];
		w->path = name_for(opt.path, i, suffix);
		w->backing = name_for(opt.backing, i, suffix);
		w->rng = opt.seed * 0x100000001b3ull + i;
		w->fd = -1;
		if (!w->path || (opt.backing && !w->backing))
			die("out of memory");
		if (opt.readonly && (!opt.same || i == 0))
			load_model(w);
	}
	for (i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		/* the first worker of a shared file creates it; the others open it */
		bool create = !opt.readonly && (!opt.same || i == 0);
		int err = open_file(w, create);

		if (err)
			die("open %s: %s", w->path, strerror(-err));
		w->data = malloc(opt.maxlen + 8);
		w->check = malloc(opt.maxlen + 2 * page_size + 8);
		if (!w->data || !w->check)
			die("out of memory");
	}
	for (i = 0; i < opt.threads; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			die("pthread_create failed");
	for (i = 0; i < opt.threads; i++) {
		pthread_join(workers[i].thread, NULL);
		status |= workers[i].status;
	}
	if (!status && !opt.readonly && opt.backing) {
		for (i = 0; i < opt.threads; i++)
			if ((!opt.same || i == 0) && check_backing(&workers[i]))
				status = 1;
	}
	for (i = 0; i < opt.threads; i++) {
		if (workers[i].fd >= 0 && close(workers[i].fd) == -1 && !status) {
			fprintf(stderr, "fsx: close %s: %s\n", workers[i].path, strerror(errno));
			status = 1;
		}
	}
	if (status)
		fprintf(stderr, "fsx: FAILED (seed %" PRIu64 "; rerun with -S %" PRIu64 ")\n",
			opt.seed, opt.seed);
	if (!status && !opt.quiet) {
		unsigned long total = 0;

		for (i = 0; i < nmodels; i++)
			total += models[i].opnum;
		printf("fsx: passed: %lu operations in %.1f s (seed %" PRIu64 ")\n", total,
		       elapsed(), opt.seed);
	}
	for (i = 0; i < opt.threads; i++) {
		free(workers[i].path);
		free(workers[i].backing);
		free(workers[i].data);
		free(workers[i].check);
	}
	for (i = 0; i < nmodels; i++) {
		free(models[i].buf);
		free(models[i].writer);
	}
	free(models);
	free(workers);
	return status ? 1 : 0;
}
