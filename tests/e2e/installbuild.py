"""The project configured and built as a distribution would (prefix /usr, sysconfdir /etc), on
the host, for a guest to `meson install` into its root: BUILD/tests/e2e/install-build. Used by
run-e2e.py --install and by persist_e2e.py."""

import os
import subprocess

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def install_build(build):
    """Configures (or reconfigures) and builds it; returns its path."""
    ib = os.path.join(build, "tests", "e2e", "install-build")
    opts = ["--prefix=/usr", "--buildtype=debugoptimized", "-Dtests=disabled"]
    if os.path.exists(os.path.join(ib, "build.ninja")):
        subprocess.run(["meson", "setup", "--reconfigure", ib, SOURCE_DIR] + opts, check=True,
                       stdout=subprocess.DEVNULL)
    else:
        subprocess.run(["meson", "setup", ib, SOURCE_DIR] + opts, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", ib], check=True, stdout=subprocess.DEVNULL)
    return ib
