"""The guard's detectors: pure functions of a request or a response's text (no I/O).

Input detectors (:class:`openward.guard.types.InputDetector`):

- :mod:`.manyshot`    ``ManyShotDetector``           many-shot jailbreaking (fabricated dialogues)
- :mod:`.obfuscation` ``ObfuscationDetector``        encoded, hidden and homoglyph payloads
- :mod:`.extraction`  ``PromptExtractionDetector``   attempts to make the model print its prompt
- :mod:`.perplexity`  ``AdversarialSuffixDetector``  GCG-style optimised token soup (char LM)
- :mod:`.harmreq`     ``HarmfulRequestDetector``     harmful asks, plain, wrapped or multi-turn
- :mod:`.structure`   ``InjectionStructureDetector`` fake delimiters, template tokens, hijacks

Every input detector reads a request through :func:`._common.capped_segments` (at most 64 000
characters of at most 64 segments per request).

Output detectors (:class:`openward.guard.types.OutputDetector`):

- :mod:`.leak`        ``SystemPromptLeakDetector``   the system prompt repeated in the output
- :mod:`.secrets`     ``SecretsDetector``            credentials (detect-secrets' plugins)
- :mod:`.canary`      ``CanaryDetector``             canary tokens in the output
- :mod:`.exfiltration` ``ExfiltrationDetector``      conversation text in link/image URLs
- :mod:`.harmful`     ``HarmfulComplianceDetector``  compliance with a harmful request (audit judge)
"""
