"""Scheduling policies: what each serving iteration of a replica runs.

A policy looks at a replica's queue and running requests at the iteration's start and
returns the iteration's work as items (request, new tokens, history, kind). The simulator
applies the outcome at the iteration's end (tokens emitted, prompts advanced, requests done),
so a policy only composes. Each follows a published system:

- `static`: static batching (FasterTransformer-style): a batch of up to `max_running`
  requests is admitted only when the last batch has drained; it prefills whole, then decodes
  until every member is done. Today's one-shot step, served over time.
- `vllm`: vLLM's default scheduler (Kwon et al., SOSP'23): prefill-prioritized FCFS; an
  iteration is either prompts only (whole, up to the token budget) or decodes only; KV in
  blocks of 16 tokens allocated as tokens arrive; when blocks run out the latest admitted
  request is preempted and recomputed later (its prompt and generated tokens re-prefilled).
- `orca`: Orca's iteration-level scheduling (Yu et al., OSDI'22): every running decode plus
  whole prompts admitted FCFS while they fit the token budget; KV reserved for the whole
  request at admission.
- `sarathi`: Sarathi-Serve (Agrawal et al., OSDI'24): decodes first, then the prompts in
  progress chunked into what is left of the token budget, then new prompts; stall-free.
- `xy-serve`: XY-Serve's P/D/V steps (arXiv 2412.18106): Sarathi's composition where every
  decode is a speculative verify of `draft` tokens (accepted per token with probability
  `acceptance`, plus the bonus token), and prompt chunks sized to whole GEMM tiles of the
  target (the largest tile of its cover set) unless they finish the prompt.
- `pbd`: THInfer's Prefill-Buffer-Decode (arXiv 2605.25655): prefill replicas run whole
  prompts, whose KV then waits in a bounded buffer (`buffer_tokens`) until a decode replica
  takes it; a full buffer stalls prefill (back-pressure).
- `disagg`: DistServe / Splitwise: prefill and decode replicas, the KV moved over the
  target's network; a prompt's KV waits in its prefill replica's own memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.errors import XcompassError

POLICIES = ("static", "vllm", "orca", "sarathi", "xy-serve", "pbd", "disagg")
DISAGGREGATED = ("pbd", "disagg")
KV_BLOCK = 16
"""Tokens per KV block (vLLM's default)."""

MAX_BUDGET = 2**20
MAX_RUNNING = 2**16


def blocks(tokens: int) -> int:
    """Tokens of KV the blocks holding `tokens` tokens take."""
    return -(-tokens // KV_BLOCK) * KV_BLOCK


@dataclass(frozen=True)
class PolicyOptions:
    """A policy and its knobs. Defaults per policy where the systems differ: whole-prompt
    policies batch up to 4,096 prompt tokens, chunked ones 512 (Sarathi-Serve's budget)."""

    name: str = "sarathi"
    token_budget: int = 0  # 0: the policy's default
    max_running: int = 64
    draft: int = 4  # xy-serve: draft tokens per verify step
    acceptance: float = 0.7  # xy-serve: probability each draft token is accepted
    buffer_tokens: int = 0  # pbd: KV buffer size in tokens (0: no buffer, direct hand-off)
    prefill_replicas: int = 0  # pbd / disagg: replicas serving prefill (0: half, at least 1)
    tile: int = 0  # xy-serve: chunk granule (0: the target's largest GEMM tile)

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise XcompassError(f"--policy '{self.name}': unknown (valid: {', '.join(POLICIES)})")
        for option, value, upper in (
            ("--token-budget", self.token_budget, MAX_BUDGET),
            ("--max-running", self.max_running, MAX_RUNNING),
            ("--draft", self.draft, 64),
            ("--buffer-tokens", self.buffer_tokens, 2**40),
            ("--prefill-replicas", self.prefill_replicas, 4096),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
                raise XcompassError(f"{option} {value!r}: must be an integer from 0 to {upper:,}")
        if self.max_running < 1:
            raise XcompassError("--max-running 0: must be at least 1")
        if self.draft < 1:
            raise XcompassError("--draft 0: must be at least 1")
        if not 0.0 <= self.acceptance <= 1.0:
            raise XcompassError(f"--acceptance {self.acceptance:g}: must be in [0, 1]")

    @property
    def budget(self) -> int:
        if self.token_budget:
            return self.token_budget
        return 512 if self.name in ("sarathi", "xy-serve") else 4096

    @property
    def reserves_whole(self) -> bool:
        """Whether a request's KV for prompt + output is reserved when it is admitted."""
        return self.name != "vllm"

    def check_applies(self, given: dict[str, object]) -> None:
        """Refuse a policy option the policy does not use (named as the CLI names it)."""
        uses = {
            "draft": self.name == "xy-serve",
            "acceptance": self.name == "xy-serve",
            "tile": self.name == "xy-serve",
            "buffer_tokens": self.name == "pbd",
            "prefill_replicas": self.name in DISAGGREGATED,
        }
        for key, value in given.items():
            if value is not None and not uses.get(key, True):
                flag = "--" + key.replace("_", "-")
                raise XcompassError(f"{flag}: does not apply to --policy {self.name}")
