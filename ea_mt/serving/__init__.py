"""``ea-mt serve``: translation and attention inspection over HTTP, with dynamic batching.

:mod:`~ea_mt.serving.settings` holds the server's limits, :mod:`~ea_mt.serving.batching`
gathers concurrent requests into batches, :mod:`~ea_mt.serving.service` runs them on the
models, :mod:`~ea_mt.serving.app` is the FastAPI application and
:mod:`~ea_mt.serving.server` loads the models and runs uvicorn.  ``static/`` is the page
served at ``/``.
"""
