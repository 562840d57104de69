/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfio.h"

#include "access.h"
#include "openers.h"

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

/* Every node through which a process can hold IOMMU group @group: the
 * group's /dev/vfio/N (known by its own number and the kernel's, in
 * sysfs), then each member's device cdev.
 *
 * /dev/iommu needs no look: a process holding only /dev/iommu (an
 * iommufd) holds no device; a device is bound to an iommufd only through
 * a file descriptor of its own cdev, which is looked for here. */
static GPtrArray *
group_nodes (uint32_t group)
{
  GPtrArray *nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) open_node_free);
  char path[PATH_MAX];
  g_autoptr (GDir) dir = NULL;
  g_autofree char *group_node = g_strdup_printf (VFIOD_DEV_VFIO_DIR "/%u", group);
  const char *entry;
  dev_t devnum = 0;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_VFIO "/%u/" VFIOD_ATTR_DEV, group);
  openers_read_devnum (path, &devnum);
  g_ptr_array_add (nodes, open_node_new (group_node, S_IFCHR, devnum, group_node, NULL));
  snprintf (path, sizeof path, VFIOD_SYSFS_IOMMU_GROUPS "/%u/devices", group);
  dir = g_dir_open (path, 0, NULL);
  while (dir && (entry = g_dir_read_name (dir)) != NULL)
    {
      PciAddress address;
      char name[ADDRESS_STRLEN], dev[PATH_MAX];
      g_autofree char *cdev = NULL;

      if (!address_parse (entry, &address) || strcmp (address_format (&address, name), entry) != 0)
        continue;
      cdev = access_device_cdev (name);
      if (cdev == NULL)
        continue;
      snprintf (dev, sizeof dev,
                VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_VFIO_DEV "/%s/" VFIOD_ATTR_DEV, name,
                strrchr (cdev, '/') + 1);
      devnum = 0;
      openers_read_devnum (dev, &devnum);
      g_ptr_array_add (nodes, open_node_new (cdev, S_IFCHR, devnum, cdev, nodes));
    }
  return nodes;
}

/* Appends "pid N (comm, uid U)" for each holder: the group node is the
 * usual one, the others are named.  A process holding two nodes is
 * named once, with the first. */
typedef struct {
  GString *out;
  char last_pid[16];
} Holders;

static void
holder_found (const OpenNode *node, const char *pid, gpointer data)
{
  Holders *h = data;
  g_autofree char *comm = NULL;
  gint64 uid;

  if (strcmp (h->last_pid, pid) == 0)
    return;
  g_strlcpy (h->last_pid, pid, sizeof h->last_pid);
  comm = openers_comm (pid);
  uid = openers_uid (pid);
  g_string_append_printf (h->out, "%spid %s (%s", h->out->len ? ", " : "", pid, comm ? comm : "?");
  if (uid >= 0)
    g_string_append_printf (h->out, ", uid %" G_GINT64_FORMAT, uid);
  g_string_append_c (h->out, ')');
  /* cdevs are marked by their data */
  if (node->data != NULL)
    g_string_append_printf (h->out, " through %s", node->label);
}

char *
vfio_group_holders (uint32_t group)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GPtrArray) nodes = group_nodes (group);
  const char *group_node = ((OpenNode *) g_ptr_array_index (nodes, 0))->label;
  Holders holders = { .out = out };
  g_autoptr (GString) all = g_string_new (NULL);
  _cleanup_fd_ int fd = -1;
  guint blind;

  blind = openers_find (nodes, holder_found, &holders);
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
    g_string_append_printf (all, " %s", ((OpenNode *) g_ptr_array_index (nodes, i))->label);
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
