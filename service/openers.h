/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* openers.h: which processes hold a device node open.  The one walk of
 * /proc/PID/fd in vfiod: a node is known by its device number (so an
 * opener in another mount namespace, or of a node made anywhere with
 * mknod, counts), or by its inode for a node that is no device (the
 * tests' stand-ins).  Blocking reads of /proc: never on the main loop. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
  char *label;   /* what reasons call it: "sda", "card0", "/dev/vfio/7" */
  mode_t type;   /* S_IFCHR or S_IFBLK: the kind of device number */
  dev_t rdev[2]; /* its device numbers, 0: none (a node's and sysfs') */
  gboolean have_inode;
  dev_t st_dev; /* the inode of a node found in a directory */
  ino_t st_ino;
  gpointer data; /* the caller's */
} OpenNode;

/* A node called @label of device number @type/@devnum (0: none), and the
 * file at @path if it exists (NULL: none): a device node of another
 * number adds that number; anything else is matched by its inode. */
OpenNode *open_node_new (const char *label, mode_t type, dev_t devnum, const char *path,
                         gpointer data);
void open_node_free (OpenNode *node);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OpenNode, open_node_free)

/* Called once for each process and each node of @nodes it has open. */
typedef void (*OpenersFunc) (const OpenNode *node, const char *pid, gpointer data);

/* Walks every process but this one.  Returns how many processes could
 * not be looked into (their fd directory refused: an LSM, or vfiod
 * running without CAP_SYS_PTRACE), or 1 if /proc itself could not be. */
guint openers_find (GPtrArray *nodes, OpenersFunc func, gpointer data);

/* What a process calls itself (/proc/PID/comm), NULL when gone. */
char *openers_comm (const char *pid);
/* The real uid of a process (/proc/PID/status), or -1. */
gint64 openers_uid (const char *pid);
/* "major:minor\n" (a sysfs dev attribute) at @path into *@out: FALSE
 * when unreadable or no device number. */
gboolean openers_read_devnum (const char *path, dev_t *out);
