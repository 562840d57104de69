/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod-boot-bind: carries out one persistent assignment at boot.
 *
 * udev runs it (40-vfiod-persistent.rules) on "add" of every PCI device,
 * before the rules that load drivers, in the initramfs and in the real
 * root.  For a device with a record in the records directory whose ids
 * still match, it writes vfio-pci to driver_override and loads vfio-pci,
 * so the host driver never binds it; if a built-in or already loaded host
 * driver got there first, it unbinds the device and asks the kernel to
 * probe it again, as DetachDevice does, unless the host uses it.
 *
 * It runs for every PCI device at boot: no GLib, no D-Bus, and one
 * failed open() for a device without a record.  It never touches a
 * device without a record, nor one whose record it does not understand,
 * is not root's, or no longer matches the hardware: on any doubt it does
 * nothing and says why in the kernel log.  It exits 0 whenever it did
 * what it should (including nothing); 1 when a write failed.
 *
 * The daemon writes sysfs through sysfs.c; this program is the one
 * other writer, with its own three writes below (bind_device), because
 * it must not link GLib. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/param.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "address.h"
#include "bootnote.h"
#include "config.h"
#include "hexnum.h"
#include "persist.h"
#include "names.h"

typedef struct {
  const char *records;  /* directory of the records */
  const char *cmdline;  /* the kernel command line file */
  const char *modprobe; /* program that loads vfio-pci */
  const char *notes;    /* directory of the notes of this boot (bootnote.h) */
  const char *marker;   /* NULL: the built-in initramfs markers; else only this file */
  bool kmsg;            /* log to /dev/kmsg too */
  bool initramfs;       /* running in the initramfs, not the real root */
  char name[ADDRESS_STRLEN];
} Options;

static Options opts;

/* Logs to stderr (udev keeps it at debug level) and to the kernel log,
 * which the journal shows and which the boot may be read from. */
__attribute__ ((format (printf, 2, 3))) static void
say (int level, const char *format, ...)
{
  char line[1024];
  va_list ap;
  int n;

  va_start (ap, format);
  n = vsnprintf (line, sizeof line, format, ap);
  va_end (ap);
  if (n < 0)
    return;
  fprintf (stderr, VFIOD_BOOT_HELPER ": %s\n", line);
  if (opts.kmsg)
    {
      /* one write(), one record; not dprintf(): glibc's lseek()s first and
       * gives up on /dev/kmsg's EINVAL, writing nothing */
      char record[1100];
      int fd = open ("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
      int len = snprintf (record, sizeof record, "<%d>" VFIOD_BOOT_HELPER ": %s\n", level, line);

      if (fd >= 0 && len > 0)
        {
          if (write (fd, record, (size_t) MIN (len, (int) sizeof record - 1)) < 0)
            fprintf (stderr, VFIOD_BOOT_HELPER ": cannot write to /dev/kmsg: %s\n",
                     strerror (errno));
        }
      if (fd >= 0)
        close (fd);
    }
}
#define LOG_ERR     3
#define LOG_WARNING 4
#define LOG_NOTICE  5
#define LOG_INFO    6

/* Reads a small file whole, NUL-terminated: its length, or -errno. */
static ssize_t
read_text (const char *path, char *buf, size_t size)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  size_t len = 0;
  int r = 0;

  if (fd < 0)
    return -errno;
  while (len + 1 < size)
    {
      ssize_t n = read (fd, buf + len, size - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          r = -errno;
          break;
        }
      if (n == 0)
        break;
      len += (size_t) n;
    }
  close (fd);
  if (r < 0)
    return r;
  buf[len] = '\0';
  return (ssize_t) len;
}

