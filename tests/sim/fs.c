/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs.c: the FUSE front end: serves the tree, applies the control file
 * (faults, delays, hot removal, module loading) and writes the audit log.
 */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum {
        RULE_FAIL,
        RULE_DELAY,
        RULE_REMOVE_ON_WRITE,
        RULE_BLOCK,
        RULE_FAIL_READ,
        RULE_DIVERT,
        RULE_BLOCK_READ,
} RuleType;

typedef struct {
        RuleType type;
        char *suffix;  /* matches the end of the canonical path */
        char *data;    /* NULL: any data; else the data without its trailing newline */
        int err;       /* RULE_FAIL, RULE_FAIL_READ */
        int count;     /* RULE_FAIL, RULE_FAIL_READ, RULE_DIVERT: times left, -1 forever */
        unsigned ms;   /* RULE_DELAY */
        char *address; /* RULE_REMOVE_ON_WRITE */
        char *driver;  /* RULE_DIVERT: what to bind, NULL for nothing */
} Rule;

typedef struct {
        SimNode *node;
        char *path; /* canonical path at open time, without the leading '/' */
} OpenFile;

/* A write held by a "block" rule.  Owned by the writing thread, listed in
 * fs.blocked while it waits; "release" unlists it and sets released. */
typedef struct {
        char *line; /* "<path>\t<escaped data>" for the blocked file */
        const char *path;
        bool released;
} Blocked;

static struct {
        Sim *sim;
        char *control_path;
        int control_fd; /* the version applied last */
        struct stat control_st;
        GPtrArray *rules;       /* Rule* */
        GHashTable *open_files; /* OpenFile* set: freed at exit if never released */
        int audit_fd;
        struct timespec start;
        char *control_dir;
        GPtrArray *blocked;     /* Blocked*, in the order they blocked */
        pthread_cond_t unblock; /* signalled (model lock) on release */
        struct fuse_session *session;
} fs;

static void rule_free(gpointer p) {
        Rule *r = p;

        g_free(r->suffix);
        g_free(r->data);
        g_free(r->address);
        g_free(r->driver);
        g_free(r);
}

static int errno_from_name(const char *name) {
        char *end;
        long v = strtol(name, &end, 10);

        if (end != name && *end == '\0' && v > 0 && v < 4096)
                return (int) v;
        for (int e = 1; e < 200; e++) {
                const char *n = strerrorname_np(e);

                if (n && g_str_equal(n, name))
                        return e;
        }
        return 0;
}

static void release_blocked(const char *suffix);

/* Control tokens may spell blanks and odd bytes as the audit log does
 * (\xNN, \t, \n, \\), so a suffix or data word can hold a space. */
static void unescape_token(char *t) {
        char *out = t;

        for (const char *in = t; *in; in++) {
                if (*in != '\\' || !in[1]) {
                        *out++ = *in;
                        continue;
                }
                in++;
                if (*in == 'n') {
                        *out++ = '\n';
                } else if (*in == 't') {
                        *out++ = '\t';
                } else if (*in == 'x' && g_ascii_isxdigit(in[1]) && g_ascii_isxdigit(in[2])) {
                        *out++ = (char) (g_ascii_xdigit_value(in[1]) * 16 + g_ascii_xdigit_value(in[2]));
                        in += 2;
                } else {
                        *out++ = *in;
                }
        }
        *out = '\0';
}

