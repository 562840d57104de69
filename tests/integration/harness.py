# SPDX-License-Identifier: LGPL-2.1-or-later
"""The integration-test stack: a simulated sysfs over /sys, a private
system-like dbus-daemon with vfiod's real bus policy, python-dbusmock's
polkitd, the built vfiod, and the built vfioctl.

Every test runs in its own mount and network namespace (see
`enter_namespaces`), so /sys, /proc/swaps and network interfaces can be
replaced without touching the machine.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

SRCDIR = os.environ.get('VFIOD_SOURCE_DIR',
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILDDIR = os.environ.get('VFIOD_BUILD_DIR', os.path.join(SRCDIR, 'build'))


def _unit_umask():
    """UMask= of the unit the build generates (BUILDDIR/dbus-1/vfiod.service)."""
    with open(os.path.join(BUILDDIR, 'dbus-1', 'vfiod.service')) as f:
        for line in f:
            if line.startswith('UMask='):
                return int(line.split('=', 1)[1], 8)
    raise RuntimeError('the generated vfiod.service has no UMask=')


UNIT_UMASK = _unit_umask()
TOPOLOGIES = os.path.join(SRCDIR, 'tests', 'topologies')
sys.path.insert(0, os.path.join(SRCDIR, 'tests', 'sim'))

from vfiosim import Sim  # noqa: E402

BUS_NAME = 'org.freedesktop.vfio1'
OBJECT_PATH = '/org/freedesktop/vfio1'
MANAGER = 'org.freedesktop.vfio1.Manager'
ERROR = 'org.freedesktop.vfio1.Error.'
NOBODY = 65534
HERE = os.path.dirname(os.path.abspath(__file__))
# our own polkitd mock: records every check, per-action allow/challenge/error
POLKIT_TEMPLATE = os.path.join(HERE, 'polkitd_template.py')
POLKIT_BUS_NAME = 'org.freedesktop.PolicyKit1'
POLKIT_PATH = '/org/freedesktop/PolicyKit1/Authority'
MOCK_IFACE = 'org.freedesktop.DBus.Mock'


def enter_namespaces():
    """Re-executes this test in a private mount + network namespace."""
    if os.environ.get('VFIOD_TEST_IN_NS') == '1':
        return
    if os.geteuid() != 0:
        print('integration tests need root (mount namespaces, FUSE, setpriv)', file=sys.stderr)
        sys.exit(77)
    env = dict(os.environ, VFIOD_TEST_IN_NS='1')
    os.execvpe('unshare', ['unshare', '--mount', '--net', '--propagation', 'private', '--',
                           sys.executable] + sys.argv, env)


# vfiod's real policy, plus what the mocks (polkitd) and the test (root) need
TEST_POLICIES = '''<policy context="default">
    <!-- polkitd's own policy lets anybody ask it -->
    <allow send_destination="org.freedesktop.PolicyKit1"/>
    <!-- and logind's (a test may run dbusmock's logind) -->
    <allow send_destination="org.freedesktop.login1"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
    <allow own="org.freedesktop.login1"/>
    <allow send_destination="*"/>
  </policy>
  <include>{policy}</include>'''


def bus_config(socket):
    with open(os.path.join(SRCDIR, 'tests', 'system-bus.conf.in')) as f:
        template = f.read()
    policy = os.path.join(SRCDIR, 'dbus-1', 'org.freedesktop.vfio1.conf')
    return (template.replace('@USER@', '')
            .replace('@LISTEN@', 'unix:path=' + socket)
            .replace('@POLICIES@', TEST_POLICIES.format(policy=policy)))


class Stack:
    """One simulated machine with the whole service stack on it."""

    def __init__(self, topology, substitute=None, polkit=True, swaps=None, polkit_template='polkitd',
                 daemon_env=None, uevents=False):
        self.topology = topology if os.path.isabs(topology) else os.path.join(TOPOLOGIES, topology)
        self.substitute = substitute or {}
        self.want_polkit = polkit
        self.swaps = swaps
        self.polkit_template = polkit_template
        self.daemon_env = dict(daemon_env or {})
        # the simulator announces its changes as udevd would, and the daemon
        # listens to udevd (its control socket exists) instead of the kernel
        self.uevents = uevents
        self._run_udev = False
        self.tmp = tempfile.mkdtemp(prefix='vfiod-test-')
        os.chmod(self.tmp, 0o755)  # unprivileged callers reach the bus socket here
        # persistent assignments: never the machine's /etc/vfiod (made by
        # the daemon with its first record)
        self.persist_dir = os.path.join(self.tmp, 'persistent')
        # the daemon's configuration: never the machine's /etc/vfiod/vfiod.conf
        # (absent unless a test writes it: the defaults)
        self.config_file = os.path.join(self.tmp, 'vfiod.conf')
        # the boot helper's notes of this boot: never the machine's /run/vfiod
        self.notes_dir = os.path.join(self.tmp, 'run', 'vfiod', 'boot-bound')
        # device nodes by their DEVNAME (stand-ins a test process opens) and
        # udev's database: never the machine's /dev and /run/udev/data
        self.dev_dir = os.path.join(self.tmp, 'dev')
        self.udev_data_dir = os.path.join(self.tmp, 'udev-data')
        os.makedirs(self.dev_dir)
        os.makedirs(self.udev_data_dir)
        self.procs = []
        self.sim = None
        self.daemon = None
        self.polkit = None
        self.conn = None

    # ---- lifecycle -------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self.swaps is not None:
            path = os.path.join(self.tmp, 'swaps')
            with open(path, 'w') as f:
                f.write('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' + self.swaps)
            subprocess.check_call(['mount', '--bind', path, '/proc/swaps'])

        if self.uevents:
            os.makedirs('/run/udev', exist_ok=True)
            subprocess.check_call(['mount', '-t', 'tmpfs', 'vfiod-test-udev', '/run/udev'])
            self._run_udev = True
            open('/run/udev/control', 'w').close()
        self.sim = Sim(self.topology, os.path.join(self.tmp, 'sim'),
                       os.path.join(BUILDDIR, 'tests', 'sim', 'vfiosim'),
                       substitute=self.substitute, **({'uevents': True} if self.uevents else {}))
        self.sim.start()

        self.socket = os.path.join(self.tmp, 'system_bus_socket')
        config = os.path.join(self.tmp, 'bus.conf')
        with open(config, 'w') as f:
            f.write(bus_config(self.socket))
        # --print-address answers once the bus listens: no connect race
        bus = self._spawn('dbus-daemon', ['dbus-daemon', '--nofork', '--nosyslog', '--print-address=%d',
                                          '--config-file', config], address_pipe=True)
        if not bus.address_file.readline():
            self.dump_logs()
            raise AssertionError('dbus-daemon did not start')
        self.address = 'unix:path=' + self.socket
        os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

        if self.want_polkit:
            self.polkit = self._spawn('polkitd', ['/usr/bin/python3', '-m', 'dbusmock', '--system',
                                                  '--template', self.polkit_template])
            self._wait(lambda: self._has_owner('org.freedesktop.PolicyKit1'), 'polkitd mock')

        self.start_daemon()

    def start_daemon(self):
        env = dict(os.environ,
                   DBUS_SYSTEM_BUS_ADDRESS=self.address,
                   SYSTEMD_DEVICE_VERIFY_SYSFS='0',
                   STATE_DIRECTORY=os.path.join(self.tmp, 'state'),
                   VFIOD_PERSIST_DIR=self.persist_dir,
                   VFIOD_CONFIG_FILE=self.config_file,
                   VFIOD_BOOT_NOTES_DIR=self.notes_dir,
                   VFIOD_DEV_DIR=self.dev_dir,
                   VFIOD_UDEV_DATA_DIR=self.udev_data_dir,
                   G_MESSAGES_DEBUG='all',
                   ASAN_OPTIONS=os.environ.get('ASAN_OPTIONS', '') or 'detect_leaks=1')
        env.update(self.daemon_env)
        os.makedirs(env['STATE_DIRECTORY'], exist_ok=True)
        # append: a restarted daemon's log follows the first one's
        argv = [os.path.join(BUILDDIR, 'service', 'vfiod')]
        if os.environ.get('VFIOD_VALGRIND'):
            # definite leaks and memory errors make the daemon's SIGTERM
            # exit status non-zero, which stop() reports
            argv = ['valgrind', '--quiet', '--leak-check=full', '--show-leak-kinds=definite',
                    '--errors-for-leak-kinds=definite', '--error-exitcode=66',
                    '--suppressions=' + os.path.join(SRCDIR, 'tests', 'valgrind.supp')] + argv
        # the umask of its unit (UMask=0077 in dbus-1/vfiod.service.in): a file vfiod means
        # others to read must say so itself, whatever umask it runs under
        self.daemon = self._spawn('vfiod', argv, env=env, mode='a', umask=UNIT_UMASK)
        self._wait(lambda: self._has_owner(BUS_NAME), 'vfiod on the bus', proc=self.daemon,
                   timeout=60 if os.environ.get('VFIOD_VALGRIND') else 20)

    def stop_daemon(self, sig=signal.SIGTERM):
        """Stops vfiod; returns its exit status (checked to be clean on SIGTERM)."""
        proc, self.daemon = self.daemon, None
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else 0
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=20)
        finally:
            proc.log.close()

    def stop(self):
        status = 0
        if self.daemon is not None:
            status = self.stop_daemon()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if not proc.log.closed:
                proc.log.close()
        self._close_pipes()
        if self.conn is not None:
            try:
                self.conn.close_sync(None)
            except GLib.Error:
                pass
        if self.sim is not None:
            self.sim.stop()
        if self.swaps is not None:
            subprocess.call(['umount', '-l', '/proc/swaps'])
        if self._run_udev:
            subprocess.call(['umount', '-l', '/run/udev'])
        failed = status != 0 or os.environ.get('VFIOD_TEST_KEEP')
        if failed:
            self.dump_logs()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if status != 0:
            raise AssertionError('vfiod exited with status %d on SIGTERM (sanitizer report or crash?)' % status)

    def host_changed(self):
        """News as the host makes it: a file system mounted and unmounted
        in the test's mount namespace (the daemon's too).  vfiod answers
        GetGroup, ListDevices and ExplainGroup from its objects while no
        news is waiting; a test that changes the simulator behind its back
        (no uevent, as no kernel would) calls this before such a read, and
        the daemon reads the machine again first."""
        where = os.path.join(self.tmp, 'news')
        os.makedirs(where, exist_ok=True)
        subprocess.check_call(['mount', '-t', 'tmpfs', 'vfiod-test-news', where])
        subprocess.check_call(['umount', where])

    def _close_pipes(self):
        for proc in self.procs:
            if getattr(proc, 'address_file', None):
                proc.address_file.close()

    def dump_logs(self):
        for name in ('vfiod', 'dbus-daemon', 'polkitd'):
            path = os.path.join(self.tmp, name + '.log')
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    text = f.read()
                if text.strip():
                    sys.stderr.write('---- %s ----\n%s\n' % (name, text[-6000:]))

    def _spawn(self, name, argv, env=None, address_pipe=False, mode='w', umask=-1):
        log = open(os.path.join(self.tmp, name + '.log'), mode)
        if address_pipe:
            rfd, wfd = os.pipe()
            argv = [a % wfd if '%d' in a else a for a in argv]
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ,
                                    pass_fds=[wfd])
            os.close(wfd)
            proc.address_file = os.fdopen(rfd)
        else:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ,
                                    umask=umask)
        proc.log = log
        self.procs.append(proc)
        return proc

    def _wait(self, cond, what, timeout=20, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if proc is not None and proc.poll() is not None:
                self.dump_logs()
                raise AssertionError('%s: process exited with %d' % (what, proc.returncode))
            time.sleep(0.02)
        self.dump_logs()
        raise AssertionError('timed out waiting for ' + what)

    def _has_owner(self, name):
        if self.conn is None:
            return False
        reply = self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                    'NameHasOwner', GLib.Variant('(s)', (name,)), None,
                                    Gio.DBusCallFlags.NONE, -1, None)
        return reply.unpack()[0]

    # ---- calling the service ---------------------------------------------
    def call(self, method, signature=None, *args, timeout_ms=30000, flags=Gio.DBusCallFlags.NONE,
             interface=MANAGER):
        params = GLib.Variant('(%s)' % signature, args) if signature else None
        reply = self.conn.call_sync(BUS_NAME, OBJECT_PATH, interface, method, params, None,
                                    flags, timeout_ms, None)
        return reply.unpack()

    def call_error(self, method, signature=None, *args, **kw):
        """Calls and expects a D-Bus error; returns (name, message)."""
        try:
            self.call(method, signature, *args, **kw)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            prefix = 'GDBus.Error:%s: ' % name
            message = e.message[len(prefix):] if e.message.startswith(prefix) else e.message
            return name, message
        raise AssertionError('%s(%r) succeeded, an error was expected' % (method, args))

    def get_group(self, device):
        return self.call('GetGroup', 's', device)

    def list_devices(self):
        return self.call('ListDevices')[0]

    def introspect(self):
        return self.call('Introspect', interface='org.freedesktop.DBus.Introspectable')[0]

    def vfioctl(self, *args, uid=None, check=None):
        """Runs the built vfioctl; returns the CompletedProcess."""
        argv = [os.path.join(BUILDDIR, 'client', 'vfioctl')] + list(args)
        if uid is not None:
            argv = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups'] + argv
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, LC_ALL='C.UTF-8')
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                              timeout=120)
        if check is not None and proc.returncode != check:
            raise AssertionError('vfioctl %s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s' % (
                ' '.join(args), proc.returncode, check, proc.stdout, proc.stderr))
        return proc

    def vfioctl_json(self, *args, uid=None):
        return json.loads(self.vfioctl('--json', *args, uid=uid, check=0).stdout)

    # ---- the daemon's life, kept state ------------------------------------
    @property
    def state_directory(self):
        return os.path.join(self.tmp, 'state')

    def restart_daemon(self, sig=signal.SIGTERM):
        """Stops vfiod with @sig (SIGKILL: no clean-up at all) and starts
        it again on the same STATE_DIRECTORY; returns the old exit status."""
        status = self.stop_daemon(sig)
        self.start_daemon()
        return status

    # ---- callers as another uid --------------------------------------------
    def call_as(self, uid, method, signature=None, *args, interactive=False, timeout=60, **fds):
        """Calls a Manager method from a separate process running as @uid
        (setpriv), with the allow-interactive-authorization flag when
        @interactive.  Returns {'sender': unique name, 'reply': [...]} or
        {'sender', 'error': D-Bus error name, 'message'}."""
        argv = ['/usr/bin/python3', os.path.join(HERE, 'caller.py'),
                json.dumps(dict({'method': method, 'signature': signature, 'args': list(args),
                                 'interactive': interactive}, **fds))]
        if uid != 0:
            argv = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups'] + argv
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                              timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError('caller.py as uid %d failed (%d): %s' % (uid, proc.returncode, proc.stderr))
        return json.loads(proc.stdout)

    # ---- the polkitd mock (POLKIT_TEMPLATE) ---------------------------------
    def polkit_mock(self, method, signature=None, *args):
        """Calls a method of the polkitd mock's org.freedesktop.DBus.Mock
        interface (SetAllowed, SetChallenge, SetError, SetDelay, ...)."""
        params = GLib.Variant('(%s)' % signature, args) if signature else None
        reply = self.conn.call_sync(POLKIT_BUS_NAME, POLKIT_PATH, MOCK_IFACE, method, params, None,
                                    Gio.DBusCallFlags.NONE, 10000, None)
        return reply.unpack()

    def polkit_calls(self):
        """Every CheckAuthorization the mock answered or holds, in order."""
        return json.loads(self.polkit_mock('GetCalls')[0])


def by_address(devices):
    return {d['address']: d for d in devices}


def main():
    """Runs one test case (argv[1], e.g. TestRead.test_list) or, with
    --list, prints the names of all cases of the calling module."""
    enter_namespaces() if '--list' not in sys.argv else None
    module = sys.modules['__main__']
    loader = unittest.TestLoader()
    if '--list' in sys.argv:
        suite = loader.loadTestsFromModule(module)
        for group in suite:
            for case in group:
                print(case.id().split('.', 1)[1])
        return
    suite = loader.loadTestsFromNames(sys.argv[1:], module) if len(sys.argv) > 1 \
        else loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
