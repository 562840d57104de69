# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drive the simulated PCI sysfs (vfiosim) from Python tests and benchmarks.

    with Sim('plugin-nic', workdir, binary) as sim:   # inside unshare -m --propagation private
        sim.fail('e1000e/unbind', 'EBUSY', count=1)
        ... run the daemon against /sys ...
        assert sim.audit() == [('/sys/bus/pci/drivers/e1000e/unbind', '0000:02:00.0\\n', 'EBUSY')]

Standard library only.  See README.md next to this file.
"""

import errno
import os
import select
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOPOLOGIES = os.path.join(os.path.dirname(HERE), 'topologies')
SYSFS = '/sys'

__all__ = ['Sim', 'export', 'topology_path', 'driver_of', 'override_of',
           'group_of', 'vfio_cdev_of', 'exists', 'SimError']


class SimError(Exception):
    pass


def topology_path(topology):
    """A path, or a bare name such as 'plugin-nic' from tests/topologies/."""
    if os.sep in topology or topology.endswith('.json'):
        return os.path.abspath(topology)
    return os.path.join(TOPOLOGIES, topology + '.json')


def _binary(binary):
    binary = binary or os.environ.get('VFIOSIM')
    if not binary:
        raise SimError('no vfiosim binary: pass binary= or set VFIOSIM')
    return os.path.abspath(binary)


def _set_args(substitute):
    args = []
    for name, value in (substitute or {}).items():
        args += ['--set', '%s=%s' % (name, value)]
    return args


def export(topology, directory, binary=None, substitute=None):
    """Write the topology's tree as plain files into directory (no FUSE)."""
    subprocess.run([_binary(binary), '--topology', topology_path(topology),
                    *_set_args(substitute), '--export', directory], check=True)


def _in_private_mount_namespace():
    """True when this process runs in a mount namespace of its own: one its
    parent is not in (as after `unshare -m --propagation private python3 ...`),
    or when the caller vouches for it with VFIOSIM_PRIVATE_NS=1."""
    if os.environ.get('VFIOSIM_PRIVATE_NS') == '1':
        return True
    try:
        return os.readlink('/proc/self/ns/mnt') != os.readlink('/proc/%d/ns/mnt' % os.getppid())
    except OSError:
        return False


def _in_private_net_namespace():
    """True when this process has a network namespace its parent has not
    (`unshare -m -n ...`), or VFIOSIM_PRIVATE_NS=1 vouches for it: uevents
    reach every libudev monitor of the namespace, the host's udev clients
    (NetworkManager, udisks...) included."""
    if os.environ.get('VFIOSIM_PRIVATE_NS') == '1':
        return True
    try:
        return os.readlink('/proc/self/ns/net') != os.readlink('/proc/%d/ns/net' % os.getppid())
    except OSError:
        return False


def _unescape(s):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == '\\' and i + 1 < len(s):
            n = s[i + 1]
            if n == 'n':
                out.append('\n')
            elif n == 't':
                out.append('\t')
            elif n == '\\':
                out.append('\\')
            elif n == 'x':
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 2
            else:
                out.append(n)
            i += 2
            continue
        out.append(c)
        i += 1
    return ''.join(out)


def _word(s):
    """One control-file token: blanks, control bytes and backslashes as \\xNN."""
    return ''.join('\\x%02x' % ord(c) if c.isspace() or c == '\\' or ord(c) < 0x20 or ord(c) == 0x7f
                   else c for c in s)


# ---- read helpers: the sim's state as any program sees it through /sys ----

def driver_of(address, sysfs=SYSFS):
    """The bound driver's name, or None."""
    try:
        return os.path.basename(os.readlink(
            os.path.join(sysfs, 'bus/pci/devices', address, 'driver')))
    except FileNotFoundError:
        return None


def override_of(address, sysfs=SYSFS):
    """driver_override, or None when unset (reads back "(null)")."""
    with open(os.path.join(sysfs, 'bus/pci/devices', address, 'driver_override')) as f:
        value = f.read().rstrip('\n')
    return None if value == '(null)' else value


def group_of(address, sysfs=SYSFS):
    """The IOMMU group number, or None."""
    try:
        return int(os.path.basename(os.readlink(
            os.path.join(sysfs, 'bus/pci/devices', address, 'iommu_group'))))
    except FileNotFoundError:
        return None


def vfio_cdev_of(address, sysfs=SYSFS):
    """The VFIO device cdev's name ('vfio3'), or None (not on vfio-pci, or
    the topology has no "vfio_device_cdev")."""
    try:
        names = os.listdir(os.path.join(sysfs, 'bus/pci/devices', address, 'vfio-dev'))
    except FileNotFoundError:
        return None
    return names[0] if names else None


