"""ea-mt: Evolving-Attention Transformers (Wang et al., ICML 2021) as a fairseq plugin.

Importing this package registers the ``ea_transformer`` model and its architectures
with fairseq, and allow-lists the types fairseq checkpoints hold for torch's
``weights_only`` loader.  fairseq's ``--user-dir`` may import it a second time under
another module name; registration is idempotent.
"""

import logging

__version__ = "0.1.0"

# Some fairseq modules call logging.basicConfig (one at DEBUG level) when imported, which
# would configure the application's root logger.  While a handler is present those calls
# do nothing, so fairseq is imported with a placeholder one.
_import_guard = logging.NullHandler()
logging.getLogger().addHandler(_import_guard)
try:
    from ea_mt import checkpoint_safety as _checkpoint_safety
    from ea_mt import models  # noqa: F401  (registers the architectures)
finally:
    logging.getLogger().removeHandler(_import_guard)

_checkpoint_safety.allow_fairseq_checkpoint_types()
