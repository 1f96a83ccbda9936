"""Acme glue for the Scaled Q-Learning agent.

The compatibility shim must run before any acme module is imported.
"""

from builders import acme_compat  # noqa: F401  (import for its side effect)
