/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "probe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"
#include "names.h"

/* ---- the facts: mounts, swaps, interfaces ------------------------------- */

static void
load_interfaces (InUseFacts *facts)
{
  struct ifaddrs *list = NULL;

  if (getifaddrs (&list) < 0)
    {
      int errsv = errno;
      g_warning ("Cannot list network interfaces: %s", g_strerror (errsv));
      inuse_facts_set_unreadable (facts, INUSE_SOURCE_INTERFACES,
                                  inuse_source_name (INUSE_SOURCE_INTERFACES), errsv);
      return;
    }

  /* two passes so an IPv4 address is named before any IPv6 one */
  for (int pass = 0; pass < 2; pass++)
    for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next)
      {
        char buf[INET6_ADDRSTRLEN] = "";
        const char *address = NULL;
        int family = ifa->ifa_addr ? ifa->ifa_addr->sa_family : AF_UNSPEC;

        if (pass == 0 && family == AF_INET)
          address = inet_ntop (AF_INET, &((struct sockaddr_in *) ifa->ifa_addr)->sin_addr, buf,
                               sizeof buf);
        else if (pass == 1 && family == AF_INET6)
          {
            const struct in6_addr *a6 = &((struct sockaddr_in6 *) ifa->ifa_addr)->sin6_addr;
            /* every up interface gets a link-local address by itself: it
             * does not say anybody uses the link */
            if (!IN6_IS_ADDR_LINKLOCAL (a6))
              address = inet_ntop (AF_INET6, a6, buf, sizeof buf);
          }
        inuse_add_interface (facts, ifa->ifa_name, (ifa->ifa_flags & IFF_UP) != 0, address);
      }

  freeifaddrs (list);
}

/* The whole of a /proc file: 0 and *@out, or -errno. */
static int
read_proc (const char *path, char **out)
{
  _cleanup_fd_ int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  g_autoptr (GString) text = g_string_new (NULL);
  char buf[16384];

  if (fd < 0)
    return -errno;
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        break;
      /* a NUL in the text would hide what follows it from the parser */
      if (memchr (buf, '\0', (size_t) n))
        return -EBADMSG;
      g_string_append_len (text, buf, n);
    }
  *out = g_string_free (g_steal_pointer (&text), FALSE);
  return 0;
}

static void
load_proc (InUseFacts *facts, InUseSource source, void (*parse) (InUseFacts *, const char *))
{
  g_autofree char *text = NULL;
  int r = read_proc (inuse_source_name (source), &text);

  if (r < 0)
    {
      g_warning ("Cannot read %s: %s; devices with block devices or file systems "
                 "below them count as in use",
                 inuse_source_name (source), g_strerror (-r));
      inuse_facts_set_unreadable (facts, source, inuse_source_name (source), -r);
      return;
    }
  parse (facts, text);
}

InUseFacts *
probe_facts_load (void)
{
  InUseFacts *facts = inuse_facts_new ();

  load_proc (facts, INUSE_SOURCE_MOUNTS, inuse_parse_mountinfo);
  load_proc (facts, INUSE_SOURCE_SWAPS, inuse_parse_swaps);

  /* a swap that is no block device (a file) lives on a file system that
   * is mounted: its disk is in use by that mount already */
  for (guint i = 0; i < facts->swaps->len; i++)
    {
      InUseSwap *s = g_ptr_array_index (facts->swaps, i);
      struct stat st;

      if (stat (s->filename, &st) == 0 && S_ISBLK (st.st_mode))
        s->devnum = st.st_rdev;
    }

  load_interfaces (facts);
  return facts;
}

/* ---- what lives below which PCI device ---------------------------------- */

typedef enum {
  CHILD_BLOCK,
  CHILD_NET,
  CHILD_VIRTIO,
} ChildKind;

typedef struct {
  ChildKind kind;
  char *name;    /* its name in its class or bus directory */
  char *syspath; /* where it lives, below its PCI device */
} Child;

static void
child_free (Child *c)
{
  g_free (c->name);
  g_free (c->syspath);
  g_free (c);
}

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
    *facts = probe_facts_load ();
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
          n = sysfs_readlink_at (dirfd (dir), de->d_name, target, sizeof target);
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
    children = sysfs_cache_children (cache, &generation);
  if (children)
    return children;

  children = g_ptr_array_new_with_free_func ((GDestroyNotify) child_free);
  if (scan_children (children, doubt) < 0)
    {
      g_warning ("Cannot tell which devices have block devices, interfaces or virtio transports: "
                 "%s; every device counts as in use",
                 *doubt);
      g_ptr_array_unref (children);
      return NULL;
    }
  /* kept unless something changed while we read */
  if (cache)
    sysfs_cache_store_children (cache, children, generation);
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
  reason =
      inuse_block_reason (m->facts, name, makedev (major, minor), (const char *const *) holders);
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
  n = sysfs_readlink_at (AT_FDCWD, path, target, sizeof target);
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
probe_mark_in_use (SysfsCache *cache, GPtrArray *devices)
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
        case CHILD_BLOCK: mark_block (&m, c->name); break;
        case CHILD_NET: mark_net (&m, c->name); break;
        case CHILD_VIRTIO: mark_virtio (&m, c->name); break;
        }
      facts = m.facts;
    }
}
