/*
 * Another process may truncate a backing file at any moment; touching a mapped
 * page past the new end raises SIGBUS. Copies to and from mappings run under a
 * per-thread jump buffer so the handler can abandon the copy instead of letting
 * the signal kill the daemon.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "safecopy.h"

/* volatile: the stores must not move across the copy, which the compiler may inline */
static __thread sigjmp_buf *volatile guard_jmp;

static void sigbus_handler(int sig, siginfo_t *info, void *ucontext)
{
	sigjmp_buf *jmp = guard_jmp;

	(void)info;
	(void)ucontext;
	if (jmp) {
		guard_jmp = NULL;
		siglongjmp(*jmp, 1);
	}
	/* A SIGBUS outside a guarded copy is a real bug: die of it as usual. */
	signal(sig, SIG_DFL);
	raise(sig);
}

int safecopy_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == -1)
		return -errno;
	return 0;
}

int safecopy(void *dst, const void *src, size_t len)
{
	sigjmp_buf jmp;

	if (sigsetjmp(jmp, 1)) {
		guard_jmp = NULL;
		return -EIO;
	}
	guard_jmp = &jmp;
	memcpy(dst, src, len);
	guard_jmp = NULL;
	return 0;
}

int safecopy_touch(const void *addr, size_t len, size_t page_size)
{
	const volatile unsigned char *byte = addr;
	sigjmp_buf jmp;
	volatile size_t offset = 0;

	if (sigsetjmp(jmp, 1)) {
		guard_jmp = NULL;
		return -EIO;
	}
	guard_jmp = &jmp;
	for (; offset < len; offset += page_size)
		(void)byte[offset];
	guard_jmp = NULL;
	return 0;
}
