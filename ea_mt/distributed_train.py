"""``torchrun ... -m ea_mt.distributed_train DATA [options]``: the documented entry point of
one DDP rank; the code lives in :mod:`ea_mt.training.distributed`."""

from ea_mt.training.distributed import main

if __name__ == "__main__":
    main()
