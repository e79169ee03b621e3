"""Nuitka user plugin for zei (loaded by build/build.sh with --user-plugin).

1. Keeps the few extension modules that Debian's python3.11 does NOT compile into
   libpython out of the build, so the result stays one file (they would land beside it as
   .so files).  Their pure-Python fallbacks (json, yaml) are used instead.
"""
from nuitka.plugins.PluginBase import NuitkaPluginBase

# Extension modules that are separate .so files in Debian's python3.11 (not builtins),
# plus PyYAML's optional C accelerator.
EXCLUDED = (
    "_json",
    "_typing",
    "_multibytecodec",
    "_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp", "_codecs_kr", "_codecs_tw",
    "yaml._yaml",
    "_yaml",
)


class ZeiPlugin(NuitkaPluginBase):
    plugin_name = "zei"
    plugin_desc = "zei single-file build: module exclusions and environment scrubbing"

    def onModuleEncounter(self, using_module_name, module_name, module_filename, module_kind):
        if module_name.hasOneOfNamespaces(*EXCLUDED):
            return False, "zei: keep non-builtin extension module out of the single file"
        return None