/* One line of the control file; commands run now, rules are kept. */
static void control_line(const char *line, int lineno) {
        g_auto(GStrv) t = NULL;
        guint n;
        Rule *r;

        while (g_ascii_isspace(*line))
                line++;
        if (!*line || *line == '#')
                return;
        t = g_strsplit_set(line, " \t", -1);
        /* Drop empty tokens from repeated blanks. */
        n = 0;
        for (guint i = 0; t[i]; i++) {
                if (*t[i])
                        t[n++] = t[i];
                else
                        g_free(t[i]);
        }
        t[n] = NULL;
        for (guint i = 1; i < n; i++)
                unescape_token(t[i]);

        if (g_str_equal(t[0], "remove") && n == 2) {
                int err = sim_remove_device(fs.sim, t[1]);

                if (err)
                        fprintf(stderr, "vfiosim: control:%d: remove %s: %s\n", lineno, t[1], strerror(err));
                return;
        }
        if (g_str_equal(t[0], "add") && n == 2) {
                int err = sim_add_device(fs.sim, t[1]);

                if (err)
                        fprintf(stderr, "vfiosim: control:%d: add %s: %s\n", lineno, t[1], strerror(err));
                return;
        }
        if (g_str_equal(t[0], "uevent") && n == 3) {
                int err = sim_device_uevent(fs.sim, t[1], t[2]);

                if (err)
                        fprintf(stderr, "vfiosim: control:%d: uevent %s %s: %s\n", lineno, t[1], t[2],
                                strerror(err));
                return;
        }
        if (g_str_equal(t[0], "clear") && n == 1) {
                release_blocked(NULL); /* nothing stays held by a rule that is gone */
                g_ptr_array_set_size(fs.rules, 0);
                return;
        }
        if (g_str_equal(t[0], "load") && n == 2) {
                sim_load_driver(fs.sim, t[1]);
                return;
        }
        if (g_str_equal(t[0], "release") && n <= 2) {
                release_blocked(n == 2 ? t[1] : NULL);
                return;
        }
        r = g_new0(Rule, 1);
        if (g_str_equal(t[0], "fail") && n >= 3 && n <= 5) {
                r->type = RULE_FAIL;
                r->err = errno_from_name(t[2]);
                r->count = (n >= 4 && !g_str_equal(t[3], "*")) ? atoi(t[3]) : -1;
                r->data = n == 5 ? g_strdup(t[4]) : NULL;
                if (r->err == 0 || r->count == 0)
                        goto bad;
        } else if (g_str_equal(t[0], "delay") && n >= 3 && n <= 4) {
                r->type = RULE_DELAY;
                r->ms = (unsigned) atoi(t[2]);
                r->data = n == 4 ? g_strdup(t[3]) : NULL;
        } else if (g_str_equal(t[0], "fail-read") && n >= 3 && n <= 4) {
                r->type = RULE_FAIL_READ;
                r->err = errno_from_name(t[2]);
                r->count = (n == 4 && !g_str_equal(t[3], "*")) ? atoi(t[3]) : -1;
                if (r->err == 0 || r->count == 0)
                        goto bad;
        } else if (g_str_equal(t[0], "divert") && n >= 3 && n <= 4) {
                /* A drivers_probe rule whose data is the address. */
                r->type = RULE_DIVERT;
                r->suffix = g_strdup("bus/pci/drivers_probe");
                r->data = g_strdup(t[1]);
                r->driver = g_str_equal(t[2], "none") ? NULL : g_strdup(t[2]);
                r->count = n == 4 ? (g_str_equal(t[3], "*") ? -1 : atoi(t[3])) : 1;
                if (r->count == 0)
                        goto bad;
                g_ptr_array_add(fs.rules, r);
                return;
        } else if (g_str_equal(t[0], "block") && n >= 2 && n <= 3) {
                r->type = RULE_BLOCK;
                r->data = n == 3 ? g_strdup(t[2]) : NULL;
        } else if (g_str_equal(t[0], "block-read") && n == 2) {
                r->type = RULE_BLOCK_READ;
        } else if (g_str_equal(t[0], "remove-on-write") && n >= 3 && n <= 4) {
                r->type = RULE_REMOVE_ON_WRITE;
                r->address = g_strdup(t[2]);
                r->data = n == 4 ? g_strdup(t[3]) : NULL;
        } else {
                goto bad;
        }
        r->suffix = g_strdup(t[1]);
        g_ptr_array_add(fs.rules, r);
        return;
bad:
        fprintf(stderr, "vfiosim: control:%d: ignored: %s\n", lineno, line);
        rule_free(r);
}

/* Apply the control file when a new version appeared.  Each version is a
 * batch of commands run once, in order: rules accumulate until "clear".
 * Called with the model lock held before every operation, so a batch is in
 * force as soon as the test's rename returned.  The last version stays open:
 * its inode cannot be reused, so a renamed-in file always looks new. */
