"""Nuitka user plugin for the zei single-file build (build/build.sh passes --user-plugin).

Written for the pinned Nuitka 4.3.3; every Nuitka internal it touches is checked at load
time, and the build fails loudly if one is missing. See build/README.md for the reasons.

1. Module set. zei, PyYAML and docopt are embedded as bytecode, like the standard library,
   not compiled to C: the kernel maps a binary's code in 64 KiB windows around each page
   touched (fault-around), so nearly all of .text is resident in every zei process, and zei
   compiled to C was 2.7 MB of it (RSS 18.4 -> 16.2 MiB as bytecode; `zei list` and the log
   relay measured no slower: docs/build.md). Only the main module stays compiled.
   Nuitka's standalone mode would also add (a) every stdlib module that imports cleanly ("auto inclusion": ftplib, tarfile,
   webbrowser, ...) and (b) every `encodings.*` module plus what it imports ("early
   imports"), which drags in the CJK codec extension modules. On Debian's python3.11 those,
   `_json` and `_typing` are not builtins, so they would land beside the binary as .so
   files. We drop (a) entirely (what zei, yaml and docopt import is still followed), keep
   only the UTF/Latin-1/ASCII codecs of (b), and refuse the non-builtin extension modules;
   json and typing then use their pure-Python code. Stdlib modules no code zei runs can
   import are left out too (UNREACHABLE), and the embedded bytecode is found from its
   sizes instead of a start-up walk over all of it (zei_bytecode_blob.c): both were
   resident memory in every zei process.
2. Environment guard: zei_env_guard.c, a C constructor that runs before Nuitka's main().
   Lazy inspect: Nuitka's main() imports "inspect" at every start only to patch it; a
   small, exact-match edit of the pinned Nuitka's MainProgram.c defers that patch to the
   first import of inspect (zei_lazy_inspect.c).
3. Main-module pre-load code: puts the variables the guard hid back into os.environ (for
   the services), then removes every file-system import finder, so that nothing outside the
   binary can ever be imported (a failed optional import would otherwise look into the
   binary's directory, which an attacker may own when the suid binary is hard-linked).
"""
import os

import nuitka
from nuitka.freezer import ImportDetection
from nuitka.plugins.PluginBase import NuitkaPluginBase

# Extension modules that Debian's python3.11 ships as separate .so files (not builtins).
_CJK_CODEC_EXTENSIONS = ("_multibytecodec", "_codecs_cn", "_codecs_hk", "_codecs_iso2022",
                         "_codecs_jp", "_codecs_kr", "_codecs_tw")
# Codecs kept: the ones Python's start-up and zei can need. Every other `encodings.*`
# module (about a hundred charmap and CJK codecs, ~1 MB of bytecode) is left out; looking
# one up raises LookupError.
KEPT_ENCODINGS = ("aliases", "ascii", "latin_1", "utf_8", "utf_8_sig", "utf_16", "utf_16_be",
                  "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "unicode_escape",
                  "raw_unicode_escape")

# (yaml.cyaml / yaml._yaml are kept out by --nofollow-import-to in build.sh: a plugin may
# not overrule --include-module=yaml.)
EXCLUDED = frozenset(_CJK_CODEC_EXTENSIONS + ("_json", "_typing", "_yaml"))

# Standard-library modules that Nuitka would embed but that no code zei runs can import:
# name -> the only ways in (every import of it in the embedded modules, top-level or in a
# function, and in Nuitka's C runtime), and why none of them runs. Each costs resident
# memory although it is never imported: its bytecode sits between modules that are, and
# the kernel maps 64 KiB around every page read (build/README.md, "Module set").
UNREACHABLE = {
    # Only os.popen() imports subprocess; nothing embedded calls os.popen.
    "subprocess": "os.popen only",
    "threading": "subprocess only (CPython's shutdown only looks it up in sys.modules)",
    "_threading_local": "threading only",
    # strptime is the only way to _strptime (time.strptime, datetime.strptime in C);
    # nothing embedded calls strptime (PyYAML's timestamps use a regex).
    "_strptime": "time/datetime .strptime only",
    "calendar": "_strptime only",
    "locale": "_strptime, calendar, subprocess only; CPython 3.11 itself uses C for the "
              "locale encoding (Nuitka lists it as a start-up module for older Pythons)",
    # warnings imports tracemalloc only to format a warning that carries a `source`
    # (ResourceWarning, ignored by the default filters, which zei never changes, and
    # "coroutine never awaited"; zei has no coroutines), inside try/except Exception.
    "tracemalloc": "warnings._formatwarnmsg_impl for source= warnings only",
    "pickle": "tracemalloc only",
    "_compat_pickle": "pickle only",
    "fnmatch": "tracemalloc only",
    # Nuitka's start-up import of inspect is deferred to inspect's first import
    # (zei_lazy_inspect.c); otherwise only ast.get_docstring imports it, never called.
    "inspect": "ast.get_docstring and Nuitka's deferred inspect patch only",
    "dis": "inspect only",
    "opcode": "dis only",
    # Only encodings.quopri_codec (not kept) imports quopri.
    "quopri": "encodings.quopri_codec only",
    # abc falls back to _py_abc when the builtin _abc is missing; it is a builtin here.
    "_py_abc": "abc, without the builtin _abc only",
    "_weakrefset": "_py_abc, threading, weakref only",
    # copy: collections.UserDict.copy, weakref's __deepcopy__ and Nuitka's compiled-method
    # __deepcopy__ (reached through copy.deepcopy only); nothing embedded uses UserDict.
    "copy": "UserDict.copy and __deepcopy__ methods only",
    # weakref: copy, functools.singledispatch (unused), _threading_local.
    "weakref": "copy, functools.singledispatch, _threading_local only",
}

