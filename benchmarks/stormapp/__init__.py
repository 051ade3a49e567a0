"""The rows the storm and the herd hammer (models only).

Worker processes install this app (see :mod:`benchmarks.env.labsettings`); the parent process
only uses :mod:`benchmarks.env.lab`, which never imports Django models or a peer library.
"""
