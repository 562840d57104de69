/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crashpoint.c: test-only LD_PRELOAD module that kills the process right
 * after its Nth durable step, to prove a crash at any point leaves
 * nothing half-done.
 *
 * A "mutation" is a successful rename() whose target lies in
 * $STATE_DIRECTORY (an atomic state-file write) or in $VFIOD_PERSIST_DIR
 * (a persistent assignment recorded), a successful unlink() in
 * $VFIOD_PERSIST_DIR (one removed), or a successful write()
 * to a file descriptor whose path is under /sys (a sysfs write), or a
 * successful setxattr() (an ACL entry added or removed).  With
 * VFIOD_CRASH_AT=N the process raises SIGKILL on itself right after the
 * Nth one returns.  VFIOD_CRASH_LOG=path appends one line per mutation
 * ("N rename <target>" / "N unlink <path>" / "N write <path> <data>" /
 * "N setxattr <path>")
 * so a test can say which step a crash point was.  Without
 * VFIOD_CRASH_AT it only counts.
 *
 * Under ASan the module is not first in the link order: run with
 * ASAN_OPTIONS=verify_asan_link_order=0.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static long crash_at = -1; /* -1: never */
static long mutations;
static char state_dir[PATH_MAX];   /* without a trailing slash; "" if unset */
static char persist_dir[PATH_MAX]; /* the same */

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_rename)(const char *, const char *);
static int (*real_unlink)(const char *);

/* The first of a colon-separated list, without trailing slashes. */
static void set_dir(char *out, const char *dir) {
        size_t len;

        if (!dir || !*dir)
                return;
        len = strcspn(dir, ":");
        if (len >= PATH_MAX)
                return;
        memcpy(out, dir, len);
        out[len] = '\0';
        while (len > 1 && out[len - 1] == '/')
                out[--len] = '\0';
}

__attribute__((constructor)) static void crashpoint_init(void) {
        const char *at = getenv("VFIOD_CRASH_AT");
        const char *dir = getenv("STATE_DIRECTORY");

        if (at && *at) {
                char *end;
                long n = strtol(at, &end, 10);
                if (*end == '\0' && n > 0)
                        crash_at = n;
        }
        /* systemd passes a colon-separated list: the daemon uses the first */
        set_dir(state_dir, dir);
        set_dir(persist_dir, getenv("VFIOD_PERSIST_DIR"));
}

static void log_mutation(long n, const char *what, const char *path, const void *data, size_t len) {
        const char *log = getenv("VFIOD_CRASH_LOG");
        char line[PATH_MAX + 256];
        int fd, k;

        if (!log || !*log)
                return;
        k = snprintf(line, sizeof line, "%ld %s %s", n, what, path);
        if (k < 0 || (size_t) k >= sizeof line - 2)
                k = (int) sizeof line - 66;
        if (data) {
                line[k++] = ' ';
                for (size_t i = 0; i < len && i < 63; i++) {
                        char c = ((const char *) data)[i];
                        line[k++] = c == '\n' ? '|' : (c < 0x20 || c == 0x7f) ? '?' : c;
                }
        }
        line[k++] = '\n';
        fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        (void) real_write(fd, line, (size_t) k);
        close(fd);
}

static void mutated(const char *what, const char *path, const void *data, size_t len) {
        long n = __atomic_add_fetch(&mutations, 1, __ATOMIC_SEQ_CST);

        log_mutation(n, what, path, data, len);
        if (n == crash_at)
                kill(getpid(), SIGKILL);
}

static int path_in(const char *dir, const char *path) {
        size_t len = strlen(dir);
        char resolved[PATH_MAX];

        if (len == 0 || !path)
                return 0;
        if (strncmp(path, dir, len) == 0 && path[len] == '/')
                return 1;
        /* a relative or differently spelled target: resolve its directory */
        if (realpath(path, resolved) && strncmp(resolved, dir, len) == 0 && resolved[len] == '/')
                return 1;
        return 0;
}

static int fd_under_sys(int fd, char *path, size_t size) {
        char link[64];
        ssize_t n;

        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, path, size - 1);
        if (n < 0)
                return 0;
        path[n] = '\0';
        return strncmp(path, "/sys/", 5) == 0;
}

EXPORT ssize_t write(int fd, const void *buf, size_t count) {
        char path[PATH_MAX];
        ssize_t n;
        int saved;

        if (!real_write)
                real_write = (ssize_t(*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        n = real_write(fd, buf, count);
        if (n <= 0)
                return n;
        saved = errno;
        if (fd_under_sys(fd, path, sizeof path))
                mutated("write", path, buf, (size_t) n);
        errno = saved;
        return n;
}

/* An ACL change (GrantAccess, RevokeAccess: libacl's acl_set_file) is a
 * durable step too. */
EXPORT int setxattr(const char *path, const char *name, const void *value, size_t size, int flags) {
        static int (*real_setxattr)(const char *, const char *, const void *, size_t, int);
        int r, saved;

        if (!real_setxattr)
                real_setxattr = (int (*)(const char *, const char *, const void *, size_t, int)) dlsym(
                        RTLD_NEXT, "setxattr");
        if (!real_write)
                real_write = (ssize_t(*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        r = real_setxattr(path, name, value, size, flags);
        if (r < 0)
                return r;
        saved = errno;
        mutated("setxattr", path, NULL, 0);
        errno = saved;
        return r;
}

EXPORT int rename(const char *oldpath, const char *newpath) {
        int r, saved;

        if (!real_rename)
                real_rename = (int (*)(const char *, const char *)) dlsym(RTLD_NEXT, "rename");
        if (!real_write)
                real_write = (ssize_t(*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        r = real_rename(oldpath, newpath);
        if (r < 0)
                return r;
        saved = errno;
        if (path_in(state_dir, newpath) || path_in(persist_dir, newpath))
                mutated("rename", newpath, NULL, 0);
        errno = saved;
        return r;
}

EXPORT int unlink(const char *path) {
        int r, saved;

        if (!real_unlink)
                real_unlink = (int (*)(const char *)) dlsym(RTLD_NEXT, "unlink");
        if (!real_write)
                real_write = (ssize_t(*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        /* before the call: afterwards the path no longer resolves */
        saved = path_in(persist_dir, path);
        r = real_unlink(path);
        if (r < 0)
                return r;
        if (saved) {
                saved = errno;
                mutated("unlink", path, NULL, 0);
                errno = saved;
        }
        return r;
}
