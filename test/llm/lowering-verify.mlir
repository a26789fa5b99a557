// RUN: xcompass-opt %s --split-input-file --verify-diagnostics | filecheck %s

// A fused group returns what its yield returns.
func.func @bad(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  ^bb0(%h: tensor<?x256xbf16>):
    %y = llm.fused "a" ["eltwise"] anchor "" level "local" saves 0 (%h) : (tensor<?x256xbf16>) -> tensor<?x128xbf16> {
    ^bb1(%h_in: tensor<?x256xbf16>):
      %a = llm.relu %h_in : tensor<?x256xbf16>
      llm.fused_yield %a : tensor<?x256xbf16>
    }
    llm.yield %h : tensor<?x256xbf16>
  }
  func.return %l0 : tensor<?x256xbf16>
}
// CHECK: 'llm.fused' yields (tensor<?x256xbf16>) but returns (tensor<?x128xbf16>)

// -----

// A fused group is a kernel of a layer: it lives directly in an llm.layer.
func.func @outside(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %y = llm.fused "a" ["eltwise"] anchor "" level "local" saves 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  ^bb1(%h_in: tensor<?x256xbf16>):
    %a = llm.relu %h_in : tensor<?x256xbf16>
    llm.fused_yield %a : tensor<?x256xbf16>
  }
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.fused' must be directly inside an llm.layer

// -----

// An attention op's staging mode must be one of the modes llm-stage-attention records.
func.func @f(%x: tensor<?x256xbf16>, %kv: tensor<?x128xbf16>) -> tensor<?x256xbf16> {
  %y = llm.attention %x, %kv, %kv heads 2 kv_heads 1 head_dim 128 causal {llm.stage_mode = "flash", llm.stage_level = "local", llm.stages = {}} : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.attention' llm.stage_mode = 'flash' is not one of auto, unfused, decode2, resident3, split4

// -----

// Stages without the mode that chose them are refused where they live.
func.func @f(%x: tensor<?x256xbf16>, %kv: tensor<?x128xbf16>) -> tensor<?x256xbf16> {
  %y = llm.attention %x, %kv, %kv heads 2 kv_heads 1 head_dim 128 causal {llm.stages = {}} : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.attention' llm.stage_level and llm.stages need llm.stage_mode

// -----

// A stage per request shape, keyed q<N>_ctx<N>.
func.func @f(%x: tensor<?x256xbf16>, %kv: tensor<?x128xbf16>) -> tensor<?x256xbf16> {
  %y = llm.attention %x, %kv, %kv heads 2 kv_heads 1 head_dim 128 causal {llm.stage_mode = "auto", llm.stage_level = "local", llm.stages = {prefill = #llm.stage<split4, br = 128, bc = 128, buffers = 3, level = "local", kv_passes = 1>}} : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.attention' llm.stages entry 'prefill' is not q<N>_ctx<N> = #llm.stage<...>

// -----

// The declared attributes have types: a mode is a string.
func.func @f(%x: tensor<?x256xbf16>, %kv: tensor<?x128xbf16>) -> tensor<?x256xbf16> {
  %y = llm.attention %x, %kv, %kv heads 2 kv_heads 1 head_dim 128 causal {llm.stage_mode = 3 : i64, llm.stages = {}} : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 3 : i64 should be of base attribute string

// -----

// A GEMM's padding mode is virtual or physical.
func.func @f(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %y = llm.linear %x {llm.pad_mode = "padded", llm.pad_tiles = array<i64: 16>, llm.covers = {}} : tensor<?x256xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.linear' llm.pad_mode = 'padded' is not one of virtual, physical

// -----

// Covers without the mode and tile set that chose them are refused.
func.func @f(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %y = llm.linear %x {llm.covers = {m16 = #llm.cover<virtual, [16 x 1], waste = 0>}} : tensor<?x256xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.linear' llm.pad_tiles and llm.covers need llm.pad_mode

// -----

// Tiles are positive row counts.
func.func @f(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %y = llm.linear %x {llm.pad_mode = "virtual", llm.pad_tiles = array<i64: 16, 0>, llm.covers = {}} : tensor<?x256xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.linear' llm.pad_tiles must be positive row counts

// -----

// A cover per token count, keyed m<N>.
func.func @f(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
  %y = llm.linear %x {llm.pad_mode = "virtual", llm.pad_tiles = array<i64: 16>, llm.covers = {rows16 = #llm.cover<virtual, [16 x 1], waste = 0>}} : tensor<?x256xbf16> -> tensor<?x256xbf16>
  func.return %y : tensor<?x256xbf16>
}
// CHECK: 'llm.linear' llm.covers entry 'rows16' is not m<N> = #llm.cover<...>
