/* Growable, always NUL-terminated text buffer (after git's strbuf). */
#ifndef MMAPFS_STRBUF_H
#define MMAPFS_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

/**
 * struct strbuf - text buffer whose @buf is never NULL and always NUL-terminated.
 * @error: first allocation failure (-ENOMEM), sticky; writes after it are dropped,
 *         so a renderer can add freely and check once at the end.
 */
struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
	int error;
};

extern char strbuf_empty[];
#define STRBUF_INIT                   \
	{                             \
		strbuf_empty, 0, 0, 0 \
	}

/** strbuf_init() - make @sb empty; it owns no memory yet. */
void strbuf_init(struct strbuf *sb);
/** strbuf_release() - free what @sb owns and leave it empty and usable. */
void strbuf_release(struct strbuf *sb);
/** strbuf_reset() - empty @sb, keeping its memory. */
void strbuf_reset(struct strbuf *sb);
/** strbuf_add() - append @len bytes. */
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
/** strbuf_addstr() - append a C string. */
void strbuf_addstr(struct strbuf *sb, const char *str);
/** strbuf_addf() - append printf-style text. */
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** strbuf_vaddf() - append vprintf-style text. */
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
