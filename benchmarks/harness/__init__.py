"""The harness: command line, modes, timing, results, targets, report, charts, console."""
