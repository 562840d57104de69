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
#include <sys/utsname.h>
#include <unistd.h>

#include "isolation.h"
#include "util.h"
#include "names.h"

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
ssize_t
sysfs_readlink_at (int dirfd, const char *path, char *buf, size_t size)
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
  DeviceIds ids;
  gboolean boot_vga;
  PciConfig config;
  char **reset_methods;
} Facts;

/* Locking rule: every field below is read and written only with @lock
 * held, from any thread; nothing is read from sysfs while it is held. */
struct SysfsCache {
  GMutex lock;
  gboolean enabled;       /* only while somebody tells us of hotplug */
  GHashTable *facts;      /* device name → Facts* */
  guint facts_generation; /* bumped whenever facts are dropped */
  GPtrArray *children;    /* probe.c's, opaque here; NULL: not read
                             * since the last change */
  guint children_generation;
};

static void
facts_free (Facts *f)
{
  g_free (f->syspath);
  g_strfreev (f->reset_methods);
  g_free (f);
}

SysfsCache *
sysfs_cache_new (void)
{
  SysfsCache *self = g_new0 (SysfsCache, 1);

  g_mutex_init (&self->lock);
  self->facts =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) facts_free);
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

GPtrArray *
sysfs_cache_children (SysfsCache *self, guint *generation)
{
  GPtrArray *children;

  g_mutex_lock (&self->lock);
  children = self->children ? g_ptr_array_ref (self->children) : NULL;
  *generation = self->children_generation;
  g_mutex_unlock (&self->lock);
  return children;
}

void
sysfs_cache_store_children (SysfsCache *self, GPtrArray *children, guint generation)
{
  g_mutex_lock (&self->lock);
  if (self->enabled && generation == self->children_generation && self->children == NULL)
    self->children = g_ptr_array_ref (children);
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
      device_set_ids (device, &f->ids);
      device->boot_vga = f->boot_vga;
      device->config = f->config;
      g_strfreev (device->reset_methods);
      device->reset_methods = g_strdupv (f->reset_methods);
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
  f->ids = device_ids (device);
  f->boot_vga = device->boot_vga;
  f->config = device->config;
  f->reset_methods = g_strdupv (device->reset_methods);
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
  n = sysfs_readlink_at (AT_FDCWD, path, buf, sizeof buf);
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

/* Config space, all of it that root may read (4 KiB; 256 bytes for
 * conventional PCI): what the grouping rules need.  Never fails the
 * device: a space that cannot be read is malformed, and the rules say
 * "unknown" for its group. */
static void
read_config (Device *device)
{
  g_autofree uint8_t *data = g_malloc (4096);
  char path[PATH_MAX];
  size_t size = 0;
  int fd;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_CONFIG, device->name);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  while (fd >= 0 && size < 4096)
    {
      ssize_t n = pread (fd, data + size, 4096 - size, (off_t) size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n < 0)
            size = 0;
          break;
        }
      size += (size_t) n;
    }
  if (fd < 0 || size == 0)
    {
      g_debug ("Cannot read the config space of %s: %s", device->name,
               fd < 0 ? g_strerror (errno) : "empty");
      memset (&device->config, 0, sizeof device->config);
      device->config.port_type = PCICONFIG_NOT_PCIE;
      device->config.malformed = "its config space cannot be read";
    }
  else if (pciconfig_parse (data, size, &device->config) < 0)
    g_debug ("The config space of %s is malformed: %s", device->name, device->config.malformed);
  if (fd >= 0)
    close (fd);
}

/* Whether the running kernel has reset_method files (5.15 and later). */
static gboolean
kernel_has_reset_method (void)
{
  static gsize once = 0;
  static gboolean has;

  if (g_once_init_enter (&once))
    {
      struct utsname u;
      unsigned major = 0, minor = 0;

      has = uname (&u) < 0 || sscanf (u.release, "%u.%u", &major, &minor) != 2 || major > 5 ||
            (major == 5 && minor >= 15);
      g_once_init_leave (&once, 1);
    }
  return has;
}

/* The kernel's reset methods (reset_method), or config space's before
 * kernel 5.15 (no such file).  A file vfiod cannot parse means none. */
