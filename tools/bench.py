#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfiod's benchmark: prints figures, asserts nothing.

On a static tree (plain files bind-mounted over /sys in a private mount
namespace: no FUSE in the read path) of a generated machine with N PCI
devices (default 4096), with the real daemon on a private bus:
  - median and p99 latency of GetGroup and of Peer.Ping, and their ratio
  - round-trip time of ListDevices
  - whole-process time of `vfioctl --json list` beside `lspci -Dnnk`
  - the daemon's RSS, and its wake-ups per second while idle
  - the daemon's RSS on a small machine (53 devices) too
Then on the simulator (FUSE, announcing its changes as udevd would) of
the same machine:
  - signal latency: from another writer's unbind (the uevent) to the
    PropertiesChanged a subscriber receives, and from a mount below a
    disk (mountinfo's POLLPRI) to the InUse change

    tools/bench [N]
"""

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
os.environ.setdefault('VFIOD_BUILD_DIR', os.path.join(ROOT, 'build'))

import harness  # noqa: E402
from vfiosim import Sim, export  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

harness.enter_namespaces()
BUILD = os.environ['VFIOD_BUILD_DIR']
N = int(sys.argv[1]) if len(sys.argv) > 1 else 4096


class StaticTree:
    """The simulator's tree exported as plain files, over /sys."""

    def __init__(self, topology, workdir, binary, substitute=None):
        self.topology, self.workdir, self.binary = topology, workdir, binary

    def start(self):
        self.tree = os.path.join(self.workdir, 'tree')
        export(self.topology, self.tree, self.binary)
        subprocess.check_call(['mount', '--bind', self.tree, '/sys'])

    def stop(self):
        subprocess.call(['umount', '-l', '/sys'])

    def audit(self):
        return []


def wall(argv, runs=15, env=None):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def task_switches(pid):
    """{thread id: context switches so far}"""
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        total = 0
        try:
            with open('/proc/%d/task/%s/status' % (pid, tid)) as f:
                for line in f:
                    if line.startswith(('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches')):
                        total += int(line.split()[1])
        except FileNotFoundError:
            continue  # ended meanwhile
        out[tid] = total
    return out


def wakeups(before, after):
    """Context switches between two task_switches() snapshots: of threads
    in both, plus all of those that began; and how many threads ended
    (a worker thread the pool lets go after it idled: once, not a rate)."""
    total = sum(after[t] - before.get(t, 0) for t in after)
    return total, len(set(before) - set(after))


def rollup_kib(pid):
    """Private (USS) and proportional (PSS) memory: RSS counts every page of
    the shared libraries, which on a desktop dozens of processes share."""
    out = {}
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == 'kB':
                out[parts[0].rstrip(':')] = int(parts[1])
    return out.get('Private_Clean', 0) + out.get('Private_Dirty', 0), out.get('Pss', 0)


def print_private(pid):
    uss, pss = rollup_kib(pid)
    print('private (USS)        %6.1f MiB   PSS %.1f MiB (the rest of RSS is pages of shared '
          'libraries other processes map too)' % (uss / 1024, pss / 1024))


def rss_kib(pid, field='VmRSS'):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def main():
    workdir = '/tmp/vfiod-bench'
    os.makedirs(workdir, exist_ok=True)
    topology = os.path.join(workdir, 'machine.json')
    with open(topology, 'w') as f:
        subprocess.check_call(['/usr/bin/python3', os.path.join(ROOT, 'tests', 'topologies', 'gen-large.py'),
                               str(N)], stdout=f)
    with open(topology) as f:
        devices = json.load(f)['devices']
    groups = {}
    for d in devices:
        if d.get('iommu_group') is not None:
            groups.setdefault(d['iommu_group'], []).append(d['address'])
    # a typical assignment target: a multi-function group (GPU + audio)
    target = next(m[0] for m in groups.values() if len(m) >= 2)

    harness.Sim = StaticTree
    print('vfiod benchmark: %d PCI devices in %d IOMMU groups, static tree over /sys' % (len(devices), len(groups)))
    with harness.Stack(topology, polkit=False) as stack:
        pid = stack.daemon.pid
        rss_start = rss_kib(pid)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=stack.address)

        print('\n-- bus calls (sd-bus client, one connection) --', flush=True)
        subprocess.check_call([os.path.join(BUILD, 'tools', 'bench-calls'), target, '2000'], env=env)

        print('\n-- whole process, median of 15 runs --')
        vfioctl = wall([os.path.join(BUILD, 'client', 'vfioctl'), '--json', 'list'], env=env)
        lspci = wall(['lspci', '-Dnnk'])
        print('vfioctl --json list  %7.1f ms' % vfioctl)
        print('lspci -Dnnk          %7.1f ms' % lspci)
        print('vfioctl / lspci: %.2f   (target <= 0.1)' % (vfioctl / lspci))

        print('\n-- the daemon --')
        rss_busy = rss_kib(pid)
        before = task_switches(pid)
        idle = 10
        time.sleep(idle)
        after = task_switches(pid)
        switches, ended = wakeups(before, after)
        print('RSS after start      %6.1f MiB   (target <= 10 MiB)' % (rss_start / 1024))
        print('RSS after the calls  %6.1f MiB   (target <= 10 MiB): anonymous %.1f, files %.1f (shared libraries, hwdb)'
              % (rss_busy / 1024, rss_kib(pid, 'RssAnon') / 1024, rss_kib(pid, 'RssFile') / 1024))
        print_private(pid)
        print('idle wake-ups        %6.2f /s    (context switches of all its threads over %d s; target 0;'
              ' %d idle worker thread(s) ended meanwhile)' % (switches / idle, idle, ended))

    small_rss(workdir)
    openers()

    print('\n-- signal latency, simulator with uevents (FUSE) --', flush=True)
    harness.Sim = Sim
    with harness.Stack(topology, polkit=False, uevents=True) as stack:
        latency(stack, devices)
        pid = stack.daemon.pid
        # the thread pool lets its idle workers go some seconds after the last reading
        time.sleep(20)
        before = task_switches(pid)
        time.sleep(10)
        switches, ended = wakeups(before, task_switches(pid))
        print('idle wake-ups        %6.2f /s    (20 s after the last change, over 10 s: listening to uevents,'
              ' mounts, swaps, links; %d idle worker thread(s) ended)' % (switches / 10, ended))


