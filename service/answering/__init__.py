"""Answering questions about the catalog, with cited images.

- :mod:`~service.answering.answerer`: :class:`Answerer` (question → :class:`Answer`), the
  one object the CLI, the HTTP API and batch mode call.
- :mod:`~service.answering.retrieve`: :class:`Retriever`, the one text → products search
  (with its options) and image → annotated neighbours.
- :mod:`~service.answering.fusion`: rank fusion (RRF), in the store's query or here.
- :mod:`~service.answering.extractive`: the answer without a language model, a vote over
  the retrieved neighbours' captions.
- :mod:`~service.answering.prompt` and :mod:`~service.answering.citations`: the language
  model's prompt, and the checks on the files its answer cites.
- :mod:`~service.answering.batcher`: concurrent text encodes batched into one call.

The modules are imported one by one (``from service.answering.retrieve import Retriever``),
so that a user of one does not load the others.
"""
