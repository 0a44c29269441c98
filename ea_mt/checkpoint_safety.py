"""Placeholder: allow-list of fairseq checkpoint types (owned by the infrastructure work)."""


def allow_fairseq_checkpoint_types() -> None:
    """Allow-list the types fairseq checkpoints hold (to be implemented)."""
