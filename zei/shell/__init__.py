"""The shell: turns the world into the core's events and its actions into system calls.

One syscall family per module, each the only place that makes it: daemon (the one poll),
spawn (the one fork), reaper (the one waitpid), signals, privileges (the one credential
change), users, capture, logs and sink (output), server and sockdir (the control socket), client.
"""
