/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "monitor.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <libudev.h>
#include <string.h>

#include "sysfs.h"

struct Monitor {
  struct udev *udev;
  struct udev_monitor *monitor;
  guint watch;
};

void
monitor_receive_failed (int errsv)
{
  /* ENOBUFS: the kernel dropped messages because the socket's buffer was
   * full (a burst of hotplug): any of them may have been a removal or an
   * addition, so nothing kept is known to be true any more */
  if (errsv == ENOBUFS)
    {
      g_warning ("The kernel's device events overflowed (%s): dropping everything kept "
                 "of devices; it is read again", g_strerror (errsv));
      sysfs_cache_invalidate (TRUE, TRUE);
    }
  else if (errsv != EAGAIN && errsv != EWOULDBLOCK && errsv != EINTR && errsv != 0)
    {
      /* a message we could not take (malformed, or from a sender we do
       * not trust) is not lost news of ours; but if one of ours was, the
       * safe side is again to forget */
      g_debug ("Receiving a device event failed: %s; dropping what is kept", g_strerror (errsv));
      sysfs_cache_invalidate (TRUE, TRUE);
    }
}

static gboolean
on_event (gint fd, GIOCondition condition, gpointer user_data)
{
  Monitor *self = user_data;
  struct udev_device *dev;

  for (;;)
    {
      const char *subsystem, *action;

      errno = 0;
      dev = udev_monitor_receive_device (self->monitor);
      if (dev == NULL)
        {
          int errsv = errno;
          monitor_receive_failed (errsv);
          /* after ENOBUFS the socket goes on: read what came after */
          if (errsv == ENOBUFS)
            continue;
          break;
        }
      subsystem = udev_device_get_subsystem (dev);
      action = udev_device_get_action (dev);

      /* bind/unbind/change leave what is cached alone: drivers are never
       * cached, and children come and go with their own add/remove */
      if (action && subsystem &&
          (strcmp (action, "add") == 0 || strcmp (action, "remove") == 0 ||
           strcmp (action, "move") == 0))
        {
          gboolean pci = strcmp (subsystem, "pci") == 0;
          g_debug ("uevent %s %s: dropping cached %s", action, udev_device_get_sysname (dev),
                   pci ? "devices" : "children");
          sysfs_cache_invalidate (pci, TRUE);
        }
      udev_device_unref (dev);
    }
  return G_SOURCE_CONTINUE;
}

Monitor *
monitor_new (void)
{
  Monitor *self = g_new0 (Monitor, 1);
  static const char *const subsystems[] = { "pci", "block", "net", "virtio" };
  int r = 0;

  self->udev = udev_new ();
  if (self->udev)
    self->monitor = udev_monitor_new_from_netlink (self->udev, "kernel");
  if (self->monitor == NULL)
    {
      g_warning ("Cannot listen to the kernel's device events: devices will be re-read on every call");
      monitor_free (self);
      return NULL;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (subsystems) && r >= 0; i++)
    r = udev_monitor_filter_add_match_subsystem_devtype (self->monitor, subsystems[i], NULL);
  if (r >= 0)
    r = udev_monitor_enable_receiving (self->monitor);
  if (r < 0)
    {
      g_warning ("Cannot listen to the kernel's device events (%s): devices will be re-read "
                 "on every call", g_strerror (-r));
      monitor_free (self);
      return NULL;
    }

  sysfs_cache_enable (TRUE);
  self->watch = g_unix_fd_add (udev_monitor_get_fd (self->monitor), G_IO_IN, on_event, self);
  return self;
}

void
monitor_free (Monitor *self)
{
  if (self == NULL)
    return;
  if (self->watch)
    {
      g_source_remove (self->watch);
      sysfs_cache_enable (FALSE);
    }
  if (self->monitor)
    udev_monitor_unref (self->monitor);
  if (self->udev)
    udev_unref (self->udev);
  g_free (self);
}
