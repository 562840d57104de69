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

/* ---- what never changes while a device exists ----------------------------
 *
 * A device's ids, class, IOMMU group, place in the tree and boot_vga are
 * fixed from the kernel's device_add() to its removal, so they are read
 * once and kept; the driver is never cached (binds happen all the time).
 * So is the map of block devices, interfaces and virtio transports to
 * where they live.  Both are dropped when the kernel announces hotplug
 * (monitor.c calls sysfs_cache_invalidate()). */

typedef struct {
  char *syspath;
  int64_t group;
  uint16_t vendor_id, device_id, subsystem_vendor_id, subsystem_device_id;
  uint32_t class_code;
  gboolean boot_vga;
} Facts;

typedef enum {
  CHILD_BLOCK,
  CHILD_NET,
  CHILD_VIRTIO,
} ChildKind;

typedef struct {
  ChildKind kind;
  char *name;     /* its name in its class or bus directory */
  char *syspath;  /* where it lives, below its PCI device */
} Child;

static GMutex cache_lock;
static gboolean cache_enabled;   /* only while somebody tells us of hotplug */
static GHashTable *facts_cache;  /* device name → Facts* */
static GPtrArray *children_cache; /* Child*; NULL: not read since the last change */
static guint children_generation;

static void
facts_free (Facts *f)
{
  g_free (f->syspath);
  g_free (f);
}

static void
child_free (Child *c)
{
  g_free (c->name);
  g_free (c->syspath);
  g_free (c);
}

void
sysfs_cache_enable (gboolean enable)
{
  g_mutex_lock (&cache_lock);
  cache_enabled = enable;
  g_mutex_unlock (&cache_lock);
  sysfs_cache_invalidate (TRUE, TRUE);
}

void
sysfs_cache_invalidate (gboolean devices, gboolean children)
{
  g_mutex_lock (&cache_lock);
  if (devices && facts_cache)
    g_hash_table_remove_all (facts_cache);
  if (children)
    {
      children_generation++;
      g_clear_pointer (&children_cache, g_ptr_array_unref);
    }
  g_mutex_unlock (&cache_lock);
}

static gboolean
facts_lookup (Device *device)
{
  Facts *f;

  g_mutex_lock (&cache_lock);
  f = facts_cache ? g_hash_table_lookup (facts_cache, device->name) : NULL;
  if (f)
    {
      device->syspath = g_strdup (f->syspath);
      device->group = f->group;
      device->vendor_id = f->vendor_id;
      device->device_id = f->device_id;
      device->subsystem_vendor_id = f->subsystem_vendor_id;
      device->subsystem_device_id = f->subsystem_device_id;
      device->class_code = f->class_code;
      device->boot_vga = f->boot_vga;
    }
  g_mutex_unlock (&cache_lock);
  return f != NULL;
}

static void
facts_store (const Device *device)
{
  Facts *f = g_new0 (Facts, 1);

  f->syspath = g_strdup (device->syspath);
  f->group = device->group;
  f->vendor_id = device->vendor_id;
  f->device_id = device->device_id;
  f->subsystem_vendor_id = device->subsystem_vendor_id;
  f->subsystem_device_id = device->subsystem_device_id;
  f->class_code = device->class_code;
  f->boot_vga = device->boot_vga;

  g_mutex_lock (&cache_lock);
  if (!cache_enabled)
    {
      g_mutex_unlock (&cache_lock);
      facts_free (f);
      return;
    }
  if (facts_cache == NULL)
    facts_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) facts_free);
  g_hash_table_replace (facts_cache, g_strdup (device->name), f);
  g_mutex_unlock (&cache_lock);
}

/* ---- reading devices ------------------------------------------------ */

/* The group number a device's iommu_group link names. */
static int
read_group (const char *name, int64_t *group)
{
  char path[PATH_MAX], buf[PATH_MAX];
  const char *base;
  guint64 number;
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_IOMMU_GROUP, name);
  n = readlink_at (AT_FDCWD, path, buf, sizeof buf);
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

/* Everything, from sysfs: where it is, its uevent (driver, ids, class:
 * the kernel's own summary, one read), its group, boot_vga. */
static int
read_device_uncached (Device *device)
{
  char buf[ATTR_MAX];
  char path[PATH_MAX];
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", device->name);
  n = readlink_at (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  device->syspath = sysfs_resolve_devices_link (buf);
  if (device->syspath == NULL || !g_str_has_suffix (device->syspath, device->name))
    return -EBADMSG;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_UEVENT, device->name);
  n = read_attr_at (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  if (!device_parse_uevent (device, buf))
    return -EBADMSG;

  n = read_group (device->name, &device->group);
  if (n < 0)
    return (int) n;

  /* only VGA devices have boot_vga */
  if ((device->class_code >> 8) == 0x0300)
    {
      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_BOOT_VGA,
                device->name);
      n = read_attr_at (AT_FDCWD, path, buf, sizeof buf);
      device->boot_vga = n > 0 && buf[0] == '1';
    }

  facts_store (device);
  return 0;
}

