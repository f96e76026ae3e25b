"""One package per paper: each holds its model (``model.py``, the file a student reads to learn
the architecture), its chapter's library code and its ``findings()``.

Papers build on the shared floors below them (``cellnb.sim``, ``cellnb.data``, ``cellnb.train``,
``cellnb.evaluation``, ``cellnb.nn``, display and plotting); those floors never import a paper,
and papers never import each other.
"""
