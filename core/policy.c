#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "policy.h"

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static const char *const mode_names[] = {
	[POLICY_NORMAL] = "normal",
	[POLICY_RANDOM] = "random",
	[POLICY_SEQUENTIAL] = "sequential",
};

/* Extras in their canonical order: the order they are printed and applied in. */
static const struct {
	unsigned bit;
	const char *name;
} extra_names[] = {
	{ POLICY_WILLNEED, "willneed" }, { POLICY_POPULATE, "populate" },
	{ POLICY_HUGEPAGE, "hugepage" }, { POLICY_NOHUGEPAGE, "nohugepage" },
	{ POLICY_COLD, "cold" },	 { POLICY_PAGEOUT, "pageout" },
	{ POLICY_DONTNEED, "dontneed" },
};

#define N_MODES	 (sizeof(mode_names) / sizeof(mode_names[0]))
#define N_EXTRAS (sizeof(extra_names) / sizeof(extra_names[0]))

const char *policy_valid_words(void)
{
	return "normal, random, sequential, willneed, populate, hugepage, nohugepage, cold, "
	       "pageout, dontneed";
}

static void copy_word(char *bad, size_t bad_len, const char *word, size_t word_len)
{
	if (!bad || !bad_len)
		return;
	if (word_len >= bad_len)
		word_len = bad_len - 1;
	memcpy(bad, word, word_len);
	bad[word_len] = '\0';
}

/* Apply one word to @p; @seen_mode tracks that at most one mode is given. */
static int policy_add_word(struct policy *p, const char *word, size_t len, int *seen_mode)
{
	size_t i;

	for (i = 0; i < N_MODES; i++) {
		if (strlen(mode_names[i]) == len && !memcmp(mode_names[i], word, len)) {
			if (*seen_mode)
				return -EINVAL;
			*seen_mode = 1;
			p->mode = (enum policy_mode)i;
			return 0;
		}
	}
	for (i = 0; i < N_EXTRAS; i++) {
		if (strlen(extra_names[i].name) == len && !memcmp(extra_names[i].name, word, len)) {
			if (p->extras & extra_names[i].bit)
				return -EINVAL;
			p->extras |= extra_names[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

int policy_parse(const char *text, struct policy *out, char *bad, size_t bad_len)
{
	struct policy parsed = POLICY_DEFAULT;
	const char *start = text, *end = text + strlen(text);
	int seen_mode = 0;

	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	if (end > start && end[-1] == '\n')
		end--;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (start == end) {
		copy_word(bad, bad_len, "", 0);
		return -EINVAL;
	}
	while (start <= end) {
		const char *plus = memchr(start, '+', (size_t)(end - start));
		const char *word_end = plus ? plus : end;

		if (policy_add_word(&parsed, start, (size_t)(word_end - start), &seen_mode)) {
			copy_word(bad, bad_len, start, (size_t)(word_end - start));
			return -EINVAL;
		}
		if (!plus)
			break;
		start = plus + 1;
	}
	if ((parsed.extras & POLICY_HUGEPAGE) && (parsed.extras & POLICY_NOHUGEPAGE)) {
		copy_word(bad, bad_len, "nohugepage", strlen("nohugepage"));
		return -EINVAL;
	}
	*out = parsed;
	return 0;
}

void policy_format(const struct policy *p, struct strbuf *sb)
{
	size_t i;

	strbuf_addstr(sb, mode_names[p->mode]);
	for (i = 0; i < N_EXTRAS; i++) {
		if (p->extras & extra_names[i].bit) {
			strbuf_addstr(sb, "+");
			strbuf_addstr(sb, extra_names[i].name);
		}
	}
}

bool policy_equal(const struct policy *a, const struct policy *b)
{
	return a->mode == b->mode && a->extras == b->extras;
}

static void advise(void *addr, size_t len, int advice, const char *name, struct policy_error *out)
{
	if (madvise(addr, len, advice) == -1 && !out->err) {
		out->err = -errno;
		out->advice = name;
	}
}

int policy_apply(const struct policy *p, void *addr, size_t len, bool writable,
		 struct policy_error *out)
{
	static const int mode_advice[] = {
		[POLICY_NORMAL] = MADV_NORMAL,
		[POLICY_RANDOM] = MADV_RANDOM,
		[POLICY_SEQUENTIAL] = MADV_SEQUENTIAL,
	};
	static const char *const mode_advice_names[] = {
		[POLICY_NORMAL] = "MADV_NORMAL",
		[POLICY_RANDOM] = "MADV_RANDOM",
		[POLICY_SEQUENTIAL] = "MADV_SEQUENTIAL",
	};

	out->err = 0;
	out->advice = NULL;
	if (!len)
		return 0;
	advise(addr, len, mode_advice[p->mode], mode_advice_names[p->mode], out);
	/* hugepage and nohugepage both reset: absence of either means "as the system says" */
	if (p->extras & POLICY_HUGEPAGE)
		advise(addr, len, MADV_HUGEPAGE, "MADV_HUGEPAGE", out);
	if (p->extras & POLICY_NOHUGEPAGE)
		advise(addr, len, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE", out);
	if (p->extras & POLICY_WILLNEED)
		advise(addr, len, MADV_WILLNEED, "MADV_WILLNEED", out);
	if (p->extras & POLICY_POPULATE) {
		if (writable)
			advise(addr, len, MADV_POPULATE_WRITE, "MADV_POPULATE_WRITE", out);
		else
			advise(addr, len, MADV_POPULATE_READ, "MADV_POPULATE_READ", out);
	}
	if (p->extras & POLICY_COLD)
		advise(addr, len, MADV_COLD, "MADV_COLD", out);
	if (p->extras & POLICY_PAGEOUT)
		advise(addr, len, MADV_PAGEOUT, "MADV_PAGEOUT", out);
	if (p->extras & POLICY_DONTNEED)
		advise(addr, len, MADV_DONTNEED, "MADV_DONTNEED", out);
	return out->err;
}