static int
write_text (const char *path, const char *text)
{
  size_t len = strlen (text);
  int fd = open (path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  ssize_t n;
  int r = 0;

  if (fd < 0)
    return -errno;
  do
    n = write (fd, text, len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    r = -errno;
  else if ((size_t) n != len)
    r = -EIO;
  if (close (fd) < 0 && r == 0 && errno != EINTR)
    r = -errno;
  return r;
}

/* A hex attribute ("0x8086\n") of the device, of at most @digits
 * digits: 0, or -errno. */
static int
read_hex_attr (const char *name, const char *attr, size_t digits, uint32_t *out)
{
  char path[PATH_MAX], buf[32];
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/%s", name, attr);
  n = read_text (path, buf, sizeof buf);
  if (n < 0)
    return (int) n;
  if (n > 0 && buf[n - 1] == '\n')
    buf[n - 1] = '\0';
  return hexnum_parse_prefixed (buf, 1, digits, out) ? 0 : -EBADMSG;
}

/* Device @name's driver into @driver (empty when unbound): 0, or -errno. */
static int
read_driver (const char *name, char *driver, size_t size)
{
  char path[PATH_MAX], target[PATH_MAX];
  ssize_t n;
  const char *base;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER, name);
  n = readlink (path, target, sizeof target - 1);
  if (n < 0 && errno == ENOENT)
    {
      driver[0] = '\0';
      return 0;
    }
  if (n < 0)
    return -errno;
  target[n] = '\0';
  base = strrchr (target, '/');
  base = base ? base + 1 : target;
  if (strlen (base) >= size)
    return -ENAMETOOLONG;
  memcpy (driver, base, strlen (base) + 1);
  return 0;
}

/* Whether the kernel command line lets us work (said why not when @loud). */
static bool
enabled (bool loud)
{
  char cmdline[4096];
  ssize_t n = read_text (opts.cmdline, cmdline, sizeof cmdline);
  int r;

  if (n < 0)
    {
      /* /proc not mounted: we cannot have been told to stop, but cannot
       * tell; the escape hatch must work, so do nothing */
      if (loud)
        say (LOG_WARNING, "%s: cannot read %s (%s); persistent assignments are not carried out",
             opts.name, opts.cmdline, strerror ((int) -n));
      return false;
    }
  r = persist_cmdline_enabled (cmdline);
  if (r < 0 && loud)
    say (LOG_WARNING,
         "%s: %s has a value that is not a boolean; persistent assignments are "
         "not carried out this boot",
         opts.name, VFIOD_CMDLINE_PERSISTENT);
  else if (r == 0 && loud)
    say (LOG_NOTICE, "%s: left to the host: %s=0 turns persistent assignments off this boot",
         opts.name, VFIOD_CMDLINE_PERSISTENT);
  return r > 0;
}

/* Device @name's record: 1 and @out, 0 when there is none, -1 when
 * there is one that must not be trusted (said why when @loud). */
static int
load_record (const char *name, bool loud, PersistRecord *out, char *path, size_t path_size)
{
  char buf[PERSIST_MAX_SIZE + 1], why[256];
  struct stat st;
  size_t len = 0;
  int fd;

  snprintf (path, path_size, "%s/%s%s", opts.records, name, VFIOD_PERSIST_SUFFIX);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT)
    return 0;
  if (fd < 0)
    {
      if (loud)
        say (LOG_WARNING, "%s: record %s cannot be opened (%s); the device is left alone", name,
             path, strerror (errno));
      return -1;
    }
  /* configuration only root may write; anything else may be a trap */
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_uid != 0 ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size > PERSIST_MAX_SIZE)
    {
      if (loud)
        say (LOG_WARNING,
             "%s: record %s is not a regular file of root's that only root may "
             "write, of at most %d bytes; the device is left alone",
             name, path, PERSIST_MAX_SIZE);
      close (fd);
      return -1;
    }
  while (len < sizeof buf)
    {
      ssize_t n = read (fd, buf + len, sizeof buf - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n < 0)
            {
              if (loud)
                say (LOG_WARNING, "%s: record %s cannot be read (%s); the device is left alone",
                     name, path, strerror (errno));
              close (fd);
              return -1;
            }
          break;
        }
      len += (size_t) n;
    }
  close (fd);
  if (persist_record_parse (buf, len, out, why, sizeof why) < 0)
    {
      if (loud)
        say (LOG_WARNING, "%s: record %s is not valid: %s; the device is left alone", name, path,
             why);
      return -1;
    }
  {
    char recorded[ADDRESS_STRLEN];
    if (strcmp (address_format (&out->address, recorded), name) != 0)
      {
        if (loud)
          say (LOG_WARNING, "%s: record %s is about %s; the device is left alone", name, path,
               recorded);
        return -1;
      }
  }
  return 1;
}

/* Device @name's vendor, device, subsystem ids and class into @v:
 * 0, or -errno (said which when @loud). */
static int
read_ids (const char *name, bool loud, uint32_t v[5])
{
  static const struct {
    const char *attr;
    size_t digits;
  } attrs[5] = {
    { VFIOD_ATTR_VENDOR, 4 },
    { VFIOD_ATTR_DEVICE, 4 },
    { VFIOD_ATTR_SUBSYSTEM_VENDOR, 4 },
    { VFIOD_ATTR_SUBSYSTEM_DEVICE, 4 },
    { VFIOD_ATTR_CLASS, 6 },
  };

  for (size_t i = 0; i < 5; i++)
    {
      int r = read_hex_attr (name, attrs[i].attr, attrs[i].digits, &v[i]);
      if (r < 0)
        {
          if (loud)
            say (LOG_WARNING, "%s: cannot read its %s (%s); the device is left alone", name,
                 attrs[i].attr, strerror (-r));
          return r;
        }
    }
  return 0;
}

/* Whether the hardware at device @name's address is the one recorded
 * (said why not when @loud). */