static void control_refresh(void) {
        struct stat st;
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        int fd;

        if (stat(fs.control_path, &st) < 0)
                return;
        if (fs.control_fd >= 0 && st.st_ino == fs.control_st.st_ino && st.st_dev == fs.control_st.st_dev &&
            st.st_size == fs.control_st.st_size && st.st_mtim.tv_sec == fs.control_st.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == fs.control_st.st_mtim.tv_nsec)
                return;
        fd = open(fs.control_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        if (fs.control_fd >= 0)
                close(fs.control_fd);
        fs.control_fd = fd;
        fs.control_st = st;
        if (!g_file_get_contents(fs.control_path, &text, NULL, NULL))
                return;
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 0; lines[i]; i++)
                control_line(lines[i], (int) i + 1);
}

/* Does @path end in @suffix at a component boundary? */
static bool suffix_matches(const char *suffix, const char *path) {
        size_t pl = strlen(path), sl = strlen(suffix);

        if (sl > pl || strcmp(path + pl - sl, suffix) != 0)
                return false;
        return sl == pl || suffix[0] == '/' || path[pl - sl - 1] == '/';
}

static bool rule_matches(const Rule *r, const char *path, const char *data, size_t size) {
        if (!suffix_matches(r->suffix, path))
                return false;
        if (r->data) {
                size_t dl = size;

                if (dl && data[dl - 1] == '\n')
                        dl--;
                if (strlen(r->data) != dl || memcmp(r->data, data, dl) != 0)
                        return false;
        }
        return true;
}

static Rule *rule_find(RuleType type, const char *path, const char *data, size_t size) {
        for (guint i = 0; i < fs.rules->len; i++) {
                Rule *r = fs.rules->pdata[i];

                if (r->type == type && rule_matches(r, path, data, size))
                        return r;
        }
        return NULL;
}

/* Data as the audit log and the blocked file show it: \n, \t, \\ and
 * other control bytes as \xNN. */
static void append_escaped(GString *s, const char *data, size_t size) {
        for (size_t i = 0; i < size; i++) {
                char c = data[i];

                if (c == '\n')
                        g_string_append(s, "\\n");
                else if (c == '\t')
                        g_string_append(s, "\\t");
                else if (c == '\\')
                        g_string_append(s, "\\\\");
                else if ((unsigned char) c < 0x20 || c == 0x7f)
                        g_string_append_printf(s, "\\x%02x", (unsigned char) c);
                else
                        g_string_append_c(s, c);
        }
}

static void block_write(const char *path, const char *data, size_t size);

/* A "fail-read" rule for @path (canonical, no leading '/'): its errno, or 0.
 * A "block-read" rule holds the read first, as "block" holds a write (the
 * model lock is let go while it waits).  Model lock held. */
static int read_fault(const char *path) {
        Rule *r;
        int err;

        if (rule_find(RULE_BLOCK_READ, path, "", 0))
                block_write(path, "", 0);
        r = rule_find(RULE_FAIL_READ, path, "", 0);

        if (!r)
                return 0;
        err = r->err;
        if (r->count > 0 && --r->count == 0)
                g_ptr_array_remove(fs.rules, r);
        return err;
}

static void audit(const char *path, const char *data, size_t size, int err) {
        GString *s = g_string_new(path);

        g_string_append_c(s, '\t');
        append_escaped(s, data, size);
        g_string_append_printf(s, "\t%s\n", err ? strerrorname_np(err) : "0");
        if (fs.audit_fd >= 0 && write(fs.audit_fd, s->str, s->len) != (ssize_t) s->len)
                fprintf(stderr, "vfiosim: audit log: %m\n");
        g_string_free(s, TRUE);
}

/* ---- blocked writes ------------------------------------------------ */

/* Rewrite DIR/blocked (atomically) from fs.blocked: one "<path>\t<data>"
 * line per blocked write; no file when none is blocked. */
static void blocked_file_update(void) {
        g_autofree char *path = g_build_filename(fs.control_dir, "blocked", NULL);
        g_autofree char *tmp = g_build_filename(fs.control_dir, ".blocked.tmp", NULL);
        g_autoptr(GString) s = g_string_new(NULL);
        g_autoptr(GError) error = NULL;

        if (fs.blocked->len == 0) {
                if (unlink(path) < 0 && errno != ENOENT)
                        fprintf(stderr, "vfiosim: %s: %m\n", path);
                return;
        }
        for (guint i = 0; i < fs.blocked->len; i++) {
                g_string_append(s, ((Blocked *) fs.blocked->pdata[i])->line);
                g_string_append_c(s, '\n');
        }
        if (!g_file_set_contents(tmp, s->str, (gssize) s->len, &error) || rename(tmp, path) < 0)
                fprintf(stderr, "vfiosim: %s: %s\n", path, error ? error->message : g_strerror(errno));
}

