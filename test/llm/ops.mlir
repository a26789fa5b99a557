// RUN: xcompass-opt %s --split-input-file | filecheck %s
// RUN: xcompass-opt %s --split-input-file --print-op-generic | xcompass-opt --split-input-file | filecheck %s

// The model's hyper-parameters, dense and mixture-of-experts, with a sliding window.
llm.model @dense hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 128256 mlp silu gated norm rms : bf16 {norm_eps = 1.000000e-05 : f64}
llm.model @moe hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms experts 8 top_k 2 window 4096 : bf16
llm.model @opt hidden 5120 layers 40 heads 40 kv_heads 40 head_dim 128 ffn 20480 vocab 50272 mlp relu norm layer : f16

// CHECK:      llm.model @dense hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 128256 mlp silu gated norm rms : bf16 {norm_eps = 1.000000e-05 : f64}
// CHECK-NEXT: llm.model @moe hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms experts 8 top_k 2 window 4096 : bf16
// CHECK-NEXT: llm.model @opt hidden 5120 layers 40 heads 40 kv_heads 40 head_dim 128 ffn 20480 vocab 50272 mlp relu norm layer : f16

// -----

// Requests of each kind, counts, and micro-batches that name them.
llm.workload @serve {
  llm.request @r0 prefill 512
  llm.request @r1 decode 1024 x 64
  llm.request @r2 verify 2048 + 4 x 8
  llm.microbatch @mb0 [@r0]
  llm.microbatch @mb1 [@r1, @r2]
}

// CHECK:      llm.workload @serve {
// CHECK-NEXT:   llm.request @r0 prefill 512
// CHECK-NEXT:   llm.request @r1 decode 1024 x 64
// CHECK-NEXT:   llm.request @r2 verify 2048 + 4 x 8
// CHECK-NEXT:   llm.microbatch @mb0 [@r0]
// CHECK-NEXT:   llm.microbatch @mb1 [@r1, @r2]
// CHECK-NEXT: }

// -----

// Every graph op inside a layer: norms, linears (with and without bias), RoPE, GQA attention
// with a causal sliding window, activations, gated multiply, residual adds, MoE.
func.func @graph(%ids: tensor<?xi32>) -> tensor<?x32000xbf16> {
  %e = llm.embedding %ids vocab 32000 : tensor<?xi32> -> tensor<?x4096xbf16>
  %l = llm.layer 0 (%e) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
  ^bb0(%h: tensor<?x4096xbf16>):
    %n = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x4096xbf16>
    %ln = llm.layernorm %n eps 1.000000e-05 : tensor<?x4096xbf16>
    %q = llm.linear %ln : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
    %k = llm.linear %ln bias : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
    %qr = llm.rope %q heads 32 theta 1.000000e+04 : tensor<?x4096xbf16>
    %a = llm.attention %qr, %k, %k heads 32 kv_heads 8 head_dim 128 causal window 4096 : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
    %s = llm.silu %a : tensor<?x4096xbf16>
    %g = llm.gelu %s : tensor<?x4096xbf16>
    %r = llm.relu %g : tensor<?x4096xbf16>
    %m = llm.mul %r, %h : tensor<?x4096xbf16>, tensor<?x4096xbf16>
    %sum = llm.add %m, %h : tensor<?x4096xbf16>, tensor<?x4096xbf16>
    %router = llm.linear %sum : tensor<?x4096xbf16> -> tensor<?x8xbf16>
    %moe = llm.moe %sum, %router experts 8 top_k 2 ffn 14336 act silu gated : tensor<?x4096xbf16>, tensor<?x8xbf16>
    llm.yield %moe : tensor<?x4096xbf16>
  }
  %logits = llm.lm_head %l : tensor<?x4096xbf16> -> tensor<?x32000xbf16>
  func.return %logits : tensor<?x32000xbf16>
}

// CHECK:      %e = llm.embedding %ids vocab 32000 : tensor<?xi32> -> tensor<?x4096xbf16>
// CHECK-NEXT: %l = llm.layer 0 (%e) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
// CHECK-NEXT: ^bb0(%h: tensor<?x4096xbf16>):
// CHECK-NEXT:   %n = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x4096xbf16>
// CHECK-NEXT:   %ln = llm.layernorm %n eps 1.000000e-05 : tensor<?x4096xbf16>
// CHECK-NEXT:   %q = llm.linear %ln : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
// CHECK-NEXT:   %k = llm.linear %ln bias : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
// CHECK-NEXT:   %qr = llm.rope %q heads 32 theta 1.000000e+04 : tensor<?x4096xbf16>
// CHECK-NEXT:   %a = llm.attention %qr, %k, %k heads 32 kv_heads 8 head_dim 128 causal window 4096 : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
// CHECK-NEXT:   %s = llm.silu %a : tensor<?x4096xbf16>
// CHECK-NEXT:   %g = llm.gelu %s : tensor<?x4096xbf16>
// CHECK-NEXT:   %r = llm.relu %g : tensor<?x4096xbf16>
// CHECK-NEXT:   %m = llm.mul %r, %h : tensor<?x4096xbf16>, tensor<?x4096xbf16>
// CHECK-NEXT:   %sum = llm.add %m, %h : tensor<?x4096xbf16>, tensor<?x4096xbf16>
// CHECK-NEXT:   %router = llm.linear %sum : tensor<?x4096xbf16> -> tensor<?x8xbf16>
// CHECK-NEXT:   %moe = llm.moe %sum, %router experts 8 top_k 2 ffn 14336 act silu gated : tensor<?x4096xbf16>, tensor<?x8xbf16>
// CHECK-NEXT:   llm.yield %moe : tensor<?x4096xbf16>
// CHECK-NEXT: }
// CHECK-NEXT: %logits = llm.lm_head %l : tensor<?x4096xbf16> -> tensor<?x32000xbf16>
