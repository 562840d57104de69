/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfio.h"

#include "access.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sysfs.h"
#include "util.h"
#include "names.h"

gboolean
vfio_load (char **message)
{
  const char *modprobe = g_getenv (VFIOD_ENV_MODPROBE);
  const char *argv[] = { modprobe && *modprobe ? modprobe : "modprobe", "-q", VFIOD_MODULE_VFIO_PCI,
                         NULL };
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;

  if (sysfs_driver_loaded (VFIOD_DRIVER_VFIO_PCI))
    return TRUE;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &err, &status, &error))
    {
      *message = g_strdup_printf ("cannot run %s: %s", argv[0], error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      *message = g_strdup_printf ("%s %s failed%s%s", argv[0], VFIOD_MODULE_VFIO_PCI,
                                  err && *g_strstrip (err) ? ": " : "", err ? err : "");
      return FALSE;
    }
  if (!sysfs_driver_loaded (VFIOD_DRIVER_VFIO_PCI))
    {
      *message = g_strdup_printf ("%s loaded but registered no %s PCI driver",
                                  VFIOD_MODULE_VFIO_PCI, VFIOD_DRIVER_VFIO_PCI);
      return FALSE;
    }
  return TRUE;
}

/* A node through which a process can hold a group, and how to know an
 * open file of it when another process has one: by the device number it
 * is (the node's st_rdev, and the kernel's own "major:minor" in sysfs),
 * never by its path, so an opener in another mount namespace (a
 * container's own /dev, a node made with mknod anywhere) counts too; and
 * by the node's inode, for a node that is not a character device (the
 * tests' stand-ins). */
typedef struct {
  char *path;
  dev_t rdev[2]; /* 0: unknown */
  dev_t st_dev;
  ino_t st_ino;
  gboolean have_inode;
} Node;

static void
node_free (Node *node)
{
  g_free (node->path);
  g_free (node);
}

/* "major:minor\n" (a sysfs dev attribute) at @path into *@out. */
static gboolean
read_devnum (const char *path, dev_t *out)
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

/* @path, known by what stat() says of it and by @sysfs_dev (the sysfs
 * attribute giving its number, NULL for none). */
static Node *
node_new (char *path, const char *sysfs_dev)
{
  Node *node = g_new0 (Node, 1);
  struct stat st;

  node->path = path;
  if (stat (path, &st) == 0)
    {
      if (S_ISCHR (st.st_mode))
        node->rdev[0] = st.st_rdev;
      node->st_dev = st.st_dev;
      node->st_ino = st.st_ino;
      node->have_inode = TRUE;
    }
  if (sysfs_dev && read_devnum (sysfs_dev, &node->rdev[1]) && node->rdev[1] == node->rdev[0])
    node->rdev[1] = 0;
  return node;
}

/* Every node through which a process can hold IOMMU group @group: the
 * group's /dev/vfio/N, then each member's device cdev.
 *
 * /dev/iommu needs no look: a process holding only /dev/iommu (an
 * iommufd) holds no device; a device is bound to an iommufd only through
 * a file descriptor of its own cdev, which is looked for here. */
static GPtrArray *
group_nodes (uint32_t group)
{
  GPtrArray *nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  char path[PATH_MAX];
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_VFIO "/%u/" VFIOD_ATTR_DEV, group);
  g_ptr_array_add (nodes, node_new (g_strdup_printf (VFIOD_DEV_VFIO_DIR "/%u", group), path));
  snprintf (path, sizeof path, VFIOD_SYSFS_IOMMU_GROUPS "/%u/devices", group);
  dir = g_dir_open (path, 0, NULL);
  while (dir && (entry = g_dir_read_name (dir)) != NULL)
    {
      PciAddress address;
      char name[ADDRESS_STRLEN], dev[PATH_MAX];
      char *cdev;

      if (!address_parse (entry, &address) || strcmp (address_format (&address, name), entry) != 0)
        continue;
      cdev = access_device_cdev (name);
      if (cdev == NULL)
        continue;
      snprintf (dev, sizeof dev,
                VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_VFIO_DEV "/%s/" VFIOD_ATTR_DEV, name,
                strrchr (cdev, '/') + 1);
      g_ptr_array_add (nodes, node_new (cdev, dev));
    }
  return nodes;
}

/* The node of @nodes that the open file @st (fstat of /proc/PID/fd/N) is,
 * or NULL. */
