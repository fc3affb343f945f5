#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

struct rule {
	char *glob;
	char *source; /* "-o advise" or "FILE:LINE" */
	struct policy policy;
	bool whole_path; /* the glob has a '/': match the relative path, not the name */
};

struct rules {
	struct rule *items;
	size_t count;
	struct policy def;
	char *def_source;
};

struct rules *rules_new(const struct policy *def)
{
	struct rules *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->def = *def;
	r->def_source = strdup("built-in default");
	if (!r->def_source) {
		free(r);
		return NULL;
	}
	return r;
}

static void rule_release(struct rule *rule)
{
	free(rule->glob);
	free(rule->source);
}

void rules_free(struct rules *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->count; i++)
		rule_release(&r->items[i]);
	free(r->items);
	free(r->def_source);
	free(r);
}

int rules_set_default(struct rules *r, const struct policy *def, const char *source)
{
	char *copy = strdup(source);

	if (!copy)
		return -ENOMEM;
	free(r->def_source);
	r->def_source = copy;
	r->def = *def;
	return 0;
}

/* Length of the bracket expression at @glob ('['), or 0 when it is not closed. */
static size_t bracket_len(const char *glob)
{
	size_t i = 1;

	if (glob[i] == '!' || glob[i] == '^')
		i++;
	if (glob[i] == ']')
		i++;
	while (glob[i] && glob[i] != ']')
		i++;
	return glob[i] == ']' ? i + 1 : 0;
}

static bool bracket_match(const char *glob, size_t len, char c)
{
	char expr[256], str[2] = { c, '\0' };

	if (len >= sizeof(expr) || c == '/')
		return false;
	memcpy(expr, glob, len);
	expr[len] = '\0';
	return fnmatch(expr, str, 0) == 0;
}

/* "**" followed by '/' matches zero or more whole directories; elsewhere any text. */
static bool match_double_star(const char *glob, const char *path)
{
	const char *rest = glob + 2;

	while (*rest == '*')
		rest++;
	if (*rest == '/') {
		rest++;
		if (rules_glob_match(rest, path))
			return true;
		for (; *path; path++)
			if (*path == '/' && rules_glob_match(rest, path + 1))
				return true;
		return false;
	}
	for (;; path++) {
		if (rules_glob_match(rest, path))
			return true;
		if (!*path)
			return false;
	}
}