/* "release [SUFFIX]": let the matching blocked writes (all without a
 * suffix) go on, and drop the matching block rules so the writes that
 * follow act normally. */
static void release_blocked(const char *suffix) {
        bool changed = false;

        for (guint i = fs.blocked->len; i > 0; i--) {
                Blocked *b = fs.blocked->pdata[i - 1];

                if (suffix && !suffix_matches(suffix, b->path))
                        continue;
                b->released = true;
                g_ptr_array_remove_index(fs.blocked, i - 1);
                changed = true;
        }
        for (guint i = fs.rules->len; i > 0; i--) {
                Rule *r = fs.rules->pdata[i - 1];

                if ((r->type == RULE_BLOCK || r->type == RULE_BLOCK_READ) &&
                    (!suffix || suffix_matches(suffix, r->suffix)))
                        g_ptr_array_remove_index(fs.rules, i - 1);
        }
        if (changed) {
                blocked_file_update();
                pthread_cond_broadcast(&fs.unblock);
        }
}

/* Hold the calling write, or read (@size 0) (model lock held on entry, released while waiting)
 * until a "release" or the end of the session: a stopping server lets every
 * blocked write go on, or the FUSE loop could never join its workers. */
static void block_write(const char *path, const char *data, size_t size) {
        GString *line = g_string_new(path);
        Blocked b = {.path = path};

        g_string_append_c(line, '\t');
        append_escaped(line, data, size);
        b.line = g_string_free(line, FALSE);
        g_ptr_array_add(fs.blocked, &b);
        blocked_file_update();
        while (!b.released && !fuse_session_exited(fs.session)) {
                struct timespec until;

                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_nsec += 100 * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&fs.unblock, &fs.sim->lock, &until);
                control_refresh();
        }
        if (!b.released) {
                g_ptr_array_remove(fs.blocked, &b);
                blocked_file_update();
        }
        g_free(b.line);
}

/* ---- FUSE operations ---------------------------------------------- */

/* Every operation ends here: the uevents its changes (or a control batch)
 * queued go out now, before the caller sees the result. */
static void model_unlock(void) {
        pthread_mutex_unlock(&fs.sim->lock);
        uevent_flush(fs.sim);
}

static SimNode *lookup_locked(const char *path) {
        control_refresh();
        return node_lookup(fs.sim->root, path);
}

static void fill_stat(Sim *sim, SimNode *n, struct stat *st) {
        memset(st, 0, sizeof(*st));
        st->st_ino = n->ino;
        st->st_uid = 0;
        st->st_gid = 0;
        st->st_atim = st->st_mtim = st->st_ctim = fs.start;
        st->st_blksize = 4096;
        switch (n->type) {
        case NODE_DIR:
                st->st_mode = S_IFDIR | n->mode;
                st->st_nlink = 2;
                break;
        case NODE_FILE:
                st->st_mode = S_IFREG | n->mode;
                st->st_nlink = 1;
                st->st_size = 4096;
                if (n->kind == ATTR_CONFIG)
                        st->st_size = n->dev->pcie ? 4096 : 256;
                break;
        case NODE_LINK:
                st->st_mode = S_IFLNK | 0777;
                st->st_nlink = 1;
                st->st_size = strlen(n->target);
                break;
        }
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
        Sim *sim = fs.sim;
        SimNode *n;
        int r = 0;

        pthread_mutex_lock(&sim->lock);
        n = fi ? ((OpenFile *) (uintptr_t) fi->fh)->node : lookup_locked(path);
        if (n)
                fill_stat(sim, n, st);
        else
                r = -ENOENT;
        model_unlock();
        return r;
}

