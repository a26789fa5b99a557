// RUN: xcompass-opt %s --split-input-file --verify-diagnostics | filecheck %s

llm.model @m hidden 4096 layers 32 heads 32 kv_heads 6 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
// CHECK: 'llm.model' heads (32) not divisible by kv_heads (6)

// -----

llm.model @m hidden 4000 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
// CHECK: 'llm.model' hidden (4000) != heads (32) x head_dim (128)

// -----

llm.model @m hidden 4096 layers 0 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
// CHECK: 'llm.model' layers must be positive, got 0

// -----

llm.model @m hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms experts 2 top_k 4 : bf16
// CHECK: 'llm.model' top_k (4) exceeds experts (2)

// -----

llm.workload @w {
  llm.request @r0 prefill 0
}
// CHECK: 'llm.request' length must be positive, got 0

// -----

llm.workload @w {
  llm.request @r0 decode 1024 x -2
}
// CHECK: 'llm.request' count must be positive, got -2

// -----

llm.workload @w {
  llm.request @r0 verify 1024
}
// CHECK: 'llm.request' verify needs a draft length: verify CTX + DRAFT

// -----

llm.workload @w {
  llm.request @r0 decode 1024 + 3
}
// CHECK: 'llm.request' decode takes no draft length

// -----

llm.workload @w {
  llm.request @r0 prefill 128
  llm.microbatch @mb0 [@r0, @r9]
}
// CHECK: 'llm.microbatch' micro-batch @mb0 names unknown request @r9

// -----

llm.workload @w {
  llm.request @r0 prefill 128
  llm.microbatch @mb0 []
}
// CHECK: 'llm.microbatch' micro-batch @mb0 holds no request

// -----

llm.workload @w {
  llm.request @r0 prefill 128
  llm.microbatch @mb0 [@r0]
  llm.microbatch @mb1 [@r0]
}
// CHECK: 'llm.microbatch' request @r0 already belongs to micro-batch @mb0

// -----

func.func @f(%q: tensor<?x4096xbf16>, %kv: tensor<?x1024xbf16>) {
  %a = llm.attention %q, %kv, %kv heads 32 kv_heads 5 head_dim 128 causal : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
  func.return
}
// CHECK: 'llm.attention' heads (32) not divisible by kv_heads (5)

// -----

func.func @f(%q: tensor<?x4096xbf16>, %kv: tensor<?x2048xbf16>) {
  %a = llm.attention %q, %kv, %kv heads 32 kv_heads 8 head_dim 128 causal : tensor<?x4096xbf16>, tensor<?x2048xbf16>, tensor<?x2048xbf16> -> tensor<?x4096xbf16>
  func.return
}
// CHECK: 'llm.attention' k has 2048 features, expected 8 heads x 128 = 1024

// -----

func.func @f(%a: tensor<?x4096xbf16>, %b: tensor<?x1024xbf16>) {
  %s = llm.add %a, %b : tensor<?x4096xbf16>, tensor<?x1024xbf16>
  func.return
}
// CHECK: 'llm.add' operand feature sizes differ (4096 vs 1024)

// -----

func.func @f(%a: tensor<?x4096xbf16>, %r: tensor<?x4xbf16>) {
  %m = llm.moe %a, %r experts 8 top_k 2 ffn 14336 act silu gated : tensor<?x4096xbf16>, tensor<?x4xbf16>
  func.return
}
// CHECK: 'llm.moe' router has 4 features, expected 8 experts

// -----

func.func @f(%a: tensor<?x4096xbf16>) {
  %r = llm.rope %a heads 3 theta 1.000000e+04 : tensor<?x4096xbf16>
  func.return
}
// CHECK: 'llm.rope' features (4096) not divisible by heads (3)

// -----

func.func @f(%a: tensor<16x4096xbf16>) {
  %r = llm.silu %a : tensor<16x4096xbf16>
  func.return
}
// CHECK: 'llm.silu' operand must have a dynamic token dimension, got tensor<16x4096xbf16>

// -----

func.func @f(%x: tensor<?x4096xbf16>) {
  %l = llm.layer 0 (%x) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
  ^bb0(%h: tensor<?x4096xbf16>):
    %y = llm.linear %h : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
    llm.yield %y : tensor<?x1024xbf16>
  }
  func.return
}
// CHECK: 'llm.layer' layer 0 yields (tensor<?x1024xbf16>) but returns (tensor<?x4096xbf16>)

// -----

func.func @f(%ids: tensor<?x4xi32>) {
  %e = llm.embedding %ids vocab 32000 : tensor<?x4xi32> -> tensor<?x4096xbf16>
  func.return
}
// CHECK: 'llm.embedding' ids must be tensor<?xi32>, got tensor<?x4xi32>
