#!/usr/bin/python3
"""e2e smoke checks (guest script): prove the harness. vfiod_e2e.py runs this first in its own
boot (it can also run alone: run-e2e.py ... smoke.py).

- The topology produced the IOMMU groups README.md describes (group -> devices + drivers).
- vfio-pci by hand on the multifunction e1000 pair, with the kernel's verdict
  (VFIO_GROUP_GET_STATUS): one function on vfio-pci -> not viable; both -> viable; a second
  opener of /dev/vfio/N gets EBUSY; back to e1000 with their interfaces.
- The real stack starts: dbus-daemon as the system bus, Debian's polkitd (answering
  CheckAuthorization and honouring a rules file in the overlay), /usr/bin/python3.
Writes $E2E_RESULTS/smoke.json.
"""

import errno
import os
import subprocess
import sys
import time

import e2elib as L

C = L.Checks("smoke")
TOPO = __import__("json").load(open(os.environ["E2E_TOPOLOGY"]))


def members(addr):
    g = L.group_of(addr)
    return g, sorted(os.listdir(f"{L.GROUPS}/{g}/devices")) if g is not None else []


# ---------------------------------------------------------------------------------------------
# 1. Groups as the kernel made them

groups = L.iommu_groups()
names = L.lspci_names()
C.data["groups"] = {g: [dict(d, name=names.get(d["address"])) for d in devs]
                    for g, devs in groups.items()}
print("IOMMU groups:")
for g, devs in groups.items():
    for d in devs:
        extra = f" [{','.join(d['ifaces'])}]" if d["ifaces"] else ""
        print(f"  group {g:2d}  {d['address']}  {str(d['driver']):12s} "
              f"{names.get(d['address'], '')}{extra}")

# Multifunction pair on the root bus: one group of exactly the two functions, on e1000.
pair = TOPO["pair"]["addrs"]
g_pair, m = members(pair[0])
C.check("e1000 pair is one group of its two functions", m == pair, f"group {g_pair}: {m}")
C.check("e1000 pair on e1000", all(L.driver(a) == "e1000" for a in pair),
        [L.driver(a) for a in pair])

# Two root ports without ACS in one slot + an endpoint each: one group of four.
ports = TOPO["rp_noacs"]["ports"]
eps = [c for p in ports for c in L.children(p)]
g_rp, m = members(ports[0])
C.check("root ports without ACS + endpoints are one group", m == sorted(ports + eps),
        f"group {g_rp}: {m}")
C.check("those root ports are on pcieport", all(L.driver(p) == "pcieport" for p in ports),
        [L.driver(p) for p in ports])
C.check("their endpoints are on e1000e and virtio-pci",
        sorted(L.driver(e) or "-" for e in eps) == ["e1000e", "virtio-pci"],
        {e: L.driver(e) for e in eps})
C.data["rp_noacs_endpoints"] = eps

# Root port with ACS: the endpoint alone.
ep = L.children(TOPO["rp_acs"]["ports"][0])
g_acs, m = members(ep[0]) if ep else (None, [])
C.check("endpoint behind the ACS root port is alone in its group", len(ep) == 1 and m == ep,
        f"group {g_acs}: {m}")
C.check("it is on e1000e", ep and L.driver(ep[0]) == "e1000e")
C.data["rp_acs_endpoint"] = ep[0] if ep else None

# PCIe-to-PCI bridge behind a root port, two conventional NICs: one group with the bridge.
br = L.children(TOPO["pcibridge"]["ports"][0])
nics = L.children(br[0]) if br else []
g_br, m = members(br[0]) if br else (None, [])
C.check("PCIe-to-PCI bridge + its two NICs are one group", len(nics) == 2 and
        m == sorted(br + nics), f"group {g_br}: {m}")
C.check("NICs behind the bridge on e1000 and 8139cp/8139too",
        sorted((L.driver(n) or "-").replace("8139too", "8139cp") for n in nics)
        == ["8139cp", "e1000"], {n: L.driver(n) for n in nics})
