"""Maps the top-level part folders to `zos.<part>` (see ARCHITECTURE.md section 1)."""

from setuptools import find_packages, setup

PARTS = {"zos": "zos", "zos.bus": "bus", "zos.events": "events", "zos.node": "node",
         "zos.fs": "fs", "zos.hub": "hub", "zos.disk": "disk", "zos.projections": "projections",
         "zos.image": "image"}

package_dir: dict[str, str] = {}
packages: list[str] = []
for name, folder in PARTS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")

setup(package_dir=package_dir, packages=packages,
      package_data={"": ["*.capnp", "*.toml", "*.html", "*.css", "*.js", "*.sql", "*.ini",
                         "*.mako", "*.sh"]},
      include_package_data=True)
