/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "monitor.h"

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

static gboolean
on_event (gint fd, GIOCondition condition, gpointer user_data)
{
  Monitor *self = user_data;
  struct udev_device *dev;

  while ((dev = udev_monitor_receive_device (self->monitor)) != NULL)
    {
      const char *subsystem = udev_device_get_subsystem (dev);
      const char *action = udev_device_get_action (dev);

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
