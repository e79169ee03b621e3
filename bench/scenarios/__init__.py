"""The scenarios, one module per family; PHASES is every phase in the order a run takes them:
(metric groups it measures, function of the Bench)."""
from bench.scenarios import cli, command, health, lifecycle, logs, operate

PHASES = [*lifecycle.PHASES, *cli.PHASES, *logs.PHASES, *health.PHASES, *operate.PHASES, *command.PHASES]
