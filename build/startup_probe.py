"""Stand-in main for build/measure.sh: built by `build/build.sh --probe` with exactly the
flags of dist/zei, plus zei's own entry module imported first.

  zei-probe            print CLOCK_MONOTONIC (ns) at the first line of "main", then exit
  zei-probe --diag     print what the frozen interpreter looks like (path, finders, flags)
  zei-probe --idle     print the timestamp, then sleep (RSS of an idle interpreter)
"""
import time

T_MAIN = time.clock_gettime_ns(time.CLOCK_MONOTONIC)

import os  # noqa: E402
import sys  # noqa: E402

import zei.__main__  # noqa: E402,F401  (zei's entry module, as dist/zei loads it)


def main():
    print(T_MAIN, flush=True)
    if "--diag" in sys.argv:
        print("sys.path", sys.path)
        print("meta_path", [getattr(f, "__name__", type(f).__name__) for f in sys.meta_path])
        print("path_hooks", sys.path_hooks)
        print("flags", sys.flags)
        print("utf8_mode", sys.flags.utf8_mode, "fs", sys.getfilesystemencoding(),
              "stdout", sys.stdout.encoding)
        print("environ", sorted(os.environ))
        print("modules", len(sys.modules), sorted(sys.modules))
        print("executable", sys.executable, "argv", sys.argv)
        import inspect
        print("inspect patched by Nuitka:", type(inspect.getgeneratorstate).__name__,
              "builtin patch hook left:", hasattr(__builtins__, "__zei_patch_inspect"))
    if "--idle" in sys.argv:
        time.sleep(3600)


main()