C.data["pcibridge"] = {"bridge": br[0] if br else None, "nics": nics}

# q35 chipset group with the mounted disk.
chip = TOPO["chipset"]["addrs"]
g_chip, m = members(chip[0])
C.check("q35 00:1f.0/.2/.3 are one group", m == chip, f"group {g_chip}: {m}")
C.check("AHCI on ahci", L.driver("0000:00:1f.2") == "ahci")
mounts = open("/proc/mounts").read()
disk = os.environ["E2E_DISK_DEV"]
C.check("the AHCI disk is formatted and mounted", f"{disk} {os.environ['E2E_DISK_MOUNT']} ext4"
        in mounts, disk)

# The up NIC.
up = os.environ["E2E_UP_IFACE"]
addr_out = subprocess.run(["ip", "-o", "addr", "show", "dev", up], capture_output=True,
                          text=True).stdout
link_out = subprocess.run(["ip", "-o", "link", "show", "dev", up], capture_output=True,
                          text=True).stdout
C.check("the up NIC has its address and is up",
        "10.0.2.15/24" in addr_out and ("<UP" in link_out or ",UP" in link_out),
        f"{up}: {addr_out.strip()}")
g_up, m = members(TOPO["up_nic"]["addrs"][0])
C.data["group_of"] = {"pair": g_pair, "rp_noacs": g_rp, "rp_acs": g_acs, "pcibridge": g_br,
                      "chipset": g_chip, "up_nic": g_up,
                      "ninep": [L.group_of(a) for a in TOPO["ninep"]["addrs"]]}

# ---------------------------------------------------------------------------------------------
# 2. vfio-pci by hand on the pair, the kernel's verdict

a, b = pair
ifaces_before = {x: L.net_ifaces(x) for x in pair}
C.check("vfio-pci module loaded", os.path.isdir("/sys/bus/pci/drivers/vfio-pci"))
C.check("no /dev/vfio node for the pair's group before binding",
        not os.path.exists(f"/dev/vfio/{g_pair}"))

t = time.monotonic()
C.check(f"{a} bound to vfio-pci", C.step(f"bind {a}", L.bind_vfio, a) == "vfio-pci")
C.data["bind_one_s"] = round(time.monotonic() - t, 3)
C.check(f"{b} still on e1000", L.driver(b) == "e1000")
st = C.step("VFIO_GROUP_GET_STATUS with one function on vfio-pci", L.vfio_group_status, g_pair)
C.check("kernel: group NOT viable while the other function is on e1000",
        st is not None and not st["viable"], st)

C.check(f"{b} bound to vfio-pci", C.step(f"bind {b}", L.bind_vfio, b) == "vfio-pci")
st = C.step("VFIO_GROUP_GET_STATUS with both on vfio-pci", L.vfio_group_status, g_pair)
C.check("kernel: group viable with both functions on vfio-pci",
        st is not None and st["viable"], st)

# A group file held open: a second opener gets EBUSY (what the daemon's GroupBusy relies on).
holder = subprocess.Popen(["/usr/bin/python3", "-c",
                           f"import os,sys,time; fd=os.open('/dev/vfio/{g_pair}', os.O_RDWR);"
                           "print('open', flush=True); time.sleep(60)"],
                          stdout=subprocess.PIPE, text=True)
C.check("a helper process holds /dev/vfio/N open", holder.stdout.readline().strip() == "open")
try:
    os.close(os.open(f"/dev/vfio/{g_pair}", os.O_RDWR))
    busy = None
except OSError as e:
    busy = e.errno
C.check("second open of a held /dev/vfio/N fails with EBUSY", busy == errno.EBUSY,
        errno.errorcode.get(busy, busy))
holder.kill()
holder.wait()

t = time.monotonic()
for x in pair:
    C.check(f"{x} back on e1000", C.step(f"reattach {x}", L.reattach, x, "e1000") == "e1000")
