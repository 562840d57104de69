/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"
#include "vfiod-names.h"

#define ATTR_MAX 4096

/* ---- small helpers -------------------------------------------------- */

/* Reads a whole small attribute into @buf (NUL-terminated).  Returns its
 * length or -errno; -EFBIG if it does not fit. */
static ssize_t
read_attr_at (int dirfd, const char *path, char *buf, size_t size)
{
  _cleanup_fd_ int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  size_t len = 0;

  if (fd < 0)
    return -errno;
  for (;;)
    {
      ssize_t n = read (fd, buf + len, size - 1 - len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        break;
      len += (size_t) n;
      if (len == size - 1)
        return -EFBIG;
    }
  buf[len] = '\0';
  return (ssize_t) len;
}

/* readlinkat into @buf (NUL-terminated); returns length or -errno. */
static ssize_t
readlink_at (int dirfd, const char *path, char *buf, size_t size)
{
  ssize_t n = readlinkat (dirfd, path, buf, size);

  if (n < 0)
    return -errno;
  if ((size_t) n >= size)
    return -ENAMETOOLONG;
  buf[n] = '\0';
  return n;
}

char *
sysfs_resolve_devices_link (const char *target)
{
  const char *p = target;

  while (g_str_has_prefix (p, "../"))
    p += 3;
  if (!g_str_has_prefix (p, "devices/") || strstr (p, "/../") || strstr (p, "/./") ||
      g_str_has_suffix (p, "/..") || g_str_has_suffix (p, "/"))
    return NULL;
  return g_strconcat ("/sys/", p, NULL);
}

static int
open_dir (const char *path)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  return fd < 0 ? -errno : fd;
}

/* ---- reading devices ------------------------------------------------ */

/* The group number a device's iommu_group link names. */
static int
read_group_at (int devices_fd, const char *name, int64_t *group)
{
  char path[PATH_MAX], buf[PATH_MAX];
  const char *base;
  guint64 number;
  ssize_t n;

  snprintf (path, sizeof path, "%s/" VFIOD_ATTR_IOMMU_GROUP, name);
  n = readlink_at (devices_fd, path, buf, sizeof buf);
  if (n == -ENOENT)
    {
      *group = DEVICE_NO_GROUP;
      return 0;
    }
  if (n < 0)
    return (int) n;
  base = strrchr (buf, '/');
  base = base ? base + 1 : buf;
  if (!g_ascii_string_to_unsigned (base, 10, 0, G_MAXUINT32, &number, NULL))
    return -EBADMSG;
  *group = (int64_t) number;
  return 0;
}

/* Fills @device from the directory /sys/bus/pci/devices/<name>, @devices_fd
 * being /sys/bus/pci/devices. */
