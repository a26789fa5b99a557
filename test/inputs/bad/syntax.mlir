builtin.module {
  llm.model @m hidden 4096 layers 32 heads many kv_heads 6 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
}
