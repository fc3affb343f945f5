/* madvise policies: one readahead mode joined with '+' to extras. */
#ifndef MMAPFS_POLICY_H
#define MMAPFS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

enum policy_mode {
	POLICY_NORMAL,
	POLICY_RANDOM,
	POLICY_SEQUENTIAL,
};

enum policy_extra {
	POLICY_WILLNEED = 1u << 0,
	POLICY_POPULATE = 1u << 1,
	POLICY_HUGEPAGE = 1u << 2,
	POLICY_NOHUGEPAGE = 1u << 3,
	POLICY_COLD = 1u << 4,
	POLICY_PAGEOUT = 1u << 5,
	POLICY_DONTNEED = 1u << 6,
};

struct policy {
	enum policy_mode mode;
	unsigned extras; /* enum policy_extra bits */
};

#define POLICY_DEFAULT	((struct policy){ POLICY_NORMAL, 0 })
#define POLICY_MAX_TEXT 128

/**
 * policy_parse() - parse @text ("sequential+hugepage"; surrounding blanks and one
 * trailing newline allowed) into @out.
 * @bad: if not NULL, receives the offending word (NUL-terminated, truncated to @bad_len).
 * Return: 0, or -EINVAL for an unknown word, two modes, a repeated word, or
 * hugepage together with nohugepage. @out is untouched on error.
 */
int policy_parse(const char *text, struct policy *out, char *bad, size_t bad_len);

/** policy_format() - append @p in the option syntax ("random+willneed"). */
void policy_format(const struct policy *p, struct strbuf *sb);

/** policy_valid_words() - the accepted words, for error messages. */
const char *policy_valid_words(void);

/** policy_equal() - whether @a and @b advise the same. */
bool policy_equal(const struct policy *a, const struct policy *b);

/**
 * struct policy_error - the first madvise that failed: a per-file fact, never fatal.
 * @err: negative errno, 0 when every call succeeded.
 * @advice: name of the advice that failed ("MADV_HUGEPAGE"), or NULL.
 */
struct policy_error {
	int err;
	const char *advice;
};

/**
 * policy_apply() - madvise [@addr, @addr+@len) of a file mapping with @p.
 * The mode always resets earlier advice (normal undoes random). Extras follow in a
 * fixed order; @writable picks MADV_POPULATE_WRITE over _READ. Every call is made
 * even after one fails; the first failure lands in @out.
 * Return: @out->err.
 */
int policy_apply(const struct policy *p, void *addr, size_t len, bool writable,
		 struct policy_error *out);

#endif
