"""The rows the storm and herd hammer, and how each library reads and writes them.

Worker processes install this app (see ``benchmarks.storm_settings``); the parent process only
uses :mod:`benchmarks.stormapp.lab`, which never imports Django models or a peer library.
"""
