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

ssize_t
sysfs_read_attr (int dirfd, const char *path, char *buf, size_t size)
{
  _cleanup_fd_ int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  size_t len = 0;

  g_return_val_if_fail (size > 0, -EINVAL);
  if (fd < 0)
    return -errno;
  for (;;)
    {
      char more;
      ssize_t n;

      /* full: only the end of the file may come now (a value of exactly
       * size - 1 bytes fits) */
      if (len == size - 1)
        n = read (fd, &more, 1);
      else
        n = read (fd, buf + len, size - 1 - len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        break;
      if (len == size - 1)
        return -EFBIG;
      len += (size_t) n;
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
 * (the model calls sysfs_cache_forget() and sysfs_cache_invalidate()). */

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

/* Locking rule: every field below is read and written only with @lock
 * held, from any thread; nothing is read from sysfs while it is held. */
struct SysfsCache {
  GMutex lock;
  gboolean enabled;         /* only while somebody tells us of hotplug */
  GHashTable *facts;        /* device name → Facts* */
  guint facts_generation;   /* bumped whenever facts are dropped */
  GPtrArray *children;      /* Child*; NULL: not read since the last change */
  guint children_generation;
};

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

SysfsCache *
sysfs_cache_new (void)
{
  SysfsCache *self = g_new0 (SysfsCache, 1);

  g_mutex_init (&self->lock);
  self->facts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) facts_free);
  return self;
}

void
sysfs_cache_free (SysfsCache *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->facts);
  g_clear_pointer (&self->children, g_ptr_array_unref);
  g_mutex_clear (&self->lock);
  g_free (self);
}

void
sysfs_cache_enable (SysfsCache *self, gboolean enable)
{
  g_mutex_lock (&self->lock);
  self->enabled = enable;
  g_mutex_unlock (&self->lock);
  sysfs_cache_invalidate (self, TRUE, TRUE);
}

void
sysfs_cache_invalidate (SysfsCache *self, gboolean devices, gboolean children)
{
  g_mutex_lock (&self->lock);
  if (devices)
    {
      self->facts_generation++;
      g_hash_table_remove_all (self->facts);
    }
  if (children)
    {
      self->children_generation++;
      g_clear_pointer (&self->children, g_ptr_array_unref);
    }
  g_mutex_unlock (&self->lock);
}

void
sysfs_cache_forget (SysfsCache *self, const char *name)
{
  g_mutex_lock (&self->lock);
  /* a reader that began before may be reading the device that went:
   * the generation makes it keep nothing */
  self->facts_generation++;
  g_hash_table_remove (self->facts, name);
  g_mutex_unlock (&self->lock);
}

gboolean
sysfs_facts_lookup (SysfsCache *self, Device *device)
{
  Facts *f;

  if (self == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  f = g_hash_table_lookup (self->facts, device->name);
  if (f)
    {
      g_free (device->syspath);
      device->syspath = g_strdup (f->syspath);
      device->group = f->group;
      device->vendor_id = f->vendor_id;
      device->device_id = f->device_id;
      device->subsystem_vendor_id = f->subsystem_vendor_id;
      device->subsystem_device_id = f->subsystem_device_id;
      device->class_code = f->class_code;
      device->boot_vga = f->boot_vga;
    }
  g_mutex_unlock (&self->lock);
  return f != NULL;
}

guint
sysfs_facts_generation (SysfsCache *self)
{
  guint generation;

  if (self == NULL)
    return 0;
  g_mutex_lock (&self->lock);
  generation = self->facts_generation;
  g_mutex_unlock (&self->lock);
  return generation;
}

void
sysfs_facts_store (SysfsCache *self, const Device *device, guint generation)
{
  Facts *f;

  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  /* a device came or went since the caller began reading: what it read
   * may be of the device that went (same address, another device) */
  if (!self->enabled || generation != self->facts_generation)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  f = g_new0 (Facts, 1);
  f->syspath = g_strdup (device->syspath);
  f->group = device->group;
  f->vendor_id = device->vendor_id;
  f->device_id = device->device_id;
  f->subsystem_vendor_id = device->subsystem_vendor_id;
  f->subsystem_device_id = device->subsystem_device_id;
  f->class_code = device->class_code;
  f->boot_vga = device->boot_vga;
  g_hash_table_replace (self->facts, g_strdup (device->name), f);
  g_mutex_unlock (&self->lock);
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
read_device_uncached (SysfsCache *cache, Device *device)
{
  guint generation = sysfs_facts_generation (cache);
  char buf[ATTR_MAX];
  char path[PATH_MAX];
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", device->name);
  n = readlink_at (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  g_free (device->syspath);
  device->syspath = sysfs_resolve_devices_link (buf);
  if (device->syspath == NULL || !g_str_has_suffix (device->syspath, device->name))
    return -EBADMSG;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_UEVENT, device->name);
  n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);
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
      n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);
      /* every VGA device has one; none (-ENOENT) still means "not it" */
      if (n < 0 && n != -ENOENT)
        return (int) n;
      device->boot_vga = n > 0 && buf[0] == '1';
    }

  sysfs_facts_store (cache, device, generation);
  return 0;
}