static void
read_reset_methods (Device *device)
{
  char path[PATH_MAX], buf[ATTR_MAX];
  ssize_t n;

  g_clear_pointer (&device->reset_methods, g_strfreev);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_RESET_METHOD,
            device->name);
  n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);
  if (n >= 0)
    {
      device->reset_methods = device_parse_reset_methods (buf);
      if (device->reset_methods == NULL)
        {
          g_debug ("%s: cannot parse its reset methods", device->name);
          device->reset_methods = g_new0 (char *, 1);
        }
      return;
    }
  if (n == -ENOENT && kernel_has_reset_method ())
    {
      /* the kernel hides the file of a device it cannot reset */
      device->reset_methods = g_new0 (char *, 1);
      return;
    }
  if (n == -ENOENT)
    {
      bool through_domain;
      g_autofree char *parent = device_parent_from_syspath (device->syspath, &through_domain);
      device->reset_methods =
          device_reset_methods_from_config (&device->config, parent != NULL && !through_domain);
      return;
    }
  g_debug ("%s: cannot read its reset methods: %s", device->name, g_strerror ((int) -n));
  device->reset_methods = g_new0 (char *, 1);
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
  n = sysfs_readlink_at (AT_FDCWD, path, buf, sizeof buf);
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

  read_config (device);
  read_reset_methods (device);
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
  DeviceIds ids, fresh_ids;
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
  ids = device_ids (device);
  fresh_ids = device_ids (fresh);
  if (!device_ids_equal (&fresh_ids, &ids))
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
          if ((b->d_type == DT_LNK || b->d_type == DT_UNKNOWN) &&
              address_parse (b->d_name, &address))
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

static gint
slot_compare (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(PciSlot **) a)->name, (*(PciSlot **) b)->name);
}

/* A slot name vfiod repeats to callers: printable ASCII, 1 to 64 bytes.
 * Platforms name slots by number ("4"), firmware label or "N-1". */
static gboolean
slot_name_valid (const char *name)
{
  size_t len = strlen (name);

  if (len == 0 || len > 64)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      return FALSE;
  return TRUE;
}

GPtrArray *
sysfs_list_slots (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) pci_slot_free);
  DIR *dir = opendir (VFIOD_SYSFS_PCI_SLOTS);
  struct dirent *de;

  while (dir && (de = readdir (dir)) != NULL)
    {
      char path[PATH_MAX], buf[ATTR_MAX];
      PciSlot slot = { 0 };

      if (de->d_name[0] == '.' || !slot_name_valid (de->d_name))
        continue;
      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_SLOTS "/%s/" VFIOD_ATTR_SLOT_ADDRESS,
                de->d_name);
      if (sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf) < 0 ||
          !pci_slot_parse_address (buf, &slot))
        continue;
      slot.name = g_strdup (de->d_name);
      g_ptr_array_add (out, g_memdup2 (&slot, sizeof slot));
    }
  if (dir)
    closedir (dir);
  g_ptr_array_sort (out, slot_compare);
  return out;
}

int
sysfs_device_group (const PciAddress *address, int64_t *group)
{
  char name[ADDRESS_STRLEN], path[PATH_MAX], target[PATH_MAX];
  ssize_t n;

  address_format (address, name);
  /* the device's own link tells whether it exists */
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", name);
  n = sysfs_readlink_at (AT_FDCWD, path, target, sizeof target);
  if (n < 0)
    return (int) n;
  return read_group (name, group);
}

gboolean
sysfs_device_gone (const char *name)
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
read_devices_listed_in (SysfsCache *cache, const char *list_path, gboolean group_members,
                        GHashTable *drivers, GPtrArray **out, char **unreadable)
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
          g_warning ("%s lists %s, which is not a PCI device vfiod can read", list_path,
                     de->d_name);
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
          g_warning ("%s lists %s, which is not how the kernel names a PCI device", list_path,
                     de->d_name);
          r = -EBADMSG;
          if (unreadable)
            *unreadable = g_strdup (device->name);
          break;
        }
      r = read_device (cache, device, drivers);
      if ((r == -ENOENT || r == -ENODEV) && sysfs_device_gone (device->name))
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
  n = sysfs_readlink_at (AT_FDCWD, path, target, sizeof target);
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