static bool
identity_matches (const char *name, bool loud, const PersistRecord *record, const char *path)
{
  uint32_t v[5];
  char why[256];

  if (read_ids (name, loud, v) < 0)
    return false;
  if (!persist_identity_matches (record, (uint16_t) v[0], (uint16_t) v[1], (uint16_t) v[2],
                                 (uint16_t) v[3], v[4], why, sizeof why))
    {
      if (loud)
        say (LOG_WARNING,
             "%s: not the device recorded in %s: %s; it is left to the host. "
             "vfiod reports the mismatch; vfioctl reattach %s removes the record",
             name, path, why, name);
      return false;
    }
  return true;
}

/* ---- notes of this boot (bootnote.h) ---------------------------------- */

/* The initramfs-tools hook and the dracut module ship a marker in the
 * image; dracut and systemd's initrds also have /etc/initrd-release.
 * The real root has neither. */
static bool
in_initramfs (void)
{
  if (opts.marker)
    return access (opts.marker, F_OK) == 0;
  return access (VFIOD_INITRAMFS_MARKER, F_OK) == 0 || access (VFIOD_INITRD_RELEASE, F_OK) == 0;
}

/* Whether the open file or directory @fd is root's and only root may
 * write it. */
static bool
roots_only (int fd, mode_t type, off_t max_size)
{
  struct stat st;

  return fstat (fd, &st) == 0 && (st.st_mode & S_IFMT) == type && st.st_uid == 0 &&
         !(st.st_mode & (S_IWGRP | S_IWOTH)) && (max_size < 0 || st.st_size <= max_size);
}

/* The notes directory, made when @create (its parent too): a descriptor,
 * or -1 (said why, unless it is only absent and not to be made). */
static int
notes_open (bool create)
{
  int fd;

  if (create)
    {
      char parent[PATH_MAX], *slash;

      snprintf (parent, sizeof parent, "%s", opts.notes);
      slash = strrchr (parent, '/');
      if (slash && slash != parent)
        {
          *slash = '\0';
          if (mkdir (parent, 0755) < 0 && errno != EEXIST)
            {
              say (LOG_WARNING, "%s: cannot make %s (%s); what was done is not noted", opts.name,
                   parent, strerror (errno));
              return -1;
            }
        }
      if (mkdir (opts.notes, 0755) < 0 && errno != EEXIST)
        {
          say (LOG_WARNING, "%s: cannot make %s (%s); what was done is not noted", opts.name,
               opts.notes, strerror (errno));
          return -1;
        }
    }
  fd = open (opts.notes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno != ENOENT || create)
        say (LOG_WARNING, "%s: cannot open %s (%s); its notes are not used", opts.name, opts.notes,
             strerror (errno));
      return -1;
    }
  if (!roots_only (fd, S_IFDIR, -1))
    {
      say (LOG_WARNING,
           "%s: %s is not a directory of root's that only root may write; its notes are "
           "not used",
           opts.name, opts.notes);
      close (fd);
      return -1;
    }
  return fd;
}

/* This device's note: 1 and @out, 0 when there is none, -1 when there
 * is one not to trust (said why): that counts as none. */
