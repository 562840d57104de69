/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sysfs.h"
#include "util.h"
#include "vfiod-names.h"

gboolean
vfio_load (char **message)
{
  const char *modprobe = g_getenv ("VFIOD_MODPROBE");
  const char *argv[] = { modprobe && *modprobe ? modprobe : "modprobe", "-q",
                         VFIOD_MODULE_VFIO_PCI, NULL };
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

/* Processes with a file descriptor on @path, from /proc. */
static void
find_holders (const char *path, GString *out)
{
  DIR *proc = opendir ("/proc");
  struct dirent *de;

  if (proc == NULL)
    return;
  while ((de = readdir (proc)) != NULL)
    {
      char fddir[PATH_MAX], target[PATH_MAX];
      DIR *fds;
      struct dirent *fd;
      gboolean holds = FALSE;

      if (!g_ascii_isdigit (de->d_name[0]) || (pid_t) atoi (de->d_name) == getpid ())
        continue;
      snprintf (fddir, sizeof fddir, "/proc/%s/fd", de->d_name);
      fds = opendir (fddir);
      if (fds == NULL)
        continue;
      while (!holds && (fd = readdir (fds)) != NULL)
        {
          ssize_t n;

          n = readlinkat (dirfd (fds), fd->d_name, target, sizeof target - 1);
          if (n > 0)
            {
              target[n] = '\0';
              holds = strcmp (target, path) == 0;
            }
        }
      closedir (fds);

      if (holds)
        {
          g_autofree char *comm = NULL;
          char comm_path[PATH_MAX];

          snprintf (comm_path, sizeof comm_path, "/proc/%s/comm", de->d_name);
          if (g_file_get_contents (comm_path, &comm, NULL, NULL))
            g_strchomp (comm);
          g_string_append_printf (out, "%spid %s (%s)", out->len ? ", " : "", de->d_name,
                                  comm ? comm : "?");
        }
    }
  closedir (proc);
}

char *
vfio_group_holders (uint32_t group)
{
  g_autoptr (GString) out = g_string_new (NULL);
  char path[PATH_MAX];
  _cleanup_fd_ int fd = -1;

  snprintf (path, sizeof path, VFIOD_DEV_VFIO_DIR "/%u", group);
  find_holders (path, out);
  if (out->len)
    return g_string_free (g_steal_pointer (&out), FALSE);

  /* A holder in another pid namespace is invisible in /proc, but the
   * kernel lets one opener at a time have a group: ask it.  O_NONBLOCK:
   * never wait on the group. */
  fd = open (path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == EBUSY)
    return g_strdup ("a process vfiod cannot see (another container?)");
  return NULL;
}