def exists(address, sysfs=SYSFS):
    return os.path.lexists(os.path.join(sysfs, 'bus/pci/devices', address))


class Sim:
    """vfiosim serving a topology on workdir/mnt, control dir workdir/ctl.

    start() bind-mounts the FUSE mount over /sys: call it only inside
    `unshare -m --propagation private` (it refuses when its parent process
    shares its mount namespace, unless VFIOSIM_PRIVATE_NS=1).  bind=False leaves /sys alone (use .mnt then).
    uevents=True: the server sends libudev-format uevents to the "udev"
    netlink group of this network namespace (run it in a private one:
    `unshare -m -n ...`).
    """

    def __init__(self, topology, workdir, binary=None, substitute=None,
                 bind=True, ready_timeout=10, uevents=False):
        self.topology = topology_path(topology)
        self.workdir = os.path.abspath(workdir)
        self.binary = _binary(binary)
        self.substitute = dict(substitute or {})
        self.bind = bind
        self.uevents = uevents
        self.ready_timeout = ready_timeout
        self.mnt = os.path.join(self.workdir, 'mnt')
        self.ctl = os.path.join(self.workdir, 'ctl')
        self.log = os.path.join(self.workdir, 'vfiosim.log')
        self.audit_log = os.path.join(self.ctl, 'audit.log')
        self.sysfs = SYSFS if bind else self.mnt
        self.proc = None
        self.returncode = None
        self._bound = False
        self._seq = 0

    # ---- life cycle ----

    def start(self):
        if self.bind and not _in_private_mount_namespace():
            raise SimError('refusing to mount over /sys in a shared mount namespace: run '
                           '`unshare -m --propagation private /usr/bin/python3 ...` (or set '
                           'VFIOSIM_PRIVATE_NS=1 when a wrapper shell made the namespace)')
        if self.uevents and not _in_private_net_namespace():
            raise SimError('refusing to send uevents in a shared network namespace (the host\'s '
                           'udev clients would act on them): run `unshare -m -n --propagation private '
                           '/usr/bin/python3 ...` (or set VFIOSIM_PRIVATE_NS=1 when a wrapper made both)')
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.ctl, exist_ok=True)
        cmd = [self.binary, '--topology', self.topology, *_set_args(self.substitute),
               '--die-with-parent', *(['--uevents'] if self.uevents else []),
               '--control', self.ctl, self.mnt]
        with open(self.log, 'ab') as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
            if self.bind:
                subprocess.run(['mount', '--bind', self.mnt, SYSFS], check=True)
                self._bound = True
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        buf = b''
        fd = self.proc.stdout.fileno()
        while b'ready\n' not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimError('vfiosim not ready after %ss: %s' % (self.ready_timeout, self._log_tail()))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait()
                    raise SimError('vfiosim exited (%s): %s' % (self.proc.returncode, self._log_tail()))
                buf += chunk

    def _log_tail(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()[-4000:].strip()
        except OSError:
            return ''

    def stop(self):
        """Tear down; returns the server's exit status (None if never started)."""
        status = None
        if self._bound:
            subprocess.run(['umount', '-l', SYSFS], check=False)
            self._bound = False
        if self.proc:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            status = self.returncode = self.proc.returncode
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None
        # A dead server leaves a dead mount behind.
        subprocess.run(['umount', '-l', self.mnt], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return status

    def problems(self):
        """Why the server's run looks wrong (sanitizer reports, a bad exit), or ''."""
        log = self._log_tail()
        for marker in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:'):
            if marker in log:
                return 'vfiosim reported %s:\n%s' % (marker, log)
        if self.returncode not in (None, 0):
            return 'vfiosim exited with %s:\n%s' % (self.returncode, log)
        return ''

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            problem = self.problems()
            if problem:
                raise SimError(problem)
        return False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # ---- audit log ----

    def audit(self):
        """Every write so far: [(path under /sys, data, 0 or errno name)]."""
        out = []
        try:
            with open(self.audit_log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            path, data, err = line.split('\t')
            out.append((os.path.join(SYSFS, path), _unescape(data), 0 if err == '0' else err))
        return out

    def clear_audit(self):
        with open(self.audit_log, 'w'):
            pass

    # ---- control: each call is one batch, applied before the next operation ----

    def control(self, *lines):
        self._seq += 1
        tmp = os.path.join(self.ctl, '.control.%d.tmp' % self._seq)
        with open(tmp, 'w') as f:
            f.write(''.join(line + '\n' for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.ctl, 'control'))
        # Any operation applies the batch; do one now so commands such as
        # "remove" have happened when this returns.
        os.listdir(self.mnt)

    @staticmethod
    def _data(data):
        if data is None:
            return ''
        data = data.rstrip('\n')
        if not data:
            raise ValueError('data to match must not be empty')
        return ' ' + _word(data)

    def fail(self, path_suffix, errno_name, count=None, data=None):
        """Writes to a path ending in path_suffix fail with errno_name
        (e.g. 'EBUSY'), count times (None: until clear_faults()), before
        they take effect.  data: only writes of that word."""
        if not hasattr(errno, errno_name):
            raise ValueError('unknown errno %s' % errno_name)
        self.control('fail %s %s %s%s' % (_word(path_suffix), errno_name,
                                          '*' if count is None else int(count), self._data(data)))

    def delay(self, path_suffix, ms, data=None):
        """Writes to path_suffix sleep ms milliseconds before acting."""
        self.control('delay %s %d%s' % (_word(path_suffix), int(ms), self._data(data)))

    def remove(self, address):
        """Hot-remove a device (and what is below it) now."""
        self.control('remove %s' % address)

    def add(self, address):
        """Re-plug a hot-removed device (and what was removed with it) as a
        rescan finds it: links and group back, drivers probe it, uevents
        "add" then "bind"."""
        self.control('add %s' % address)

    def uevent(self, address, action):
        """Send one uevent (e.g. 'change') for a present device, nothing else."""
        self.control('uevent %s %s' % (address, action))

    def remove_on_write(self, path_suffix, address, data=None):
        """Hot-remove address when a write to path_suffix happens (once);
        the write itself then runs against the removed device."""
        self.control('remove-on-write %s %s%s' % (_word(path_suffix), address, self._data(data)))

    def load(self, driver):
        """Load a driver (e.g. vfio-pci): its directory appears and it
        binds the unbound devices it matches."""
        self.control('load %s' % _word(driver))

    def fail_read(self, path_suffix, errno_name, count=None):
        """Reads of a path ending in path_suffix fail with errno_name, count
        times (None: until clear_faults()): read() of an attribute (open
        works), readlink() of a link (so also paths through it), readdir()
        of a directory."""
        if not hasattr(errno, errno_name):
            raise ValueError('unknown errno %s' % errno_name)
        self.control('fail-read %s %s %s' % (_word(path_suffix), errno_name,
                                             '*' if count is None else int(count)))

    def divert(self, address, driver=None, count=1):
        """The next count drivers_probe writes of address (unbound) bind
        driver (None: nothing) instead of what the kernel's rules pick,
        and still succeed: a probe that quietly picked another driver.
        count None: until clear_faults()."""
        self.control('divert %s %s %s' % (address, 'none' if driver is None else _word(driver),
                                          '*' if count is None else int(count)))

    def block(self, path_suffix, data=None):
        """Writes to path_suffix (of that word only, with data) wait, without
        holding anything else up, until release(): a driver stuck in its
        remove().  Then they act normally."""
        self.control('block %s%s' % (_word(path_suffix), self._data(data)))

    def block_read(self, path_suffix):
        """Reads of a path ending in path_suffix (read() of an attribute,
        readlink() of a link, readdir() of a directory) wait, without holding
        anything else up, until release(): a kernel read that sleeps (a
        config space read waking a suspended device).  They show in
        blocked() with empty data."""
        self.control('block-read %s' % _word(path_suffix))

    def release(self, path_suffix=None):
        """Lets the blocked writes (those to path_suffix) go on, and drops
        the block rules (those matching path_suffix)."""
        self.control('release' + ('' if path_suffix is None else ' ' + _word(path_suffix)))

    def blocked(self):
        """The writes blocked now: [(path under /sys, data)]."""
        try:
            with open(os.path.join(self.ctl, 'blocked')) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            path, data = line.split('\t')
            out.append((os.path.join(SYSFS, path), _unescape(data)))
        return out

    def wait_blocked(self, timeout=10):
        """Waits until at least one write is blocked; returns blocked()."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.blocked()
            if got:
                return got
            if time.monotonic() >= deadline:
                raise SimError('no write blocked after %ss' % timeout)
            if self.proc is not None and self.proc.poll() is not None:
                raise SimError('vfiosim exited (%s) while waiting for a blocked write: %s'
                               % (self.proc.returncode, self._log_tail()))
            time.sleep(0.01)

    def clear_faults(self):
        self.control('clear')

    # ---- reads through the sim ----

    def driver_of(self, address):
        return driver_of(address, self.sysfs)

    def override_of(self, address):
        return override_of(address, self.sysfs)

    def group_of(self, address):
        return group_of(address, self.sysfs)

    def vfio_cdev_of(self, address):
        return vfio_cdev_of(address, self.sysfs)

    def exists(self, address):
        return exists(address, self.sysfs)