static int
note_read (BootNote *out)
{
  char buf[BOOT_NOTE_MAX_SIZE + 1], why[256];
  ssize_t n;
  size_t len = 0;
  int dir = notes_open (false), fd;

  if (dir < 0)
    return 0;
  fd = openat (dir, opts.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  close (dir);
  if (fd < 0 && errno == ENOENT)
    return 0;
  if (fd < 0)
    {
      say (LOG_WARNING, "%s: its note in %s cannot be opened (%s); it is not used", opts.name,
           opts.notes, strerror (errno));
      return -1;
    }
  if (!roots_only (fd, S_IFREG, BOOT_NOTE_MAX_SIZE))
    {
      say (LOG_WARNING,
           "%s: its note in %s is not a regular file of root's that only root may write, of "
           "at most %d bytes; it is not used",
           opts.name, opts.notes, BOOT_NOTE_MAX_SIZE);
      close (fd);
      return -1;
    }
  while (len < sizeof buf && (n = read (fd, buf + len, sizeof buf - len)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          say (LOG_WARNING, "%s: its note cannot be read (%s); it is not used", opts.name,
               strerror (errno));
          close (fd);
          return -1;
        }
      len += (size_t) n;
    }
  close (fd);
  if (boot_note_parse (buf, len, out, why, sizeof why) < 0)
    {
      say (LOG_WARNING, "%s: its note in %s is not valid (%s); it is not used", opts.name,
           opts.notes, why);
      return -1;
    }
  {
    char noted[ADDRESS_STRLEN];
    if (strcmp (address_format (&out->address, noted), opts.name) != 0)
      {
        say (LOG_WARNING, "%s: its note in %s is about %s; it is not used", opts.name, opts.notes,
             noted);
        return -1;
      }
  }
  return 1;
}

/* Writes this device's note: written whole and renamed over the old one. */
static void
note_write (const BootNote *note)
{
  char tmp[ADDRESS_STRLEN + 8];
  char *text = boot_note_format (note);
  int dir = text ? notes_open (true) : -1, fd = -1;
  size_t len;
  ssize_t n;

  if (dir < 0)
    {
      free (text);
      return;
    }
  snprintf (tmp, sizeof tmp, ".%s.tmp", opts.name);
  (void) unlinkat (dir, tmp, 0); /* left by a run that died: udev runs one per device */
  fd = openat (dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  len = strlen (text);
  n = fd < 0 ? -1 : write (fd, text, len);
  if (fd < 0 || n != (ssize_t) len || fchmod (fd, 0644) < 0 || close (fd) < 0 ||
      renameat (dir, tmp, dir, opts.name) < 0)
    {
      say (LOG_WARNING, "%s: cannot write its note in %s (%s)", opts.name, opts.notes,
           strerror (errno ? errno : EIO));
      if (fd >= 0)
        (void) unlinkat (dir, tmp, 0);
    }
  free (text);
  close (dir);
}

static void
note_remove (void)
{
  int dir = notes_open (false);

  if (dir < 0)
    return;
  if (unlinkat (dir, opts.name, 0) < 0 && errno != ENOENT)
    say (LOG_WARNING, "%s: cannot remove its note in %s (%s)", opts.name, opts.notes,
         strerror (errno));
  close (dir);
}

/* A note of @state about the device as it is now. */
static void
note_device (BootNoteState state)
{
  BootNote note;
  uint32_t v[5];

  memset (&note, 0, sizeof note);
  if (!address_parse (opts.name, &note.address) || read_ids (opts.name, false, v) < 0)
    return;
  note.state = state;
  note.vendor_id = (uint16_t) v[0];
  note.device_id = (uint16_t) v[1];
  note.subsystem_vendor_id = (uint16_t) v[2];
  note.subsystem_device_id = (uint16_t) v[3];
  note.class_code = v[4];
  note_write (&note);
}

/* ---- is the host using it? -------------------------------------------- */

/* What the host uses: mounted or swapped block devices (by number) and
 * up interfaces.  Only needed when a host driver already has the device;
 * anything unreadable counts as in use. */

static bool
devnum_in_use (dev_t devnum, char *why, size_t why_size)
{
  char *text = malloc (1 << 20);
  ssize_t n;
  bool used = false;

  if (text == NULL)
    {
      snprintf (why, why_size, "out of memory");
      return true;
    }
  n = read_text (VFIOD_PROC_MOUNTINFO, text, 1 << 20);
  if (n < 0 || (size_t) n + 1 >= 1 << 20)
    {
      snprintf (why, why_size, "cannot read " VFIOD_PROC_MOUNTINFO);
      free (text);
      return true;
    }
  /* "36 35 98:0 /mnt1 /mnt2 ...": the third field */
  for (char *line = text; line && *line && !used;)
    {
      char *next = strchr (line, '\n');
      unsigned major, minor;
      char mountpoint[256];

      if (next)
        *next++ = '\0';
      if (sscanf (line, "%*u %*u %u:%u %*s %255s", &major, &minor, mountpoint) == 3 &&
          makedev (major, minor) == devnum)
        {
          snprintf (why, why_size, "mounted on %s", mountpoint);
          used = true;
        }
      line = next;
    }
  free (text);
  return used;
}

static bool
swapped (const char *devname, char *why, size_t why_size)
{
  char text[16384], needle[NAME_MAX + 8];
  ssize_t n = read_text (VFIOD_PROC_SWAPS, text, sizeof text);

  if (n < 0 || (size_t) n + 1 >= sizeof text)
    {
      snprintf (why, why_size, "cannot read " VFIOD_PROC_SWAPS);
      return true;
    }
  snprintf (needle, sizeof needle, "/dev/%s ", devname);
  if (strstr (text, needle) ||
      (snprintf (needle, sizeof needle, "/dev/%s\t", devname), strstr (text, needle)))
    {
      snprintf (why, why_size, "/dev/%s is swap", devname);
      return true;
    }
  return false;
}

/* Block device @devname ("/sys/class/block/<devname>" is @dirfd). */
static bool
block_in_use (int dirfd, const char *devname, char *why, size_t why_size)
{
  char buf[64];
  unsigned major, minor;
  ssize_t n;
  int fd = openat (dirfd, VFIOD_ATTR_DEV, O_RDONLY | O_CLOEXEC);
  DIR *holders;
  struct dirent *de;

  n = fd < 0 ? -1 : read (fd, buf, sizeof buf - 1);
  if (fd >= 0)
    close (fd);
  if (n > 0)
    buf[n] = '\0';
  if (n <= 0 || sscanf (buf, "%u:%u", &major, &minor) != 2)
    {
      snprintf (why, why_size, "cannot read the number of %s", devname);
      return true;
    }
  if (devnum_in_use (makedev (major, minor), why, why_size) || swapped (devname, why, why_size))
    return true;

  fd = openat (dirfd, VFIOD_ATTR_HOLDERS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return false;
  holders = fd < 0 ? NULL : fdopendir (fd);
  if (holders == NULL)
    {
      if (fd >= 0)
        close (fd);
      snprintf (why, why_size, "cannot read the holders of %s", devname);
      return true;
    }
  while ((de = readdir (holders)) != NULL)
    if (de->d_name[0] != '.')
      {
        snprintf (why, why_size, "%.64s is held by %.64s", devname, de->d_name);
        closedir (holders);
        return true;
      }
  closedir (holders);
  return false;
}

/* As the daemon asks: by name, in this network namespace. */
static bool
interface_up (const char *ifname, char *why, size_t why_size)
{
  struct ifreq ifr;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int r;

  memset (&ifr, 0, sizeof ifr);
  if (fd < 0 || strlen (ifname) >= sizeof ifr.ifr_name)
    {
      if (fd >= 0)
        close (fd);
      snprintf (why, why_size, "cannot ask whether %.64s is up", ifname);
      return true;
    }
  memcpy (ifr.ifr_name, ifname, strlen (ifname) + 1);
  r = ioctl (fd, SIOCGIFFLAGS, &ifr);
  close (fd);
  if (r < 0 && errno == ENODEV)
    return false; /* gone, or in another namespace */
  if (r < 0 || (ifr.ifr_flags & IFF_UP))
    {
      snprintf (why, why_size,
                r < 0 ? "cannot ask whether %.64s is up" : "network interface %.64s is up", ifname);
      return true;
    }
  return false;
}

/* Whether a block device or an interface that lives below the device
 * (its sysfs directory is @devpath) is used: found as the daemon finds
 * them, through the class directories' links. */
static bool
children_in_use (const char *devpath, char *why, size_t why_size)
{
  static const char *const classes[] = { VFIOD_SYSFS_CLASS_BLOCK, VFIOD_SYSFS_CLASS_NET };
  size_t devlen = strlen (devpath);

  for (size_t c = 0; c < 2; c++)
    {
      DIR *dir = opendir (classes[c]);
      struct dirent *de;
      bool used = false;

      if (dir == NULL && errno == ENOENT)
        continue;
      if (dir == NULL)
        {
          snprintf (why, why_size, "cannot read %s", classes[c]);
          return true;
        }
      while (!used && (de = readdir (dir)) != NULL)
        {
          char link[PATH_MAX], *target;
          int fd;

          if (de->d_name[0] == '.')
            continue;
          snprintf (link, sizeof link, "%s/%s", classes[c], de->d_name);
          target = realpath (link, NULL);
          if (target == NULL)
            continue; /* gone meanwhile */
          if (strncmp (target, devpath, devlen) != 0 || target[devlen] != '/')
            {
              free (target);
              continue;
            }
          fd = open (target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          free (target);
          if (fd < 0)
            {
              snprintf (why, why_size, "cannot read %.200s", link);
              used = true;
              break;
            }
          used = c == 0 ? block_in_use (fd, de->d_name, why, why_size)
                        : interface_up (de->d_name, why, why_size);
          close (fd);
        }
      closedir (dir);
      if (used)
        return true;
    }
  return false;
}

/* ---- the binding -------------------------------------------------------- */

static bool
vfio_pci_loaded (void)
{
  return access (VFIOD_SYSFS_PCI_DRIVERS "/" VFIOD_DRIVER_VFIO_PCI, F_OK) == 0;
}

/* modprobe vfio-pci: its registration probes every device whose
 * driver_override names it. */
static int
load_vfio_pci (void)
{
  pid_t pid;
  int status;

  if (vfio_pci_loaded ())
    return 0;
  pid = fork ();
  if (pid < 0)
    return -errno;
  if (pid == 0)
    {
      execlp (opts.modprobe, opts.modprobe, "-q", VFIOD_MODULE_VFIO_PCI, (char *) NULL);
      _exit (127);
    }
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return -ENOEXEC;
  return vfio_pci_loaded () ? 0 : -ENOENT;
}

static int
bind_device (const char *record_path)
{
  char path[PATH_MAX], driver[NAME_MAX + 1], why[512];
  int r;

  r = read_driver (opts.name, driver, sizeof driver);
  if (r < 0)
    {
      say (LOG_WARNING, "%s: cannot read its driver (%s); the device is left alone", opts.name,
           strerror (-r));
      return 0;
    }
  if (strcmp (driver, VFIOD_DRIVER_VFIO_PCI) == 0)
    {
      BootNote note;

      /* the initramfs: another event's sweep gave it the override and
       * vfio-pci's load took it; it is the initramfs's binding all the same */
      if (opts.initramfs && note_read (&note) == 0)
        note_device (BOOT_NOTE_INITRAMFS);
      return 0;
    }
  if (strcmp (driver, VFIOD_DRIVER_PCI_STUB) == 0)
    {
      say (LOG_NOTICE, "%s: already on %s, which also keeps it from the host; left there",
           opts.name, VFIOD_DRIVER_PCI_STUB);
      return 0;
    }
  if (driver[0])
    {
      char devpath[PATH_MAX], *real;

      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s", opts.name);
      real = realpath (path, devpath);
      if (real == NULL || children_in_use (devpath, why, sizeof why))
        {
          say (LOG_WARNING,
               "%s: %s bound it first and the host uses it (%s); it is left on "
               "%s this boot. Put the records into the initramfs, or stop using it, then "
               "vfioctl detach %s",
               opts.name, driver, real ? why : "cannot find it in sysfs", driver, opts.name);
          return 0;
        }
    }

  /* the three writes: the override, the old driver's unbind, the probe */
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE,
            opts.name);
  r = write_text (path, VFIOD_DRIVER_VFIO_PCI);
  if (r < 0)
    {
      say (LOG_ERR, "%s: writing %s failed (%s); the device is left to the host", opts.name, path,
           strerror (-r));
      return 1;
    }
  /* from here on the device is the initramfs's: the real root gives it
   * back if its own records do not want it */
  if (opts.initramfs)
    note_device (BOOT_NOTE_INITRAMFS);
  if (driver[0])
    {
      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DRIVERS "/%s/" VFIOD_ATTR_UNBIND, driver);
      r = write_text (path, opts.name);
      if (r < 0 && r != -ENODEV)
        {
          say (LOG_ERR,
               "%s: unbinding it from %s failed (%s); it stays there, and on the "
               "next probe goes to %s",
               opts.name, driver, strerror (-r), VFIOD_DRIVER_VFIO_PCI);
          return 1;
        }
    }
  r = load_vfio_pci ();
  if (r < 0)
    {
      say (LOG_ERR,
           "%s: %s could not be loaded (%s with %s); the device stays without a "
           "driver",
           opts.name, VFIOD_MODULE_VFIO_PCI, strerror (-r), opts.modprobe);
      return 1;
    }
  r = read_driver (opts.name, driver, sizeof driver);
  if (r == 0 && driver[0] == '\0')
    {
      r = write_text (VFIOD_SYSFS_DRIVERS_PROBE, opts.name);
      if (r == 0)
        r = read_driver (opts.name, driver, sizeof driver);
    }
  if (r < 0 || strcmp (driver, VFIOD_DRIVER_VFIO_PCI) != 0)
    {
      say (LOG_ERR, "%s: it did not bind to %s (%s); see the kernel log", opts.name,
           VFIOD_DRIVER_VFIO_PCI,
           r < 0       ? strerror (-r)
           : driver[0] ? driver
                       : "no driver");
      return 1;
    }
  if (!opts.initramfs)
    note_device (BOOT_NOTE_ROOT);
  say (LOG_INFO, "%s: bound to %s, as recorded in %s", opts.name, VFIOD_DRIVER_VFIO_PCI,
       record_path);
  return 0;
}

/* ---- giving back what the initramfs bound -------------------------------- */

/* Device @name's IOMMU group: 0 and @group, or -errno (-ENOENT: none). */
static int
read_group (const char *name, uint32_t *group)
{
  char path[PATH_MAX], target[PATH_MAX];
  const char *base;
  ssize_t n;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_IOMMU_GROUP, name);
  n = readlink (path, target, sizeof target - 1);
  if (n < 0)
    return -errno;
  target[n] = '\0';
  base = strrchr (target, '/');
  base = base ? base + 1 : target;
  if (!*base || strlen (base) > 9 || strspn (base, "0123456789") != strlen (base))
    return -EBADMSG;
  *group = (uint32_t) strtoul (base, NULL, 10);
  return 0;
}

/* Whether a process holds the group of the device (on vfio-pci): the
 * kernel lets an unbind through while only the group file is open, so
 * ask as the daemon does: a second open of /dev/vfio/N is refused with
 * EBUSY while another process has it.  Anything else that cannot tell
 * counts as held. */
static bool
group_held (uint32_t group, char *why, size_t why_size)
{
  char node[64];
  int fd;

  snprintf (node, sizeof node, VFIOD_DEV_VFIO_DIR "/%u", (unsigned) group);
  fd = open (node, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd >= 0)
    {
      close (fd);
      return false;
    }
  if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
    return false; /* no node: nobody can hold it */
  if (errno == EBUSY)
    snprintf (why, why_size, "%s is held by a process", node);
  else
    snprintf (why, why_size, "cannot tell whether %s is held: %s", node, strerror (errno));
  return true;
}

/* The real root, for a device the initramfs bound (@note) that the real
 * root's records do not want (@because says why): back to its host
 * driver, unless its group is held; then left on vfio-pci.  Writes
 * nothing for a device no longer on vfio-pci, or not the one noted.
 * The note says what happened, for the daemon. */
static int
give_back (BootNote *note, const char *because)
{
  char path[PATH_MAX], driver[NAME_MAX + 1], override[64] = "", why[512];
  bool on_vfio, overridden;
  uint32_t v[5], group = 0;
  int r;

  r = read_driver (opts.name, driver, sizeof driver);
  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE,
            opts.name);
  if (r < 0 || read_text (path, override, sizeof override) < 0 || read_ids (opts.name, true, v) < 0)
    {
      say (LOG_WARNING, "%s: cannot read it; the initramfs's binding is left as it is", opts.name);
      return 0;
    }
  on_vfio = strcmp (driver, VFIOD_DRIVER_VFIO_PCI) == 0;
  overridden = strcmp (override, VFIOD_DRIVER_VFIO_PCI "\n") == 0;
  if (!on_vfio && !overridden)
    {
      /* somebody moved it already: nothing of the initramfs's is left */
      note_remove ();
      return 0;
    }
  if (note->vendor_id != v[0] || note->device_id != v[1] || note->subsystem_vendor_id != v[2] ||
      note->subsystem_device_id != v[3] || note->class_code != v[4])
    {
      say (LOG_WARNING, "%s: not the device the initramfs bound (its ids differ); left alone",
           opts.name);
      note_remove ();
      return 0;
    }
  if (on_vfio && read_group (opts.name, &group) == 0 && group_held (group, why, sizeof why))
    {
      note->state = BOOT_NOTE_HELD;
      note->has_group = true;
      note->group = group;
      note_write (note);
      say (LOG_WARNING,
           "%s: the initramfs bound it to %s from its out-of-date copy of the records, but %s; "
           "it is left on %s (vfioctl reattach %s once it is free). Rebuild the initramfs: "
           "update-initramfs -u, or dracut -f",
           opts.name, VFIOD_DRIVER_VFIO_PCI, why, VFIOD_DRIVER_VFIO_PCI, opts.name);
      return 0;
    }

  /* the three writes of a reattach: the override cleared, vfio-pci's
   * unbind, the probe that finds its host driver */
  r = write_text (path, "\n");
  if (r == 0 && on_vfio)
    {
      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DRIVERS "/" VFIOD_DRIVER_VFIO_PCI "/%s",
                VFIOD_ATTR_UNBIND);
      r = write_text (path, opts.name);
      if (r == -ENODEV)
        r = 0; /* gone from vfio-pci meanwhile */
    }
  if (r == 0)
    {
      snprintf (path, sizeof path, "%s", VFIOD_SYSFS_DRIVERS_PROBE);
      r = write_text (path, opts.name);
    }
  if (r == 0)
    r = read_driver (opts.name, driver, sizeof driver);
  if (r < 0)
    {
      note->state = BOOT_NOTE_FAILED;
      note_write (note);
      say (LOG_ERR,
           "%s: giving it back to the host (%s) failed: writing %s: %s. The initramfs bound it "
           "from its out-of-date copy of the records; rebuild it: update-initramfs -u, or "
           "dracut -f",
           opts.name, because, path, strerror (-r));
      return 1;
    }
  note->state = BOOT_NOTE_GIVEN_BACK;
  if (strlen (driver) > BOOT_NOTE_DRIVER_MAX)
    driver[0] = '\0';
  memcpy (note->driver, driver, strlen (driver) + 1);
  note_write (note);
  say (LOG_NOTICE,
       "%s: given back to %s: the initramfs bound it to %s from its out-of-date copy of the "
       "records, and %s. Rebuild the initramfs: update-initramfs -u, or dracut -f",
       opts.name, driver[0] ? driver : "the host (no driver took it)", VFIOD_DRIVER_VFIO_PCI,
       because);
  return 0;
}

