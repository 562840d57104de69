/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "use.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "bootid.h"
#include "device.h"
#include "sysfs.h"
#include "vfio.h"
#include "names.h"

int
use_check (GPtrArray *members, const char *target, uint32_t group, sd_bus_error *error)
{
  g_autoptr (GString) holders = g_string_new (NULL);
  const Device *t = NULL;

  for (guint i = 0; i < members->len; i++)
    {
      const Device *d = g_ptr_array_index (members, i);
      if (strcmp (d->name, target) == 0)
        t = d;
      else if (!device_leaves_dma_to_vfio (d))
        g_string_append_printf (holders, "%s%s (on %s)", holders->len ? ", " : "", d->name,
                                d->driver);
    }
  if (t == NULL)
    return sd_bus_error_setf (error, VFIOD_ERROR_NO_SUCH_DEVICE,
                              "PCI device %s is no longer in IOMMU group %u: look at it "
                              "again (GetGroup of %s)",
                              target, group, target);
  if (g_strcmp0 (t->driver, VFIOD_DRIVER_VFIO_PCI) != 0)
    return sd_bus_error_setf (error, VFIOD_ERROR_NOT_DETACHED,
                              "PCI device %s is %s%s, not on vfio-pci: detach it first "
                              "(DetachDevice of %s)",
                              target, t->driver ? "on " : "not bound to any driver",
                              t->driver ? t->driver : "", target);
  if (holders->len)
    return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_NOT_VIABLE,
                              "IOMMU group %u of %s is not usable by a virtual machine: the host "
                              "still has %s. Detach the whole group first (DetachDevice of "
                              "%s with the GROUP flag)",
                              group, target, holders->str, target);
  return 0;
}

gboolean
use_group_owner (GPtrArray *members, GHashTable *owners, uid_t *owner)
{
  gboolean found = FALSE;
  uid_t first = 0;

  for (guint i = 0; i < members->len; i++)
    {
      const Device *d = g_ptr_array_index (members, i);
      gpointer value;

      if (g_strcmp0 (d->driver, VFIOD_DRIVER_VFIO_PCI) != 0)
        continue;
      if (!g_hash_table_lookup_extended (owners, d->name, NULL, &value))
        return FALSE;
      if (found && (uid_t) GPOINTER_TO_UINT (value) != first)
        return FALSE;
      first = (uid_t) GPOINTER_TO_UINT (value);
      found = TRUE;
    }
  if (found)
    *owner = first;
  return found;
}

int
use_open_group (uint32_t group, const char *target, int *fd, sd_bus_error *error)
{
  g_autofree char *node = access_group_node (group);
  bool viable = false;
  int r = access_open_group (group, fd, &viable);

  if (r == -EBUSY)
    {
      g_autofree char *holders = vfio_group_holders (group);
      return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_BUSY,
                                "IOMMU group %u of %s is open already, by %s: the kernel lets "
                                "one process have it. Close it there (shut that virtual machine "
                                "down) first",
                                group, target, holders ? holders : "another process");
    }
  if (r == -ENOENT)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "There is no %s for IOMMU group %u of %s although it is on vfio-pci: "
                              "is /dev mounted (devtmpfs), and the vfio module loaded?",
                              node, group, target);
  if (r < 0)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED, "Cannot open %s for %s: %s", node, target,
                              g_strerror (-r));
  if (!viable)
    {
      close (*fd);
      *fd = -1;
      return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_NOT_VIABLE,
                                "The kernel says IOMMU group %u of %s is not viable: a device "
                                "of it is still on a host driver. GetGroup of %s shows which; "
                                "detach the whole group first (DetachDevice of %s with the "
                                "GROUP flag)",
                                group, target, target, target);
    }
  return 0;
}

