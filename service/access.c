/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "access.h"

#include <acl/libacl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "util.h"
#include "names.h"

/* ---- nodes ------------------------------------------------------------- */

char *
access_group_node (uint32_t group)
{
  return g_strdup_printf (VFIOD_DEV_VFIO_DIR "/%u", group);
}

char *
access_device_cdev (const char *device)
{
  char path[PATH_MAX];
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  snprintf (path, sizeof path, VFIOD_SYSFS_PCI_DEVICES "/%s/" VFIOD_ATTR_VFIO_DEV, device);
  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    return NULL;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      guint64 number;
      /* the kernel names it vfio<N>; anything else is no node of ours */
      if (g_str_has_prefix (entry, "vfio") &&
          g_ascii_string_to_unsigned (entry + 4, 10, 0, G_MAXINT32, &number, NULL))
        return g_strdup_printf (VFIOD_DEV_VFIO_DEVICES_DIR "/vfio%" G_GUINT64_FORMAT, number);
    }
  return NULL;
}

int
access_open_node (const char *path, int *out)
{
  /* O_NONBLOCK: never wait on the node; the fd handed out is blocking
   * again (the flag is the open file's, shared with the caller) */
  int fd = open (path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  int flags;

  if (fd < 0)
    return -errno;
  flags = fcntl (fd, F_GETFL);
  if (flags >= 0)
    (void) fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
  *out = fd;
  return 0;
}

int
access_open_group (uint32_t group, int *out, bool *viable)
{
  g_autofree char *node = access_group_node (group);
  struct vfio_group_status status = { .argsz = sizeof status };
  _cleanup_fd_ int fd = -1;
  struct stat st;
  int r;

  r = access_open_node (node, &fd);
  if (r < 0)
    return r;
  if (fstat (fd, &st) < 0)
    return -errno;
  if (!S_ISCHR (st.st_mode))
    *viable = true;
  else if (ioctl (fd, VFIO_GROUP_GET_STATUS, &status) < 0)
    return -errno;
  else
    *viable = (status.flags & VFIO_GROUP_FLAGS_VIABLE) != 0;
  *out = fd;
  fd = -1;
  return 0;
}

/* ---- ACL entries ------------------------------------------------------- */

/* Whether @acl's mask (if it has one) lets named users read and write. */
static gboolean
mask_allows_rw (acl_t acl)
{
  acl_entry_t entry;
  int r;

  for (r = acl_get_entry (acl, ACL_FIRST_ENTRY, &entry); r > 0;
       r = acl_get_entry (acl, ACL_NEXT_ENTRY, &entry))
    {
      acl_tag_t tag;
      acl_permset_t permset;

      if (acl_get_tag_type (entry, &tag) < 0 || tag != ACL_MASK)
        continue;
      return acl_get_permset (entry, &permset) == 0 && acl_get_perm (permset, ACL_READ) == 1 &&
             acl_get_perm (permset, ACL_WRITE) == 1;
    }
  return TRUE;
}

/* The ACL entry of user @uid in @acl, or NULL. */
static acl_entry_t
find_user (acl_t acl, uid_t uid)
{
  acl_entry_t entry;
  int r;

  for (r = acl_get_entry (acl, ACL_FIRST_ENTRY, &entry); r > 0;
       r = acl_get_entry (acl, ACL_NEXT_ENTRY, &entry))
    {
      acl_tag_t tag;
      uid_t *qualifier;
      gboolean match;

      if (acl_get_tag_type (entry, &tag) < 0 || tag != ACL_USER)
        continue;
      qualifier = acl_get_qualifier (entry);
      if (qualifier == NULL)
        continue;
      match = *qualifier == uid;
      acl_free (qualifier);
      if (match)
        return entry;
    }
  return NULL;
}

static int
acl_apply (const char *path, acl_t acl)
{
  if (acl_calc_mask (&acl) < 0 || acl_valid (acl) < 0)
    return -errno ? -errno : -EINVAL;
  if (acl_set_file (path, ACL_TYPE_ACCESS, acl) < 0)
    return -errno;
  return 0;
}

int
access_acl_grant (const char *path, uid_t uid)
{
  acl_t acl = acl_get_file (path, ACL_TYPE_ACCESS);
  acl_entry_t entry;
  acl_permset_t permset;
  int r = 0;

  if (acl == NULL)
    return -errno;
  entry = find_user (acl, uid);
  /* there already, exactly so, and in effect: nothing to write (a
   * restart applying its record again changes nothing) */
  if (entry && acl_get_permset (entry, &permset) == 0 && acl_get_perm (permset, ACL_READ) == 1 &&
      acl_get_perm (permset, ACL_WRITE) == 1 && acl_get_perm (permset, ACL_EXECUTE) == 0 &&
      mask_allows_rw (acl))
    {
      acl_free (acl);
      return 0;
    }
  if (entry == NULL &&
      (acl_create_entry (&acl, &entry) < 0 || acl_set_tag_type (entry, ACL_USER) < 0 ||
       acl_set_qualifier (entry, &uid) < 0))
    r = -errno;
  if (r == 0 && (acl_get_permset (entry, &permset) < 0 || acl_clear_perms (permset) < 0 ||
                 acl_add_perm (permset, ACL_READ) < 0 || acl_add_perm (permset, ACL_WRITE) < 0 ||
                 acl_set_permset (entry, permset) < 0))
    r = -errno;
  if (r == 0)
    r = acl_apply (path, acl);
  acl_free (acl);
  return r;
}

int
access_acl_revoke (const char *path, uid_t uid)
{
  acl_t acl = acl_get_file (path, ACL_TYPE_ACCESS);
  acl_entry_t entry;
  int r = 0;

  if (acl == NULL)
    return errno == ENOENT ? 0 : -errno;
  entry = find_user (acl, uid);
  if (entry)
    {
      if (acl_delete_entry (acl, entry) < 0)
        r = -errno;
      else
        r = acl_apply (path, acl);
    }
  acl_free (acl);
  return r;
}

bool
access_acl_has (const char *path, uid_t uid)
{
  acl_t acl = acl_get_file (path, ACL_TYPE_ACCESS);
  bool has;

  if (acl == NULL)
    return false;
  has = find_user (acl, uid) != NULL;
  acl_free (acl);
  return has;
}

/* ---- locked memory --------------------------------------------------- */

/* 0 while the pidfd's process runs, -ESRCH once it has exited: a pidfd
 * becomes readable when its process exits (and stays so). */
static int
pidfd_alive (int pidfd)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  int n;

  do
    n = poll (&p, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  if (p.revents & POLLNVAL)
    return -EBADF;
  return n > 0 && (p.revents & (POLLIN | POLLHUP)) ? -ESRCH : 0;
}

int
access_pidfd_process (int pidfd, pid_t *pid, uid_t uids[4])
{
  char path[64], target[64], *text = NULL;
  g_auto (GStrv) lines = NULL;
  long long number = -2;
  gboolean have_uids = FALSE;
  ssize_t n;
  int r;

  /* a pidfd is an anonymous inode of that name; anything else (a file, a
   * socket, a closed number) is not one */
  snprintf (path, sizeof path, "/proc/self/fd/%d", pidfd);
  n = readlink (path, target, sizeof target - 1);
  if (n < 0)
    return -EBADF;
  target[n] = '\0';
  if (strcmp (target, "anon_inode:[pidfd]") != 0)
    return -EBADF;

  snprintf (path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -EBADF;
  lines = g_strsplit (text, "\n", -1);
  g_free (text);
  for (char **l = lines; *l; l++)
    if (g_str_has_prefix (*l, "Pid:"))
      number = g_ascii_strtoll (g_strstrip (*l + 4), NULL, 10);
  /* -1: it has exited (and been reaped) */
  if (number == -1)
    return -ESRCH;
  if (number <= 0 || number > INT_MAX)
    return -EBADF;
  *pid = (pid_t) number;

  snprintf (path, sizeof path, "/proc/%d/status", *pid);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -ESRCH;
  g_strfreev (lines);
  lines = g_strsplit (text, "\n", -1);
  g_free (text);
  for (char **l = lines; *l; l++)
    if (g_str_has_prefix (*l, "Uid:"))
      {
        unsigned a, b, c, d;
        if (sscanf (*l + 4, "%u %u %u %u", &a, &b, &c, &d) == 4)
          {
            uids[0] = a, uids[1] = b, uids[2] = c, uids[3] = d;
            have_uids = TRUE;
          }
      }
  if (!have_uids)
    return -EBADMSG;
  /* still alive now: the status read was of the pidfd's process, not of
   * one that took its pid after it exited */
  r = pidfd_alive (pidfd);
  return r == -ESRCH ? -ESRCH : r;
}

int
access_raise_memlock (int pidfd, pid_t pid, uint64_t bytes, uint64_t *before, uint64_t *after)
{
  struct rlimit old, new;
  int r;

  if ((r = pidfd_alive (pidfd)) < 0)
    return r;
  if (prlimit (pid, RLIMIT_MEMLOCK, NULL, &old) < 0)
    return -errno;
  *before = old.rlim_cur;
  new.rlim_cur = MAX (old.rlim_cur, (rlim_t) bytes);
  new.rlim_max = MAX (old.rlim_max, (rlim_t) bytes);
  /* a soft limit above the hard one was impossible; keep them ordered */
  new.rlim_max = MAX (new.rlim_max, new.rlim_cur);
  if ((new.rlim_cur != old.rlim_cur || new.rlim_max != old.rlim_max) &&
      prlimit (pid, RLIMIT_MEMLOCK, &new, NULL) < 0)
    return -errno;
  *after = new.rlim_cur;
  /* What remains racy: prlimit() takes a pid, not a pidfd.  The process
   * was alive (pidfd) just before, so its pid was not reused then; if it
   * exited between that check and prlimit() and another process took the
   * pid in that window, that process got the raise.  Raising (never
   * lowering) a memory-lock limit is what the caller was allowed anyway;
   * the window is microseconds and needs a pid wrap-around in it.  The
   * check below at least tells the caller. */
  if ((r = pidfd_alive (pidfd)) < 0)
    return r;
  return 0;
}

char *
access_format_size (uint64_t bytes)
{
  g_autofree char *text = g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
  g_auto (GStrv) parts = g_strsplit (text, "\u00a0", -1);

  /* GLib puts a no-break space between number and unit: plain text here
   * (polkit dialogs, logs, terminals) */
  return g_strjoinv (" ", parts);
}