/* Every other recorded device that is there, still the one recorded and
 * not bound yet gets its driver_override now, quietly (its own event
 * says what happens to it): udev handles events in parallel, and the
 * event of another device of the same driver may load that driver's
 * module before this device's own event ran.  Each event runs the
 * helper before the rules that load modules, so no module is loaded
 * before one such pass completed. */
static void
sweep (void)
{
  DIR *dir = opendir (opts.records);
  struct dirent *de;

  if (dir == NULL)
    return;
  while ((de = readdir (dir)) != NULL)
    {
      size_t len = strlen (de->d_name), suffix = strlen (VFIOD_PERSIST_SUFFIX);
      char name[ADDRESS_STRLEN], path[PATH_MAX], driver[NAME_MAX + 1], override[64];
      PersistRecord *record;
      PciAddress address;

      if (len <= suffix || strcmp (de->d_name + len - suffix, VFIOD_PERSIST_SUFFIX) != 0 ||
          len - suffix >= sizeof name)
        continue;
      memcpy (name, de->d_name, len - suffix);
      name[len - suffix] = '\0';
      /* only names as vfiod writes them: normalised addresses */
      if (!address_parse (name, &address) || strcmp (address_format (&address, path), name) != 0 ||
          strcmp (name, opts.name) == 0)
        continue;
      if (read_driver (name, driver, sizeof driver) < 0 || driver[0] != '\0')
        continue; /* gone, or bound: its own event decides */
      snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE, name);
      if (read_text (path, override, sizeof override) > 0 &&
          strcmp (override, VFIOD_DRIVER_VFIO_PCI "\n") == 0)
        continue;
      record = malloc (sizeof *record);
      if (record == NULL)
        break;
      if (load_record (name, false, record, path, sizeof path) == 1 &&
          identity_matches (name, false, record, path))
        {
          snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_DRIVER_OVERRIDE,
                    name);
          if (write_text (path, VFIOD_DRIVER_VFIO_PCI) == 0)
            say (LOG_INFO, "%s: driver_override set to %s ahead of its own event", name,
                 VFIOD_DRIVER_VFIO_PCI);
        }
      free (record);
    }
  closedir (dir);
}

