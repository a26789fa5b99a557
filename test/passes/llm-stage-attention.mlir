// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-stage-attention' | filecheck %s
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-stage-attention{mode=unfused}' | filecheck %s --check-prefix=UNFUSED
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-stage-attention{mode=split4 level=shared}' | filecheck %s --check-prefix=SPLIT4
// RUN: not xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-stage-attention{level=tiny}' 2>&1 | filecheck %s --check-prefix=TINY

// A level too small for any tile is a one-line error naming the level.
// TINY: error: llm-stage-attention on lowering-test: no attention tile fits level 'tiny' (512 bytes per unit): a 16 x 16 tile with head_dim 128 needs 20,480
// TINY-NOT: Traceback

// lowering-target.toml: 256 KB local memory per core, 16-row matrix tile, head_dim 128. Tiles
// from FlashAttention's bounds: M = 131072 elements, ceil(M / 4d) = 256 keys (a power-of-two
// multiple of 16), br = min(256, d) = 128; a 128 x 256 tile with two K/V buffers needs
// (128 + 4 x 256) x 128 x 2 B = 288 KB > 256 KB, so bc halves to 128; three buffers then
// need (128 + 6 x 128) x 256 B = 224 KB: triple-buffered.
// - decode (one new token): decode2, one row block of 16 rows (the matrix tile), 2 buffers;
// - verify 1024 + 4 (in the same micro-batch): 4 draft rows under the causal mask over 1024
//   keys of history; 16 rows x 1028 keys of fp32 scores (64 KB) do not fit beside the 224 KB
//   of tiles: split4;
// - prefill 32: 32 rows x 32 keys of fp32 scores (4 KB) fit beside the tiles: resident3;
// - prefill 2048: the score rows (128 x 2048 x 4 B = 1 MB) do not fit: split4, K/V read once
//   (one head's K and V, 1 MB, fit the 4 MB shared level, which serves the re-reads);
// - prefill 16384: one head's K and V (8 MB) exceed the shared level: every one of the 128
//   query row blocks re-reads them from DRAM (kv_passes 128, FlashAttention's N^2 d^2 / M).
builtin.module {
  llm.model @staging hidden 256 layers 1 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @serve {
    llm.request @r0 decode 1024 x 8
    llm.request @r1 verify 1024 + 4
    llm.request @r2 prefill 32
    llm.request @r3 prefill 2048
    llm.request @r4 prefill 16384
    llm.microbatch @mb0 [@r0, @r1]
    llm.microbatch @mb1 [@r2]
    llm.microbatch @mb2 [@r3]
    llm.microbatch @mb3 [@r4]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %q = llm.linear %h : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %k = llm.linear %h : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %v = llm.linear %h : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %attn = llm.attention %q, %k, %v heads 2 kv_heads 1 head_dim 128 causal : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
      llm.yield %attn : tensor<?x256xbf16>
    }
    func.return %l0 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: llm.model @staging
// CHECK:      llm.attention %q, %k, %v heads 2 kv_heads 1 head_dim 128 causal
// CHECK-SAME: llm.stage_mode = "auto", llm.stage_level = "local"
// CHECK-SAME: q1_ctx1024 = #llm.stage<decode2, br = 16, bc = 128, buffers = 2, level = "local", kv_passes = 1>
// CHECK-SAME: q4_ctx1024 = #llm.stage<split4, br = 128, bc = 128, buffers = 3, level = "local", kv_passes = 1>
// CHECK-SAME: q32_ctx0 = #llm.stage<resident3, br = 128, bc = 128, buffers = 3, level = "local", kv_passes = 1>
// CHECK-SAME: q2048_ctx0 = #llm.stage<split4, br = 128, bc = 128, buffers = 3, level = "local", kv_passes = 1>
// CHECK-SAME: q16384_ctx0 = #llm.stage<split4, br = 128, bc = 128, buffers = 3, level = "local", kv_passes = 128>

// mode=unfused records what unlowered IR costs: QK^T, softmax and PV with the scores in DRAM.
// UNFUSED:      llm.stage_mode = "unfused"
// UNFUSED-SAME: q1_ctx1024 = #llm.stage<unfused, br = 0, bc = 0, buffers = 0, level = "dram", kv_passes = 1>

// A forced mode on another level: the shared 4 MB gives each core 1 MB, so bc grows to 512.
// SPLIT4:      llm.stage_mode = "split4", llm.stage_level = "shared"
// SPLIT4-SAME: q1_ctx1024 = #llm.stage<split4, br = 128, bc = 512, buffers = 3, level = "shared", kv_passes = 1>
// SPLIT4-SAME: q32_ctx0 = #llm.stage<split4, br = 128, bc = 512, buffers = 3, level = "shared", kv_passes = 1>

// Bad options: one line naming the option and its valid values.
// RUN: not xcompass-opt %s -p 'llm-stage-attention{mode=flash}' 2>&1 | filecheck %s --check-prefix=MODE
// MODE: xcompass-opt: error: llm-stage-attention: option 'mode' expects one of auto, unfused, decode2, resident3, split4; got 'flash'
// RUN: not xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-stage-attention{level=l9}' 2>&1 | filecheck %s --check-prefix=LEVEL
// LEVEL: error: llm-stage-attention on lowering-test: option level='l9' names no on-chip level of chip (valid: local, shared, tiny)
