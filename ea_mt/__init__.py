"""ea-mt: Evolving-Attention Transformers (Wang et al., ICML 2021) as a fairseq plugin.

Importing this package registers the ``ea_transformer`` model and its architectures
with fairseq, and allow-lists the types fairseq checkpoints hold for torch's
``weights_only`` loader.  fairseq's ``--user-dir`` may import it a second time under
another module name; registration is idempotent.
"""

__version__ = "0.1.0"

from ea_mt import checkpoint_safety as _checkpoint_safety

_checkpoint_safety.allow_fairseq_checkpoint_types()

from ea_mt import models  # noqa: E402,F401  (registers the architectures)