# Packages embedded as bytecode instead of compiled C (the stdlib is bytecode already).
BYTECODE_PACKAGES = ("zei", "yaml", "docopt")

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
    name = str(module_name)
    if name.startswith("encodings.") and name[len("encodings."):] not in KEPT_ENCODINGS:
        return True
    return name in EXCLUDED or name in UNREACHABLE


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

# Nuitka's main() imports "inspect" at every start (~20 ms): call our deferral instead,
# and patch inspect from its postLoad code (zei_lazy_inspect.c).
_MAIN_PROGRAM = os.path.join(os.path.dirname(nuitka.__file__), "build", "static_src",
                             "MainProgram.c")
_EAGER = """    NUITKA_PRINT_TRACE("main(): Calling patchInspectModule().");
    patchInspectModule(tstate);
"""
_DEFERRED = """    NUITKA_PRINT_TRACE("main(): Calling patchInspectModule().");
    /* zei build: patched by build/zei_plugin.py, see build/zei_lazy_inspect.c */
    extern void zeiDeferInspectPatch(PyThreadState *tstate);
    zeiDeferInspectPatch(tstate);
"""
INSPECT_POSTLOAD_CODE = """\
import builtins
patch = builtins.__dict__.pop("__zei_patch_inspect", None)
if patch is not None:
    patch()
"""


def _patch_main_program():
    with open(_MAIN_PROGRAM) as source:
        text = source.read()
    if text.count(_DEFERRED) == 1 and _EAGER not in text:
        return
    if text.count(_EAGER) != 1:
        raise SystemExit("zei plugin: %s does not contain the expected patchInspectModule() "
                         "call once; this plugin is written for Nuitka 4.3.3" % _MAIN_PROGRAM)
    with open(_MAIN_PROGRAM, "w") as source:
        source.write(text.replace(_EAGER, _DEFERRED))


_patch_main_program()

# The ".bytecode" record of the constants blob: instead of Nuitka's walk over every entry
# at start-up (which makes the whole record resident), the generated loader computes the
# entries' addresses from their sizes, recorded here while Nuitka writes them
# (zei_bytecode_blob.c). Checked against the blob the data composer wrote.
_BYTECODE_WALK = '        loadConstantsBlob(tstate, bytecode_data, ".bytecode");\n'
_BYTECODE_COMPUTED = ('        /* zei build: build/zei_plugin.py, see build/zei_bytecode_blob.c */\n'
                      '        zeiLoadBytecodeBlob(tstate, bytecode_data, zei_bytecode_sizes, %d);\n')
_LOADER_FUNCTION = "static void _loadBytesCodesBlob(PyThreadState *tstate) {\n"
_bytecode_sizes = {}


def _patch_bytecode_blob_walk():
    from nuitka import Serialization
    from nuitka.code_generation import LoaderCodes

    for owner, attribute in ((Serialization.ConstantAccessor, "getBlobDataCode"),
                             (LoaderCodes, "getMetaPathLoaderBodyCode")):
        if not callable(getattr(owner, attribute, None)):
            raise SystemExit("zei plugin: nuitka %s.%s is gone; this plugin is written for "
                             "Nuitka 4.3.3" % (owner.__name__, attribute))
    get_blob_data_code = Serialization.ConstantAccessor.getBlobDataCode
    loader_body_code = LoaderCodes.getMetaPathLoaderBodyCode

    def getBlobDataCode(self, data, name):
        code = get_blob_data_code(self, data, name)
        if self.top_level_name == "bytecode_data":
            prefix = "bytecode_data["
            if not (code.startswith(prefix) and code.endswith("]")):
                raise SystemExit("zei plugin: unexpected bytecode accessor code %r" % code)
            _bytecode_sizes[int(code[len(prefix):-1])] = len(data)
        return code

    def getMetaPathLoaderBodyCode(bytecode_accessor):
        code = loader_body_code(bytecode_accessor)
        count = len(_bytecode_sizes)
        if count == 0:
            return code
        if (sorted(_bytecode_sizes) != list(range(count))
                or "static unsigned char *bytecode_data[%d];" % count not in code
                or code.count(_BYTECODE_WALK) != 1 or code.count(_LOADER_FUNCTION) != 1):
            raise SystemExit("zei plugin: the generated loader code is not what the bytecode "
                             "blob patch expects; this plugin is written for Nuitka 4.3.3")
        sizes = ",".join(str(_bytecode_sizes[index]) for index in range(count))
        declarations = (
            "extern void zeiLoadBytecodeBlob(PyThreadState *tstate, unsigned char **output, "
            "uint32_t const *sizes, int count);\n"
            "static uint32_t const zei_bytecode_sizes[%d] = {%s};\n\n" % (count, sizes))
        code = code.replace(_BYTECODE_WALK, _BYTECODE_COMPUTED % count)
        return code.replace(_LOADER_FUNCTION, declarations + _LOADER_FUNCTION)

    Serialization.ConstantAccessor.getBlobDataCode = getBlobDataCode
    LoaderCodes.getMetaPathLoaderBodyCode = getMetaPathLoaderBodyCode