static int
read_device_at (int devices_fd, Device *device)
{
  char buf[ATTR_MAX];
  char path[PATH_MAX];
  ssize_t n;

  /* The device's own directory: its path says where it sits in the tree
   * (block devices and interfaces below it are found by that path). */
  n = readlink_at (devices_fd, device->name, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  device->syspath = sysfs_resolve_devices_link (buf);
  if (device->syspath == NULL || !g_str_has_suffix (device->syspath, device->name))
    return -EBADMSG;

  /* One read gives driver, ids and class, as the kernel's uevent. */
  snprintf (path, sizeof path, "%s/" VFIOD_ATTR_UEVENT, device->name);
  n = read_attr_at (devices_fd, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  if (!device_parse_uevent (device, buf))
    return -EBADMSG;

  n = read_group_at (devices_fd, device->name, &device->group);
  if (n < 0)
    return (int) n;

  /* only VGA devices have boot_vga */
  if ((device->class_code >> 8) == 0x0300)
    {
      snprintf (path, sizeof path, "%s/" VFIOD_ATTR_BOOT_VGA, device->name);
      n = read_attr_at (devices_fd, path, buf, sizeof buf);
      device->boot_vga = n > 0 && buf[0] == '1';
    }

  return 0;
}

int
sysfs_read_device (const PciAddress *address, Device **out)
{
  _cleanup_fd_ int devices_fd = open_dir (VFIOD_SYSFS_PCI_DEVICES);
  g_autoptr (Device) device = device_new (address);
  int r;

  if (devices_fd < 0)
    return devices_fd;
  r = read_device_at (devices_fd, device);
  if (r < 0)
    return r;
  *out = g_steal_pointer (&device);
  return 0;
}

int
sysfs_device_group (const PciAddress *address, int64_t *group)
{
  _cleanup_fd_ int devices_fd = open_dir (VFIOD_SYSFS_PCI_DEVICES);
  char name[ADDRESS_STRLEN], target[PATH_MAX];
  ssize_t n;

  if (devices_fd < 0)
    return devices_fd;
  address_format (address, name);
  /* the device's own link tells whether it exists */
  n = readlink_at (devices_fd, name, target, sizeof target);
  if (n < 0)
    return (int) n;
  return read_group_at (devices_fd, name, group);
}

/* Reads every entry of @dir_fd that is a PCI address; entries that are
 * not (or vanish meanwhile) are skipped. */
static int
read_devices_listed_in (int list_fd, GPtrArray **out)
{
  _cleanup_fd_ int devices_fd = open_dir (VFIOD_SYSFS_PCI_DEVICES);
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  DIR *dir;
  struct dirent *de;
  int fd;

  if (devices_fd < 0)
    return devices_fd;
  fd = dup (list_fd);
  if (fd < 0 || (dir = fdopendir (fd)) == NULL)
    {
      int r = -errno;
      if (fd >= 0)
        close (fd);
      return r;
    }

  while ((errno = 0, de = readdir (dir)) != NULL)
    {
      PciAddress address;
      g_autoptr (Device) device = NULL;
      int r;

      if (!address_parse (de->d_name, &address))
        continue;
      device = device_new (&address);
      /* a name that is not normalised is not the kernel's */
      if (strcmp (device->name, de->d_name) != 0)
        continue;
      r = read_device_at (devices_fd, device);
      if (r == -ENOENT || r == -ENODEV)
        continue; /* removed while we looked */
      if (r < 0)
        {
          g_warning ("Skipping PCI device %s: %s", device->name, g_strerror (-r));
          continue;
        }
      g_ptr_array_add (devices, g_steal_pointer (&device));
    }
  if (errno != 0)
    {
      int r = -errno;
      closedir (dir);
      return r;
    }
  closedir (dir);

  g_ptr_array_sort (devices, device_compare_by_address);
  *out = g_steal_pointer (&devices);
  return 0;
}

int
sysfs_list_devices (GPtrArray **out)
{
  _cleanup_fd_ int fd = open_dir (VFIOD_SYSFS_PCI_DEVICES);

  if (fd < 0)
    return fd;
  return read_devices_listed_in (fd, out);
}

int
sysfs_list_group (uint32_t group, GPtrArray **out)
{
  char path[PATH_MAX];
  _cleanup_fd_ int fd = -1;
  GPtrArray *devices = NULL;
  int r;

  snprintf (path, sizeof path, VFIOD_SYSFS_IOMMU_GROUPS "/%u/devices", group);
  fd = open_dir (path);
  if (fd < 0)
    return fd;
  r = read_devices_listed_in (fd, &devices);
  if (r < 0)
    return r;

  /* a member that moved to another group meanwhile is not ours */
  for (guint i = devices->len; i-- > 0;)
    if (((Device *) g_ptr_array_index (devices, i))->group != group)
      g_ptr_array_remove_index (devices, i);

  *out = devices;
  return 0;
}

/* ---- in use --------------------------------------------------------- */

/* The PCI device (of @by_path) that owns the device at @syspath: the
 * nearest ancestor directory named like a PCI address.  NULL when that
 * ancestor is not one of ours, or there is none. */
static Device *
owner_of (GHashTable *by_path, const char *syspath)
{
  g_autofree char *path = g_strdup (syspath);
  char *slash;

  while ((slash = strrchr (path, '/')) != NULL && slash != path)
    {
      PciAddress address;

      *slash = '\0';
      if (address_parse (strrchr (path, '/') + 1, &address))
        return g_hash_table_lookup (by_path, path);
    }
  return NULL;
}

/* Lazily loaded: most calls find no block device or interface of theirs. */
static InUseFacts *
facts_get (InUseFacts **facts)
{
  if (*facts == NULL)
    *facts = inuse_facts_load ();
  return *facts;
}

static void
add_reason (Device *device, const char *reason)
{
  /* partitions of one disk can repeat a reason (e.g. several holders) */
  if (device->in_use && strstr (device->in_use, reason))
    return;
  device_add_in_use (device, reason);
}

static GStrv
list_dir_at (int dirfd, const char *path)
{
  _cleanup_fd_ int fd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  DIR *dir;
  struct dirent *de;

  if (fd < 0 || (dir = fdopendir (fd)) == NULL)
    return NULL;
  fd = -1; /* owned by dir now */
  while ((de = readdir (dir)) != NULL)
    if (de->d_name[0] != '.')
      g_ptr_array_add (names, g_strdup (de->d_name));
  closedir (dir);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

/* Calls @func for every entry of class directory @class_dir that lives
 * below one of the devices of @by_path. */
typedef void (*ChildFunc) (int class_fd, const char *name, Device *owner, InUseFacts **facts);

static void
scan_class (const char *class_dir, GHashTable *by_path, ChildFunc func, InUseFacts **facts)
{
  _cleanup_fd_ int fd = open_dir (class_dir);
  int list_fd;
  DIR *dir;
  struct dirent *de;

  if (fd < 0)
    return;
  list_fd = dup (fd);
  if (list_fd < 0 || (dir = fdopendir (list_fd)) == NULL)
    {
      if (list_fd >= 0)
        close (list_fd);
      return;
    }

  while ((de = readdir (dir)) != NULL)
    {
      char target[PATH_MAX];
      g_autofree char *syspath = NULL;
      Device *owner;

      if (de->d_name[0] == '.' || readlink_at (fd, de->d_name, target, sizeof target) < 0)
        continue;
      /* virtual devices (loop, dm, lo, bridges) belong to no PCI device */
      if (strstr (target, "/devices/virtual/"))
        continue;
      syspath = sysfs_resolve_devices_link (target);
      if (syspath && (owner = owner_of (by_path, syspath)) != NULL)
        func (fd, de->d_name, owner, facts);
    }
  closedir (dir);
}

static void
block_child (int class_fd, const char *name, Device *owner, InUseFacts **facts)
{
  char path[PATH_MAX], buf[64];
  unsigned major = 0, minor = 0;
  g_auto (GStrv) holders = NULL;
  g_autofree char *reason = NULL;

  snprintf (path, sizeof path, "%s/" VFIOD_ATTR_DEV, name);
  if (read_attr_at (class_fd, path, buf, sizeof buf) > 0 &&
      sscanf (buf, "%u:%u", &major, &minor) != 2)
    major = minor = 0;

  snprintf (path, sizeof path, "%s/" VFIOD_ATTR_HOLDERS, name);
  holders = list_dir_at (class_fd, path);

  reason = inuse_block_reason (facts_get (facts), name, makedev (major, minor),
                               (const char *const *) holders);
  if (reason)
    add_reason (owner, reason);
}

static void
net_child (int class_fd, const char *name, Device *owner, InUseFacts **facts)
{
  char path[PATH_MAX], target[PATH_MAX];
  const char *master = NULL;
  g_autofree char *reason = NULL;

  snprintf (path, sizeof path, "%s/master", name);
  if (readlink_at (class_fd, path, target, sizeof target) > 0)
    {
      const char *slash = strrchr (target, '/');
      master = slash ? slash + 1 : target;
    }

  reason = inuse_net_reason (facts_get (facts), name, master);
  if (reason)
    add_reason (owner, reason);
}

static void
virtio_child (int bus_fd, const char *name, Device *owner, InUseFacts **facts)
{
  char path[PATH_MAX], tag[256];
  g_autofree char *reason = NULL;

  /* only file-system transports (9p) have a mount tag */
  snprintf (path, sizeof path, "%s/" VFIOD_ATTR_MOUNT_TAG, name);
  if (read_attr_at (bus_fd, path, tag, sizeof tag) <= 0)
    return;
  g_strchomp (tag);
  if (*tag == '\0')
    return;
  reason = inuse_tag_reason (facts_get (facts), tag);
  if (reason)
    add_reason (owner, reason);
}

void
sysfs_mark_in_use (GPtrArray *devices)
{
  g_autoptr (GHashTable) by_path = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (InUseFacts) facts = NULL;

  for (guint i = 0; i < devices->len; i++)
    {
      Device *device = g_ptr_array_index (devices, i);

      g_clear_pointer (&device->in_use, g_free);
      if (device->syspath)
        g_hash_table_insert (by_path, device->syspath, device);
      if (device->boot_vga && device->driver)
        device_add_in_use (device, "boot display");
    }

  scan_class (VFIOD_SYSFS_CLASS_BLOCK, by_path, block_child, &facts);
  scan_class (VFIOD_SYSFS_CLASS_NET, by_path, net_child, &facts);
  scan_class (VFIOD_SYSFS_BUS_VIRTIO, by_path, virtio_child, &facts);
}

/* ---- writes ------------------------------------------------------------ */

static int
write_attr (const char *path, const char *value)
{
  _cleanup_fd_ int fd = open (path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  size_t len = strlen (value);
  ssize_t n;

  if (fd < 0)
    return -errno;
  do
    n = write (fd, value, len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  /* sysfs takes a value in one write or not at all */
  if ((size_t) n != len)
    return -EIO;
  return 0;
}

static gboolean
name_is_safe (const char *name)
{
  PciAddress a;

  /* both are joined into paths: no slashes, no dots-only names */
  return name && *name && !strchr (name, '/') && strcmp (name, ".") && strcmp (name, "..") &&
         (address_parse (name, &a) || device_driver_name_valid (name));
}

int
sysfs_set_override (const char *device, const char *driver)
{
  char path[PATH_MAX];

  g_return_val_if_fail (name_is_safe (device), -EINVAL);
  g_return_val_if_fail (driver == NULL || device_driver_name_valid (driver), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE, device);
  return write_attr (path, driver ? driver : "\n");
}

int
sysfs_get_override (const char *device, char **out)
{
  char path[PATH_MAX], buf[256];
  ssize_t n;

  g_return_val_if_fail (name_is_safe (device), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE, device);
  n = read_attr_at (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  g_strchomp (buf);
  if (strcmp (buf, VFIOD_OVERRIDE_UNSET) == 0 || buf[0] == '\0')
    {
      *out = NULL;
      return 0;
    }
  if (!device_driver_name_valid (buf))
    return -EBADMSG;
  *out = g_strdup (buf);
  return 0;
}

int
sysfs_unbind (const char *device, const char *driver)
{
  char path[PATH_MAX];

  g_return_val_if_fail (name_is_safe (device) && device_driver_name_valid (driver), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DRIVERS "/%s/" VFIOD_ATTR_UNBIND, driver);
  return write_attr (path, device);
}

int
sysfs_bind (const char *device, const char *driver)
{
  char path[PATH_MAX];

  g_return_val_if_fail (name_is_safe (device) && device_driver_name_valid (driver), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DRIVERS "/%s/" VFIOD_ATTR_BIND, driver);
  return write_attr (path, device);
}

int
sysfs_probe (const char *device)
{
  g_return_val_if_fail (name_is_safe (device), -EINVAL);
  return write_attr (VFIOD_SYSFS_DRIVERS_PROBE, device);
}

int
sysfs_get_driver (const char *device, char **out)
{
  char path[PATH_MAX], target[PATH_MAX];
  const char *base;
  ssize_t n;

  g_return_val_if_fail (name_is_safe (device), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER, device);
  n = readlink_at (AT_FDCWD, path, target, sizeof target);
  if (n == -ENOENT)
    {
      /* unbound, or gone: tell them apart */
      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", device);
      if (access (path, F_OK) < 0)
        return -ENODEV;
      *out = NULL;
      return 0;
    }
  if (n < 0)
    return (int) n;
  base = strrchr (target, '/');
  base = base ? base + 1 : target;
  if (!device_driver_name_valid (base))
    return -EBADMSG;
  *out = g_strdup (base);
  return 0;
}

gboolean
sysfs_driver_loaded (const char *driver)
{
  char path[PATH_MAX];

  g_return_val_if_fail (device_driver_name_valid (driver), FALSE);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DRIVERS "/%s", driver);
  return access (path, F_OK) == 0;
}