static const Node *
node_of_file (GPtrArray *nodes, const struct statx *st)
{
  for (guint i = 0; i < nodes->len; i++)
    {
      const Node *node = g_ptr_array_index (nodes, i);

      if (S_ISCHR (st->stx_mode))
        {
          dev_t rdev = makedev (st->stx_rdev_major, st->stx_rdev_minor);
          if ((node->rdev[0] && node->rdev[0] == rdev) || (node->rdev[1] && node->rdev[1] == rdev))
            return node;
        }
      if (node->have_inode && node->st_ino == st->stx_ino &&
          node->st_dev == makedev (st->stx_dev_major, st->stx_dev_minor))
        return node;
    }
  return NULL;
}

/* The real uid of process @pid ("/proc/PID/status"), or -1. */
static gint64
process_uid (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", pid);
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

/* Processes with a file descriptor on one of @nodes, from /proc, into
 * @out.  Returns how many processes could not be looked into (their fd
 * directory refused: an LSM, or vfiod run without CAP_SYS_PTRACE). */
static guint
find_holders (GPtrArray *nodes, GString *out)
{
  DIR *proc = opendir ("/proc");
  struct dirent *de;
  guint blind = 0;

  if (proc == NULL)
    return 1;
  while ((de = readdir (proc)) != NULL)
    {
      char fddir[PATH_MAX];
      DIR *fds;
      struct dirent *fd;
      const Node *held = NULL;

      if (!g_ascii_isdigit (de->d_name[0]) || (pid_t) atoi (de->d_name) == getpid ())
        continue;
      snprintf (fddir, sizeof fddir, "/proc/%s/fd", de->d_name);
      fds = opendir (fddir);
      if (fds == NULL)
        {
          /* ENOENT: it exited meanwhile */
          blind += errno != ENOENT;
          continue;
        }
      while (!held && (fd = readdir (fds)) != NULL)
        {
          struct statx st;

          if (fd->d_name[0] == '.')
            continue;
          /* the open file itself, through its magic link: whatever its
           * path in the holder's mount namespace.  AT_STATX_DONT_SYNC:
           * never wait on a network or FUSE file system for attributes
           * of a file that is no node of ours anyway */
          if (statx (dirfd (fds), fd->d_name, AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &st) < 0)
            continue;
          held = node_of_file (nodes, &st);
        }
      closedir (fds);

      if (held)
        {
          g_autofree char *comm = NULL;
          char comm_path[PATH_MAX];
          gint64 uid = process_uid (de->d_name);

          snprintf (comm_path, sizeof comm_path, "/proc/%s/comm", de->d_name);
          if (g_file_get_contents (comm_path, &comm, NULL, NULL))
            g_strchomp (comm);
          g_string_append_printf (out, "%spid %s (%s", out->len ? ", " : "", de->d_name,
                                  comm ? comm : "?");
          if (uid >= 0)
            g_string_append_printf (out, ", uid %" G_GINT64_FORMAT, uid);
          g_string_append_c (out, ')');
          /* the group file is the usual one: name only the others */
          if (held != g_ptr_array_index (nodes, 0))
            g_string_append_printf (out, " through %s", held->path);
        }
    }
  closedir (proc);
  return blind;
}

char *
vfio_group_holders (uint32_t group)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GPtrArray) nodes = group_nodes (group);
  const char *group_node = ((Node *) g_ptr_array_index (nodes, 0))->path;
  g_autoptr (GString) all = g_string_new (NULL);
  _cleanup_fd_ int fd = -1;
  guint blind;

  blind = find_holders (nodes, out);
  if (out->len)
    return g_string_free (g_steal_pointer (&out), FALSE);

  /* The kernel is the authority on the group: it lets one opener at a
   * time have it, and refuses the group's open (EBUSY) while a device of
   * it is bound to an iommufd through its cdev.  It has no such answer
   * for a cdev open but not bound (docs/safety.md): only the scan above
   * sees that one.  O_NONBLOCK: never wait on the group. */
  fd = open (group_node, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0 || errno != EBUSY)
    return NULL;

  for (guint i = 0; i < nodes->len; i++)
    g_string_append_printf (all, " %s", ((Node *) g_ptr_array_index (nodes, i))->path);
  if (blind)
    return g_strdup_printf ("a process vfiod cannot name: the kernel says the group is held, "
                            "and the open files of %u process(es) were refused to vfiod (an "
                            "LSM, or vfiod running without CAP_SYS_PTRACE); as root, fuser -v%s "
                            "shows which",
                            blind, all->str);
  return g_strdup_printf ("a process vfiod cannot see (another PID namespace, e.g. a container "
                          "whose /proc is not the host's): the kernel says the group is held; "
                          "as root in that namespace, fuser -v%s shows which",
                          all->str);
}
