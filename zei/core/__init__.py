"""The pure core: every decision zei makes, as functions of (state, event, now) -> actions.

No module here imports os, signal, select, socket, time or subprocess, nor anything of
zei.shell (tests/unit/test_layering.py checks it). Time is an argument; I/O is an action.
"""
