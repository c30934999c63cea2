"""openward guard: a monitoring proxy in front of OpenAI-compatible model servers.

Layers (docs/guard.md):

- :mod:`openward.guard.types`      what detectors see and report (the one shared vocabulary)
- :mod:`openward.guard.detectors`  input, output and usage detectors (pure, no I/O)
- :mod:`openward.guard.classifier` the trained injection/jailbreak classifier (numpy at run time)
- :mod:`openward.guard.policy`     the policy file: identities, actions per detector, limits
- :mod:`openward.guard.engine`     policy + detectors -> a decision for a request or a stream
- :mod:`openward.guard.state`      usage counters in memory or Redis (shared by guard processes)
- :mod:`openward.guard.proxy`      the ASGI reverse proxy (metrics, events, streaming cut-off)
"""
