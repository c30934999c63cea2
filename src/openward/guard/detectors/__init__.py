"""The guard's detectors: pure functions of a request or a response's text (no I/O).

Input detectors (:class:`openward.guard.types.InputDetector`):

- :mod:`.manyshot`    ``ManyShotDetector``           many-shot jailbreaking (fabricated dialogues)
- :mod:`.obfuscation` ``ObfuscationDetector``        encoded, hidden and homoglyph payloads
- :mod:`.extraction`  ``PromptExtractionDetector``   attempts to make the model print its prompt
- :mod:`.perplexity`  ``AdversarialSuffixDetector``  GCG-style optimised token soup (char LM)

Output detectors (:class:`openward.guard.types.OutputDetector`):

- :mod:`.leak`        ``SystemPromptLeakDetector``   the system prompt repeated in the output
- :mod:`.secrets`     ``SecretsDetector``            credentials (detect-secrets' plugins)
- :mod:`.canary`      ``CanaryDetector``             canary tokens in the output
- :mod:`.harmful`     ``HarmfulComplianceDetector``  compliance with a harmful request (audit judge)
"""
