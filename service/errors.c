/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "errors.h"

#include <errno.h>
#include <glib.h>

#include "vfiod-names.h"

const sd_bus_error_map vfiod_error_map[] = {
  SD_BUS_ERROR_MAP (VFIOD_ERROR_INVALID_ADDRESS, EINVAL),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_NO_SUCH_DEVICE, ENODEV),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_NO_IOMMU_GROUP, ENXIO),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_FAILED, EIO),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_NOT_ASSIGNABLE, EPERM),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_GROUP_NOT_VIABLE, EBUSY),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_DEVICE_IN_USE, EBUSY),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_NOT_DETACHED, EALREADY),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_GROUP_BUSY, EBUSY),
  SD_BUS_ERROR_MAP (VFIOD_ERROR_VFIO_UNAVAILABLE, ENOPKG),
  SD_BUS_ERROR_MAP_END
};

char *
errors_quote_untrusted (const char *text)
{
  g_autofree char *cut = g_utf8_make_valid (text, MIN (strlen (text), 64));
  g_autofree char *escaped = g_strescape (cut, NULL);

  return g_strdup_printf ("\"%s\"%s", escaped, strlen (text) > 64 ? "…" : "");
}
