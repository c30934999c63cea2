"""Training data for the guard's injection/jailbreak classifier (``make train-guard``).

Pure standard library at import: the trainer (``scripts/train_guard.py``) and the benchmark read
the same splits from :mod:`openward.guard.training.data`; nothing here runs on the request path.
"""