int
use_open_device (const char *target, int *fd, sd_bus_error *error)
{
  g_autofree char *cdev = access_device_cdev (target);
  int r;

  if (cdev == NULL)
    return sd_bus_error_setf (error, VFIOD_ERROR_NOT_SUPPORTED,
                              "PCI device %s has no VFIO device cdev: this kernel has none "
                              "(it needs Linux 6.6 or later built with "
                              "CONFIG_VFIO_DEVICE_CDEV). Use OpenGroup (the group's "
                              "/dev/vfio node) instead",
                              target);
  r = access_open_node (cdev, fd);
  if (r == -EBUSY)
    return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_BUSY,
                              "%s of PCI device %s is open already: close it there first", cdev,
                              target);
  if (r < 0)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED, "Cannot open %s of PCI device %s: %s",
                              cdev, target, g_strerror (-r));
  return 0;
}

GPtrArray *
use_group_nodes (GPtrArray *members, uint32_t group)
{
  GPtrArray *nodes = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (nodes, access_group_node (group));
  for (guint i = 0; i < members->len; i++)
    {
      char *cdev = access_device_cdev (((Device *) g_ptr_array_index (members, i))->name);
      if (cdev)
        g_ptr_array_add (nodes, cdev);
    }
  return nodes;
}

int
use_grant (Grants *grants, GPtrArray *members, uint32_t group, uid_t uid, const char *target,
           GPtrArray **granted, sd_bus_error *error)
{
  g_autoptr (GPtrArray) nodes = use_group_nodes (members, group);
  g_autoptr (GPtrArray) done = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  g_autoptr (GArray) identities = grant_members_from_devices (members);
  const char *boot_id = boot_id_current ();
  bool viable = false;
  int fd = -1;

  /* without it a restart could not tell this boot's nodes from another's */
  if (boot_id == NULL)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "Cannot tell which boot this is (/proc/sys/kernel/random/boot_id "
                              "is unreadable): nothing was granted for %s; is /proc mounted?",
                              target);

  /* the kernel's verdict, as OpenGroup asks it; a group somebody has open
   * (EBUSY: a VM already runs) cannot be asked, and vfiod's own check of
   * the members (use_check) stands */
  if (access_open_group (group, &fd, &viable) == 0)
    {
      close (fd);
      if (!viable)
        return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_NOT_VIABLE,
                                  "The kernel says IOMMU group %u of %s is not viable: a device "
                                  "of it is still on a host driver. GetGroup of %s shows which; "
                                  "detach the whole group first (DetachDevice of %s with the "
                                  "GROUP flag)",
                                  group, target, target, target);
    }

  for (guint i = 0; i < nodes->len; i++)
    {
      const char *path = g_ptr_array_index (nodes, i);
      g_autoptr (GError) local = NULL;
      int r;

      /* recorded first: a crash after the entry is added leaves a record
       * the next start takes back */
      if (!grants_add (grants, path, group, uid, boot_id, identities, &local))
        {
          sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                             "Cannot record the access to %s for uid %u: %s; nothing was granted",
                             path, (unsigned) uid, local->message);
          goto undo;
        }
      r = access_acl_grant (path, uid);
      if (r == -ENOENT && i > 0)
        {
          /* a device cdev sysfs names but /dev does not have (yet): no
           * node, nothing to open by path */
          g_debug ("%s does not exist: not granted", path);
          grants_remove (grants, path, uid, NULL);
          continue;
        }
      if (r < 0)
        {
          grants_remove (grants, path, uid, NULL);
          /* what to do next depends on why: EPERM is vfiod's own lack of
           * CAP_FOWNER on a node another owner has, EOPNOTSUPP a /dev
           * without ACLs */
          sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                             "Cannot give uid %u access to %s (IOMMU group %u of %s): %s; "
                             "nothing was granted. %s",
                             (unsigned) uid, path, group, target, g_strerror (-r),
                             r == -EPERM || r == -EACCES
                                 ? "vfiod may not change the ACL of a node another owner has "
                                   "(it needs CAP_FOWNER, which its unit grants: check "
                                   "CapabilityBoundingSet= of vfiod.service and its drop-ins)"
                                 : "Check that the file system of /dev supports POSIX ACLs");
          goto undo;
        }
      g_ptr_array_add (done, grant_new (path, group, uid, false));
    }
  *granted = g_steal_pointer (&done);
  return 0;

