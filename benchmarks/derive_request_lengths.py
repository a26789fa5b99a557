"""Derive the embedded request-length distribution (`xcompass/data/request_lengths.json`) from
the Azure LLM inference trace 2023 (conversation), which `xcompass explore` samples its default
workload from. Only quantiles are kept (the product never reads ../shared at run time):

    .venv/bin/python benchmarks/derive_request_lengths.py   # rewrites the JSON

Prompt and output lengths are kept as independent marginals: their rank correlation in the
trace is 0.07 (printed below), too small to be worth a copula.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xcompass.model.trace import read_trace

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "data" / "traces" / "AzureLLMInferenceTrace_conv.csv"
OUT = ROOT / "xcompass" / "data" / "request_lengths.json"
KNOTS = 41  # every 2.5 %


def main() -> None:
    trace = read_trace(TRACE)
    levels = np.linspace(0.0, 1.0, KNOTS)
    ranks = [np.argsort(np.argsort(a)) for a in (trace.context, trace.generated)]
    data = {
        "source": "Azure LLM inference trace 2023, conversation (Azure Public Dataset, "
        "CC-BY 4.0; Patel et al., Splitwise, ISCA 2024): quantiles only",
        "requests": len(trace),
        "rank_correlation": round(float(np.corrcoef(*ranks)[0, 1]), 4),
        "levels": [round(float(x), 4) for x in levels],
        "prompt_tokens": [int(round(v)) for v in np.quantile(trace.context, levels)],
        "output_tokens": [int(round(v)) for v in np.quantile(trace.generated, levels)],
    }
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()]
    OUT.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {OUT} (rank correlation {data['rank_correlation']})")


if __name__ == "__main__":
    main()
