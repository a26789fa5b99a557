// RUN: xcompass-opt %s --split-input-file --verify-diagnostics | filecheck %s

// The verifiers check what the IR carries; whether a mapping fits its target (chiplets, TP
// groups, memory) is the reading pass's check (test/passes/map-cost.mlir).

map.mapping @m layers 4 segments [] {
  %a = map.task @mb0 layers 0 to 3 on [0]
  %b = map.task @mb0 layers 2 to 4 on [1] after %a
}
// CHECK: 'map.task' (@mb0, layer 2) is placed twice

// -----

map.mapping @m layers 4 segments [] {
  %a = map.task @mb0 layers 0 to 3 on [0]
}
// CHECK: 'map.mapping' (@mb0, layer 3) is never placed

// -----

map.mapping @m layers 4 segments [] {
  %a = map.task @mb0 layers 0 to 2 on [0]
  %b = map.task @mb0 layers 2 to 4 on [1]
}
// CHECK: 'map.task' @mb0 layers [2, 4) must run after the task that computes layer 1 of @mb0

// -----

map.mapping @m layers 4 segments [2] {
  %a = map.task @mb0 layers 0 to 4 on [0]
}
// CHECK: 'map.task' @mb0 layers [0, 4) cross the segment boundary at layer 2

// -----

map.mapping @m layers 4 segments [] {
  %a = map.task @mb0 layers 0 to 6 on [0]
}
// CHECK: 'map.task' layer range [0, 6) not within [0, 4)

// -----

map.mapping @m layers 4 segments [] {
  %a = map.task @mb0 layers 0 to 4 on [1, 1]
}
// CHECK: 'map.task' chiplets [1, 1] must be distinct and non-negative

// -----

map.mapping @m layers 4 segments [3, 1] {
  %a = map.task @mb0 layers 0 to 4 on [0]
}
// CHECK: 'map.mapping' segments must be increasing layer indices in (0, 4), got [3, 1]

// -----

// A dependency cycle: tasks must be listed in a topological order.
map.mapping @m layers 2 segments [] {
  %a = map.task @mb0 layers 0 to 1 on [0] after %b
  %b = map.task @mb0 layers 1 to 2 on [1] after %a
}
// CHECK: 'map.task' waits for a task that comes after it (a dependency cycle); tasks must be listed in a topological order

// -----

builtin.module attributes {xcompass.target = "simba-36"} {
  llm.model @m hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 128256 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 decode 1024 x 8
    llm.request @r1 prefill 64
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  map.mapping @m2 layers 1 segments [] {
    %a = map.task @mb0 layers 0 to 1 on [0]
  }
}
// CHECK: 'map.mapping' micro-batch @mb1 is never placed
