/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfio.h"

#include "access.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
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

/* Every node through which a process can hold IOMMU group @group: the
 * group's /dev/vfio/N, then each member's device cdev.
 *
 * /dev/iommu needs no look: a process holding only /dev/iommu (an
 * iommufd) holds no device; a device is bound to an iommufd only through
 * a file descriptor of its own cdev, which is looked for here. */
static GPtrArray *
group_nodes (uint32_t group)
{
  GPtrArray *nodes = g_ptr_array_new_with_free_func (g_free);
  char path[PATH_MAX];
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  g_ptr_array_add (nodes, g_strdup_printf (VFIOD_DEV_VFIO_DIR "/%u", group));
  snprintf (path, sizeof path, VFIOD_SYSFS_IOMMU_GROUPS "/%u/devices", group);
  dir = g_dir_open (path, 0, NULL);
  while (dir && (entry = g_dir_read_name (dir)) != NULL)
    {
      PciAddress address;
      char name[ADDRESS_STRLEN];
      char *cdev;

      if (!address_parse (entry, &address) || strcmp (address_format (&address, name), entry) != 0)
        continue;
      cdev = access_device_cdev (name);
      if (cdev)
        g_ptr_array_add (nodes, cdev);
    }
  return nodes;
}

/* Processes with a file descriptor on one of @nodes, from /proc, into
 * @out.  Returns whether some processes could not be looked into
 * (another user's, once vfiod has no CAP_SYS_PTRACE). */
static gboolean
find_holders (GPtrArray *nodes, GString *out)
{
  DIR *proc = opendir ("/proc");
  struct dirent *de;
  gboolean blind = FALSE;

  if (proc == NULL)
    return TRUE;
  while ((de = readdir (proc)) != NULL)
    {
      char fddir[PATH_MAX], target[PATH_MAX];
      DIR *fds;
      struct dirent *fd;
      const char *held = NULL;

      if (!g_ascii_isdigit (de->d_name[0]) || (pid_t) atoi (de->d_name) == getpid ())
        continue;
      snprintf (fddir, sizeof fddir, "/proc/%s/fd", de->d_name);
      fds = opendir (fddir);
      if (fds == NULL)
        {
          /* ENOENT: it exited meanwhile */
          blind = blind || errno != ENOENT;
          continue;
        }
      while (!held && (fd = readdir (fds)) != NULL)
        {
          ssize_t n;

          n = readlinkat (dirfd (fds), fd->d_name, target, sizeof target - 1);
          if (n <= 0)
            continue;
          target[n] = '\0';
          for (guint i = 0; i < nodes->len && !held; i++)
            if (strcmp (target, g_ptr_array_index (nodes, i)) == 0)
              held = g_ptr_array_index (nodes, i);
        }
      closedir (fds);

      if (held)
        {
          g_autofree char *comm = NULL;
          char comm_path[PATH_MAX];

          snprintf (comm_path, sizeof comm_path, "/proc/%s/comm", de->d_name);
          if (g_file_get_contents (comm_path, &comm, NULL, NULL))
            g_strchomp (comm);
          g_string_append_printf (out, "%spid %s (%s)", out->len ? ", " : "", de->d_name,
                                  comm ? comm : "?");
          /* the group file is the usual one: name only the others */
          if (held != g_ptr_array_index (nodes, 0))
            g_string_append_printf (out, " through %s", held);
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
  const char *group_node = g_ptr_array_index (nodes, 0);
  g_autofree char *all = NULL;
  _cleanup_fd_ int fd = -1;
  gboolean blind;

  blind = find_holders (nodes, out);
  if (out->len)
    return g_string_free (g_steal_pointer (&out), FALSE);

  /* The kernel is the authority: it lets one opener at a time have a
   * group, and refuses the group's open (EBUSY) while any device of it is
   * open through its cdev too.  O_NONBLOCK: never wait on the group. */
  fd = open (group_node, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0 || errno != EBUSY)
    return NULL;

  g_ptr_array_add (nodes, NULL);
  all = g_strjoinv (" ", (char **) nodes->pdata);
  return g_strdup_printf ("a process vfiod cannot name (%s; as root, fuser -v %s shows "
                          "which)",
                          blind ? "vfiod cannot look into other users' processes: it runs "
                                  "without CAP_SYS_PTRACE"
                                : "it runs in another PID namespace, e.g. a container",
                          all);
}
