// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-fuse' | filecheck %s
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-fuse{allow-chain=true}' | filecheck %s --check-prefix=CHAIN
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-fuse{prologue=false epilogue=false siblings=false}' | filecheck %s --check-prefix=ELTWISE
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-fuse{level=tiny}' | filecheck %s --check-prefix=TINY

// llm-fuse on lowering-target.toml (ridge 10 FLOP/B, a 16 x 64 GEMM tile, 256 KB local
// memory per core, a 512 B `tiny` level). With level=tiny no group's working set fits 512 B (a GEMM
// tile alone needs 24 KB, a one-row add + relu chain 640 B), so nothing fuses in any case.
// TINY-NOT: llm.fused

// A prefill layer's attention half: the RMSNorm folds into the QKV GEMM as its prologue (16
// normalized rows of 256 fit beside the GEMM tile), the three linears reading it become one
// GEMM, and the residual add becomes the output projection's epilogue. Saved per token: the
// norm's 512 B output, no longer written and read by three linears (4 x 512), and o's 512 B
// output, no longer written and read (2 x 512).
builtin.module {
  llm.model @prologue_epilogue hidden 256 layers 1 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @serve {
    llm.request @r0 prefill 512
    llm.microbatch @mb0 [@r0]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %attn_norm = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x256xbf16>
      %q = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %k = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %v = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %attn = llm.attention %q, %k, %v heads 2 kv_heads 1 head_dim 128 causal : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
      %o = llm.linear %attn : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %h_attn = llm.add %h, %o : tensor<?x256xbf16>, tensor<?x256xbf16>
      llm.yield %h_attn : tensor<?x256xbf16>
    }
    func.return %l0 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: llm.model @prologue_epilogue
// CHECK:      %q_out, %k_out, %v_out = llm.fused "attn_norm+q+k+v" ["siblings", "prologue"] anchor "q+k+v" level "local" saves 2048 (%h)
// CHECK-NEXT: ^bb0(%h_in: tensor<?x256xbf16>):
// CHECK-NEXT:   %attn_norm = llm.rmsnorm %h_in
// CHECK-NEXT:   %q = llm.linear %attn_norm
// CHECK-NEXT:   %k = llm.linear %attn_norm
// CHECK-NEXT:   %v = llm.linear %attn_norm
// CHECK-NEXT:   llm.fused_yield %q, %k, %v
// CHECK-NEXT: }
// CHECK-NEXT: %attn = llm.attention %q_out, %k_out, %v_out
// CHECK-NEXT: %h_attn_out = llm.fused "o+h_attn" ["epilogue"] anchor "o" level "local" saves 1024 (%attn, %h)
// CHECK:      llm.yield %h_attn_out
// ELTWISE-LABEL: llm.model @prologue_epilogue
// ELTWISE-NOT:   llm.fused

// -----

// Two GEMMs back to back: each is a high-density anchor, so they make two groups (each with
// its element-wise epilogue) unless allow-chain lets one group hold both; then the 16 rows of
// the intermediate stay on chip too (CHAIN).
builtin.module {
  llm.model @two_matmuls hidden 256 layers 1 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @serve {
    llm.request @r0 prefill 512
    llm.microbatch @mb0 [@r0]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %a = llm.linear %h : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %r = llm.relu %a : tensor<?x256xbf16>
      %b = llm.linear %r : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %s = llm.add %h, %b : tensor<?x256xbf16>, tensor<?x256xbf16>
      llm.yield %s : tensor<?x256xbf16>
    }
    func.return %l0 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: llm.model @two_matmuls
// CHECK:      %r_out = llm.fused "a+r" ["epilogue"] anchor "a" level "local" saves 1024 (%h)
// CHECK:      %s_out = llm.fused "b+s" ["epilogue"] anchor "b" level "local" saves 1024 (%r_out, %h)
// CHAIN-LABEL: llm.model @two_matmuls
// CHAIN:      %s_out = llm.fused "a+r+b+s" ["epilogue", "chain"] anchor "a+b" level "local" saves 3584 (%h)

// -----

// A diamond: n feeds a GEMM and, around it, the add. Chaining n with the add would put the
// GEMM on a path that leaves the group and re-enters it (a cycle between kernels), so the
// element-wise chain starts at the add; relu joins it.
builtin.module {
  llm.model @diamond hidden 256 layers 1 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @serve {
    llm.request @r0 prefill 512
    llm.microbatch @mb0 [@r0]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %n = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x256xbf16>
      %a = llm.linear %n : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %s = llm.add %n, %a : tensor<?x256xbf16>, tensor<?x256xbf16>
      %t = llm.relu %s : tensor<?x256xbf16>
      llm.yield %t : tensor<?x256xbf16>
    }
    func.return %l0 : tensor<?x256xbf16>
  }
}
// ELTWISE-LABEL: llm.model @diamond
// ELTWISE:      %n = llm.rmsnorm %h
// ELTWISE-NEXT: %a = llm.linear %n
// ELTWISE-NEXT: %t_out = llm.fused "s+t" ["eltwise"] anchor "" level "local" saves 1024 (%n, %a)

// -----

// Decode: with 4 tokens a GEMM moves its weights for 8 FLOPs per byte, below the ridge point,
// so no op anchors a group: the linears reading one value still become one GEMM (siblings),
// nothing else fuses.
builtin.module {
  llm.model @decode hidden 256 layers 1 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @serve {
    llm.request @r0 decode 512 x 4
    llm.microbatch @mb0 [@r0]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %attn_norm = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x256xbf16>
      %q = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %k = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %v = llm.linear %attn_norm : tensor<?x256xbf16> -> tensor<?x128xbf16>
      %attn = llm.attention %q, %k, %v heads 2 kv_heads 1 head_dim 128 causal : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16> -> tensor<?x256xbf16>
      %o = llm.linear %attn : tensor<?x256xbf16> -> tensor<?x256xbf16>
      %h_attn = llm.add %h, %o : tensor<?x256xbf16>, tensor<?x256xbf16>
      llm.yield %h_attn : tensor<?x256xbf16>
    }
    func.return %l0 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: llm.model @decode
// CHECK:      %attn_norm = llm.rmsnorm %h
// CHECK-NEXT: %q_out, %k_out, %v_out = llm.fused "q+k+v" ["siblings"] anchor "" level "local" saves 1024 (%attn_norm)
// CHECK:      %attn = llm.attention
// CHECK-NEXT: %o = llm.linear %attn
// CHECK-NEXT: %h_attn = llm.add %h, %o

// Bad options: one line naming the option and its valid range, before any work (theta is
// checked before the input is read; a level needs the target).
// RUN: not xcompass-opt %s --split-input-file -p 'llm-fuse{theta=0}' 2>&1 | filecheck %s --check-prefix=THETA0
// THETA0: xcompass-opt: error: llm-fuse: option theta=0 is out of range: must be a finite number > 0 (high density = FLOPs per byte >= theta x ridge point)
// RUN: not xcompass-opt %s --split-input-file -p 'llm-fuse{theta=-1.5}' 2>&1 | filecheck %s --check-prefix=THETANEG
// THETANEG: xcompass-opt: error: llm-fuse: option theta=-1.5 is out of range
// RUN: not xcompass-opt %s --split-input-file -p 'set-target{target=%inputs/lowering-target.toml},llm-fuse{level=l9}' 2>&1 | filecheck %s --check-prefix=LEVEL
// LEVEL: error: llm-fuse on lowering-test: option level='l9' names no on-chip level of chip (valid: local, shared, tiny)
