"""zei: a small init system for Linux containers (PID 1, several services, one binary)."""

__version__ = "0.1.0"