static int fs_readlink(const char *path, char *buf, size_t size) {
        Sim *sim = fs.sim;
        SimNode *n;
        int r = 0;

        pthread_mutex_lock(&sim->lock);
        n = lookup_locked(path);
        if (!n)
                r = -ENOENT;
        else if (n->type != NODE_LINK)
                r = -EINVAL;
        else if ((r = -read_fault(path + 1)) == 0)
                g_strlcpy(buf, n->target, size);
        model_unlock();
        return r;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
        Sim *sim = fs.sim;
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        SimNode *n;
        int r = 0;

        pthread_mutex_lock(&sim->lock);
        n = lookup_locked(path);
        if (!n)
                r = -ENOENT;
        else if (n->type != NODE_DIR)
                r = -ENOTDIR;
        else if ((r = -read_fault(path + 1)) == 0)
                for (guint i = 0; i < n->order->len; i++)
                        g_ptr_array_add(names, g_strdup(((SimNode *) n->order->pdata[i])->name));
        model_unlock();
        if (r < 0)
                return r;
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        for (guint i = 0; i < names->len; i++)
                filler(buf, names->pdata[i], NULL, 0, 0);
        return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
        Sim *sim = fs.sim;
        SimNode *n;
        int acc = fi->flags & O_ACCMODE;
        int r = 0;

        pthread_mutex_lock(&sim->lock);
        n = lookup_locked(path);
        if (!n)
                r = -ENOENT;
        else if (n->type == NODE_DIR)
                r = -EISDIR;
        else if (n->type == NODE_LINK)
                r = -ELOOP; /* the kernel follows links itself */
        /* Like kernfs: no write on a read-only attribute, no read on a
         * write-only one, whoever asks. */
        else if ((acc != O_RDONLY && !(n->mode & 0222)) || (acc != O_WRONLY && !(n->mode & 0444)))
                r = -EACCES;
        /* Everything belongs to root: others get the "other" bits.  (Checked
         * here rather than with default_permissions, which would cost a
         * GETATTR per path component with attr_timeout 0.) */
        else if (fuse_get_context()->uid != 0 &&
                 ((acc != O_RDONLY && !(n->mode & 0002)) || (acc != O_WRONLY && !(n->mode & 0004))))
                r = -EACCES;
        if (r == 0) {
                OpenFile *of = g_new0(OpenFile, 1);
                g_autofree char *p = node_path(n);

                of->node = n;
                of->path = g_strdup(p + 1);
                g_hash_table_add(fs.open_files, of);
                fi->fh = (uintptr_t) of;
                fi->direct_io = 1;
        }
        model_unlock();
        return r;
}

static void open_file_free(gpointer p) {
        OpenFile *of = p;

        g_free(of->path);
        g_free(of);
}

static int fs_release(const char *path, struct fuse_file_info *fi) {
        pthread_mutex_lock(&fs.sim->lock);
        g_hash_table_remove(fs.open_files, (OpenFile *) (uintptr_t) fi->fh);
        model_unlock();
        return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        Sim *sim = fs.sim;
        OpenFile *of = (OpenFile *) (uintptr_t) fi->fh;
        GByteArray *content;
        int r;

        pthread_mutex_lock(&sim->lock);
        control_refresh();
        if (of->node->dead || (of->node->dev && of->node->dev->removed)) {
                model_unlock();
                return -ENODEV;
        }
        r = read_fault(of->path);
        if (r) {
                model_unlock();
                return -r;
        }
        content = sim_read(sim, of->node);
        model_unlock();
        if (off >= (off_t) content->len) {
                r = 0;
        } else {
                r = (int) MIN(size, (size_t) (content->len - off));
                memcpy(buf, content->data + off, r);
        }
        g_byte_array_unref(content);
        return r;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        Sim *sim = fs.sim;
        OpenFile *of = (OpenFile *) (uintptr_t) fi->fh;
        Rule *r;
        unsigned delay = 0;
        int err;

        pthread_mutex_lock(&sim->lock);
        control_refresh();
        r = rule_find(RULE_DELAY, of->path, buf, size);
        if (r)
                delay = r->ms;
        model_unlock();

        if (delay) {
                struct timespec ts = {delay / 1000, (long) (delay % 1000) * 1000000L};

                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }

        pthread_mutex_lock(&sim->lock);
        control_refresh();
        if (rule_find(RULE_BLOCK, of->path, buf, size))
                block_write(of->path, buf, size);
        r = rule_find(RULE_FAIL, of->path, buf, size);
        if (r) {
                err = r->err;
                if (r->count > 0 && --r->count == 0)
                        g_ptr_array_remove(fs.rules, r);
        } else {
                r = rule_find(RULE_REMOVE_ON_WRITE, of->path, buf, size);
                if (r) {
                        sim_remove_device(sim, r->address);
                        g_ptr_array_remove(fs.rules, r);
                }
                r = rule_find(RULE_DIVERT, of->path, buf, size);
                if (r && of->node->kind == ATTR_DRIVERS_PROBE &&
                    sim_probe_diverted(sim, r->data, r->driver)) {
                        err = 0;
                        if (r->count > 0 && --r->count == 0)
                                g_ptr_array_remove(fs.rules, r);
                } else {
                        err = sim_write(sim, of->node, buf, size);
                }
        }
        audit(of->path, buf, size, err);
        model_unlock();
        return err ? -err : (int) size;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
        return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
        cfg->entry_timeout = 0;
        cfg->attr_timeout = 0;
        cfg->negative_timeout = 0;
        cfg->direct_io = 1;
        cfg->use_ino = 1;
        cfg->kernel_cache = 0;
        if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
                conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
        return NULL;
}

