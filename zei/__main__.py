"""Entry point of the zei binary: `zei -c FILE` runs the daemon as PID 1, anything else is the CLI."""
import sys


def main(argv=None):
    from zei import __version__
    print("zei", __version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
