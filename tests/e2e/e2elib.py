"""Guest-side helpers for e2e guest scripts (run inside the QEMU guest by /usr/bin/python3).

Guest scripts get PYTHONPATH pointing here, so `import e2elib` works. Everything here talks to the
real kernel (sysfs, /dev/vfio) and starts real daemons; nothing is simulated.
"""

import fcntl
import json
import os
import shutil
import struct
import subprocess
import time

SYS_PCI = "/sys/bus/pci/devices"
GROUPS = "/sys/kernel/iommu_groups"
RESULTS = os.environ.get("E2E_RESULTS", "/e2e/results")
BUILD_DIR = os.environ.get("E2E_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("E2E_SOURCE_DIR", "")
# The boot's kind (run-e2e.py --systemd, --install): systemd is PID 1, and the project was
# installed into the guest's root by `meson install` (prefix /usr) before the script started.
SYSTEMD = os.path.isdir("/run/systemd/system")
INSTALLED = bool(os.environ.get("E2E_INSTALL"))

# <linux/vfio.h>: VFIO_TYPE is ';', VFIO_BASE 100; VFIO_GROUP_GET_STATUS = _IO(';', 103).
VFIO_GROUP_GET_STATUS = (ord(";") << 8) | 103          # 0x3b67
VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1
VFIO_GET_API_VERSION = (ord(";") << 8) | 100            # 0x3b64


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


# ---------------------------------------------------------------------------------------------
# sysfs

def read_attr(addr, name, default=None):
    try:
        with open(os.path.join(SYS_PCI, addr, name)) as f:
            return f.read().strip()
    except OSError:
        return default


def write_sysfs(path, data):
    """One write() of the whole string, as the kernel expects; raises OSError with its errno."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def driver(addr):
    link = os.path.join(SYS_PCI, addr, "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def group_of(addr):
    link = os.path.join(SYS_PCI, addr, "iommu_group")
    return int(os.path.basename(os.readlink(link))) if os.path.islink(link) else None


def pci_devices():
    return sorted(os.listdir(SYS_PCI))


def is_bridge(addr):
    cls = read_attr(addr, "class", "0x000000")
    return int(cls, 16) >> 16 == 0x06 and (int(cls, 16) >> 8) & 0xff in (0x04, 0x09)


def children(addr):
    """PCI functions directly on the secondary bus of the bridge `addr`."""
    real = os.path.realpath(os.path.join(SYS_PCI, addr))
    out = []
    for d in pci_devices():
        if os.path.dirname(os.path.realpath(os.path.join(SYS_PCI, d))) == real:
            out.append(d)
    return sorted(out)


def net_ifaces(addr):
    """Network interfaces of a PCI function (directly or through its virtio device)."""
    out = []
    base = os.path.join(SYS_PCI, addr)
    for sub in [base] + [os.path.join(base, d) for d in os.listdir(base) if d.startswith("virtio")]:
        n = os.path.join(sub, "net")
        if os.path.isdir(n):
            out += os.listdir(n)
    return sorted(out)


def iommu_groups():
    """{group number: [{address, driver, class, vendor, device, bridge, ifaces}]} from the kernel."""
    out = {}
    for g in sorted(os.listdir(GROUPS), key=int):
        devs = []
        for addr in sorted(os.listdir(os.path.join(GROUPS, g, "devices"))):
            devs.append({
                "address": addr,
                "driver": driver(addr),
                "class": read_attr(addr, "class"),
                "vendor": read_attr(addr, "vendor"),
                "device": read_attr(addr, "device"),
                "bridge": is_bridge(addr),
                "ifaces": net_ifaces(addr),
            })
        out[int(g)] = devs
    return out


def lspci_names():
    """address -> name, from lspci (pciutils' own database)."""
    names = {}
    try:
        out = subprocess.run(["lspci", "-D", "-mm"], capture_output=True, text=True).stdout
    except OSError:
        return names
    import shlex
    for line in out.splitlines():
        p = shlex.split(line)
        if len(p) >= 4:
            names[p[0]] = f"{p[2]} {p[3]}"
    return names


# ---------------------------------------------------------------------------------------------
# Binding by hand, the way the kernel expects (used by the smoke test and to set up / check
# states around the daemon in the real tests)

def wait_driver(addr, want, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        d = driver(addr)
        if d == want or time.monotonic() > end:
            return d
        time.sleep(0.05)


def bind_vfio(addr):
    """driver_override=vfio-pci, unbind, drivers_probe; returns the driver read back."""
    write_sysfs(os.path.join(SYS_PCI, addr, "driver_override"), "vfio-pci")
    cur = driver(addr)
    if cur:
        write_sysfs(os.path.join(SYS_PCI, addr, "driver", "unbind"), addr)
    write_sysfs("/sys/bus/pci/drivers_probe", addr)
    return wait_driver(addr, "vfio-pci")


def reattach(addr, want=None):
    """Clear driver_override ("\\n", never "(null)"), unbind, drivers_probe; returns the driver."""
    write_sysfs(os.path.join(SYS_PCI, addr, "driver_override"), "\n")
    if driver(addr):
        write_sysfs(os.path.join(SYS_PCI, addr, "driver", "unbind"), addr)
    write_sysfs("/sys/bus/pci/drivers_probe", addr)
    return wait_driver(addr, want) if want else driver(addr)


def vfio_group_status(group):
    """The kernel's verdict on an IOMMU group: {"viable": bool, "flags": int}.

    Opens /dev/vfio/vfio (checks the API) and /dev/vfio/N, ioctl(VFIO_GROUP_GET_STATUS).
    Raises OSError (ENOENT: no vfio group node, i.e. nothing of the group on vfio-pci;
    EBUSY: someone else holds the group open)."""
    cfd = os.open("/dev/vfio/vfio", os.O_RDWR)
    try:
        api = fcntl.ioctl(cfd, VFIO_GET_API_VERSION)
        gfd = os.open(f"/dev/vfio/{group}", os.O_RDWR)
        try:
            buf = bytearray(struct.pack("II", 8, 0))
            fcntl.ioctl(gfd, VFIO_GROUP_GET_STATUS, buf, True)
            argsz, flags = struct.unpack("II", buf)
        finally:
            os.close(gfd)
    finally:
        os.close(cfd)
    return {"viable": bool(flags & VFIO_GROUP_FLAGS_VIABLE), "flags": flags, "api": api}


# ---------------------------------------------------------------------------------------------
# Daemons: the real system bus and polkitd

SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
SYSTEM_BUS_ADDRESS = "unix:path=" + SYSTEM_BUS_SOCKET

def system_bus_config():
    """The tests' system bus (tests/system-bus.conf.in), with the guest's
    system.d directories, where the project's policy is installed."""
    with open(os.path.join(SOURCE_DIR or os.path.join(os.path.dirname(__file__), "..", ".."),
                           "tests", "system-bus.conf.in")) as f:
        template = f.read()
    return (template.replace("@USER@", "<user>messagebus</user>")
            .replace("@LISTEN@", "unix:path=" + SYSTEM_BUS_SOCKET)
            .replace("@POLICIES@", "<includedir>/usr/share/dbus-1/system.d</includedir>\n"
                                   "  <includedir>/etc/dbus-1/system.d</includedir>"))


def install_file(src, dst, mode=0o644):
    """Copy a project file into the guest's overlay (e.g. the D-Bus policy, the polkit action)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def dbus_call(dest, path, method, *args, timeout=10):
    """dbus-send --system --print-reply; returns stdout, raises CalledProcessError."""
    cmd = ["dbus-send", "--system", "--print-reply", f"--reply-timeout={int(timeout * 1000)}",
           f"--dest={dest}", path, method] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=True,
                          env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=SYSTEM_BUS_ADDRESS)).stdout


def name_has_owner(name):
    try:
        out = dbus_call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus.NameHasOwner", f"string:{name}")
    except subprocess.CalledProcessError:
        return False
    return "boolean true" in out


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def wait_until(pred, timeout):
    """Like wait_for, but returns pred()'s last verdict instead of raising."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


class Daemon:
    def __init__(self, name, argv, log, env=None):
        self.name, self.argv, self.logpath = name, argv, log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)

    def alive(self):
        return self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, sig=15, timeout=10):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def systemctl(*args, check=True):
    return subprocess.run(["systemctl", "--no-pager"] + list(args), capture_output=True,
                          text=True, check=check)


class Unit:
    """A service of the guest's systemd, with the interface of Daemon: alive(), stop(), pid,
    logpath (the unit's journal, written there by log(); or the file a drop-in sends its
    output to)."""

    def __init__(self, name, logpath=None):
        self.name = name
        self.logpath = logpath or os.path.join(RESULTS, f"{name}.log")
        self.journal = logpath is None

    def show(self, prop):
        return systemctl("show", "-p", prop, "--value", self.name).stdout.strip()

    @property
    def pid(self):
        return int(self.show("MainPID") or 0)

    def alive(self):
        return self.show("ActiveState") == "active" and self.pid > 0

    def log(self):
        if self.journal:
            with open(self.logpath, "w") as f:
                subprocess.run(["journalctl", "-b", "--no-pager", "-o", "short-monotonic",
                                "-u", self.name], stdout=f, stderr=subprocess.STDOUT)
        return self.logpath

    def stop(self, sig=None, timeout=None):
        # the system bus of a systemd system is never stopped: systemd and every service
        # are on it
        if self.name != "dbus.service":
            systemctl("stop", self.name, check=False)
        self.log()
        return 0


def start_system_bus(log=None):
    """A real dbus-daemon as the system bus at the standard socket. Returns a Daemon; under
    systemd the bus is Debian's own dbus.service (its system.conf, socket-activated by
    dbus.socket), and this returns it as a Unit once it answers."""
    if SYSTEMD:
        systemctl("start", "dbus.service")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = SYSTEM_BUS_ADDRESS
        wait_for(lambda: name_has_owner("org.freedesktop.DBus"), 20, "the system bus")
        return Unit("dbus.service")
    os.makedirs("/run/dbus", exist_ok=True)
    os.makedirs("/etc/dbus-1", exist_ok=True)
    conf = "/etc/dbus-1/e2e-system.conf"
    with open(conf, "w") as f:
        f.write(system_bus_config())
    d = Daemon("dbus-daemon", ["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"],
               log or os.path.join(RESULTS, "dbus-daemon.log"))
    wait_for(lambda: os.path.exists(SYSTEM_BUS_SOCKET) or not d.alive(), 20, "system bus socket")
    if not d.alive():
        raise RuntimeError(f"dbus-daemon exited ({d.proc.returncode}), see {d.logpath}")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = SYSTEM_BUS_ADDRESS
    return d


def start_polkitd(log=None):
    """Debian's real polkitd (drops to the polkitd user itself). Returns a Daemon once it owns
    org.freedesktop.PolicyKit1. Under systemd: Debian's polkit.service, started (Type=dbus:
    systemctl returns once it owns its name) and returned as a Unit; stop() stops the unit."""
    if SYSTEMD:
        systemctl("start", "polkit.service")
        wait_for(lambda: name_has_owner("org.freedesktop.PolicyKit1"), 60,
                 "org.freedesktop.PolicyKit1")
        return Unit("polkit.service")
    d = Daemon("polkitd", ["/usr/lib/polkit-1/polkitd", "--no-debug"],
               log or os.path.join(RESULTS, "polkitd.log"))
    wait_for(lambda: name_has_owner("org.freedesktop.PolicyKit1") or not d.alive(), 60,
             "org.freedesktop.PolicyKit1")
    if not d.alive():
        raise RuntimeError(f"polkitd exited ({d.proc.returncode}), see {d.logpath}")
    return d



UDEVD = "/lib/systemd/systemd-udevd"
UDEV_CONTROL = "/run/udev/control"


def start_udevd(log=None):
    """Debian's real systemd-udevd, in the foreground under a Daemon (so it is stopped by its own
    pid), logging to RESULTS/udevd.log. Returns once /run/udev/control exists and
    `udevadm settle` has returned: from then on every kernel uevent goes through udev's rules and
    is re-sent on the "udev" netlink group, which a libudev monitor started later listens to.

    No `udevadm trigger`: nothing here needs udev's database of the devices already there, and
    coldplug would rename the up interface (E2E_UP_IFACE) and cost ~12 s under TCG. Devices and
    interfaces that appear later (a NIC bound again) do get udev's rules, names included."""
    d = Daemon("systemd-udevd", [UDEVD], log or os.path.join(RESULTS, "udevd.log"),
               env=dict(os.environ, SYSTEMD_LOG_TARGET="console"))
    wait_for(lambda: os.path.exists(UDEV_CONTROL) or not d.alive(), 60, UDEV_CONTROL)
    if not d.alive():
        raise RuntimeError(f"systemd-udevd exited ({d.proc.returncode}), see {d.logpath}")
    subprocess.run(["udevadm", "settle", "--timeout=60"], check=True, capture_output=True)
    return d

# ---------------------------------------------------------------------------------------------
# The project in the guest

VFIOD_NAME = "org.freedesktop.vfio1"
VFIOD_PATH = "/org/freedesktop/vfio1"
VFIOD_IFACE = "org.freedesktop.vfio1.Manager"


# What `meson install` puts where the bus and polkitd look (prefix /usr).
INSTALLED_POLICY = "/usr/share/dbus-1/system.d/org.freedesktop.vfio1.conf"
INSTALLED_ACTIONS = "/usr/share/polkit-1/actions/org.freedesktop.vfio1.policy"
INSTALLED_UNIT = "/usr/lib/systemd/system/vfiod.service"
INSTALLED_BUS_SERVICE = "/usr/share/dbus-1/system-services/org.freedesktop.vfio1.service"
VFIOCTL = "/usr/bin/vfioctl" if INSTALLED else os.path.join(BUILD_DIR, "client", "vfioctl")


def install_project_files():
    """Install what `meson install` would put where the bus and polkitd look: the D-Bus policy
    and the polkit actions, into the guest's overlay. Call before start_system_bus/start_polkitd.
    Returns the installed paths. In an --install boot meson install did it: this checks that
    it did (the policy, the actions, the unit and the bus's service file)."""
    if INSTALLED:
        paths = [INSTALLED_POLICY, INSTALLED_ACTIONS, INSTALLED_UNIT, INSTALLED_BUS_SERVICE]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"meson install did not install {', '.join(missing)}")
        return paths
    out = []
    for src, dst in (("dbus-1/org.freedesktop.vfio1.conf",
                      "/etc/dbus-1/system.d/org.freedesktop.vfio1.conf"),
                     ("polkit/org.freedesktop.vfio1.policy",
                      "/usr/share/polkit-1/actions/org.freedesktop.vfio1.policy")):
        install_file(os.path.join(SOURCE_DIR, src), dst)
        out.append(dst)
    return out