def _check_bytecode_blob(blob_filename):
    """The layout zei_bytecode_blob.c computes, against the blob actually written."""
    with open(blob_filename, "rb") as blob:
        data = blob.read()
    name = b".bytecode\0"
    if not data.startswith(name) or not _bytecode_sizes:
        raise SystemExit("zei plugin: %s does not start with the .bytecode record" % blob_filename)
    position = len(name)
    record_size = int.from_bytes(data[position:position + 4], "little")
    position += 4
    end = position + record_size
    if int.from_bytes(data[position:position + 2], "little") != len(_bytecode_sizes):
        raise SystemExit("zei plugin: .bytecode entry count differs from the recorded sizes")
    position += 2
    for index in range(len(_bytecode_sizes)):
        if data[position] != 0x58:  # NUITKA_CONSTANT_BLOB_TAG_BLOB_DATA
            raise SystemExit("zei plugin: .bytecode entry %d is not blob data" % index)
        position += 1
        size, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if size != _bytecode_sizes[index]:
            raise SystemExit("zei plugin: .bytecode entry %d has %d bytes, not %d"
                             % (index, size, _bytecode_sizes[index]))
        position += size
    if position + 1 != end or data[position] != 0x2E:  # NUITKA_CONSTANT_BLOB_TAG_END
        raise SystemExit("zei plugin: the .bytecode record does not end where computed")


_patch_bytecode_blob_walk()


class ZeiPlugin(NuitkaPluginBase):
    plugin_name = "zei"
    plugin_desc = "zei single file: module set, environment guard, no file-system imports"

    def onModuleEncounter(self, using_module_name, module_name, module_filename, module_kind):
        if str(module_name) in UNREACHABLE:
            return False, "zei: unreachable (%s)" % UNREACHABLE[str(module_name)]
        if _excluded(module_name):
            return False, "zei: not builtin in Debian's python3.11, or PyYAML's C part"
        return None

    def decideCompilation(self, module_name):
        # Resident memory, not speed, is what C would change here (see the docstring).
        # The main module and Nuitka's own trigger modules ("zei.__main__-preLoad": the
        # plugin code below) must stay compiled.
        name = str(module_name)
        if name == "zei.__main__" or "-" in name:
            return None
        if module_name.hasOneOfNamespaces(*BYTECODE_PACKAGES):
            return "bytecode"
        return None

    def getExtraCodeFiles(self):
        here = os.path.dirname(os.path.abspath(__file__))
        files = {}
        for name in ("zei_env_guard.c", "zei_lazy_inspect.c", "zei_bytecode_blob.c", "zei_release.c"):
            with open(os.path.join(here, name)) as source:
                files[name] = source.read()
        return files

    @staticmethod
    def createPreModuleLoadCode(module):
        if module.isMainModule():
            return PRELOAD_CODE, "zei: restore hidden variables, no file-system imports"
        return None

    @staticmethod
    def createPostModuleLoadCode(module):
        if module.getFullName() == "inspect":
            return INSPECT_POSTLOAD_CODE, "zei: Nuitka's inspect patch, deferred to here"
        return None

    def onDataComposerResult(self, blob_filenames):
        blobs = [name for name in blob_filenames if os.path.basename(name) == "__constant.bin"]
        if len(blobs) != 1:
            raise SystemExit("zei plugin: expected one __constant.bin, got %s" % blob_filenames)
        _check_bytecode_blob(blobs[0])

    def onStandaloneDistributionFinished(self, dist_dir):
        entries = sorted(os.listdir(dist_dir))
        if len(entries) != 1:
            raise SystemExit("zei plugin: the distribution is not a single file: %s" % entries)
