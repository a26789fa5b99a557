// xcompass import --model llama3-8b --layers 4 --workload prefill:512,decode:1024x16 --target dgx-h100x8
builtin.module attributes {xcompass.target = "dgx-h100x8"} {
  llm.model @llama3_8b hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 128256 mlp silu gated norm rms : bf16 {norm_eps = 1.000000e-05 : f64, max_pos = 8192 : i64}
  llm.workload @serve {
    llm.request @r0 prefill 512
    llm.request @r1 decode 1024 x 16
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
    ^bb0(%h: tensor<?x4096xbf16>):
      %attn_norm = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x4096xbf16>
      %q = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %k = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %v = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %q_rope = llm.rope %q heads 32 theta 5.000000e+05 : tensor<?x4096xbf16>
      %k_rope = llm.rope %k heads 8 theta 5.000000e+05 : tensor<?x1024xbf16>
      %attn = llm.attention %q_rope, %k_rope, %v heads 32 kv_heads 8 head_dim 128 causal : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
      %o = llm.linear %attn : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %h_attn = llm.add %h, %o : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      %mlp_norm = llm.rmsnorm %h_attn eps 1.000000e-05 : tensor<?x4096xbf16>
      %gate = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %up = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %act = llm.silu %gate : tensor<?x14336xbf16>
      %gated = llm.mul %act, %up : tensor<?x14336xbf16>, tensor<?x14336xbf16>
      %down = llm.linear %gated : tensor<?x14336xbf16> -> tensor<?x4096xbf16>
      %h_out = llm.add %h_attn, %down : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      llm.yield %h_out : tensor<?x4096xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
    ^bb0(%h: tensor<?x4096xbf16>):
      %attn_norm = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x4096xbf16>
      %q = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %k = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %v = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %q_rope = llm.rope %q heads 32 theta 5.000000e+05 : tensor<?x4096xbf16>
      %k_rope = llm.rope %k heads 8 theta 5.000000e+05 : tensor<?x1024xbf16>
      %attn = llm.attention %q_rope, %k_rope, %v heads 32 kv_heads 8 head_dim 128 causal : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
      %o = llm.linear %attn : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %h_attn = llm.add %h, %o : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      %mlp_norm = llm.rmsnorm %h_attn eps 1.000000e-05 : tensor<?x4096xbf16>
      %gate = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %up = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %act = llm.silu %gate : tensor<?x14336xbf16>
      %gated = llm.mul %act, %up : tensor<?x14336xbf16>, tensor<?x14336xbf16>
      %down = llm.linear %gated : tensor<?x14336xbf16> -> tensor<?x4096xbf16>
      %h_out = llm.add %h_attn, %down : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      llm.yield %h_out : tensor<?x4096xbf16>
    }
    %l2 = llm.layer 2 (%l1) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
    ^bb0(%h: tensor<?x4096xbf16>):
      %attn_norm = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x4096xbf16>
      %q = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %k = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %v = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %q_rope = llm.rope %q heads 32 theta 5.000000e+05 : tensor<?x4096xbf16>
      %k_rope = llm.rope %k heads 8 theta 5.000000e+05 : tensor<?x1024xbf16>
      %attn = llm.attention %q_rope, %k_rope, %v heads 32 kv_heads 8 head_dim 128 causal : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
      %o = llm.linear %attn : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %h_attn = llm.add %h, %o : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      %mlp_norm = llm.rmsnorm %h_attn eps 1.000000e-05 : tensor<?x4096xbf16>
      %gate = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %up = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %act = llm.silu %gate : tensor<?x14336xbf16>
      %gated = llm.mul %act, %up : tensor<?x14336xbf16>, tensor<?x14336xbf16>
      %down = llm.linear %gated : tensor<?x14336xbf16> -> tensor<?x4096xbf16>
      %h_out = llm.add %h_attn, %down : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      llm.yield %h_out : tensor<?x4096xbf16>
    }
    %l3 = llm.layer 3 (%l2) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> {
    ^bb0(%h: tensor<?x4096xbf16>):
      %attn_norm = llm.rmsnorm %h eps 1.000000e-05 : tensor<?x4096xbf16>
      %q = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %k = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %v = llm.linear %attn_norm : tensor<?x4096xbf16> -> tensor<?x1024xbf16>
      %q_rope = llm.rope %q heads 32 theta 5.000000e+05 : tensor<?x4096xbf16>
      %k_rope = llm.rope %k heads 8 theta 5.000000e+05 : tensor<?x1024xbf16>
      %attn = llm.attention %q_rope, %k_rope, %v heads 32 kv_heads 8 head_dim 128 causal : tensor<?x4096xbf16>, tensor<?x1024xbf16>, tensor<?x1024xbf16> -> tensor<?x4096xbf16>
      %o = llm.linear %attn : tensor<?x4096xbf16> -> tensor<?x4096xbf16>
      %h_attn = llm.add %h, %o : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      %mlp_norm = llm.rmsnorm %h_attn eps 1.000000e-05 : tensor<?x4096xbf16>
      %gate = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %up = llm.linear %mlp_norm : tensor<?x4096xbf16> -> tensor<?x14336xbf16>
      %act = llm.silu %gate : tensor<?x14336xbf16>
      %gated = llm.mul %act, %up : tensor<?x14336xbf16>, tensor<?x14336xbf16>
      %down = llm.linear %gated : tensor<?x14336xbf16> -> tensor<?x4096xbf16>
      %h_out = llm.add %h_attn, %down : tensor<?x4096xbf16>, tensor<?x4096xbf16>
      llm.yield %h_out : tensor<?x4096xbf16>
    }
    func.return %l3 : tensor<?x4096xbf16>
  }
}