UNIT = "dbus-1/vfiod.service"          # the unit the build generates, below BUILD_DIR


def unit_capabilities(unit=None):
    """The CapabilityBoundingSet= of the generated unit (BUILD_DIR/dbus-1/vfiod.service), as
    written there: ["CAP_SYS_ADMIN", ...]. Every CapabilityBoundingSet= line counts (systemd
    adds them up); a "~" set or an empty assignment is not what this unit has, so it raises."""
    path = unit or (INSTALLED_UNIT if INSTALLED else os.path.join(BUILD_DIR, UNIT))
    caps = []
    with open(path) as f:
        for line in f:
            if not line.startswith("CapabilityBoundingSet="):
                continue
            value = line.split("=", 1)[1].split()
            if not value or value[0].startswith("~"):
                raise ValueError(f"{path}: {line.strip()}: not a list of capabilities")
            caps += [c for c in value if c not in caps]
    if not caps:
        raise ValueError(f"{path} has no CapabilityBoundingSet=")
    return caps


def capability_numbers():
    """{"CAP_X": bit} from the kernel headers (/usr/include/linux/capability.h, linux-libc-dev:
    the host's, seen through the guest's root)."""
    import re
    with open("/usr/include/linux/capability.h") as f:
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^#define (CAP_[A-Z_]+)\s+(\d+)\s*$", f.read(), re.M)}


