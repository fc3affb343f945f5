#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

char strbuf_empty[1];

void strbuf_init(struct strbuf *sb)
{
	sb->buf = strbuf_empty;
	sb->len = 0;
	sb->alloc = 0;
	sb->error = 0;
}

void strbuf_release(struct strbuf *sb)
{
	if (sb->alloc)
		free(sb->buf);
	strbuf_init(sb);
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->buf[0] = '\0';
	sb->error = 0;
}

/* Make room for @extra more bytes plus the NUL; on failure set the sticky error. */
static int strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need, new_alloc;
	char *new_buf;

	if (sb->error)
		return sb->error;
	if (extra > SIZE_MAX / 2 - sb->len - 1) {
		sb->error = -ENOMEM;
		return sb->error;
	}
	need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return 0;
	new_alloc = sb->alloc ? sb->alloc : 64;
	while (new_alloc < need)
		new_alloc *= 2;
	new_buf = realloc(sb->alloc ? sb->buf : NULL, new_alloc);
	if (!new_buf) {
		sb->error = -ENOMEM;
		return sb->error;
	}
	if (!sb->alloc)
		new_buf[0] = '\0';
	sb->buf = new_buf;
	sb->alloc = new_alloc;
	return 0;
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
	if (strbuf_grow(sb, len))
		return;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *str)
{
	strbuf_add(sb, str, strlen(str));
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list copy;
	int needed;

	if (strbuf_grow(sb, 64))
		return;
	va_copy(copy, ap);
	needed = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, copy);
	va_end(copy);
	if (needed < 0) {
		sb->buf[sb->len] = '\0';
		sb->error = -EINVAL;
		return;
	}
	if ((size_t)needed >= sb->alloc - sb->len) {
		if (strbuf_grow(sb, (size_t)needed))
			return;
		vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
	}
	sb->len += (size_t)needed;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}
