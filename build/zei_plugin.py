"""Nuitka user plugin for the zei single-file build (build/build.sh passes --user-plugin).

Written for the pinned Nuitka 4.3.3; every Nuitka internal it touches is checked at load
time, and the build fails loudly if one is missing. See build/README.md for the reasons.

1. Module set. Nuitka's standalone mode adds (a) every stdlib module that imports cleanly
   ("auto inclusion": ftplib, tarfile, webbrowser, ...) and (b) every `encodings.*` module
   plus what they import ("early imports"), which drags in the CJK codec extension modules.
   On Debian's python3.11 those, `_json` and `_typing` are not builtins, so they would land
   beside the binary as .so files. We keep (a) out entirely (modules zei, yaml and docopt
   really import are still followed), drop the CJK codecs and their wrappers from (b), and
   refuse the non-builtin extension modules and PyYAML's C parts; json and yaml then use
   their pure-Python code.
2. Environment guard: zei_env_guard.c, a C constructor that runs before Nuitka's main().
3. Main-module pre-load code: puts the variables the guard hid back into os.environ (for
   the services), then removes every file-system import finder, so that nothing outside the
   binary can ever be imported (a failed optional import would otherwise look into the
   binary's directory, which an attacker may own when the suid binary is hard-linked).
"""
import os

from nuitka.freezer import ImportDetection
from nuitka.plugins.PluginBase import NuitkaPluginBase

# Extension modules that Debian's python3.11 ships as separate .so files, plus the pure
# wrappers that exist only to load them. (yaml.cyaml / yaml._yaml are kept out by
# --nofollow-import-to in build.sh: a plugin may not overrule --include-module=yaml.)
_CJK_CODEC_EXTENSIONS = ("_multibytecodec", "_codecs_cn", "_codecs_hk", "_codecs_iso2022",
                         "_codecs_jp", "_codecs_kr", "_codecs_tw")
_CJK_ENCODINGS = ("big5", "big5hkscs", "cp932", "cp949", "cp950", "euc_jis_2004",
                  "euc_jisx0213", "euc_jp", "euc_kr", "gb18030", "gb2312", "gbk", "hz",
                  "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004",
                  "iso2022_jp_3", "iso2022_jp_ext", "iso2022_kr", "johab", "shift_jis",
                  "shift_jis_2004", "shift_jisx0213")
EXCLUDED = frozenset(
    _CJK_CODEC_EXTENSIONS
    + tuple("encodings." + name for name in _CJK_ENCODINGS)
    + ("_json", "_typing", "_yaml")
)

HIDDEN_PREFIX = "__ZEI_HIDDEN_"  # keep in sync with zei_env_guard.c

PRELOAD_CODE = """\
import os, sys
for name in [name for name in os.environ if name.startswith(%(prefix)r)]:
    value = os.environ.pop(name)
    os.environ[name[%(prefix_len)d:]] = value
sys.meta_path[:] = [finder for finder in sys.meta_path
                    if getattr(finder, "__name__", None) != "PathFinder"]
sys.path[:] = []
sys.path_hooks[:] = []
sys.path_importer_cache.clear()
""" % {"prefix": HIDDEN_PREFIX, "prefix_len": len(HIDDEN_PREFIX)}


def _excluded(module_name):
    return str(module_name) in EXCLUDED


def _patch_import_detection():
    for attribute in ("_detectEarlyImports", "_detectStdlibAutoInclusionModules",
                      "_early_modules_names", "_stdlib_modules_names"):
        if not hasattr(ImportDetection, attribute):
            raise SystemExit("zei plugin: nuitka.freezer.ImportDetection.%s is gone; "
                             "this plugin is written for Nuitka 4.3.3" % attribute)
    if ImportDetection._early_modules_names is not None:
        raise SystemExit("zei plugin: early imports were detected before the plugin loaded")

    detect_early = ImportDetection._detectEarlyImports

    def early_imports_without_excluded():
        return [name for name in detect_early() if not _excluded(name)]

    ImportDetection._detectEarlyImports = early_imports_without_excluded
    ImportDetection._detectStdlibAutoInclusionModules = lambda: set()


_patch_import_detection()


class ZeiPlugin(NuitkaPluginBase):
    plugin_name = "zei"
    plugin_desc = "zei single file: module set, environment guard, no file-system imports"

    def onModuleEncounter(self, using_module_name, module_name, module_filename, module_kind):
        if _excluded(module_name):
            return False, "zei: not builtin in Debian's python3.11, or PyYAML's C part"
        return None

    def getExtraCodeFiles(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zei_env_guard.c")
        with open(path) as source:
            return {"zei_env_guard.c": source.read()}

    @staticmethod
    def createPreModuleLoadCode(module):
        if module.isMainModule():
            return PRELOAD_CODE, "zei: restore hidden variables, no file-system imports"
        return None

    def onStandaloneDistributionFinished(self, dist_dir):
        entries = sorted(os.listdir(dist_dir))
        if len(entries) != 1:
            raise SystemExit("zei plugin: the distribution is not a single file: %s" % entries)