def process_capabilities(pid):
    """The effective, permitted, inheritable, bounding and ambient sets of `pid` as sorted lists
    of names, from /proc/PID/status."""
    names = {bit: name for name, bit in capability_numbers().items()}
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
                mask = int(value, 16)
                out[key] = sorted(names.get(b, f"cap_{b}") for b in range(64) if mask >> b & 1)
    return out


# The one thing an e2e boot adds to the installed unit: where its output goes and how much of
# it (G_MESSAGES_DEBUG=all: the live-model checks read vfiod's debug lines). A runtime drop-in,
# so the installed files stay as meson installed them.
VFIOD_DROPIN = "/run/systemd/system/vfiod.service.d/50-e2e-log.conf"
# A run that takes something from the unit, to see which checks fail without it:
#   run-e2e.py ... --env 'E2E_UNIT_EXTRA=CapabilityBoundingSet=~CAP_SYS_ADMIN'
# (settings separated by ";", appended to that drop-in). Never set by the tests themselves.
UNIT_EXTRA = [x.strip() for x in os.environ.get("E2E_UNIT_EXTRA", "").split(";") if x.strip()]


def activate_vfiod(log=None):
    """vfiod as shipped: started by the bus (org.freedesktop.vfio1.service names
    SystemdService=vfiod.service) under the installed unit, on the first call to its name.
    Returns a Unit once vfiod.service runs and owns the name."""
    if not os.path.isfile(INSTALLED_UNIT):
        raise FileNotFoundError(f"{INSTALLED_UNIT}: not installed (run-e2e.py --install)")
    logpath = log or os.path.join(RESULTS, "vfiod.log")
    os.makedirs(os.path.dirname(VFIOD_DROPIN), exist_ok=True)
    with open(VFIOD_DROPIN, "w") as f:
        f.write("# e2e: vfiod's output to the results share, with its debug messages\n"
                "[Service]\nEnvironment=G_MESSAGES_DEBUG=all\n"
                f"StandardOutput=append:{logpath}\nStandardError=inherit\n"
                + "".join(f"{x}\n" for x in UNIT_EXTRA))
    systemctl("daemon-reload")
    systemctl("reset-failed", "vfiod.service", check=False)
    if systemctl("is-active", "-q", "dbus.service", check=False).returncode == 0:
        systemctl("reload", "dbus.service")    # a policy installed since the bus started
    r = subprocess.run(["dbus-send", "--system", "--print-reply", "--reply-timeout=60000",
                        f"--dest={VFIOD_NAME}", VFIOD_PATH, "org.freedesktop.DBus.Peer.Ping"],
                       capture_output=True, text=True,
                       env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=SYSTEM_BUS_ADDRESS))
    u = Unit("vfiod.service", logpath)
    u.caps = unit_capabilities(INSTALLED_UNIT)
    if r.returncode != 0 or not u.alive():
        st = systemctl("status", "vfiod.service", check=False).stdout
        raise RuntimeError(f"bus activation of {VFIOD_NAME} failed: {r.stderr.strip()}\n{st}")
    return u


