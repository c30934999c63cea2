"""inspect-ai's model provider for local targets: ``openward-local/<name>``.

inspect-ai's own ``hf`` provider batches by draining a queue until no request has arrived
for two seconds and polls each result once a second, so every batch waits about three
seconds with the model idle; it also batches requests in arrival order, padding short
prompts to long ones. On SmolLM2 with batches of 8 that made an audit 27-58 % slower than
generating the same samples by hand (BENCHMARKS.md). This provider schedules instead:

- inspect runs up to ``pool`` samples at once (its ``max_connections``); their requests wait
  here, and each batch takes the ``batch_size`` shortest prompts of the same decoding
  settings, so a batch pads little, as raw generation sorted by length does;
- the next batch starts the moment one finishes; only when fewer than ``batch_size``
  requests wait and the model is idle does it wait for more, and at most ``flush_s``
  after the last arrival;
- the batch runs on openward's compute thread (:mod:`openward.runtime.compute`) through
  :func:`openward.runtime.generate.generate_batch` (the same code raw generation uses), and
  results come back as asyncio futures with no polling.

The model is loaded with :func:`openward.runtime.generate.load_local` (safetensors,
``trust_remote_code=False``). Use it through :func:`openward.runtime.targets.inspect_model`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from openward.runtime.compute import in_compute_thread
from openward.runtime.generate import Generated, Sampling, generate_batch, load_local, render_chat

__all__ = ["PROVIDER", "LocalModelAPI"]

PROVIDER = "openward-local"
"""The provider name: ``get_model("openward-local/NAME", model_path=..., batch_size=...)``."""

DEFAULT_MAX_TOKENS = 1024


@dataclass
class _Request:
    prompt: str
    length: int
    sampling: Sampling
    future: asyncio.Future[Generated]
    arrived: float = field(default_factory=time.monotonic)


class _Batcher:
    """Collects requests on one event loop and runs them in batches, one batch at a time."""

    def __init__(self, api: LocalModelAPI) -> None:
        self.api = api
        self.waiting: list[_Request] = []
        self.arrival = asyncio.Event()
        self.worker: asyncio.Task[None] | None = None

    async def submit(self, prompt: str, length: int, sampling: Sampling) -> Generated:
        future: asyncio.Future[Generated] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Request(prompt, length, sampling, future))
        self.arrival.set()
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())
        return await future

    async def _work(self) -> None:
        while True:
            self.waiting = [r for r in self.waiting if not r.future.done()]  # cancelled ones
            if not self.waiting:
                return
            await self._gather()
            batch = self._take()
            if not batch:
                continue
            try:
                results = await in_compute_thread(
                    generate_batch,
                    self.api.model,
                    self.api.tokenizer,
                    [r.prompt for r in batch],
                    batch[0].sampling,
                )
            except Exception as exc:  # the batch's samples fail (inspect retries them)
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            for request, result in zip(batch, results, strict=True):
                if not request.future.done():
                    request.future.set_result(result)

    async def _gather(self) -> None:
        """Wait (the model idle) until a full batch waits or ``flush_s`` passes quietly."""
        while len(self.waiting) < self.api.batch_size:
            self.arrival.clear()
            try:
                await asyncio.wait_for(self.arrival.wait(), timeout=self.api.flush_s)
            except TimeoutError:
                return

    def _take(self) -> list[_Request]:
        """The ``batch_size`` shortest waiting requests that share the oldest's decoding."""
        live = [r for r in self.waiting if not r.future.done()]
        if not live:
            self.waiting = []
            return []
        settings = min(live, key=lambda r: r.arrived).sampling
        same = sorted((r for r in live if r.sampling == settings), key=lambda r: r.length)
        batch = same[: self.api.batch_size]
        taken = {id(r) for r in batch}
        self.waiting = [r for r in live if id(r) not in taken]
        return batch


@modelapi(name=PROVIDER)
class LocalModelAPI(ModelAPI):
    """A local safetensors model, generated in length-sorted batches (see the module)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008  # inspect's own signature
        *,
        model_path: str | None = None,
        batch_size: int = 8,
        pool: int | None = None,
        flush_s: float = 0.05,
        do_sample: bool = False,
        **_: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if model_path is None:
            raise ValueError(f"{PROVIDER}/{model_name}: model_path is required")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.pool = pool or 8 * batch_size
        self.flush_s = flush_s
        self.do_sample = do_sample
        self.model, self.tokenizer = load_local(self.model_path)
        self._batcher: _Batcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise ValueError(f"{PROVIDER}: tool calls are not supported")
        chat = [{"role": m.role, "content": m.text} for m in input]
        prompt = render_chat(self.tokenizer, chat)
        length = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        temperature = config.temperature or 0.0
        sampling = Sampling(
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=temperature if self.do_sample else 0.0,
            top_p=config.top_p,
            top_k=config.top_k,
            stop=tuple(config.stop_seqs or ()),
        )
        loop = asyncio.get_running_loop()
        if self._batcher is None or self._loop is not loop:  # a new eval has a new loop
            self._batcher, self._loop = _Batcher(self), loop
        started = time.monotonic()
        result = await self._batcher.submit(prompt, length, sampling)
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=result.text, model=self.model_name, source="generate"
                    ),
                    stop_reason="stop" if result.stopped else "max_tokens",
                )
            ],
            usage=ModelUsage(
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                total_tokens=result.input_tokens + result.output_tokens,
            ),
            time=time.monotonic() - started,
        )

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        """How many samples inspect runs at once: the pool batches are chosen from."""
        return self.pool

    def collapse_user_messages(self) -> bool:
        return True

    def close(self) -> None:
        self._batcher = None
