"""Running a model when a capability must (audit, lineage's representation mode, watermark
generation, guard's upstream): local transformers models (safetensors or GGUF, never
``trust_remote_code``, scanned before they are loaded) and OpenAI-compatible endpoints.
One place loads models."""
