/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export.c: write the tree as plain files, directories and symlinks, for
 * benchmarks that bind-mount it over /sys (no FUSE in the read path).
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int export_node(Sim *sim, SimNode *n, int dirfd) {
        switch (n->type) {
        case NODE_DIR: {
                int fd;
                int r = 0;

                if (mkdirat(dirfd, n->name, 0755) < 0 && errno != EEXIST)
                        return -errno;
                fd = openat(dirfd, n->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                for (guint i = 0; i < n->order->len && r == 0; i++)
                        r = export_node(sim, n->order->pdata[i], fd);
                close(fd);
                return r;
        }
        case NODE_LINK:
                if (symlinkat(n->target, dirfd, n->name) < 0)
                        return -errno;
                return 0;
        case NODE_FILE: {
                GByteArray *b = sim_read(sim, n);
                int fd = openat(dirfd, n->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                int r = 0;

                if (fd < 0 || write(fd, b->data, b->len) != (ssize_t) b->len || fchmod(fd, n->mode) < 0)
                        r = -errno;
                if (fd >= 0)
                        close(fd);
                g_byte_array_unref(b);
                return r;
        }
        }
        return 0;
}

int sim_export(Sim *sim, const char *dir) {
        int fd;
        int r = 0;

        if (g_mkdir_with_parents(dir, 0755) < 0)
                return -errno;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (guint i = 0; i < sim->root->order->len && r == 0; i++)
                r = export_node(sim, sim->root->order->pdata[i], fd);
        close(fd);
        return r;
}
