"""Running a model when a capability must (audit, lineage's representation mode, watermark
generation, guard's upstream): local transformers models (safetensors or GGUF, never
``trust_remote_code``, scanned before they are loaded) and OpenAI-compatible endpoints.
One place loads models.

::

    from openward.runtime import resolve_target, inspect_model, generate_local

    target = resolve_target("model-folder-or.gguf")     # scan gate, GGUF -> safetensors cache
    model = inspect_model(target, batch_size=8)   # inspect-ai Model (openward-local / openai-api)
    texts = generate_local(target.load_path, [[{"role": "user", "content": "Hi"}]],
                           max_new_tokens=32, batch_size=8)
"""

from openward.errors import TargetError, TargetRefused
from openward.runtime.targets import Target, inspect_model, resolve_target

__all__ = ["Target", "TargetError", "TargetRefused", "inspect_model", "resolve_target"]
