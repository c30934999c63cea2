"""Facts about a model, from headers and configs alone: parameters, architecture,
training compute, regulatory tiers (``openward inspect``)."""
