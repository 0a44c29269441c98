"""ea-mt: Evolving-Attention Transformers (Wang et al., ICML 2021) as a fairseq plugin.

Importing this package registers the ``ea_transformer`` model and its architectures
with fairseq, and allow-lists the types fairseq checkpoints hold for torch's
``weights_only`` loader: at once where fairseq and torch are already imported (fairseq's
``--user-dir``), else as soon as they are (:mod:`ea_mt.registration`), so that commands
which load no model start without them.  fairseq's ``--user-dir`` may import the package
a second time under another module name; registration is idempotent.
"""

from ea_mt import registration as _registration

__version__ = "0.1.0"

_registration.install()