/* The driver of a device whose fixed facts are known.  Its driver link
 * (one readlink) when there is one; when there is none, its uevent, the
 * kernel's own summary, must agree that it is unbound: a link missing
 * for any other reason (a read that failed) would otherwise make a bound
 * device look off the host.  -ESTALE when the uevent's ids are not those
 * kept: another device took the address. */
static int
read_driver_checked (Device *device)
{
  g_autoptr (Device) fresh = NULL;
  char path[PATH_MAX], buf[ATTR_MAX];
  ssize_t n;
  int r;

  r = sysfs_get_driver (device->name, &device->driver);
  if (r < 0 || device->driver != NULL)
    return r == -ENODEV ? -ENOENT : r;

  fresh = device_new (&device->address);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_UEVENT, device->name);
  n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  if (!device_parse_uevent (fresh, buf))
    return -EBADMSG;
  if (fresh->vendor_id != device->vendor_id || fresh->device_id != device->device_id ||
      fresh->subsystem_vendor_id != device->subsystem_vendor_id ||
      fresh->subsystem_device_id != device->subsystem_device_id ||
      fresh->class_code != device->class_code)
    return -ESTALE;
  /* the link said unbound; the uevent must say so too */
  if (fresh->driver != NULL)
    return -EIO;
  return 0;
}

/* @drivers: NULL, or every bound device's driver (see read_bound_drivers) */
static int
read_device (SysfsCache *cache, Device *device, GHashTable *drivers)
{
  int r;

  if (!sysfs_facts_lookup (cache, device))
    return read_device_uncached (cache, device);

  /* known: only the driver may have changed */
  if (drivers)
    {
      device->driver = g_strdup (g_hash_table_lookup (drivers, device->name));
      return 0;
    }
  r = read_driver_checked (device);
  if (r == -ESTALE)
    {
      g_debug ("PCI device %s is not the one kept: reading it again", device->name);
      sysfs_cache_forget (cache, device->name);
      return read_device_uncached (cache, device);
    }
  return r;
}

/* address → driver for every bound PCI device, from the drivers' own
 * directories: a few dozen directory reads instead of a link per device.
 * NULL when anything in them is not as expected (a directory that cannot
 * be read, a driver name vfiod does not take): the caller then reads each
 * device's own driver link, which fails for the device it concerns
 * instead of showing its devices as unbound. */