static const struct fuse_operations ops = {
        .init = fs_init,
        .getattr = fs_getattr,
        .readlink = fs_readlink,
        .readdir = fs_readdir,
        .open = fs_open,
        .release = fs_release,
        .read = fs_read,
        .write = fs_write,
        .truncate = fs_truncate,
};

int sim_serve(Sim *sim, const char *control_dir, const char *mountpoint) {
        g_autofree char *audit_path = g_build_filename(control_dir, "audit.log", NULL);
        char *argv[] = {"vfiosim", "-o", "allow_other,fsname=vfiosim,subtype=vfiosim", NULL};
        struct fuse_args args = FUSE_ARGS_INIT(3, argv);
        struct fuse_loop_config *loop;
        struct fuse *f;
        int r;

        fs.sim = sim;
        fs.control_path = g_build_filename(control_dir, "control", NULL);
        fs.rules = g_ptr_array_new_with_free_func(rule_free);
        fs.control_fd = -1;
        fs.open_files = g_hash_table_new_full(g_direct_hash, g_direct_equal, open_file_free, NULL);
        fs.control_dir = g_strdup(control_dir);
        fs.blocked = g_ptr_array_new();
        blocked_file_update(); /* none blocked: no file left from an earlier run */
        {
                pthread_condattr_t attr;

                pthread_condattr_init(&attr);
                pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
                pthread_cond_init(&fs.unblock, &attr);
                pthread_condattr_destroy(&attr);
        }
        clock_gettime(CLOCK_REALTIME, &fs.start);
        fs.audit_fd = open(audit_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fs.audit_fd < 0) {
                fprintf(stderr, "vfiosim: %s: %m\n", audit_path);
                return 1;
        }
        pthread_mutex_lock(&sim->lock);
        control_refresh();
        model_unlock();

        f = fuse_new(&args, &ops, sizeof(ops), NULL);
        if (!f)
                return 1;
        fs.session = fuse_get_session(f);
        if (fuse_mount(f, mountpoint) != 0) {
                fuse_destroy(f);
                return 1;
        }
        if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
                fuse_unmount(f);
                fuse_destroy(f);
                return 1;
        }
        printf("ready\n");
        fflush(stdout);

        loop = fuse_loop_cfg_create();
        fuse_loop_cfg_set_max_threads(loop, 64);
        fuse_loop_cfg_set_idle_threads(loop, 8);
        r = fuse_loop_mt(f, loop);
        fuse_loop_cfg_destroy(loop);
        fuse_remove_signal_handlers(fuse_get_session(f));
        fuse_unmount(f);
        fuse_destroy(f);
        fuse_opt_free_args(&args);
        g_hash_table_unref(fs.open_files);
        g_assert(fs.blocked->len == 0);
        g_ptr_array_unref(fs.blocked);
        pthread_cond_destroy(&fs.unblock);
        g_free(fs.control_dir);
        g_ptr_array_unref(fs.rules);
        g_free(fs.control_path);
        if (fs.control_fd >= 0)
                close(fs.control_fd);
        close(fs.audit_fd);
        /* The loop returns the signal number when a signal ended it. */
        return r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP ? 0 : 1;
}
