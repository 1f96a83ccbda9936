"""Command lines (this package's modules) and the program library
(launchers.programs). See docs/ARCHITECTURE.md.

Every module under launchers/ is imported after this package, so what must
happen first happens here, once: the known third-party noise is dropped
(launchers.programs.quiet_output) and Acme 0.4.0's compatibility shim is
installed before anything imports Acme (builders.acme_compat).
"""

from launchers.programs import quiet_output

quiet_output.install()

from builders import acme_compat  # noqa: E402,F401  (before acme)
