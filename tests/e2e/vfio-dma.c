/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfio-dma: what a VMM does with a VFIO group, step by step, for the e2e
 * guest (run as an unprivileged user there).  Not installed.
 *
 *   vfio-dma [--fd-env] [--map-mib N] GROUP DEVICE
 *
 * Opens /dev/vfio/vfio; opens /dev/vfio/GROUP by path (or, with --fd-env,
 * takes the fd number in $VFIOD_GROUP_FD_<GROUP>, as `vfioctl run --fd-env`
 * passes it); VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER,
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU), VFIO_GROUP_GET_DEVICE_FD(DEVICE),
 * VFIO_DEVICE_GET_INFO; mmaps N MiB (default 128) of anonymous memory and
 * VFIO_IOMMU_MAP_DMA's it (type 1 pins it and charges it to this process's
 * RLIMIT_MEMLOCK), then VFIO_IOMMU_UNMAP_DMA.  Stops at the first failure.
 *
 * Prints one JSON line: {"uid", "memlock": [soft, hard], "group", "device",
 * "group_fd": "path" or the variable's name, "steps": {step: "ok" | an errno
 * name | a value, ...}, "failed": the failed step or null, "errno": its errno
 * name or null, "ok"}.  Exit status: 0 every step worked, 1 a step failed,
 * 2 usage.
 */
/* _GNU_SOURCE (strerrorname_np) comes from the project's meson.build */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define IOVA 0x10000000ULL /* 256 MiB: below any reserved MSI window */

static char steps[4096];
static size_t steps_len;

static void
step_add (const char *name, const char *json_value)
{
  int n = snprintf (steps + steps_len, sizeof steps - steps_len, "%s\"%s\":%s",
                    steps_len ? "," : "", name, json_value);
  if (n > 0 && (size_t) n < sizeof steps - steps_len)
    steps_len += (size_t) n;
}

static void
step_ok (const char *name)
{
  step_add (name, "\"ok\"");
}

static const char *
errno_name (int e)
{
  const char *name = strerrorname_np (e);
  static char number[16];

  if (name)
    return name;
  snprintf (number, sizeof number, "%d", e);
  return number;
}

static unsigned long long
rlim_json (rlim_t v)
{
  return v == RLIM_INFINITY ? 0xffffffffffffffffULL : (unsigned long long) v;
}

/* Prints the report; exit status 0 when nothing failed. */
static int
report (unsigned group, const char *device, const char *group_fd, const char *failed, int err)
{
  struct rlimit rl = { 0, 0 };

  (void) getrlimit (RLIMIT_MEMLOCK, &rl);
  printf ("{\"uid\":%u,\"memlock\":[%llu,%llu],\"group\":%u,\"device\":\"%s\","
          "\"group_fd\":\"%s\",\"steps\":{%s},\"failed\":%s%s%s,\"errno\":%s%s%s,\"ok\":%s}\n",
          (unsigned) getuid (), rlim_json (rl.rlim_cur), rlim_json (rl.rlim_max), group, device,
          group_fd, steps, failed ? "\"" : "", failed ? failed : "null", failed ? "\"" : "",
          failed ? "\"" : "", failed ? errno_name (err) : "null", failed ? "\"" : "",
          failed ? "false" : "true");
  fflush (stdout);
  return failed ? 1 : 0;
}

/* Records the failed step with its errno name and reports. */
static int
fail_at (unsigned long group, const char *device, const char *group_fd, const char *name, int e)
{
  char v[48];

  snprintf (v, sizeof v, "\"%s\"", errno_name (e));
  step_add (name, v);
  return report ((unsigned) group, device, group_fd, name, e);
}

