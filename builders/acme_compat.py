"""Makes Acme 0.4.0 importable and correct under the pinned JAX (0.4.30).

Acme 0.4.0 was written against JAX 0.3, and names three things that JAX 0.4
removed:

* `jax.xla.Device` (type annotations in acme.jax.utils, variable_utils and
  the IMPALA learner, evaluated when those modules are imported, so without
  this shim `import acme.jax.utils` raises AttributeError);
* `jax.xla.DeviceArray` (acme.jax.utils.fetch_devicearray, which the actors
  and variable clients use to turn parameters into NumPy: without it every
  call raises AttributeError);
* `jax.numpy.DeviceArray` (acme.adders.reverb.utils.zeros_like, used by every
  Reverb adder at episode end, and acme.jax.savers).

and `jax.tree_multimap` (SAC/TD3 learners), which JAX folded into
`jax.tree_util.tree_map`.

The DeprecationWarnings that Acme 0.4.0 then triggers on every actor step
are dropped from the programs' output by launchers.programs.quiet_output.

Import this module before anything from acme. `builders/__init__.py` does, so
any `import builders...` is enough; launchers and tests import builders first.
The aliases only add names JAX no longer has: they never replace anything.
"""

import types

import jax
import jax.numpy as jnp


def _install_aliases() -> None:
  if not hasattr(jax, "xla"):
    # `jax.xla` was a module; Acme only reads these two attributes from it.
    jax.xla = types.SimpleNamespace(Device=jax.Device, DeviceArray=jax.Array)
  if not hasattr(jnp, "DeviceArray"):
    jnp.DeviceArray = jax.Array
  if not hasattr(jax, "tree_multimap"):
    jax.tree_multimap = jax.tree_util.tree_map


_install_aliases()