bool rules_glob_match(const char *glob, const char *path)
{
	size_t len;

	for (;; glob++, path++) {
		switch (*glob) {
		case '\0':
			return *path == '\0';
		case '*':
			if (glob[1] == '*')
				return match_double_star(glob, path);
			for (;; path++) {
				if (rules_glob_match(glob + 1, path))
					return true;
				if (!*path || *path == '/')
					return false;
			}
		case '?':
			if (!*path || *path == '/')
				return false;
			break;
		case '[':
			len = bracket_len(glob);
			if (!len) {
				if (*path != '[')
					return false;
				break;
			}
			if (!*path || !bracket_match(glob, len, *path))
				return false;
			glob += len - 1;
			break;
		case '\\':
			if (glob[1])
				glob++;
			/* fall through */
		default:
			if (*glob != *path)
				return false;
		}
	}
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

struct policy rules_match(const struct rules *r, const char *relpath)
{
	size_t i;

	while (*relpath == '/')
		relpath++;
	for (i = 0; i < r->count; i++) {
		const struct rule *rule = &r->items[i];
		const char *subject = rule->whole_path ? relpath : basename_of(relpath);

		if (rules_glob_match(rule->glob, subject))
			return rule->policy;
	}
	return r->def;
}

/*
 * Parse one "GLOB<sep>POLICY" rule into @out. The policy is the text after the
 * last separator (policy words never contain it), so a glob may hold one.
 */
static int rule_parse(const char *text, size_t len, char sep, const char *source, struct rule *out,
		      char *errmsg, size_t errlen)
{
	char policy_text[POLICY_MAX_TEXT], bad[64];
	const char *sep_at = NULL, *glob_start = text;
	size_t glob_len, i;

	for (i = 0; i < len; i++)
		if (text[i] == sep || (sep == ' ' && text[i] == '\t'))
			sep_at = text + i;
	if (!sep_at) {
		snprintf(errmsg, errlen,
			 "bad rule '%.*s' in %s: expected GLOB%sPOLICY; valid policy words: %s",
			 (int)len, text, source, sep == ' ' ? " " : "=", policy_valid_words());
		return -EINVAL;
	}
	glob_len = (size_t)(sep_at - text);
	while (glob_len && (text[glob_len - 1] == ' ' || text[glob_len - 1] == '\t'))
		glob_len--;
	while (glob_len && (*glob_start == '/')) {
		glob_start++;
		glob_len--;
	}
	if (!glob_len) {
		snprintf(
			errmsg, errlen,
			"bad rule '%.*s' in %s: empty glob before the policy; valid policy words: %s",
			(int)len, text, source, policy_valid_words());
		return -EINVAL;
	}
	if ((size_t)(text + len - sep_at - 1) >= sizeof(policy_text)) {
		snprintf(errmsg, errlen, "bad rule '%.*s' in %s: policy too long; valid words: %s",
			 (int)len, text, source, policy_valid_words());
		return -EINVAL;
	}
	memcpy(policy_text, sep_at + 1, (size_t)(text + len - sep_at - 1));
	policy_text[text + len - sep_at - 1] = '\0';
	if (policy_parse(policy_text, &out->policy, bad, sizeof(bad))) {
		snprintf(errmsg, errlen,
			 "bad policy word '%s' in rule '%.*s' (%s); valid words: %s "
			 "(one mode, then extras joined with '+')",
			 bad, (int)len, text, source, policy_valid_words());
		return -EINVAL;
	}
	out->glob = strndup(glob_start, glob_len);
	out->source = strdup(source);
	if (!out->glob || !out->source) {
		rule_release(out);
		snprintf(errmsg, errlen, "out of memory");
		return -ENOMEM;
	}
	out->whole_path = memchr(out->glob, '/', glob_len) != NULL;
	return 0;
}

/* Append @added rules parsed into @parsed, or free them all on @err. */
static int rules_commit(struct rules *r, struct rule *parsed, size_t added, int err)
{
	struct rule *grown;
	size_t i;

	if (!err) {
		grown = realloc(r->items, (r->count + added) * sizeof(*grown));
		if (grown || !added) {
			if (grown)
				r->items = grown;
			memcpy(r->items + r->count, parsed, added * sizeof(*parsed));
			r->count += added;
			free(parsed);
			return 0;
		}
		err = -ENOMEM;
	}
	for (i = 0; i < added; i++)
		rule_release(&parsed[i]);
	free(parsed);
	return err;
}

static int push_rule(struct rule **parsed, size_t *count, size_t *alloc)
{
	struct rule *grown;

	if (*count < *alloc)
		return 0;
	*alloc = *alloc ? *alloc * 2 : 8;
	grown = realloc(*parsed, *alloc * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	*parsed = grown;
	return 0;
}

int rules_add_option(struct rules *r, const char *spec, char *errmsg, size_t errlen)
{
	struct rule *parsed = NULL;
	size_t count = 0, alloc = 0;
	const char *start = spec;
	int err = 0;

	if (!*spec) {
		snprintf(errmsg, errlen, "-o advise needs GLOB=POLICY[:GLOB=POLICY...]");
		return -EINVAL;
	}
	while (!err) {
		const char *colon = strchr(start, ':');
		size_t len = colon ? (size_t)(colon - start) : strlen(start);

		err = push_rule(&parsed, &count, &alloc);
		if (!err)
			err = rule_parse(start, len, '=', "-o advise", &parsed[count], errmsg,
					 errlen);
		if (!err)
			count++;
		if (!colon)
			break;
		start = colon + 1;
	}
	return rules_commit(r, parsed, count, err);
}

static int rules_parse_line(char *line, const char *path, unsigned lineno, struct rule **parsed,
			    size_t *count, size_t *alloc, char *errmsg, size_t errlen)
{
	char source[512];
	size_t len;
	int err;

	line[strcspn(line, "\r\n")] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	len = strlen(line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (!len || *line == '#')
		return 0;
	snprintf(source, sizeof(source), "%s:%u", path, lineno);
	err = push_rule(parsed, count, alloc);
	if (!err)
		err = rule_parse(line, len, ' ', source, &(*parsed)[*count], errmsg, errlen);
	if (!err)
		(*count)++;
	return err;
}

int rules_add_file(struct rules *r, const char *path, char *errmsg, size_t errlen)
{
	struct rule *parsed = NULL;
	size_t count = 0, alloc = 0, cap = 0;
	char *line = NULL;
	unsigned lineno = 0;
	int err = 0;
	FILE *file;

	file = fopen(path, "re");
	if (!file) {
		err = -errno;
		snprintf(
			errmsg, errlen,
			"cannot read rules file %s: %s (it holds 'GLOB POLICY' lines; valid policy "
			"words: %s)",
			path, strerror(-err), policy_valid_words());
		return err;
	}
	while (!err && getline(&line, &cap, file) != -1)
		err = rules_parse_line(line, path, ++lineno, &parsed, &count, &alloc, errmsg,
				       errlen);
	if (!err && ferror(file)) {
		err = -EIO;
		snprintf(errmsg, errlen, "cannot read rules file %s: %s", path, strerror(EIO));
	}
	free(line);
	fclose(file);
	return rules_commit(r, parsed, count, err);
}

void rules_render(const struct rules *r, struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < r->count; i++) {
		strbuf_addf(sb, "%s ", r->items[i].glob);
		policy_format(&r->items[i].policy, sb);
		strbuf_addf(sb, " # %s\n", r->items[i].source);
	}
	strbuf_addstr(sb, "* ");
	policy_format(&r->def, sb);
	strbuf_addf(sb, " # default (%s)\n", r->def_source);
}
