// RUN: xcompass-opt %s --split-input-file | filecheck %s
// RUN: xcompass-opt %s --split-input-file --print-op-generic | xcompass-opt --split-input-file | filecheck %s

// What the lowering passes record round-trips, in custom and generic form: a fused group
// (llm.fused / llm.fused_yield), attention stages (#llm.stage) and GEMM row covers (#llm.cover).
func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  ^bb0(%h: tensor<?x256xbf16>):
    %q_out, %k_out, %v_out = llm.fused "attn_norm+q+k+v" ["siblings", "prologue"] anchor "q+k+v" level "local" saves 2048 (%h) : (tensor<?x256xbf16>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>) {
    ^bb1(%h_in: tensor<?x256xbf16>):
      %attn_norm = llm.rmsnorm %h_in eps 1.000000e-05 : tensor<?x256xbf16>
      %q = llm.linear %attn_norm {llm.pad_mode = "virtual", llm.pad_tiles = array<i64: 16, 32>, llm.covers = {m33 = #llm.cover<virtual, [32 x 1, 16 x 1], waste = 15>}} : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %k = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %v = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x128xbf16>
      llm.fused_yield %q, %k, %v : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>
    }
    %attn = llm.attention %q_out, %k_out, %v_out heads 2 kv_heads 1 head_dim 128 causal {llm.stage_mode = "auto", llm.stage_level = "local", llm.stages = {q1_ctx1024 = #llm.stage<decode2, br = 16, bc = 128, buffers = 2, level = "local", kv_passes = 1>}} : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
    llm.yield %attn : tensor<?x256xbf16>
  }
  func.return %l0 : tensor<?x256xbf16>
}
// CHECK:      %q_out, %k_out, %v_out = llm.fused "attn_norm+q+k+v" ["siblings", "prologue"] anchor "q+k+v" level "local" saves 2048 (%h) : (tensor<?x256xbf16>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>) {
// CHECK-NEXT: ^bb0(%h_in: tensor<?x256xbf16>):
// CHECK:        llm.covers = {m33 = #llm.cover<virtual, [32 x 1, 16 x 1], waste = 15>}
// CHECK:        llm.fused_yield %q, %k, %v : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>
// CHECK-NEXT: }
// CHECK-NEXT: %attn = llm.attention %q_out, %k_out, %v_out heads 2 kv_heads 1 head_dim 128 causal {llm.stage_mode = "auto", llm.stage_level = "local", llm.stages = {q1_ctx1024 = #llm.stage<decode2, br = 16, bc = 128, buffers = 2, level = "local", kv_passes = 1>}}

// An unknown stage mode is a parse error naming the valid ones.
// RUN: not xcompass-opt %S/../inputs/bad/bad-stage.mlir 2>&1 | filecheck %s --check-prefix=BADSTAGE
// BADSTAGE: bad-stage.mlir:{{[0-9]+}}:{{[0-9]+}}: error: unknown stage mode 'flash' (valid: unfused, decode2, resident3, split4)
