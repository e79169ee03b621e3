"""Reading an env file for the config check: the `read_file` zei.core.config.parse is given.

At most zei.core.envfile.MAX_SIZE + 1 bytes are read (the check refuses a larger file
without zei reading it all), as UTF-8 with surrogateescape (bytes that are not UTF-8 become
a problem on their line, never a silent replacement). Raises OSError. Called inside
prelude's `priv.as_app()`: the file is opened as the app identity.
"""
from __future__ import annotations

from zei.core.envfile import MAX_SIZE


def read_file(path):
    with open(path, "rb") as f:
        data = f.read(MAX_SIZE + 1)
    return data.decode("utf-8", "surrogateescape")
