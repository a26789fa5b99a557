"""The xcompass passes (one `ModulePass` per module) and the lowering pipelines they make."""

DEFAULT_LOWERING = "llm-fuse,llm-stage-attention,llm-pad-tiles"
"""The default lowering pipeline (`xcompass explore` and the fidelity benchmarks run it before
partitioning): THInfer's density-driven fusion, staged attention, XY-Serve's virtual padding."""

PYTORCH_LOWERING = (
    "llm-fuse{prologue=false epilogue=false eltwise=false},llm-stage-attention,llm-pad-tiles"
)
"""What PyTorch runs in a CUDA graph: fused QKV and gate+up GEMMs, separate norm, activation
and add kernels, one flash-attention kernel (benchmarks/bench_layer.py checks it on an H100)."""