static GHashTable *
read_bound_drivers (void)
{
  g_autoptr (GHashTable) drivers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  DIR *dir = opendir (VFIOD_SYSFS_PCI_DRIVERS);
  struct dirent *de;
  gboolean trusted = dir != NULL;

  while (trusted && (errno = 0, de = readdir (dir)) != NULL)
    {
      DIR *bound;
      struct dirent *b;
      int fd;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (!device_driver_name_valid (de->d_name))
        {
          trusted = FALSE;
          break;
        }
      fd = openat (dirfd (dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || (bound = fdopendir (fd)) == NULL)
        {
          if (fd >= 0)
            close (fd);
          trusted = FALSE;
          break;
        }
      while ((errno = 0, b = readdir (bound)) != NULL)
        {
          PciAddress address;
          /* file systems that do not fill d_type (FUSE) say DT_UNKNOWN */
          if ((b->d_type == DT_LNK || b->d_type == DT_UNKNOWN) && address_parse (b->d_name, &address))
            g_hash_table_replace (drivers, g_strdup (b->d_name), g_strdup (de->d_name));
        }
      if (errno != 0)
        trusted = FALSE;
      closedir (bound);
    }
  if (dir && errno != 0)
    trusted = FALSE;
  if (dir)
    closedir (dir);
  if (!trusted)
    {
      g_debug ("Reading each device's driver link: " VFIOD_SYSFS_PCI_DRIVERS " is not as expected");
      return NULL;
    }
  return g_steal_pointer (&drivers);
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

/* Whether PCI device @name is gone (its bus link is). */
static gboolean
device_gone (const char *name)
{
  char path[PATH_MAX];

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", name);
  return access (path, F_OK) < 0 && errno == ENOENT;
}

/* Reads every entry of directory @list_path that is a PCI address.  A
 * device that went away while we looked is left out; any other failure
 * to read one fails the whole listing (refuse on doubt: a member left out
 * would make a group look viable), with *@unreadable set to its name.
 * @group_members: @list_path is an IOMMU group's, where every entry must
 * be a PCI device vfiod can read.  @drivers as for read_device(). */
static int
read_devices_listed_in (SysfsCache *cache, const char *list_path, gboolean group_members, GHashTable *drivers,
                        GPtrArray **out, char **unreadable)
{
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  DIR *dir = opendir (list_path);
  struct dirent *de;
  int r = 0;

  if (dir == NULL)
    return -errno;

  while ((errno = 0, de = readdir (dir)) != NULL)
    {
      PciAddress address;
      g_autoptr (Device) device = NULL;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (!address_parse (de->d_name, &address))
        {
          if (!group_members)
            continue;
          /* another bus's device (a platform device on some machines):
           * vfiod cannot move it, so the group is never viable for it */
          g_warning ("%s lists %s, which is not a PCI device vfiod can read", list_path, de->d_name);
          r = -EOPNOTSUPP;
          if (unreadable)
            *unreadable = g_utf8_make_valid (de->d_name, -1);
          break;
        }
      device = device_new (&address);
      /* a name that is not normalised is not the kernel's */
      if (strcmp (device->name, de->d_name) != 0)
        {
          if (!group_members)
            continue;
          g_warning ("%s lists %s, which is not how the kernel names a PCI device", list_path, de->d_name);
          r = -EBADMSG;
          if (unreadable)
            *unreadable = g_strdup (device->name);
          break;
        }
      r = read_device (cache, device, drivers);
      if ((r == -ENOENT || r == -ENODEV) && device_gone (device->name))
        {
          r = 0;
          continue; /* removed while we looked */
        }
      if (r == -ENOENT || r == -ENODEV)
        r = -EIO; /* there, but something of it is missing */
      if (r < 0)
        {
          g_warning ("Cannot read PCI device %s: %s", device->name, g_strerror (-r));
          if (unreadable)
            *unreadable = g_strdup (device->name);
          break;
        }
      g_ptr_array_add (devices, g_steal_pointer (&device));
    }
  if (r == 0 && errno != 0)
    r = -errno;
  closedir (dir);
  if (r < 0)
    return r;

  g_ptr_array_sort (devices, device_compare_by_address);
  *out = g_steal_pointer (&devices);
  return 0;
}

int
sysfs_list_devices_full (SysfsCache *cache, GPtrArray **out, char **unreadable)
{
  g_autoptr (GHashTable) drivers = read_bound_drivers ();

  if (unreadable)
    *unreadable = NULL;
  return read_devices_listed_in (cache, VFIOD_SYSFS_PCI_DEVICES, FALSE, drivers, out, unreadable);
}

int
sysfs_list_devices (SysfsCache *cache, GPtrArray **out)
{
  return sysfs_list_devices_full (cache, out, NULL);
}

int
sysfs_list_group_full (SysfsCache *cache, uint32_t group, GPtrArray **out, char **unreadable)
{
  char path[PATH_MAX];
  GPtrArray *devices = NULL;
  int r;

  if (unreadable)
    *unreadable = NULL;
  snprintf (path, sizeof path, VFIOD_SYSFS_IOMMU_GROUPS "/%u/devices", group);
  r = read_devices_listed_in (cache, path, TRUE, NULL, &devices, unreadable);
  if (r < 0)
    return r;

  /* a member that moved to another group meanwhile is not ours */
  for (guint i = devices->len; i-- > 0;)
    if (((Device *) g_ptr_array_index (devices, i))->group != group)
      g_ptr_array_remove_index (devices, i);

  *out = devices;
  return 0;
}

int
sysfs_list_group (SysfsCache *cache, uint32_t group, GPtrArray **out)
{
  return sysfs_list_group_full (cache, group, out, NULL);
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

/* The names in directory @path, sorted: 0, or -errno. */
static int
list_dir (const char *path, GStrv *out)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  DIR *dir = opendir (path);
  struct dirent *de;
  int r = 0;

  if (dir == NULL)
    return -errno;
  while ((errno = 0, de = readdir (dir)) != NULL)
    if (de->d_name[0] != '.')
      g_ptr_array_add (names, g_strdup (de->d_name));
  if (errno != 0)
    r = -errno;
  closedir (dir);
  if (r < 0)
    return r;
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  *out = (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
  return 0;
}

static const char *const child_dirs[] = {
  [CHILD_BLOCK] = VFIOD_SYSFS_CLASS_BLOCK,
  [CHILD_NET] = VFIOD_SYSFS_CLASS_NET,
  [CHILD_VIRTIO] = VFIOD_SYSFS_BUS_VIRTIO,
};

/* Every block device, interface and virtio transport that lives below
 * some PCI device, with where it lives.  0, or -errno with @doubt set to
 * what could not be read: then any device may have children we missed. */
static int
scan_children (GPtrArray *out, char **doubt)
{
  for (ChildKind kind = CHILD_BLOCK; kind <= CHILD_VIRTIO; kind++)
    {
      DIR *dir = opendir (child_dirs[kind]);
      struct dirent *de;
      int r = 0;

      /* no such class or bus (virtio not built in): no such children */
      if (dir == NULL && errno == ENOENT)
        continue;
      if (dir == NULL)
        {
          r = -errno;
          *doubt = inuse_unreadable (child_dirs[kind], -r);
          return r;
        }
      while ((errno = 0, de = readdir (dir)) != NULL)
        {
          char target[PATH_MAX];
          char *syspath;
          Child *c;
          ssize_t n;

          if (de->d_name[0] == '.')
            continue;
          n = readlink_at (dirfd (dir), de->d_name, target, sizeof target);
          if (n == -ENOENT)
            continue; /* gone meanwhile */
          if (n < 0)
            {
              g_autofree char *path = g_build_filename (child_dirs[kind], de->d_name, NULL);
              *doubt = inuse_unreadable (path, (int) -n);
              r = (int) n;
              break;
            }
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
      if (r == 0 && errno != 0)
        {
          r = -errno;
          *doubt = inuse_unreadable (child_dirs[kind], -r);
        }
      closedir (dir);
      if (r < 0)
        return r;
    }
  return 0;
}

/* The children (cached in @cache, if any), or NULL with @doubt set. */
static GPtrArray *
children_get (SysfsCache *cache, char **doubt)
{
  GPtrArray *children = NULL;
  guint generation = 0;

  if (cache)
    {
      g_mutex_lock (&cache->lock);
      children = cache->children ? g_ptr_array_ref (cache->children) : NULL;
      generation = cache->children_generation;
      g_mutex_unlock (&cache->lock);
    }
  if (children)
    return children;

  children = g_ptr_array_new_with_free_func ((GDestroyNotify) child_free);
  if (scan_children (children, doubt) < 0)
    {
      g_warning ("Cannot tell which devices have block devices, interfaces or virtio transports: "
                 "%s; every device counts as in use", *doubt);
      g_ptr_array_unref (children);
      return NULL;
    }

  /* keep it, unless something changed while we read */
  if (cache)
    {
      g_mutex_lock (&cache->lock);
      if (cache->enabled && generation == cache->children_generation && cache->children == NULL)
        cache->children = g_ptr_array_ref (children);
      g_mutex_unlock (&cache->lock);
    }
  return children;
}

/* What a child's reason needs: the facts, and where the doubts go. */
typedef struct {
  InUseFacts *facts;
  Device *owner;
} Marking;

static void
mark_doubt (Marking *m, char *what /* owned */)
{
  g_autofree char *doubt = inuse_doubt (what);

  g_debug ("Cannot tell whether PCI device %s is in use: %s", m->owner->name, what);
  device_add_in_use_doubt (m->owner, doubt);
  g_free (what);
}

static void
mark_block (Marking *m, const char *name)
{
  char path[PATH_MAX], buf[64];
  unsigned major = 0, minor = 0;
  g_auto (GStrv) holders = NULL;
  g_autofree char *reason = NULL, *doubt = NULL;
  ssize_t n;
  int r;

  /* without its number, a mount by another name (/dev/root, by-uuid)
   * would not be recognised */
  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_BLOCK "/%s/" VFIOD_ATTR_DEV, name);
  n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    mark_doubt (m, inuse_unreadable (path, (int) -n));
  else if (sscanf (buf, "%u:%u", &major, &minor) != 2)
    {
      major = minor = 0;
      mark_doubt (m, g_strdup_printf ("%s is not a device number", path));
    }

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_BLOCK "/%s/" VFIOD_ATTR_HOLDERS, name);
  r = list_dir (path, &holders);
  if (r < 0)
    mark_doubt (m, inuse_unreadable (path, -r));

  facts_get (&m->facts);
  reason = inuse_block_reason (m->facts, name, makedev (major, minor),
                               (const char *const *) holders);
  if (reason)
    device_add_in_use (m->owner, reason);
  doubt = inuse_block_doubt (m->facts);
  if (doubt)
    device_add_in_use_doubt (m->owner, doubt);
}

static void
mark_net (Marking *m, const char *name)
{
  char path[PATH_MAX], target[PATH_MAX];
  const char *master = NULL;
  g_autofree char *reason = NULL, *doubt = NULL;
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_NET "/%s/master", name);
  n = readlink_at (AT_FDCWD, path, target, sizeof target);
  if (n > 0)
    {
      const char *slash = strrchr (target, '/');
      master = slash ? slash + 1 : target;
    }
  else if (n < 0 && n != -ENOENT) /* -ENOENT: not a port of anything */
    mark_doubt (m, inuse_unreadable (path, (int) -n));

  facts_get (&m->facts);
  reason = inuse_net_reason (m->facts, name, master);
  if (reason)
    device_add_in_use (m->owner, reason);
  doubt = inuse_net_doubt (m->facts);
  if (doubt)
    device_add_in_use_doubt (m->owner, doubt);
}

static void
mark_virtio (Marking *m, const char *name)
{
  char path[PATH_MAX], tag[256];
  g_autofree char *reason = NULL, *doubt = NULL;
  ssize_t n;

  /* only file-system transports (9p, virtiofs) have a mount tag */
  snprintf (path, sizeof path, VFIOD_SYSFS_BUS_VIRTIO "/%s/" VFIOD_ATTR_MOUNT_TAG, name);
  n = sysfs_read_attr (AT_FDCWD, path, tag, sizeof tag);
  if (n == -ENOENT)
    return;
  if (n < 0)
    {
      mark_doubt (m, inuse_unreadable (path, (int) -n));
      return;
    }
  g_strchomp (tag);
  if (*tag == '\0')
    return;

  facts_get (&m->facts);
  reason = inuse_tag_reason (m->facts, tag);
  if (reason)
    device_add_in_use (m->owner, reason);
  doubt = inuse_tag_doubt (m->facts);
  if (doubt)
    device_add_in_use_doubt (m->owner, doubt);
}

void
sysfs_mark_in_use (SysfsCache *cache, GPtrArray *devices)
{
  g_autoptr (GHashTable) by_path = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (InUseFacts) facts = NULL;
  g_autofree char *scan_doubt = NULL;
  g_autoptr (GPtrArray) children = children_get (cache, &scan_doubt);

  for (guint i = 0; i < devices->len; i++)
    {
      Device *device = g_ptr_array_index (devices, i);

      g_clear_pointer (&device->in_use, g_free);
      device->in_use_doubt = false;
      if (device->syspath)
        g_hash_table_insert (by_path, device->syspath, device);
      if (device->boot_vga && device->driver)
        device_add_in_use (device, "boot display");
      if (children == NULL)
        {
          g_autofree char *doubt = inuse_doubt (scan_doubt);
          device_add_in_use_doubt (device, doubt);
        }
    }
  if (children == NULL)
    return;

  for (guint i = 0; i < children->len; i++)
    {
      const Child *c = g_ptr_array_index (children, i);
      Marking m = { .facts = facts, .owner = owner_of (by_path, c->syspath) };

      if (m.owner == NULL)
        continue;
      switch (c->kind)
        {
        case CHILD_BLOCK:  mark_block (&m, c->name); break;
        case CHILD_NET:    mark_net (&m, c->name); break;
        case CHILD_VIRTIO: mark_virtio (&m, c->name); break;
        }
      facts = m.facts;
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
  char path[PATH_MAX], buf[ATTR_MAX];
  ssize_t n;

  g_return_val_if_fail (name_is_safe (device), -EINVAL);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE, device);
  n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  /* "%s\n": only that newline goes (a name may end in a space) */
  if (n > 0 && buf[n - 1] == '\n')
    buf[n - 1] = '\0';
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
