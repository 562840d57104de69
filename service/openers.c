/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "openers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "names.h"
#include "sysfs.h"

OpenNode *
open_node_new (const char *label, mode_t type, dev_t devnum, const char *path, gpointer data)
{
  OpenNode *node = g_new0 (OpenNode, 1);
  struct stat st;

  node->label = g_strdup (label);
  node->type = type;
  node->rdev[0] = devnum;
  node->data = data;
  if (path && stat (path, &st) == 0)
    {
      if ((st.st_mode & S_IFMT) == type && (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode)))
        {
          if (st.st_rdev != node->rdev[0])
            node->rdev[node->rdev[0] ? 1 : 0] = st.st_rdev;
        }
      else if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
        {
          node->st_dev = st.st_dev;
          node->st_ino = st.st_ino;
          node->have_inode = TRUE;
        }
    }
  return node;
}

void
open_node_free (OpenNode *node)
{
  g_free (node->label);
  g_free (node);
}

gboolean
openers_read_devnum (const char *path, dev_t *out)
{
  char buf[32];
  unsigned major, minor;
  char end;
  ssize_t n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);

  if (n <= 0 || sscanf (buf, "%u:%u%c", &major, &minor, &end) != 3 || end != '\n')
    return FALSE;
  *out = makedev (major, minor);
  return *out != 0;
}

/* The node of @nodes that the open file @st is, from @from on, or NULL. */
static const OpenNode *
node_of_file (GPtrArray *nodes, guint *from, const struct statx *st)
{
  mode_t type = st->stx_mode & S_IFMT;
  dev_t rdev = makedev (st->stx_rdev_major, st->stx_rdev_minor);

  for (guint i = *from; i < nodes->len; i++)
    {
      const OpenNode *node = g_ptr_array_index (nodes, i);

      if ((type == S_IFCHR || type == S_IFBLK) && type == node->type && rdev != 0 &&
          (node->rdev[0] == rdev || node->rdev[1] == rdev))
        {
          *from = i + 1;
          return node;
        }
      if (node->have_inode && node->st_ino == st->stx_ino &&
          node->st_dev == makedev (st->stx_dev_major, st->stx_dev_minor))
        {
          *from = i + 1;
          return node;
        }
    }
  return NULL;
}

guint
openers_find (GPtrArray *nodes, OpenersFunc func, gpointer data)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  DIR *proc;
  struct dirent *de;
  guint blind = 0;
  pid_t self = getpid ();

  if (nodes->len == 0)
    return 0;
  proc = opendir (VFIOD_PROC_DIR);
  if (proc == NULL)
    return 1;
  while ((de = readdir (proc)) != NULL)
    {
      char fddir[PATH_MAX];
      DIR *fds;
      struct dirent *fd;

      if (!g_ascii_isdigit (de->d_name[0]) || (pid_t) atoi (de->d_name) == self)
        continue;
      snprintf (fddir, sizeof fddir, VFIOD_PROC_DIR "/%s/" VFIOD_PROC_PID_FD, de->d_name);
      fds = opendir (fddir);
      if (fds == NULL)
        {
          /* ENOENT: it exited meanwhile */
          blind += errno != ENOENT;
          continue;
        }
      g_hash_table_remove_all (seen);
      while ((fd = readdir (fds)) != NULL)
        {
          struct statx st;
          const OpenNode *held;
          guint from = 0;

          if (fd->d_name[0] == '.')
            continue;
          /* the open file itself, through its magic link: whatever its
           * path in the holder's mount namespace.  AT_STATX_DONT_SYNC:
           * never wait on a network or FUSE file system for attributes
           * of a file that is no node of ours anyway */
          if (statx (dirfd (fds), fd->d_name, AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &st) < 0)
            continue;
          /* a file may be two nodes of the list (a partition seen from
           * two devices' reads): each is told once per process */
          while ((held = node_of_file (nodes, &from, &st)) != NULL)
            if (g_hash_table_add (seen, (gpointer) held))
              func (held, de->d_name, data);
        }
      closedir (fds);
    }
  closedir (proc);
  return blind;
}

char *
openers_comm (const char *pid)
{
  char path[PATH_MAX];
  char *comm = NULL;

  snprintf (path, sizeof path, VFIOD_PROC_DIR "/%s/" VFIOD_PROC_PID_COMM, pid);
  if (!g_file_get_contents (path, &comm, NULL, NULL))
    return NULL;
  return g_strchomp (comm);
}

gint64
openers_uid (const char *pid)
{
  g_autofree char *path = g_strdup_printf (VFIOD_PROC_DIR "/%s/status", pid);
  g_autofree char *text = NULL;
  g_autofree char *field = NULL;
  const char *line;
  guint64 uid;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  line = strstr (text, "\nUid:\t");
  if (line == NULL)
    return -1;
  field = g_strndup (line + 6, strcspn (line + 6, "\t\n"));
  if (!g_ascii_string_to_unsigned (field, 10, 0, G_MAXUINT32, &uid, NULL))
    return -1;
  return (gint64) uid;
}
