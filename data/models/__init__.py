"""The trained models that ship with ea-mt (see README.md here); found by ea_mt.bundled."""
