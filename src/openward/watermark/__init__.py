"""Usage watermarks: per-recipient marks in model weights (:mod:`openward.watermark.weights`)
and statistical watermarks in generated text."""