def vfioctl(*args, uid=None, timeout=60):
    """Run the built vfioctl (as `uid` through setpriv if given); returns CompletedProcess."""
    cmd = [VFIOCTL] + list(args)
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=SYSTEM_BUS_ADDRESS))


# ---------------------------------------------------------------------------------------------
# Results

class Checks:
    """Collects named checks; writes RESULTS/<name>.json; exit status 0 iff all passed."""

    def __init__(self, name):
        self.name = name
        self.checks = []
        self.data = {}
        self.t0 = uptime()

    def check(self, what, ok, detail=None):
        ok = bool(ok)
        self.checks.append({"check": what, "ok": ok, "detail": detail,
                            "t": round(uptime() - self.t0, 2)})
        print(f"{'PASS' if ok else 'FAIL'}: {what}" + (f" -- {detail}" if detail else ""),
              flush=True)
        return ok

    def step(self, what, fn, *args, **kw):
        """Run fn; a raised exception is a failed check (the script goes on)."""
        try:
            r = fn(*args, **kw)
            self.check(what, True)
            return r
        except Exception as e:  # noqa: BLE001 - any failure is reported, not fatal
            self.check(what, False, f"{type(e).__name__}: {e}")
            return None

    def write(self):
        failed = [c for c in self.checks if not c["ok"]]
        out = {"name": self.name, "passed": not failed, "n_checks": len(self.checks),
               "n_failed": len(failed), "seconds": round(uptime() - self.t0, 2),
               "checks": self.checks, **self.data}
        with open(os.path.join(RESULTS, f"{self.name}.json"), "w") as f:
            json.dump(out, f, indent=1)
        print(f"{self.name}: {len(self.checks) - len(failed)}/{len(self.checks)} checks passed",
              flush=True)
        return 0 if not failed else 1