def small_rss(workdir, n=53):
    """The daemon's RSS on a desktop-sized machine, after a ListDevices and a
    GetGroup of every device."""
    topology = os.path.join(workdir, 'small.json')
    with open(topology, 'w') as f:
        subprocess.check_call(['/usr/bin/python3', os.path.join(ROOT, 'tests', 'topologies', 'gen-large.py'),
                               str(n)], stdout=f)
    with open(topology) as f:
        devices = json.load(f)['devices']
    print('\n-- the daemon on a small machine: %d PCI devices, static tree --' % len(devices), flush=True)
    with harness.Stack(topology, polkit=False) as stack:
        pid = stack.daemon.pid
        rss_start = rss_kib(pid)
        stack.call('ListDevices')
        for d in devices:
            if d.get('iommu_group') is not None:
                stack.call('GetGroup', 's', d['address'])
        print('RSS after start      %6.1f MiB   (target <= 4 MiB)' % (rss_start / 1024))
        print('RSS after the calls  %6.1f MiB   (target <= 4 MiB): anonymous %.1f, files %.1f'
              % (rss_kib(pid) / 1024, rss_kib(pid, 'RssAnon') / 1024, rss_kib(pid, 'RssFile') / 1024))
        print_private(pid)


def openers(runs=200):
    """GetGroup of a group whose members have device nodes (the walk of
    every process's open files) and of one without, on desktop.json."""
    topology = os.path.join(ROOT, 'tests', 'topologies', 'desktop.json')
    processes = sum(1 for p in os.listdir('/proc') if p.isdigit())
    print('\n-- device nodes held open (desktop.json, static tree, %d processes here) --' % processes,
          flush=True)
    with harness.Stack(topology, polkit=False) as stack:
        def median_ms(method, *args):
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                stack.call(method, *args)
                times.append((time.perf_counter() - t) * 1000)
            return percentile(times, 50)
        nodes = median_ms('GetGroup', 's', '0000:01:00.0')
        plain = median_ms('GetGroup', 's', '0000:00:00.0')
        listed = median_ms('ListDevices')
        print('GetGroup, GPU + audio (5 nodes, /proc walk)   %6.2f ms median' % nodes)
        print('GetGroup, host bridge (no nodes, objects)     %6.2f ms median' % plain)
        print('ListDevices (never walks /proc)               %6.2f ms median' % listed)
        print('the walk: %.1f us per process' % ((nodes - plain) * 1000 / max(processes, 1)))


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def latency(stack, devices):
    """Another writer unbinds and re-probes a device 20 times; each time,
    the time from the write's return to the Driver change's arrival."""
    target = next(d for d in devices if d.get('driver') and not d.get('block') and d.get('iommu_group') is not None
                  and d.get('header_type') != 'bridge')
    address, driver = target['address'], target['driver']
    path = '/org/freedesktop/vfio1/device/' + address.replace(':', '_').replace('.', '_')
    arrived = []

    def on_signal(conn, sender, obj, iface, signal, params, data):
        if obj == path and 'Driver' in params[1].keys():
            arrived.append((time.perf_counter(), params[1]['Driver']))

    sub = stack.conn.signal_subscribe('org.freedesktop.vfio1', 'org.freedesktop.DBus.Properties',
                                      'PropertiesChanged', path, None, Gio.DBusSignalFlags.NONE, on_signal, None)
    ctx = GLib.MainContext.default()

    def wait_for(value):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ctx.iteration(False)
            if arrived and arrived[-1][1] == value:
                return arrived[-1][0]
            time.sleep(0.0005)
        raise SystemExit('no signal for %s = %r' % (address, value))

    times = []
    for _ in range(20):
        for attr, value, expect in (('drivers/%s/unbind' % driver, address, ''), ('drivers_probe', address, driver)):
            with open('/sys/bus/pci/' + attr, 'w') as f:
                f.write(value)
            start = time.perf_counter()
            times.append((wait_for(expect) - start) * 1000)
    stack.conn.signal_unsubscribe(sub)
    print('unbind/bind by another writer -> PropertiesChanged: median %.1f ms, p99 %.1f ms, max %.1f ms '
          'over %d changes   (target <= 100 ms)'
          % (statistics.median(times), percentile(times, 99), max(times), len(times)))


main()
