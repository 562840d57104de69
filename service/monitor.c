/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "monitor.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <libudev.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"
#include "names.h"

struct Monitor {
  Model *model;
  struct udev *udev;
  struct udev_monitor *devices;
  int mounts_fd, swaps_fd, links_fd;
  guint watches[4];
};

/* ---- device events ------------------------------------------------------ */

gboolean
monitor_events_lost (int errsv)
{
  /* ENOBUFS: the kernel dropped messages because the socket's buffer was
   * full (a burst of hotplug): any of them may have been a removal or an
   * addition, so nothing kept is known to be true any more */
  if (errsv == ENOBUFS)
    {
      g_warning ("Device events overflowed (%s): dropping everything kept of devices; "
                 "it is read again",
                 g_strerror (errsv));
      return TRUE;
    }
  /* a message we could not take (malformed, or from a sender we do not
   * trust) is not lost news of ours; but if one of ours was, the safe
   * side is again to forget */
  if (errsv != EAGAIN && errsv != EWOULDBLOCK && errsv != EINTR && errsv != 0)
    {
      g_debug ("Receiving a device event failed: %s; dropping what is kept", g_strerror (errsv));
      return TRUE;
    }
  return FALSE;
}

static gboolean
on_device_event (gint fd, GIOCondition condition, gpointer user_data)
{
  Monitor *self = user_data;

  for (;;)
    {
      struct udev_device *dev;
      const char *subsystem, *action, *sysname;

      errno = 0;
      dev = udev_monitor_receive_device (self->devices);
      if (dev == NULL)
        {
          int errsv = errno;
          if (monitor_events_lost (errsv))
            model_events_lost (self->model);
          /* after ENOBUFS the socket goes on: read what came after */
          if (errsv == ENOBUFS)
            continue;
          break;
        }
      subsystem = udev_device_get_subsystem (dev);
      action = udev_device_get_action (dev);
      sysname = udev_device_get_sysname (dev);
      if (action && subsystem)
        {
          g_debug ("uevent %s %s %s", action, subsystem, sysname ? sysname : "?");
          model_device_event (self->model, action, subsystem, sysname);
        }
      udev_device_unref (dev);
    }
  return G_SOURCE_CONTINUE;
}

static void
watch_devices (Monitor *self)
{
  /* and the subsystems of device nodes whose coming and going says the
   * host needs a device (probe.h): a keyboard plugged into a USB port */
  static const char *const subsystems[] = { "pci", "block",    "net",   "virtio", "input",
                                            "drm", "graphics", "sound", "usb",    "hidraw" };
  const char *group = access (VFIOD_UDEV_CONTROL, F_OK) == 0 ? "udev" : "kernel";
  int r = 0;

  self->udev = udev_new ();
  if (self->udev)
    self->devices = udev_monitor_new_from_netlink (self->udev, group);
  if (self->devices == NULL)
    {
      g_warning ("Cannot listen to device events: devices are read whole on every call and "
                 "the objects change only after vfiod's own work");
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (subsystems) && r >= 0; i++)
    r = udev_monitor_filter_add_match_subsystem_devtype (self->devices, subsystems[i], NULL);
  if (r >= 0)
    r = udev_monitor_enable_receiving (self->devices);
  if (r < 0)
    {
      g_warning ("Cannot listen to device events (%s): devices are read whole on every call "
                 "and the objects change only after vfiod's own work",
                 g_strerror (-r));
      g_clear_pointer (&self->devices, udev_monitor_unref);
      return;
    }
  g_debug ("Listening to %s device events", group);
  model_set_tracking (self->model, TRUE);
  self->watches[0] =
      g_unix_fd_add (udev_monitor_get_fd (self->devices), G_IO_IN, on_device_event, self);
}

/* ---- news not handed on yet -------------------------------------------- */

gboolean
monitor_news_waiting (Monitor *self)
{
  struct pollfd fds[4];
  nfds_t n = 0;

  if (self->devices)
    fds[n++] = (struct pollfd){ .fd = udev_monitor_get_fd (self->devices), .events = POLLIN };
  if (self->links_fd >= 0)
    fds[n++] = (struct pollfd){ .fd = self->links_fd, .events = POLLIN };
  if (self->mounts_fd >= 0)
    fds[n++] = (struct pollfd){ .fd = self->mounts_fd, .events = POLLPRI };
  if (self->swaps_fd >= 0)
    fds[n++] = (struct pollfd){ .fd = self->swaps_fd, .events = POLLPRI };
  /* a failed poll is doubt: read again */
  return n > 0 && poll (fds, n, 0) != 0;
}

/* ---- mounts and swaps ---------------------------------------------------- */

static gboolean
on_table_changed (gint fd, GIOCondition condition, gpointer user_data)
{
  Monitor *self = user_data;

  /* poll() itself takes note that this change was seen: nothing to read */
  g_debug ("%s changed", fd == self->mounts_fd ? VFIOD_PROC_MOUNTINFO : VFIOD_PROC_SWAPS);
  model_host_changed (self->model);
  return G_SOURCE_CONTINUE;
}

/* /proc/self/mountinfo and /proc/swaps raise POLLPRI (and POLLERR) on
 * a change since the last poll. */
static int
watch_table (Monitor *self, const char *path, guint *watch)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      g_warning ("Cannot watch %s (%s): in-use reasons from it change on the next other event",
                 path, g_strerror (errno));
      return -1;
    }
  *watch = g_unix_fd_add (fd, G_IO_PRI | G_IO_ERR, on_table_changed, self);
  return fd;
}

/* ---- links and addresses ----------------------------------------------- */

static gboolean
on_links_changed (gint fd, GIOCondition condition, gpointer user_data)
{
  Monitor *self = user_data;
  char buf[8192];
  gboolean any = FALSE;

  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        {
          any = TRUE;
          continue;
        }
      /* ENOBUFS: some were lost; any of them is a change */
      if (n < 0 && errno == ENOBUFS)
        {
          any = TRUE;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      break;
    }
  if (any)
    {
      g_debug ("Network links or addresses changed");
      model_host_changed (self->model);
    }
  return G_SOURCE_CONTINUE;
}

static int
watch_links (Monitor *self)
{
  struct sockaddr_nl sa = {
    .nl_family = AF_NETLINK,
    .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
  };
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      g_warning ("Cannot watch network links (%s): interfaces' reasons change on the next "
                 "other event",
                 g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  self->watches[3] = g_unix_fd_add (fd, G_IO_IN, on_links_changed, self);
  return fd;
}

/* ---- life ----------------------------------------------------------------- */

Monitor *
monitor_new (Model *model)
{
  Monitor *self = g_new0 (Monitor, 1);

  self->model = model;
  watch_devices (self);
  self->mounts_fd = watch_table (self, VFIOD_PROC_MOUNTINFO, &self->watches[1]);
  self->swaps_fd = watch_table (self, VFIOD_PROC_SWAPS, &self->watches[2]);
  self->links_fd = watch_links (self);
  return self;
}

void
monitor_free (Monitor *self)
{
  if (self == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (self->watches); i++)
    if (self->watches[i])
      g_source_remove (self->watches[i]);
  if (self->devices)
    {
      model_set_tracking (self->model, FALSE);
      udev_monitor_unref (self->devices);
    }
  if (self->udev)
    udev_unref (self->udev);
  if (self->mounts_fd >= 0)
    close (self->mounts_fd);
  if (self->swaps_fd >= 0)
    close (self->swaps_fd);
  if (self->links_fd >= 0)
    close (self->links_fd);
  g_free (self);
}