/* @drivers: NULL, or every bound device's driver (see read_bound_drivers) */
static int
read_device (Device *device, GHashTable *drivers)
{
  int r;

  if (!facts_lookup (device))
    return read_device_uncached (device);

  /* known: only the driver may have changed */
  if (drivers)
    {
      device->driver = g_strdup (g_hash_table_lookup (drivers, device->name));
      return 0;
    }
  r = sysfs_get_driver (device->name, &device->driver);
  if (r == -ENODEV)
    r = -ENOENT;
  return r;
}

/* address → driver for every bound PCI device, from the drivers' own
 * directories: a few dozen directory reads instead of a link per device. */
static GHashTable *
read_bound_drivers (void)
{
  GHashTable *drivers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  DIR *dir = opendir (VFIOD_SYSFS_PCI_DRIVERS);
  struct dirent *de;

  if (dir == NULL)
    return drivers;
  while ((de = readdir (dir)) != NULL)
    {
      DIR *bound;
      struct dirent *b;
      int fd;

      if (de->d_name[0] == '.' || !device_driver_name_valid (de->d_name))
        continue;
      fd = openat (dirfd (dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || (bound = fdopendir (fd)) == NULL)
        {
          if (fd >= 0)
            close (fd);
          continue;
        }
      while ((b = readdir (bound)) != NULL)
        {
          PciAddress address;
          /* file systems that do not fill d_type (FUSE) say DT_UNKNOWN */
          if ((b->d_type == DT_LNK || b->d_type == DT_UNKNOWN) && address_parse (b->d_name, &address))
            g_hash_table_replace (drivers, g_strdup (b->d_name), g_strdup (de->d_name));
        }
      closedir (bound);
    }
  closedir (dir);
  return drivers;
}

int
sysfs_device_group (const PciAddress *address, int64_t *group)
{
  char name[ADDRESS_STRLEN], path[PATH_MAX], target[PATH_MAX];
  ssize_t n;

  address_format (address, name);
  /* the device's own link tells whether it exists */
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", name);
  n = readlink_at (AT_FDCWD, path, target, sizeof target);
  if (n < 0)
    return (int) n;
  return read_group (name, group);
}

/* Reads every entry of directory @list_path that is a PCI address;
 * entries that are not (or vanish meanwhile) are skipped.  @drivers as
 * for read_device(). */
static int
read_devices_listed_in (const char *list_path, GHashTable *drivers, GPtrArray **out)
{
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  DIR *dir = opendir (list_path);
  struct dirent *de;

  if (dir == NULL)
    return -errno;

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
      r = read_device (device, drivers);
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
  g_autoptr (GHashTable) drivers = read_bound_drivers ();

  return read_devices_listed_in (VFIOD_SYSFS_PCI_DEVICES, drivers, out);
}

int
sysfs_list_group (uint32_t group, GPtrArray **out)
{
  char path[PATH_MAX];
  GPtrArray *devices = NULL;
  int r;

  snprintf (path, sizeof path, VFIOD_SYSFS_IOMMU_GROUPS "/%u/devices", group);
  r = read_devices_listed_in (path, NULL, &devices);
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
list_dir (const char *path)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  DIR *dir = opendir (path);
  struct dirent *de;

  if (dir == NULL)
    return NULL;
  while ((de = readdir (dir)) != NULL)
    if (de->d_name[0] != '.')
      g_ptr_array_add (names, g_strdup (de->d_name));
  closedir (dir);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

static const char *const child_dirs[] = {
  [CHILD_BLOCK] = VFIOD_SYSFS_CLASS_BLOCK,
  [CHILD_NET] = VFIOD_SYSFS_CLASS_NET,
  [CHILD_VIRTIO] = VFIOD_SYSFS_BUS_VIRTIO,
};

/* Every block device, interface and virtio transport that lives below
 * some PCI device, with where it lives. */
static void
scan_children (GPtrArray *out)
{
  for (ChildKind kind = CHILD_BLOCK; kind <= CHILD_VIRTIO; kind++)
    {
      DIR *dir = opendir (child_dirs[kind]);
      struct dirent *de;

      if (dir == NULL)
        continue;
      while ((de = readdir (dir)) != NULL)
        {
          char target[PATH_MAX];
          char *syspath;
          Child *c;

          if (de->d_name[0] == '.' ||
              readlink_at (dirfd (dir), de->d_name, target, sizeof target) < 0)
            continue;
          /* virtual devices (loop, dm, lo, bridges) belong to no PCI device */
          if (strstr (target, "/devices/virtual/"))
            continue;
          syspath = sysfs_resolve_devices_link (target);
          if (syspath == NULL)
            continue;
          c = g_new0 (Child, 1);
          c->kind = kind;
          c->name = g_strdup (de->d_name);
          c->syspath = syspath;
          g_ptr_array_add (out, c);
        }
      closedir (dir);
    }
}

static GPtrArray *
children_get (void)
{
  GPtrArray *children;
  guint generation;

  g_mutex_lock (&cache_lock);
  children = children_cache ? g_ptr_array_ref (children_cache) : NULL;
  generation = children_generation;
  g_mutex_unlock (&cache_lock);
  if (children)
    return children;

  children = g_ptr_array_new_with_free_func ((GDestroyNotify) child_free);
  scan_children (children);

  /* keep it, unless something changed while we read */
  g_mutex_lock (&cache_lock);
  if (cache_enabled && generation == children_generation && children_cache == NULL)
    children_cache = g_ptr_array_ref (children);
  g_mutex_unlock (&cache_lock);
  return children;
}

static char *
block_reason (const char *name, InUseFacts **facts)
{
  char path[PATH_MAX], buf[64];
  unsigned major = 0, minor = 0;
  g_auto (GStrv) holders = NULL;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_BLOCK "/%s/" VFIOD_ATTR_DEV, name);
  if (read_attr_at (AT_FDCWD, path, buf, sizeof buf) > 0 &&
      sscanf (buf, "%u:%u", &major, &minor) != 2)
    major = minor = 0;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_BLOCK "/%s/" VFIOD_ATTR_HOLDERS, name);
  holders = list_dir (path);

  return inuse_block_reason (facts_get (facts), name, makedev (major, minor),
                             (const char *const *) holders);
}

