/* memcpy that survives SIGBUS from a truncated file mapping. */
#ifndef MMAPFS_SAFECOPY_H
#define MMAPFS_SAFECOPY_H

#include <stddef.h>

/**
 * safecopy_init() - install the process-wide SIGBUS handler. Call once, before
 * threads start. A SIGBUS outside safecopy() still kills the process as usual.
 * Return: 0 or -errno.
 */
int safecopy_init(void);

/**
 * safecopy() - copy @len bytes; if touching @src or @dst raises SIGBUS (a mapped
 * file shrank underneath), stop and report it instead of dying.
 * Return: 0, or -EIO when a SIGBUS interrupted the copy (@dst partly written).
 */
int safecopy(void *dst, const void *src, size_t len);

/** safecopy_touch() - read one byte of each page in [@addr, @addr+@len); -EIO on SIGBUS. */
int safecopy_touch(const void *addr, size_t len, size_t page_size);

#endif