C.data["reattach_both_s"] = round(time.monotonic() - t, 3)
time.sleep(0.2)
C.check("driver_override cleared", all(L.read_attr(x, "driver_override") == "(null)"
                                         for x in pair))
C.check("network interfaces reappeared", all(L.net_ifaces(x) for x in pair),
        {x: L.net_ifaces(x) for x in pair})
C.data["pair_ifaces"] = {"before": ifaces_before, "after": {x: L.net_ifaces(x) for x in pair}}

# ---------------------------------------------------------------------------------------------
# 3. The real stack starts: system bus, polkitd, python

C.check("/usr/bin/python3 runs the guest script", sys.executable == "/usr/bin/python3",
        sys.version.split()[0])
C.check("build dir visible in the guest", os.path.isdir(L.BUILD_DIR), L.BUILD_DIR)
C.data["build_binaries"] = {p: os.access(os.path.join(L.BUILD_DIR, p), os.X_OK)
                            for p in ("service/vfiod", "client/vfioctl")}
C.check("polkitd user exists", any(l.startswith("polkitd:") for l in open("/etc/passwd")))

# The project's bus policy and polkit actions, installed into the overlay before the daemons
# start (what the vfiod tests will do).
C.step("project D-Bus policy and polkit actions installed into the overlay",
       L.install_project_files)

# A rules file in the overlay, written before polkitd starts: lets `nobody` run one action.
os.makedirs("/etc/polkit-1/rules.d", exist_ok=True)
with open("/etc/polkit-1/rules.d/50-e2e-smoke.rules", "w") as f:
    f.write('polkit.addRule(function(action, subject) {\n'
            '    if (action.id == "org.freedesktop.policykit.exec" && subject.user == "nobody")\n'
            '        return polkit.Result.YES;\n'
            '});\n')

t = time.monotonic()
bus = C.step("dbus-daemon starts as the system bus", L.start_system_bus)
C.data["dbus_start_s"] = round(time.monotonic() - t, 2)
pk = None
if bus:
    C.check("bus answers", L.name_has_owner("org.freedesktop.DBus"))
    t = time.monotonic()
    pk = C.step("Debian's polkitd starts and owns org.freedesktop.PolicyKit1", L.start_polkitd)
    C.data["polkitd_start_s"] = round(time.monotonic() - t, 2)
if pk:
    out = C.step("polkit Authority answers", L.dbus_call, "org.freedesktop.PolicyKit1",
                 "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.DBus.Properties.Get",
                 "string:org.freedesktop.PolicyKit1.Authority", "string:BackendName")
    C.check("backend is polkit's JS authority", out and "js" in out.lower(), (out or "").strip())
    user = subprocess.run(["ps", "-o", "user=", "-p", str(pk.pid)], capture_output=True,
                          text=True).stdout.strip()
    C.check("polkitd dropped to the polkitd user", user == "polkitd", user)

    def pkcheck_as(uid, action):
        r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                            "sh", "-c", f"exec pkcheck --action-id {action} --process $$"],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).strip()

    rc, out = pkcheck_as(65534, "org.freedesktop.policykit.exec")
    C.check("rules file grants nobody org.freedesktop.policykit.exec (pkcheck 0)", rc == 0,
            f"rc={rc} {out}")
    rc, out = pkcheck_as(65534, "org.freedesktop.login1.reboot")
    C.check("nobody is refused an action without a rule (pkcheck != 0, polkitd answered)",
            rc != 0 and "Error" not in out, f"rc={rc} {out}")

for d in (pk, bus):
    if d:
        d.stop()
# a stale socket would look like a running bus to the next start_system_bus() (under systemd
# the socket is dbus.socket's, and the bus stays)
if not L.SYSTEMD and os.path.exists(L.SYSTEM_BUS_SOCKET):
    os.unlink(L.SYSTEM_BUS_SOCKET)
# the rule was for this check only: vfiod_e2e.py, which runs this first, sets its own
os.unlink("/etc/polkit-1/rules.d/50-e2e-smoke.rules")

sys.exit(C.write())