static char *
net_reason (const char *name, InUseFacts **facts)
{
  char path[PATH_MAX], target[PATH_MAX];
  const char *master = NULL;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_NET "/%s/master", name);
  if (readlink_at (AT_FDCWD, path, target, sizeof target) > 0)
    {
      const char *slash = strrchr (target, '/');
      master = slash ? slash + 1 : target;
    }
  return inuse_net_reason (facts_get (facts), name, master);
}

static char *
virtio_reason (const char *name, InUseFacts **facts)
{
  char path[PATH_MAX], tag[256];

  /* only file-system transports (9p) have a mount tag */
  snprintf (path, sizeof path, VFIOD_SYSFS_BUS_VIRTIO "/%s/" VFIOD_ATTR_MOUNT_TAG, name);
  if (read_attr_at (AT_FDCWD, path, tag, sizeof tag) <= 0)
    return NULL;
  g_strchomp (tag);
  if (*tag == '\0')
    return NULL;
  return inuse_tag_reason (facts_get (facts), tag);
}

void
sysfs_mark_in_use (GPtrArray *devices)
{
  g_autoptr (GHashTable) by_path = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (InUseFacts) facts = NULL;
  g_autoptr (GPtrArray) children = children_get ();

  for (guint i = 0; i < devices->len; i++)
    {
      Device *device = g_ptr_array_index (devices, i);

      g_clear_pointer (&device->in_use, g_free);
      if (device->syspath)
        g_hash_table_insert (by_path, device->syspath, device);
      if (device->boot_vga && device->driver)
        device_add_in_use (device, "boot display");
    }

  for (guint i = 0; i < children->len; i++)
    {
      const Child *c = g_ptr_array_index (children, i);
      Device *owner = owner_of (by_path, c->syspath);
      g_autofree char *reason = NULL;

      if (owner == NULL)
        continue;
      switch (c->kind)
        {
        case CHILD_BLOCK:  reason = block_reason (c->name, &facts); break;
        case CHILD_NET:    reason = net_reason (c->name, &facts); break;
        case CHILD_VIRTIO: reason = virtio_reason (c->name, &facts); break;
        }
      if (reason)
        add_reason (owner, reason);
    }
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

/* Writes @device to drivers/<driver>/<attr> (bind or unbind). */
static int
driver_write (const char *driver, const char *attr, const char *device)
{
  char path[PATH_MAX];

  g_return_val_if_fail (name_is_safe (device) && device_driver_name_valid (driver), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DRIVERS "/%s/%s", driver, attr);
  return write_attr (path, device);
}

int
sysfs_unbind (const char *device, const char *driver)
{
  return driver_write (driver, VFIOD_ATTR_UNBIND, device);
}

int
sysfs_bind (const char *device, const char *driver)
{
  return driver_write (driver, VFIOD_ATTR_BIND, device);
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