undo:
  for (guint i = done->len; i-- > 0;)
    {
      const Grant *g = g_ptr_array_index (done, i);
      if (access_acl_revoke (g->path, uid) == 0)
        grants_remove (grants, g->path, uid, NULL);
      else
        g_warning ("Cannot take back uid %u's access to %s after a failed grant; the next "
                   "start tries again",
                   (unsigned) uid, g->path);
    }
  return -EIO;
}

gboolean
use_nodes_have (GPtrArray *nodes, const char *path)
{
  for (guint i = 0; i < nodes->len; i++)
    if (strcmp (g_ptr_array_index (nodes, i), path) == 0)
      return TRUE;
  return FALSE;
}

int
use_current_nodes (uint32_t group, GPtrArray **members, GPtrArray **nodes)
{
  SysfsCache *cache = sysfs_cache_new (); /* not enabled: reads everything */
  GPtrArray *devices = NULL;
  int r = sysfs_list_group (cache, group, &devices);

  sysfs_cache_free (cache);
  /* the group is gone: only its number is left, and no member's cdev */
  if (r == -ENOENT)
    {
      devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
      r = 0;
    }
  if (r < 0)
    return r;
  *nodes = use_group_nodes (devices, group);
  if (members)
    *members = devices;
  else
    g_ptr_array_unref (devices);
  return 0;
}

void
use_forget_stale (Grants *grants, const Grant *g, const char *why)
{
  g_autoptr (GError) local = NULL;

  g_message ("Forgetting uid %u's grant on %s (IOMMU group %u): %s; its ACL entry, if any, is "
             "left alone",
             (unsigned) g->uid, g->path, g->group, why);
  if (!grants_remove (grants, g->path, g->uid, &local))
    g_warning ("Cannot forget uid %u's grant on %s: %s", (unsigned) g->uid, g->path,
               local->message);
}

int
use_revoke (Grants *grants, uint32_t group, uid_t uid, const char *what, GPtrArray **revoked,
            sd_bus_error *error)
{
  g_autoptr (GPtrArray) list = grants_list (grants, group);
  g_autoptr (GPtrArray) done = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  g_autoptr (GPtrArray) nodes = NULL;
  gboolean any = FALSE;
  int r;

  for (guint i = 0; i < list->len; i++)
    any = any || uid == (uid_t) -1 || ((Grant *) g_ptr_array_index (list, i))->uid == uid;
  if (!any)
    {
      if (revoked)
        *revoked = g_steal_pointer (&done);
      return 0;
    }
  /* the nodes the group has now, never the record's word for them */
  r = use_current_nodes (group, NULL, &nodes);
  if (r < 0)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "Cannot read the members of IOMMU group %u to find its nodes: %s; "
                              "nothing was done to %s",
                              group, g_strerror (-r), what);

  for (guint i = 0; i < list->len; i++)
    {
      const Grant *g = g_ptr_array_index (list, i);
      g_autoptr (GError) local = NULL;

      if (uid != (uid_t) -1 && g->uid != uid)
        continue;
      if (!use_nodes_have (nodes, g->path))
        {
          use_forget_stale (grants, g, "no longer a node of the group");
          continue;
        }
      /* marked first: a crash after the entry went must not give it back */
      if (!grants_mark_revoking (grants, g->path, g->uid, &local))
        return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                                  "Cannot record that uid %u's access to %s is being taken back: "
                                  "%s; nothing more was done to %s",
                                  (unsigned) g->uid, g->path, local->message, what);
      r = access_acl_revoke (g->path, g->uid);
      if (r < 0)
        return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                                  "Cannot take back uid %u's access to %s (IOMMU group %u): %s; "
                                  "nothing more was done to %s. Remove it by hand (setfacl -x "
                                  "u:%u %s) and try again",
                                  (unsigned) g->uid, g->path, group, g_strerror (-r), what,
                                  (unsigned) g->uid, g->path);
      if (!grants_remove (grants, g->path, g->uid, &local))
        g_warning ("Took back uid %u's access to %s but cannot forget it: %s", (unsigned) g->uid,
                   g->path, local->message);
      g_ptr_array_add (done, grant_new (g->path, g->group, g->uid, false));
    }
  if (revoked)
    *revoked = g_steal_pointer (&done);
  return 0;
}
