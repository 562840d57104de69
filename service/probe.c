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

#include "openers.h"
#include "sessions.h"
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
  CHILD_CHAR, /* a character device node: its name is "major:minor" */
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
  [CHILD_CHAR] = VFIOD_SYSFS_DEV_CHAR,
};

/* Every block device, interface, virtio transport and character device
 * node that lives below some PCI device, with where it lives.  0, or -errno with @doubt set to
 * what could not be read: then any device may have children we missed. */
static int
scan_children (GPtrArray *out, char **doubt)
{
  for (ChildKind kind = CHILD_BLOCK; kind <= CHILD_CHAR; kind++)
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
          /* virtual devices (loop, dm, lo, bridges, ttys) belong to no PCI device */
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

/* The children (cached in @cache, if any: NULL reads them now), or NULL
 * with @doubt set. */
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
      g_warning ("Cannot tell which devices have block devices, interfaces, virtio transports or "
                 "device nodes: "
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

/* A mounted btrfs, as /sys/fs/btrfs/UUID says. */
typedef struct {
  char *uuid;
  char *label;
  GStrv members; /* block device names */
} BtrfsFs;

static void
btrfs_fs_free (BtrfsFs *fs)
{
  g_free (fs->uuid);
  g_free (fs->label);
  g_strfreev (fs->members);
  g_free (fs);
}

/* Who holds a node of the read's devices open makes which device in use. */
typedef struct {
  Device *owner;
  char *subsystem; /* the node's, "" when it has none */
} NodeOwner;

static void
node_owner_free (NodeOwner *o)
{
  g_free (o->subsystem);
  g_free (o);
}

/* What a child's reason needs: the facts, and where the doubts go. */
typedef struct {
  InUseFacts *facts;
  Device *owner;
  ProbeFlags flags;
  GPtrArray *nodes;     /* OpenNode*: what PROBE_OPENERS looks for in /proc */
  GPtrArray *owners;    /* NodeOwner*: the nodes' data */
  int fbcon;            /* -1: not read yet, else bound (1) or not (0) */
  char *fbcon_doubt;    /* the vtconsoles could not be read */
  int first_fb;         /* the lowest N of /sys/class/graphics/fbN, -1: none */
  GHashTable *btrfs;    /* block device name -> BtrfsFs*, NULL: not read yet */
  GPtrArray *btrfs_all; /* BtrfsFs*, owning */
  char *btrfs_doubt;    /* /sys/fs/btrfs could not be read */
  char *cmdline;        /* the kernel's command line ("" unreadable) */
} Marking;

static void
mark_doubt (Marking *m, char *what /* owned */)
{
  g_autofree char *doubt = inuse_doubt (what);

  g_debug ("Cannot tell whether PCI device %s is in use: %s", m->owner->name, what);
  device_add_in_use_doubt (m->owner, doubt);
  g_free (what);
}

static const char *
dev_dir (void)
{
  const char *dir = g_getenv (VFIOD_ENV_DEV_DIR);

  return dir && *dir ? dir : VFIOD_DEV_DIR;
}

static const char *
udev_data_dir (void)
{
  const char *dir = g_getenv (VFIOD_ENV_UDEV_DATA_DIR);

  return dir && *dir ? dir : VFIOD_UDEV_DATA_DIR;
}

/* A node to look for among the open files (PROBE_OPENERS): device number
 * @type/@devnum, or the file @devname in the device directory. */
static void
want_opener (Marking *m, const char *subsystem, const char *label, mode_t type, dev_t devnum,
             const char *devname)
{
  NodeOwner *o = g_new0 (NodeOwner, 1);
  g_autofree char *path = NULL;

  if (!(m->flags & PROBE_OPENERS))
    {
      g_free (o);
      return;
    }
  o->owner = m->owner;
  o->subsystem = g_strdup (subsystem);
  g_ptr_array_add (m->owners, o);
  /* a DEVNAME is the kernel's ("input/event3", "dri/card0"): never a way out */
  if (devname && *devname && devname[0] != '/' && !strstr (devname, ".."))
    path = g_build_filename (dev_dir (), devname, NULL);
  g_ptr_array_add (m->nodes, open_node_new (label, type, devnum, path, o));
}

/* The text of the attribute at @path (stripped), or NULL with *@err set. */
static char *
read_text (const char *path, int *err)
{
  char buf[4096];
  ssize_t n = sysfs_read_attr (AT_FDCWD, path, buf, sizeof buf);

  if (n < 0)
    {
      *err = (int) -n;
      return NULL;
    }
  return g_strstrip (g_strdup (buf));
}

/* The DEVNAME of the device at @syspath, from its uevent file; NULL when
 * it has none. */
static char *
read_devname (const char *syspath)
{
  g_autofree char *path = g_build_filename (syspath, VFIOD_ATTR_UEVENT, NULL);
  g_autofree char *text = NULL;
  int err = 0;
  g_auto (GStrv) lines = NULL;

  text = read_text (path, &err);
  if (text == NULL)
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    if (g_str_has_prefix (*l, VFIOD_UEVENT_DEVNAME "="))
      return g_strdup (*l + strlen (VFIOD_UEVENT_DEVNAME "="));
  return NULL;
}

/* Every mounted btrfs, into m->btrfs (once per reading). */
static void
load_btrfs (Marking *m)
{
  g_auto (GStrv) entries = NULL;
  int r;

  m->btrfs = g_hash_table_new (g_str_hash, g_str_equal);
  m->btrfs_all = g_ptr_array_new_with_free_func ((GDestroyNotify) btrfs_fs_free);
  r = list_dir (VFIOD_SYSFS_FS_BTRFS, &entries);
  if (r == -ENOENT) /* no btrfs module: none */
    return;
  if (r < 0)
    {
      m->btrfs_doubt = inuse_unreadable (VFIOD_SYSFS_FS_BTRFS, -r);
      return;
    }
  for (char **e = entries; *e; e++)
    {
      g_autofree char *devices = g_build_filename (VFIOD_SYSFS_FS_BTRFS, *e, "devices", NULL);
      g_autofree char *label_path = g_build_filename (VFIOD_SYSFS_FS_BTRFS, *e, "label", NULL);
      BtrfsFs *fs;
      int err = 0;

      if (strcmp (*e, "features") == 0)
        continue;
      fs = g_new0 (BtrfsFs, 1);
      r = list_dir (devices, &fs->members);
      if (r < 0)
        {
          btrfs_fs_free (fs);
          if (r == -ENOENT) /* unmounted meanwhile */
            continue;
          if (!m->btrfs_doubt)
            m->btrfs_doubt = inuse_unreadable (devices, -r);
          continue;
        }
      fs->uuid = g_strdup (*e);
      fs->label = read_text (label_path, &err);
      g_ptr_array_add (m->btrfs_all, fs);
      for (char **d = fs->members; *d; d++)
        g_hash_table_insert (m->btrfs, *d, fs);
    }
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

  m->owner->has_nodes = true;
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

  /* a member of a multi-device btrfs: mounted by another member's name */
  if (m->btrfs == NULL)
    load_btrfs (m);
  if (m->btrfs_doubt)
    mark_doubt (m, g_strdup_printf ("whether %s is a member of a btrfs: %s", name, m->btrfs_doubt));
  else
    {
      const BtrfsFs *fs = g_hash_table_lookup (m->btrfs, name);

      if (fs)
        {
          g_autofree char *member = inuse_btrfs_reason (m->facts, name, fs->label, fs->uuid,
                                                        (const char *const *) fs->members);
          if (member)
            device_add_in_use (m->owner, member);
        }
    }
  /* a block device's DEVNAME is its name */
  want_opener (m, "block", name, S_IFBLK, makedev (major, minor), name);
}

/* An input event node: the host's keyboard or mouse while it is there. */
static void
mark_input (Marking *m, const char *syspath, const char *node, unsigned major, unsigned minor)
{
  g_autofree char *udev = g_strdup_printf ("%s/c%u:%u", udev_data_dir (), major, minor);
  g_autofree char *input = g_path_get_dirname (syspath);
  g_autofree char *udev_data = NULL;
  g_autofree char *name = NULL, *ev = NULL, *key = NULL, *rel = NULL, *reason = NULL;
  g_autofree char *path = NULL;
  InUseInputKind kind;
  int err = 0;

  /* udevd's entry, when it ran (hwdb and rules may say more than the
   * kernel): otherwise the kernel's capabilities, as udev reads them */
  if (!g_file_get_contents (udev, &udev_data, NULL, NULL))
    udev_data = NULL;
  path = g_build_filename (input, VFIOD_ATTR_NAME, NULL);
  name = read_text (path, &err);
  if (udev_data == NULL)
    {
      g_autofree char *key_path = g_build_filename (input, VFIOD_ATTR_CAPS_KEY, NULL);
      g_autofree char *rel_path = g_build_filename (input, VFIOD_ATTR_CAPS_REL, NULL);

      g_free (path);
      path = g_build_filename (input, VFIOD_ATTR_CAPS_EV, NULL);
      ev = read_text (path, &err);
      key = read_text (key_path, &err);
      rel = read_text (rel_path, &err);
      /* without its keys no keyboard can be told from a button; a
       * device without relative axes has a rel of "0" */
      if (ev && inuse_bitmap_valid (ev) && !(key && inuse_bitmap_valid (key)))
        {
          g_free (path);
          path = g_strdup (key_path);
        }
      if (ev == NULL || !inuse_bitmap_valid (ev) || key == NULL || !inuse_bitmap_valid (key) ||
          (rel && !inuse_bitmap_valid (rel)))
        {
          mark_doubt (m, g_strdup_printf ("whether input %s is a keyboard or a mouse (udev has no "
                                          "entry %s, and %s could not be read or understood)",
                                          node, udev, path));
          return;
        }
    }
  kind = inuse_input_kind (udev_data, ev, key, rel, sizeof (long) * 8);
  reason = inuse_input_reason (kind, name, node);
  if (reason)
    device_add_in_use (m->owner, reason);
}

/* The lowest N of the framebuffers fbN there are, or -1. */
static int
first_framebuffer (void)
{
  g_autoptr (GDir) dir = g_dir_open (VFIOD_SYSFS_CLASS_GRAPHICS, 0, NULL);
  const char *e;
  guint64 n, first = G_MAXUINT64;

  while (dir && (e = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (e, "fb") && g_ascii_string_to_unsigned (e + 2, 10, 0, 31, &n, NULL))
      first = MIN (first, n);
  return first == G_MAXUINT64 ? -1 : (int) first;
}

/* The framebuffer console is on a framebuffer (fbN) of the device. */
static void
mark_framebuffer (Marking *m, const char *node)
{
  guint64 fb;

  if (!g_ascii_string_to_unsigned (node + 2, 10, 0, 31, &fb, NULL))
    return;
  if (m->fbcon < 0)
    {
      m->first_fb = first_framebuffer ();
      if (!g_file_get_contents (VFIOD_PROC_CMDLINE, &m->cmdline, NULL, NULL))
        m->cmdline = g_strdup ("");
      g_auto (GStrv) entries = NULL;
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      g_autoptr (GPtrArray) binds = g_ptr_array_new_with_free_func (g_free);
      int r = list_dir (VFIOD_SYSFS_CLASS_VTCONSOLE, &entries);

      m->fbcon = 0;
      if (r < 0 && r != -ENOENT) /* no VT layer: no console */
        m->fbcon_doubt = inuse_unreadable (VFIOD_SYSFS_CLASS_VTCONSOLE, -r);
      for (char **e = entries; e && *e && !m->fbcon_doubt; e++)
        {
          g_autofree char *name_path =
              g_build_filename (VFIOD_SYSFS_CLASS_VTCONSOLE, *e, VFIOD_ATTR_NAME, NULL);
          g_autofree char *bind_path =
              g_build_filename (VFIOD_SYSFS_CLASS_VTCONSOLE, *e, VFIOD_ATTR_BIND_STATE, NULL);
          int err = 0;
          char *name = read_text (name_path, &err);
          char *bind = name ? read_text (bind_path, &err) : NULL;

          if (bind == NULL)
            {
              m->fbcon_doubt = inuse_unreadable (name ? bind_path : name_path, err);
              g_free (name);
              break;
            }
          g_ptr_array_add (names, name);
          g_ptr_array_add (binds, bind);
        }
      g_ptr_array_add (names, NULL);
      g_ptr_array_add (binds, NULL);
      m->fbcon = inuse_fbcon_bound ((const char *const *) names->pdata,
                                    (const char *const *) binds->pdata);
    }
  if (m->fbcon_doubt)
    mark_doubt (
        m, g_strdup_printf ("whether the framebuffer console is on %s: %s", node, m->fbcon_doubt));
  else if (m->fbcon && inuse_fbcon_uses (m->cmdline, (unsigned) fb, (unsigned) m->first_fb))
    {
      g_autofree char *reason = inuse_fbcon_reason (node);
      device_add_in_use (m->owner, reason);
    }
}

/* A character device node below the device (its name is "major:minor"). */
static void
mark_char (Marking *m, const Child *c)
{
  char path[PATH_MAX], target[PATH_MAX];
  const char *node = strrchr (c->syspath, '/') + 1;
  const char *subsystem = "";
  unsigned major, minor;
  char end;
  ssize_t n;

  if (sscanf (c->name, "%u:%u%c", &major, &minor, &end) != 2)
    return;
  m->owner->has_nodes = true;
  snprintf (path, sizeof path, "%s/" VFIOD_ATTR_SUBSYSTEM, c->syspath);
  n = sysfs_readlink_at (AT_FDCWD, path, target, sizeof target);
  if (n == -ENOENT)
    return; /* gone meanwhile */
  if (n < 0)
    mark_doubt (m, inuse_unreadable (path, (int) -n));
  else
    subsystem = strrchr (target, '/') ? strrchr (target, '/') + 1 : target;

  if (strcmp (subsystem, VFIOD_SUBSYSTEM_INPUT) == 0 && g_str_has_prefix (node, "event"))
    mark_input (m, c->syspath, node, major, minor);
  else if (strcmp (subsystem, VFIOD_SUBSYSTEM_GRAPHICS) == 0 && g_str_has_prefix (node, "fb"))
    mark_framebuffer (m, node);
  if (m->flags & PROBE_OPENERS)
    {
      g_autofree char *devname = read_devname (c->syspath);
      want_opener (m, subsystem, node, S_IFCHR, makedev (major, minor), devname);
    }
}

static void
mark_net (Marking *m, const char *name)
{
  g_autoptr (GPtrArray) uppers = g_ptr_array_new_with_free_func (g_free);
  char path[PATH_MAX], target[PATH_MAX];
  const char *master = NULL;
  g_autofree char *reason = NULL, *doubt = NULL;
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_NET "/%s/" VFIOD_ATTR_MASTER, name);
  n = sysfs_readlink_at (AT_FDCWD, path, target, sizeof target);
  if (n > 0)
    {
      const char *slash = strrchr (target, '/');
      master = slash ? slash + 1 : target;
    }
  else if (n < 0 && n != -ENOENT) /* -ENOENT: not a port of anything */
    mark_doubt (m, inuse_unreadable (path, (int) -n));

  /* upper_<name> links: the VLANs and macvlans on it */
  {
    g_auto (GStrv) entries = NULL;
    int r;

    snprintf (path, sizeof path, VFIOD_SYSFS_CLASS_NET "/%s", name);
    r = list_dir (path, &entries);
    if (r < 0 && r != -ENOENT)
      mark_doubt (m, inuse_unreadable (path, -r));
    for (char **e = entries; e && *e; e++)
      if (g_str_has_prefix (*e, VFIOD_ATTR_UPPER_PREFIX) && (*e)[strlen (VFIOD_ATTR_UPPER_PREFIX)])
        g_ptr_array_add (uppers, g_strdup (*e + strlen (VFIOD_ATTR_UPPER_PREFIX)));
    g_ptr_array_add (uppers, NULL);
  }

  facts_get (&m->facts);
  reason = inuse_net_reason (m->facts, name, master, (const char *const *) uppers->pdata);
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

static void
opener_found (const OpenNode *node, const char *pid, gpointer data)
{
  Sessions *sessions = data;
  NodeOwner *o = node->data;
  g_autofree char *comm = openers_comm (pid);
  g_autofree char *reason = NULL;

  reason =
      inuse_opener_reason (o->subsystem, node->label, comm, pid, sessions_of_pid (sessions, pid));
  device_add_in_use (o->owner, reason);
}

void
probe_mark_in_use (SysfsCache *cache, GPtrArray *devices, ProbeFlags flags)
{
  g_autoptr (GHashTable) by_path = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (InUseFacts) facts = NULL;
  g_autofree char *scan_doubt = NULL;
  /* whether a node is open is read now: so is what nodes there are */
  g_autoptr (GPtrArray) children =
      children_get ((flags & PROBE_OPENERS) ? NULL : cache, &scan_doubt);
  Marking m = {
    .flags = flags,
    .nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) open_node_free),
    .owners = g_ptr_array_new_with_free_func ((GDestroyNotify) node_owner_free),
    .fbcon = -1,
    .first_fb = -1,
  };

  for (guint i = 0; i < devices->len; i++)
    {
      Device *device = g_ptr_array_index (devices, i);

      g_clear_pointer (&device->in_use, g_free);
      device->in_use_doubt = false;
      device->has_nodes = false;
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

  for (guint i = 0; children && i < children->len; i++)
    {
      const Child *c = g_ptr_array_index (children, i);

      m.owner = owner_of (by_path, c->syspath);
      if (m.owner == NULL)
        continue;
      switch (c->kind)
        {
        case CHILD_BLOCK: mark_block (&m, c->name); break;
        case CHILD_NET: mark_net (&m, c->name); break;
        case CHILD_VIRTIO: mark_virtio (&m, c->name); break;
        case CHILD_CHAR: mark_char (&m, c); break;
        }
    }

  if (m.nodes->len)
    {
      g_autoptr (Sessions) sessions = sessions_new ();
      guint blind = openers_find (m.nodes, opener_found, sessions);

      for (guint i = 0; blind && i < m.owners->len; i++)
        {
          m.owner = ((NodeOwner *) g_ptr_array_index (m.owners, i))->owner;
          if (!m.owner->in_use_doubt)
            mark_doubt (&m, g_strdup_printf ("whether a process holds its device nodes open: "
                                             "the open files of %u process(es) were refused to "
                                             "vfiod (an LSM, or vfiod running without "
                                             "CAP_SYS_PTRACE)",
                                             blind));
        }
    }
  facts = m.facts;
  g_ptr_array_unref (m.nodes);
  g_ptr_array_unref (m.owners);
  g_free (m.fbcon_doubt);
  g_free (m.cmdline);
  if (m.btrfs)
    g_hash_table_unref (m.btrfs);
  if (m.btrfs_all)
    g_ptr_array_unref (m.btrfs_all);
  g_free (m.btrfs_doubt);
}
