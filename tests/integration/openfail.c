/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * openfail.so: an LD_PRELOAD module for tests.  With
 * VFIOD_TEST_OPEN_FAIL="PATH:ERRNO" set (e.g. "/dev/vfio/5:16"), every
 * open() of exactly PATH fails with ERRNO: what the kernel answers for a
 * group another process holds (EBUSY), which a regular file standing in
 * for /dev/vfio/N cannot do.  Test-only; never installed.
 */
/* both names are defined here: no redirection of open to open64 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static char fail_path[PATH_MAX];
static int fail_errno;

__attribute__((constructor)) static void openfail_init(void) {
        const char *spec = getenv("VFIOD_TEST_OPEN_FAIL");
        const char *colon = spec ? strrchr(spec, ':') : NULL;

        if (!colon || (size_t) (colon - spec) >= sizeof fail_path)
                return;
        memcpy(fail_path, spec, (size_t) (colon - spec));
        fail_path[colon - spec] = '\0';
        fail_errno = atoi(colon + 1);
}

static int call_real(const char *name, const char *path, int flags, mode_t mode) {
        int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...)) dlsym(RTLD_NEXT, name);

        if (fail_errno > 0 && strcmp(path, fail_path) == 0) {
                errno = fail_errno;
                return -1;
        }
        return real(path, flags, mode);
}

EXPORT int open(const char *path, int flags, ...) {
        mode_t mode = 0;

        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = (mode_t) va_arg(ap, int);
                va_end(ap);
        }
        return call_real("open", path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...) {
        mode_t mode = 0;

        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = (mode_t) va_arg(ap, int);
                va_end(ap);
        }
        return call_real("open64", path, flags, mode);
}
