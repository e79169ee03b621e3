"""`python3 -m bench`: the same as scripts/bench."""
import sys

from bench.cli import main

sys.exit(main())