static void
usage (FILE *f)
{
  fprintf (f,
           "Usage: " VFIOD_BOOT_HELPER " [OPTION...] PCI-ADDRESS\n"
           "Binds PCI-ADDRESS to vfio-pci if it has a persistent assignment that still\n"
           "matches the device (run by udev on \"add\"; see vfiod's docs/persistent.md).\n"
           "\n"
           "  --records=DIR   records directory (default %s)\n"
           "  --cmdline=FILE  kernel command line (default %s)\n"
           "  --modprobe=PROG program that loads vfio_pci (default %s)\n"
           "  --notes=DIR     notes of what it did this boot (default %s)\n"
           "  --initramfs-marker=FILE\n"
           "                  in the initramfs when FILE exists (default: %s or %s)\n"
           "  --no-kmsg       log to stderr only, not to the kernel log\n",
           VFIOD_PERSIST_DIR, VFIOD_PROC_CMDLINE, VFIOD_MODPROBE_PATH, VFIOD_BOOT_NOTES_DIR,
           VFIOD_INITRAMFS_MARKER, VFIOD_INITRD_RELEASE);
}

int
main (int argc, char **argv)
{
  static const struct option options[] = {
    { "records", required_argument, NULL, 'r' },
    { "cmdline", required_argument, NULL, 'c' },
    { "modprobe", required_argument, NULL, 'm' },
    { "no-kmsg", no_argument, NULL, 'k' },
    { "notes", required_argument, NULL, 'n' },
    { "initramfs-marker", required_argument, NULL, 'i' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  BootNote note;
  bool on, matched = false;
  char record_path[PATH_MAX];
  PersistRecord *record;
  PciAddress address;
  int c, r;

  opts.records = VFIOD_PERSIST_DIR;
  opts.cmdline = VFIOD_PROC_CMDLINE;
  /* udev runs us without PATH: execlp() would look in /bin:/usr/bin only */
  opts.modprobe = VFIOD_MODPROBE_PATH;
  opts.notes = VFIOD_BOOT_NOTES_DIR;
  opts.kmsg = true;
  while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1)
    switch (c)
      {
      case 'r': opts.records = optarg; break;
      case 'c': opts.cmdline = optarg; break;
      case 'm': opts.modprobe = optarg; break;
      case 'k': opts.kmsg = false; break;
      case 'n': opts.notes = optarg; break;
      case 'i': opts.marker = optarg; break;
      case 'h': usage (stdout); return 0;
      default: usage (stderr); return 2;
      }
  if (optind + 1 != argc || !address_parse (argv[optind], &address))
    {
      usage (stderr);
      return 2;
    }
  address_format (&address, opts.name);

  opts.initramfs = in_initramfs ();

  /* the fast path, for every device of a machine without records: the
   * rule runs us only when the directory exists, and it may be empty */
  record = malloc (sizeof *record);
  if (record == NULL)
    return 1;
  r = load_record (opts.name, true, record, record_path, sizeof record_path);
  on = enabled (r > 0);

  /* the real root, for a device the initramfs bound and nobody has
   * looked at since: kept if the records here want it, else given back.
   * Only that note: a device bound by hand, by vfiod, or kept or given
   * back by an earlier event of this boot is never touched again. */
  if (!opts.initramfs && note_read (&note) == 1 && note.state == BOOT_NOTE_INITRAMFS)
    {
      const char *because = NULL;

      if (r == 0)
        because = "its record is gone from the real root's records";
      else if (r < 0)
        because = "the real root's record of it cannot be used";
      else if (!on)
        because = "the kernel command line turns persistent assignments off";
      else if (!identity_matches (opts.name, true, record, record_path))
        because = "the real root's record of it does not match it";
      if (because == NULL)
        {
          note.state = BOOT_NOTE_KEPT;
          note_write (&note);
          matched = true;
        }
      else
        {
          if (on)
            sweep ();
          free (record);
          return give_back (&note, because);
        }
    }
  if (!on)
    {
      free (record);
      return 0;
    }
  sweep ();
  if (r <= 0 || (!matched && !identity_matches (opts.name, true, record, record_path)))
    {
      free (record);
      return 0;
    }
  r = bind_device (record_path);
  free (record);
  return r;
}
