"""Reading `env_file:` (EnvFileFields, a reader zei.core.config's checker inherits).

docker compose's forms: a path, a list of paths, or list items `{path, required}` (an
optional file that does not exist is skipped). A relative path is relative to the config
file's directory. The files are read through the `read_file(path) -> str` function the
checker is given (raising OSError), so this stays pure: zei.shell.envread is the real one,
called as the app identity. Each file is parsed by zei.core.envfile; every bad line is a
problem `CONFIG:LINE: services.NAME.env_file: ENVFILE:N: reason`, at the path's own line.
"""
from __future__ import annotations

import posixpath

import yaml

from zei.core import envfile
from zei.core.fields import Fields, _label, suggest

ENV_FILE_KEYS = ("path", "required")


def _no_files(path):
    """parse()'s default reader: every file exists and is empty (as the default user lookup
    knows every user) -- for tests and tools that read no files."""
    return ""


class EnvFileFields(Fields):
    read_file = staticmethod(_no_files)

    def env_files(self, node, where):
        """-> ((path, ((name, value), ...)), ...) in order, or None after reporting."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if isinstance(node, yaml.SequenceNode) and not node.value:
            self.bad(node, where, "must not be empty", node)
            return None
        before = len(self.problems)
        wanted = []                                 # (path, required, node)
        for i, item in enumerate(items):
            at = f"{where}[{i}]" if isinstance(node, yaml.SequenceNode) else where
            if isinstance(item, yaml.MappingNode):
                got = self._long_form(item, at)
            else:
                path = self.string(item, at) if isinstance(item, yaml.ScalarNode) else None
                if path is None and not isinstance(item, yaml.ScalarNode):
                    self.bad(item, at, "expected a path, or a mapping with path and required", item)
                got = path and (path, True)
            if got:
                wanted.append((got[0], got[1], item))
        if len(self.problems) != before:
            return None
        out = []
        for path, required, item in wanted:
            full = posixpath.normpath(posixpath.join(posixpath.dirname(self.path), path))
            try:
                text = self.read_file(full)
            except OSError as e:
                if not required and isinstance(e, FileNotFoundError):
                    continue
                self.bad(item, where, f"cannot read {full}: {e.strerror or e}")
                continue
            if envfile.too_big(text):
                self.bad(item, where, f"{full} is larger than {envfile.MAX_SIZE // (1 << 20)} MiB")
                continue
            pairs, problems = envfile.parse(text)
            for number, reason in problems:
                self.bad(item, where, f"{full}:{number}: {reason}")
            out.append((full, pairs))
        return tuple(out) if len(self.problems) == before else None

    def _long_form(self, node, where):
        """`{path: P, required: BOOL}` -> (P, required), or None after reporting."""
        path, required, ok = None, True, True
        for key, knode, vnode in self.mapping_items(node, where):
            if key not in ENV_FILE_KEYS:
                self.bad(knode, f"{where}.{_label(key)}", "unknown key" + suggest(key, ENV_FILE_KEYS))
                ok = False
            elif key == "path":
                path = self.string(vnode, f"{where}.path")
                ok = ok and path is not None
            elif key == "required":
                required = self.boolean(vnode, f"{where}.required")
                ok = ok and required is not None
        if ok and path is None:
            self.bad(node, f"{where}.path", "missing: the env file's path")
            ok = False
        return (path, required) if ok else None


def merge(files, environment):
    """The environment of a service: the files' variables in order (a later file wins: in
    the place the name first had), then `environment`'s, which win over every file. -> (environment pairs, ((path, names), ...))."""
    merged = {}
    for _, pairs in files:
        merged.update(pairs)
    for name, _ in environment or ():
        merged.pop(name, None)                      # in environment's place, with its value
    merged.update(environment or ())
    return tuple(merged.items()), tuple((path, tuple(n for n, _ in pairs)) for path, pairs in files)
