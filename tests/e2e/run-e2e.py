#!/usr/bin/python3
"""End-to-end harness: boot Debian's stock 6.1 kernel in QEMU (q35 + emulated Intel IOMMU) with the
host's / as a read-only 9p root under a tmpfs overlay, and run a guest script in it.

    run-e2e.py --build-dir BUILD [--results DIR] GUEST_SCRIPT

The guest script runs as root in the guest, with the environment described in README.md; it
writes what it wants into $E2E_RESULTS (the results dir, shared read-write), and its exit status
becomes this program's exit status. Everything downloaded or generated stays in the build dir.

Exit codes: the guest script's; 77 when the test genuinely cannot run here (not root and the
packages are missing); 1 on harness/boot failure or timeout (console tail printed).
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))

# Host packages the harness and the guest (which runs the host's binaries) need.
# command or file -> Debian package
HOST_NEEDS = [
    ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
    ("/bin/busybox", "busybox-static"),
    ("/bin/cpio", "cpio"),
    ("/bin/kmod", "kmod"),
    ("/usr/bin/lspci", "pciutils"),
    ("/usr/sbin/mkfs.ext4", "e2fsprogs"),
    ("/sbin/ip", "iproute2"),
    ("/usr/bin/dbus-daemon", "dbus-daemon"),
    ("/usr/bin/dbus-send", "dbus-bin"),
    ("/usr/lib/polkit-1/polkitd", "polkitd"),
    ("/usr/bin/pkcheck", "polkitd"),
    ("/usr/bin/setpriv", "util-linux"),
    # vfiod_e2e.py runs the real systemd-udevd, so vfiod listens to udev's netlink group
    ("/lib/systemd/systemd-udevd", "udev"),
    ("/bin/udevadm", "udev"),
    # the vfiod guest script's D-Bus client (vfiobus.py): GDBus from Python
    ("/usr/lib/python3/dist-packages/gi/__init__.py", "python3-gi"),
]

# Modules the initramfs loads, in this order (each expanded with its dependencies).
# virtio_blk and ext4: the overlay's upper layer on a disk that persists across boots
# (--persist-disk).
INITRAMFS_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "netfs", "fscache", "overlay",
                     "virtio_blk", "ext4"]

# Where `run-e2e.py --prepare` (run by tools/deps) keeps the kernel: outside any build dir, so
# `meson test` never downloads anything.
KERNEL_CACHE = os.environ.get("VFIOD_E2E_KERNEL_CACHE", "/var/cache/vfiod/e2e-kernel")

KERNEL_PKG_RE = re.compile(r"^linux-image-(6\.1\.0-(\d+)-amd64)(-unsigned)?$")

# The guest's PCI topology (see README.md). Root-bus slots are fixed; bus numbers behind the
# root ports are the guest kernel's choice, so guest scripts find endpoints through sysfs.
TOPOLOGY = {
    "pair": {"addrs": ["0000:00:05.0", "0000:00:05.1"], "driver": "e1000",
             "what": "multifunction e1000 pair on the root bus, no ACS: one group"},
    "rp_noacs": {"ports": ["0000:00:02.0", "0000:00:02.1"],
                 "endpoints": {"0000:00:02.0": "e1000e", "0000:00:02.1": "virtio-pci"},
                 "what": "two pcie-root-ports (disable-acs=on) as functions of one slot, an "
                         "endpoint under each: one group of 4"},
    "rp_acs": {"ports": ["0000:00:03.0"], "endpoints": {"0000:00:03.0": "e1000e"},
               "what": "pcie-root-port with ACS + e1000e: the endpoint alone in its group"},
    "pcibridge": {"ports": ["0000:00:04.0"],
                  "what": "pcie-root-port -> pcie-pci-bridge -> conventional e1000 + rtl8139: "
                          "one group with the bridge"},
    "chipset": {"addrs": ["0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"],
                "what": "q35 LPC + AHCI (with the formatted, mounted disk) + SMBus: one group"},
    "up_nic": {"addrs": ["0000:00:06.0"], "driver": "virtio-pci",
               "what": "virtio-net on the root bus, interface up with 10.0.2.15/24 "
                       "(restricted user-mode backend)"},
    "ninep": {"addrs": ["0000:00:10.0", "0000:00:11.0"], "driver": "virtio-pci",
              "what": "virtio-9p: the guest's root (10.0) and the results share (11.0), in use"},
}

# --desktop: what the host needs on a desktop, each alone in its group on the root bus.
DESKTOP = {
    "usb": {"addrs": ["0000:00:07.0"], "driver": "xhci_hcd",
            "what": "qemu-xhci with a USB keyboard and mouse: in use (keyboard, mouse)"},
    "display": {"addrs": ["0000:00:08.0"], "driver": "bochs-drm",
                "what": "bochs-display, the framebuffer console on its fb0: in use"},
    "sound": {"addrs": ["0000:00:09.0"], "driver": "snd_hda_intel",
              "what": "ich9-intel-hda with an hda-output codec: in use while a PCM is open"},
}


# --variant: the same machine with one device changed between boots (e2e-persist).
VARIANTS = {
    "replaced": "the e1000e below the ACS root port 00:03.0 replaced by an rtl8139 at the same "
                "address",
}


def qemu_topology_args(variant=None, desktop=False):
    nic = ["romfile="]  # no option ROMs: skips iPXE
    def dev(*parts):
        return ["-device", ",".join(parts)]
    a = []
    # intel-iommu first: it must exist before the devices it translates for.
    a += dev("intel-iommu", "intremap=on", "caching-mode=on")
    # 00:02.0/.1: two root ports without ACS, functions of one slot, an endpoint under each.
    a += dev("pcie-root-port", "id=rpa0", "bus=pcie.0", "addr=02.0", "multifunction=on",
             "chassis=1", "slot=1", "disable-acs=on")
    a += dev("pcie-root-port", "id=rpa1", "bus=pcie.0", "addr=02.1",
             "chassis=2", "slot=2", "disable-acs=on")
    a += dev("e1000e", "bus=rpa0", "addr=00.0", *nic)
    a += dev("virtio-net-pci", "bus=rpa1", "addr=00.0", "disable-legacy=on", *nic)
    # 00:03.0: a root port with ACS (the default) and an e1000e.
    a += dev("pcie-root-port", "id=rpb", "bus=pcie.0", "addr=03.0", "chassis=3", "slot=3")
    a += dev("rtl8139" if variant == "replaced" else "e1000e", "bus=rpb", "addr=00.0", *nic)
    # 00:04.0: root port -> PCIe-to-PCI bridge -> two conventional NICs.
    a += dev("pcie-root-port", "id=rpc", "bus=pcie.0", "addr=04.0", "chassis=4", "slot=4")
    a += dev("pcie-pci-bridge", "id=pbr", "bus=rpc", "addr=00.0")
    a += dev("e1000", "bus=pbr", "addr=01.0", *nic)
    a += dev("rtl8139", "bus=pbr", "addr=02.0", *nic)
    # 00:05.0/.1: multifunction e1000 pair on the root bus.
    a += dev("e1000", "bus=pcie.0", "addr=05.0", "multifunction=on", *nic)
    a += dev("e1000", "bus=pcie.0", "addr=05.1", *nic)
    # 00:06.0: the NIC whose interface is up. restrict=on: nothing leaves the VM.
    a += ["-netdev", "user,id=up0,restrict=on"]
    a += dev("virtio-net-pci", "bus=pcie.0", "addr=06.0", "netdev=up0", *nic)
    if desktop:
        a += dev("qemu-xhci", "id=xhci", "bus=pcie.0", "addr=07.0")
        a += dev("usb-kbd", "bus=xhci.0")
        a += dev("usb-mouse", "bus=xhci.0")
        a += dev("bochs-display", "bus=pcie.0", "addr=08.0")
        a += ["-audiodev", "none,id=snd0"]
        a += dev("ich9-intel-hda", "id=hda", "bus=pcie.0", "addr=09.0")
        a += dev("hda-output", "bus=hda.0", "audiodev=snd0")
    return a


def log(msg):
    print(f"e2e: {msg}", flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------------------------------------
# Host packages

def ensure_host_packages(allow_install):
    missing = sorted({pkg for path, pkg in HOST_NEEDS if not os.path.exists(path)})
    if not missing:
        return
    if not allow_install:
        sys.exit(f"e2e: missing {', '.join(missing)}: run tools/deps (as root) first")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log(f"SKIP: packages {', '.join(missing)} missing and cannot install them "
            "(needs root and apt-get)")
        sys.exit(77)
    log(f"installing {' '.join(missing)}")
    t = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        run(cmd, env=env, stdout=subprocess.DEVNULL)
    log(f"installed in {time.monotonic() - t:.1f} s")
    still = [pkg for path, pkg in HOST_NEEDS if not os.path.exists(path)]
    if still:
        sys.exit(f"e2e: still missing after install: {', '.join(still)}")


# ---------------------------------------------------------------------------------------------
# Kernel

def apt_candidate(pkg):
    out = subprocess.run(["apt-cache", "policy", pkg], capture_output=True, text=True).stdout
    m = re.search(r"Candidate:\s*(\S+)", out)
    return m.group(1) if m and m.group(1) != "(none)" else None


def pick_kernel_package():
    """Newest Debian 6.1 generic amd64 image (not -dbg/-cloud/-rt); the signed package first."""
    out = subprocess.run(["apt-cache", "pkgnames", "linux-image-6.1.0-"],
                         capture_output=True, text=True).stdout.split()
    best = {}
    for name in out:
        m = KERNEL_PKG_RE.match(name)
        if m:
            best.setdefault(int(m.group(2)), []).append(name)
    for abi in sorted(best, reverse=True):
        for name in sorted(best[abi], key=lambda n: n.endswith("-unsigned")):
            if apt_candidate(name):
                return name, KERNEL_PKG_RE.match(name).group(1)
    return None, None


def kernel_tree_ok(tree, kver):
    return (os.path.exists(os.path.join(tree, "boot", f"vmlinuz-{kver}"))
            and os.path.exists(os.path.join(tree, "lib", "modules", kver, "modules.dep")))


def prepared_kernel(cache, timings):
    """(tree, kver) of the kernel tools/deps prepared; exits when there is none."""
    current = os.path.join(cache, "current")
    if os.path.islink(current):
        kver = os.readlink(current)
        tree = os.path.join(cache, kver)
        if kernel_tree_ok(tree, kver):
            timings["kernel_cached"] = True
            timings["kernel_s"] = 0.0
            return tree, kver
    sys.exit(f"e2e: no kernel prepared in {cache}: run tools/deps (as root) first; it runs "
             f"{os.path.relpath(__file__, SOURCE_DIR)} --prepare, which downloads Debian's 6.1 "
             "kernel package there")


def ensure_kernel(cache, refresh, timings):
    """Returns (tree, kver). Downloads + extracts once; later runs reuse the cache."""
    os.makedirs(cache, exist_ok=True)
    current = os.path.join(cache, "current")
    t = time.monotonic()
    if not refresh and os.path.islink(current):
        kver = os.readlink(current)
        tree = os.path.join(cache, kver)
        if kernel_tree_ok(tree, kver):
            timings["kernel_s"] = round(time.monotonic() - t, 2)
            timings["kernel_cached"] = True
            return tree, kver
    pkg, kver = pick_kernel_package()
    if not pkg:
        run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        pkg, kver = pick_kernel_package()
    if not pkg:
        sys.exit("e2e: no linux-image-6.1.0-*-amd64 package known to apt")
    tree = os.path.join(cache, kver)
    if not kernel_tree_ok(tree, kver):
        log(f"downloading {pkg}")
        for f in os.listdir(cache):
            if f.endswith(".deb"):
                os.unlink(os.path.join(cache, f))
        # (As root apt warns that it downloads unsandboxed: expected, not shown unless it fails.)
        r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=cache,
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"e2e: apt-get download {pkg} failed:\n{r.stdout}{r.stderr}")
        t_dl = time.monotonic() - t
        deb = [f for f in os.listdir(cache) if f.startswith(pkg + "_") and f.endswith(".deb")]
        if len(deb) != 1:
            sys.exit(f"e2e: apt-get download {pkg} produced {deb}")
        tmp = tree + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"extracting {deb[0]}")
        run(["dpkg-deb", "-x", os.path.join(cache, deb[0]), tmp])
        run(["depmod", "-b", tmp, kver])
        shutil.rmtree(tree, ignore_errors=True)
        os.rename(tmp, tree)
        os.unlink(os.path.join(cache, deb[0]))
        timings["kernel_download_s"] = round(t_dl, 2)
        timings["kernel_package"] = pkg
    if os.path.lexists(current):
        os.unlink(current)
    os.symlink(kver, current)
    timings["kernel_s"] = round(time.monotonic() - t, 2)
    timings["kernel_cached"] = False
    return tree, kver


# ---------------------------------------------------------------------------------------------
# Initramfs

def module_load_order(tree, kver):
    order = []
    for mod in INITRAMFS_MODULES:
        out = subprocess.run(["modprobe", "-d", tree, "-S", kver, "--show-depends", mod],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "insmod" and parts[1] not in order:
                order.append(parts[1])
    return order


def ensure_initramfs(tree, kver, workdir):
    """Static per kernel + init script; rebuilt only when either changes."""
    init = os.path.join(HERE, "guest", "init.sh")
    mods = module_load_order(tree, kver)
    h = hashlib.sha256()
    for f in [init, "/bin/busybox"] + mods:
        h.update(f.encode())
        with open(f, "rb") as fp:
            h.update(hashlib.sha256(fp.read()).digest())
    out = os.path.join(workdir, f"initramfs-{kver}-{h.hexdigest()[:12]}.cpio")
    if os.path.exists(out):
        return out
    stage = os.path.join(workdir, "initramfs.d")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(os.path.join(stage, "bin"))
    os.makedirs(os.path.join(stage, "modules"))
    shutil.copy2("/bin/busybox", os.path.join(stage, "bin", "busybox"))
    shutil.copy2(init, os.path.join(stage, "init"))
    os.chmod(os.path.join(stage, "init"), 0o755)
    names = []
    for i, path in enumerate(mods):
        name = f"{i:02d}-{os.path.basename(path)}"
        data = open(path, "rb").read()
        if path.endswith(".xz"):
            import lzma
            data, name = lzma.decompress(data), name[:-3]
        elif path.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
            name = name[:-4]
        with open(os.path.join(stage, "modules", name), "wb") as fp:
            fp.write(data)
        names.append(name)
    with open(os.path.join(stage, "modules.order"), "w") as fp:
        fp.write("".join(n + "\n" for n in names))
    for f in os.listdir(workdir):
        if f.startswith("initramfs-") and f.endswith(".cpio"):
            os.unlink(os.path.join(workdir, f))
    files = subprocess.run(["find", "."], cwd=stage, capture_output=True, check=True).stdout
    with open(out + ".tmp", "wb") as fp:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage,
                       input=files, stdout=fp, check=True)
    os.rename(out + ".tmp", out)
    shutil.rmtree(stage)
    return out


# ---------------------------------------------------------------------------------------------
# QEMU

def pick_accel(requested):
    if requested != "auto":
        return requested
    # The /dev/kvm on the CI machines is a software one that never finishes booting a stock
    # kernel: only trust hardware KVM.
    if (os.path.exists("/sys/module/kvm_intel") or os.path.exists("/sys/module/kvm_amd")) \
            and os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "kvm"
    return "tcg"


def tail(path, n):
    try:
        with open(path, "rb") as fp:
            lines = fp.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return f"(no console log: {e})"
    return "\n".join(lines[-n:])


def summarize(results):
    """Print what guest scripts reported: every RESULTS/*.json with "checks" (see e2elib.Checks)
    and, when present, the IOMMU groups the guest saw."""
    for f in sorted(os.listdir(results)):
        if not f.endswith(".json"):
            continue
        try:
            data = json.load(open(os.path.join(results, f)))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "checks" not in data:
            continue
        groups = data.get("groups")
        if groups:
            log(f"IOMMU groups seen by the guest ({f}):")
            for g, devs in sorted(groups.items(), key=lambda kv: int(kv[0])):
                for d in devs:
                    print(f"    group {int(g):2d}  {d['address']}  {str(d['driver']):11s} "
                          f"{d.get('name') or ''}", flush=True)
        failed = [c for c in data["checks"] if not c["ok"]]
        log(f"{data.get('name', f)}: every check, in order (guest seconds since the script "
            "started):")
        for c in data["checks"]:
            print(f"    {'PASS' if c['ok'] else 'FAIL'} {c.get('t', ''):>6} {c['check']}",
                  flush=True)
        log(f"{data.get('name', f)}: {data['n_checks'] - len(failed)}/{data['n_checks']} "
            f"checks passed in {data.get('seconds')} s (guest time)")
        for c in failed:
            print(f"    FAILED: {c['check']}" + (f" -- {c['detail']}" if c["detail"] else ""),
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("guest_script", nargs="?", help="executable run as root inside the guest")
    ap.add_argument("--build-dir", help="meson build dir (visible in the guest)")
    ap.add_argument("--prepare", action="store_true",
                    help="install the host packages and download the kernel into "
                    f"{KERNEL_CACHE} (VFIOD_E2E_KERNEL_CACHE), then exit: what tools/deps runs")
    ap.add_argument("--results", help="results dir (default BUILD/tests/e2e/results/SCRIPT)")
    ap.add_argument("--timeout", type=float, default=720, help="hard limit for the whole run, s")
    ap.add_argument("--memory", default="1024", help="guest memory, MiB (default 1024)")
    ap.add_argument("--smp", type=int, default=1, help="guest CPUs (1 or 2; default 1)")
    ap.add_argument("--accel", default="auto", choices=["auto", "tcg", "kvm"])
    ap.add_argument("--refresh-kernel", action="store_true",
                    help="pick the newest kernel package again instead of the cached one")
    ap.add_argument("--no-install", action="store_true", help="never run apt-get install")
    ap.add_argument("--cmdline", default="", help="extra kernel command line")
    ap.add_argument("--persist-disk", help="a raw ext4 image (made by the caller) that holds the "
                    "overlay's upper layer instead of a tmpfs: what the guest writes survives "
                    "into the next boot with the same disk (virtio-blk at 00:12.0)")
    ap.add_argument("--coldplug", action="store_true",
                    help="stage 2 loads drivers with systemd-udevd and `udevadm trigger` (the "
                    "installed udev rules run) instead of modprobe passes")
    ap.add_argument("--variant", choices=sorted(VARIANTS), help="change the topology: "
                    + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()))
    ap.add_argument("--desktop", action="store_true",
                    help="add a USB controller with keyboard and mouse, a display with the "
                         "framebuffer console and a sound card (DESKTOP)")
    ap.add_argument("--systemd", action="store_true",
                    help="the host's systemd as PID 1 (stage 2 and the script run as "
                    "e2e.service of e2e.target): the installed units run as on a real system")
    ap.add_argument("--install", action="store_true",
                    help="build the project with --prefix=/usr (BUILD/tests/e2e/install-build) "
                    "and `meson install` it in the guest before the script (E2E_INSTALL_BUILD)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="exported to the guest script (E2E_* names only)")
    args = ap.parse_args()

    if args.prepare:
        os.makedirs(KERNEL_CACHE, exist_ok=True)
        with open(os.path.join(KERNEL_CACHE, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ensure_host_packages(not args.no_install)
            timings = {}
            tree, kver = ensure_kernel(KERNEL_CACHE, args.refresh_kernel, timings)
        log(f"prepared: kernel {kver} in {tree}")
        return 0
    if not args.guest_script or not args.build_dir:
        ap.error("give --build-dir and a guest script (or --prepare)")

    t_start = time.monotonic()
    deadline = t_start + args.timeout
    build = os.path.realpath(args.build_dir)
    script = os.path.realpath(args.guest_script)
    if not os.access(script, os.X_OK):
        sys.exit(f"e2e: guest script {script} is not executable")
    # The guest mounts fresh tmpfs/proc/sys/dev over these: host files there are invisible.
    for p in (script, build, SOURCE_DIR):
        if re.match(r"^/(run|dev|proc|sys)(/|$)", p):
            sys.exit(f"e2e: {p} is hidden in the guest (tmpfs or kernel fs there); "
                     "put it elsewhere, e.g. under the build dir")
    e2e_dir = os.path.join(build, "tests", "e2e")
    workdir = os.path.join(e2e_dir, "work")
    results = os.path.realpath(args.results or os.path.join(
        e2e_dir, "results", os.path.splitext(os.path.basename(script))[0]))
    os.makedirs(workdir, exist_ok=True)
    if os.path.isdir(results) and os.listdir(results) and \
            not os.path.isdir(os.path.join(results, ".e2e")):
        sys.exit(f"e2e: {results} is not empty and not an e2e results dir; not wiping it")
    shutil.rmtree(results, ignore_errors=True)
    os.makedirs(os.path.join(results, ".e2e"))
    timings = {}

    # One harness at a time prepares packages, kernel cache and initramfs (parallel runs from
    # the same build dir would otherwise race on them); the VMs themselves may run in parallel.
    with open(os.path.join(workdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_host_packages(False)
        timings["packages_s"] = round(time.monotonic() - t_start, 2)
        tree, kver = prepared_kernel(KERNEL_CACHE, timings)
        log(f"kernel {kver} (prepared by tools/deps in {KERNEL_CACHE})")
        t = time.monotonic()
        initrd = ensure_initramfs(tree, kver, workdir)
        timings["initramfs_s"] = round(time.monotonic() - t, 2)

    install_dir = ""
    if args.install:
        # one install build per build dir: under the lock, like the initramfs
        with open(os.path.join(workdir, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            t = time.monotonic()
            sys.path.insert(0, HERE)
            from installbuild import install_build
            install_dir = install_build(build)
            timings["install_build_s"] = round(time.monotonic() - t, 2)

    name = os.path.basename(results)
    disk = os.path.join(workdir, f"ahci-disk-{name}.img")
    with open(disk, "wb") as fp:
        fp.truncate(64 << 20)

    config = {
        "E2E_STAGE2": os.path.join(HERE, "guest", "stage2.sh"),
        "E2E_GUEST_SCRIPT": script,
        "E2E_KVER": kver,
        "E2E_KTREE": tree,
        "E2E_BUILD_DIR": build,
        "E2E_SOURCE_DIR": SOURCE_DIR,
        "E2E_UP_NIC": TOPOLOGY["up_nic"]["addrs"][0],
        "E2E_PERSIST_DEV": "/dev/vda" if args.persist_disk else "",
        "E2E_COLDPLUG": "1" if args.coldplug else "",
        "E2E_VARIANT": args.variant or "",
        "E2E_SYSTEMD": "1" if args.systemd else "",
        "E2E_INSTALL": "1" if args.install else "",
        "E2E_DESKTOP": "1" if args.desktop else "",
    }
    if install_dir:
        config["E2E_INSTALL_BUILD"] = install_dir
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep or not re.match(r"^E2E_[A-Z0-9_]+$", k) or k in config:
            sys.exit(f"e2e: --env {kv!r}: give KEY=VALUE with a new E2E_* name")
        config[k] = v
    for k, v in config.items():
        if "'" in v or "\n" in v:
            sys.exit(f"e2e: unsupported character in {k}={v!r}")
    with open(os.path.join(results, ".e2e", "config.sh"), "w") as fp:
        fp.write("".join(f"export {k}='{v}'\n" for k, v in config.items()))
    with open(os.path.join(results, "topology.json"), "w") as fp:
        json.dump(dict(TOPOLOGY, **(DESKTOP if args.desktop else {})), fp, indent=1)

    accel = pick_accel(args.accel)
    console = os.path.join(results, "console.log")
    cmdline = ("console=ttyS0 intel_iommu=on iommu=pt panic=-1 rdinit=/init "
               "no_timer_check tsc=reliable " + args.cmdline).strip()
    qemu = [
        "qemu-system-x86_64",
        "-machine", f"q35,kernel-irqchip=split,accel={accel}",
        "-cpu", "max" if accel == "tcg" else "host",
        "-smp", str(args.smp), "-m", str(args.memory),
        "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
        "-no-reboot",
        "-chardev", f"file,id=con0,path={console}", "-serial", "chardev:con0",
        "-kernel", os.path.join(tree, "boot", f"vmlinuz-{kver}"),
        "-initrd", initrd,
        "-append", cmdline,
    ]
    qemu += qemu_topology_args(args.variant, args.desktop)
    qemu += [
        "-fsdev", "local,id=e2eroot,path=/,security_model=passthrough,readonly=on,"
                  "multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=e2eroot,mount_tag=e2eroot,bus=pcie.0,addr=10.0",
        "-fsdev", f"local,id=e2eresults,path={results},security_model=none",
        "-device", "virtio-9p-pci,fsdev=e2eresults,mount_tag=e2eresults,bus=pcie.0,addr=11.0",
        "-drive", f"file={disk},if=none,id=sysdisk,format=raw,cache=unsafe",
        "-device", "ide-hd,drive=sysdisk,bus=ide.0",
    ]
    if args.persist_disk:
        qemu += ["-drive", f"file={os.path.realpath(args.persist_disk)},if=none,id=persist,"
                           "format=raw,cache=writeback",
                 "-device", "virtio-blk-pci,drive=persist,bus=pcie.0,addr=12.0"]
    with open(os.path.join(results, ".e2e", "qemu-cmdline"), "w") as fp:
        fp.write(" ".join(qemu) + "\n")

    log(f"booting ({accel}, {args.smp} cpu, {args.memory} MiB); console: {console}")
    t_boot = time.monotonic()
    qemu_log = open(os.path.join(results, "qemu.log"), "wb")
    proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=qemu_log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    timed_out = False
    # stage2.json appears on the results share the moment stage 2 starts the guest script:
    # polling for it gives the boot's wall time as the host sees it.
    stage2_json = os.path.join(results, "stage2.json")
    try:
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if "boot_wall_s" not in timings and os.path.exists(stage2_json):
                    timings["boot_wall_s"] = round(time.monotonic() - t_boot, 2)
                    log(f"guest script started {timings['boot_wall_s']} s after QEMU")
                if time.monotonic() > deadline:
                    raise
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    qemu_log.close()
    timings["vm_s"] = round(time.monotonic() - t_boot, 2)

    rc = None
    try:
        rc = int(open(os.path.join(results, "exit-code")).read().strip())
    except (OSError, ValueError):
        pass
    stage2 = {}
    for f in ("stage2.json", "stage2-end.json"):
        try:
            stage2.update(json.load(open(os.path.join(results, f))))
        except (OSError, ValueError):
            pass
    for k in ("uptime_stage2_start", "uptime_ready"):
        if k in stage2:
            timings[f"guest_{k}_s"] = stage2[k]
    if "uptime_installed" in stage2 or "uptime_install_start" in stage2:
        timings["guest_install_s"] = round(stage2.get("uptime_script_start", 0) -
                                           stage2.get("uptime_install_start", 0), 2)
    if "uptime_script_start" in stage2:
        timings["guest_uptime_script_start_s"] = stage2["uptime_script_start"]
    if "uptime_script_end" in stage2:
        timings["guest_script_s"] = round(stage2["uptime_script_end"] -
                                          stage2["uptime_script_start"], 2)
    timings["total_s"] = round(time.monotonic() - t_start, 2)
    timings["accel"] = accel
    with open(os.path.join(results, "timings.json"), "w") as fp:
        json.dump(timings, fp, indent=1)

    log("timings: " + ", ".join(f"{k}={v}" for k, v in timings.items()))
    summarize(results)
    if timed_out or rc is None:
        why = f"timed out after {args.timeout:.0f} s" if timed_out else \
            f"QEMU exited ({proc.returncode}) without a guest exit code"
        log(f"FAILED: {why}. Last console lines ({console}):")
        print(tail(console, 60), flush=True)
        # NICs without a backend are deliberate: QEMU's "has no peer" warnings are noise.
        q = "\n".join(l for l in tail(os.path.join(results, "qemu.log"), 40).splitlines()
                      if "has no peer" not in l)
        if q.strip():
            print("--- qemu output:\n" + q, flush=True)
        return 1
    if rc != 0:
        log(f"guest script failed with exit code {rc}. Last console lines ({console}):")
        print(tail(console, 60), flush=True)
    else:
        log(f"guest script passed; results in {results}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