#define FAIL(name) return fail_at (group, device, group_fd, name, errno)

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  bool fd_env = false;
  unsigned long map_mib = 128, group;
  const char *device;
  char group_fd[64] = "path", path[64], v[128];
  int container, gfd, dfd, i = 1;
  struct vfio_group_status status = { .argsz = sizeof status };
  struct vfio_device_info info = { .argsz = sizeof info };
  struct vfio_iommu_type1_dma_map map = { .argsz = sizeof map };
  struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof unmap };
  size_t size;
  void *mem;
  double t;

  for (; i < argc && strncmp (argv[i], "--", 2) == 0; i++)
    {
      if (strcmp (argv[i], "--fd-env") == 0)
        fd_env = true;
      else if (strcmp (argv[i], "--map-mib") == 0 && i + 1 < argc)
        map_mib = strtoul (argv[++i], NULL, 10);
      else
        break;
    }
  if (argc - i != 2 || map_mib == 0 || map_mib > 1 << 20)
    {
      fprintf (stderr, "usage: vfio-dma [--fd-env] [--map-mib N] GROUP DEVICE\n");
      return 2;
    }
  group = strtoul (argv[i], NULL, 10);
  device = argv[i + 1];
  size = (size_t) map_mib << 20;
  if (fd_env)
    snprintf (group_fd, sizeof group_fd, "VFIOD_GROUP_FD_%lu", group);

  container = open ("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (container < 0)
    FAIL ("open_container");
  step_ok ("open_container");
  if (ioctl (container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
    {
      errno = EPROTO;
      FAIL ("api_version");
    }
  step_ok ("api_version");
  if (ioctl (container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
    {
      errno = errno ? errno : EOPNOTSUPP;
      FAIL ("check_type1");
    }
  step_ok ("check_type1");

  if (fd_env)
    {
      const char *value;
      char *end;
      long n;

      value = getenv (group_fd);
      errno = 0;
      n = value ? strtol (value, &end, 10) : -1;
      if (!value || *end || n < 0 || fcntl ((int) n, F_GETFD) < 0)
        {
          errno = value ? EBADF : ENOENT;
          FAIL ("open_group");
        }
      gfd = (int) n;
    }
  else
    {
      snprintf (path, sizeof path, "/dev/vfio/%lu", group);
      gfd = open (path, O_RDWR | O_CLOEXEC);
      if (gfd < 0)
        FAIL ("open_group");
    }
  step_ok ("open_group");
  if (ioctl (gfd, VFIO_GROUP_GET_STATUS, &status) < 0)
    FAIL ("group_status");
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
    {
      errno = EPERM;
      FAIL ("group_status");
    }
  step_add ("group_status", "\"viable\"");
  if (ioctl (gfd, VFIO_GROUP_SET_CONTAINER, &container) < 0)
    FAIL ("set_container");
  step_ok ("set_container");
  if (ioctl (container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0)
    FAIL ("set_iommu");
  step_ok ("set_iommu");
  dfd = ioctl (gfd, VFIO_GROUP_GET_DEVICE_FD, device);
  if (dfd < 0)
    FAIL ("get_device_fd");
  step_ok ("get_device_fd");
  if (ioctl (dfd, VFIO_DEVICE_GET_INFO, &info) < 0)
    FAIL ("device_info");
  snprintf (v, sizeof v, "{\"pci\":%s,\"regions\":%u,\"irqs\":%u}",
            info.flags & VFIO_DEVICE_FLAGS_PCI ? "true" : "false", info.num_regions, info.num_irqs);
  step_add ("device_info", v);

  mem = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    FAIL ("mmap");
  snprintf (v, sizeof v, "%lu", map_mib);
  step_add ("mmap_mib", v);
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = (uintptr_t) mem;
  map.iova = IOVA;
  map.size = size;
  t = now ();
  if (ioctl (container, VFIO_IOMMU_MAP_DMA, &map) < 0)
    FAIL ("map_dma");
  step_ok ("map_dma");
  snprintf (v, sizeof v, "%.3f", now () - t);
  step_add ("map_dma_s", v);
  unmap.iova = IOVA;
  unmap.size = size;
  if (ioctl (container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
    FAIL ("unmap_dma");
  if (unmap.size != size)
    {
      errno = EIO;
      FAIL ("unmap_dma");
    }
  step_ok ("unmap_dma");

  munmap (mem, size);
  close (dfd);
  close (gfd);
  close (container);
  return report ((unsigned) group, device, group_fd, NULL, 0);
}
