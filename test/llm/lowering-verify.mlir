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
