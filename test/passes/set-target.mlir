// RUN: xcompass-opt %s -p 'set-target{target=simba-36}' | filecheck %s
// RUN: xcompass-opt %s --pass-pipeline='builtin.module(set-target{target=simba-36})' | filecheck %s
// RUN: xcompass-opt %s -p 'set-target{target="%inputs/my-target.toml"}' | filecheck %s --check-prefix=FILE
// RUN: xdsl-opt %s -p 'set-target{target=h100}' | filecheck %s --check-prefix=XDSL

// A preset name or a target file becomes the module's xcompass.target; stock xdsl-opt finds the
// pass through the xdsl.universe entry point.
builtin.module {
  llm.model @m hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
}

// CHECK: builtin.module attributes {xcompass.target = "simba-36"} {
// CHECK-NEXT: llm.model @m
// FILE: builtin.module attributes {xcompass.target = "{{.*}}inputs/my-target.toml"} {
// XDSL: builtin.module attributes {xcompass.target = "h100"} {
