"""The VQA stage's trained side: answer heads over the photo embeddings, the answer
vocabulary mined from a catalog's captions, the three candidate sources (heads, CLIP
zero-shot, neighbour vote) and their fusion, and the captioner made of the heads.

The service's side is :mod:`service.answering.vqa`. Nothing is imported here, so that
``import ingest.vqa.sources`` does not load torch.
"""
