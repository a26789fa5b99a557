// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p map-cost | filecheck %s
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'map-cost{mode=eager}' | filecheck %s --check-prefix=EAGER
// RUN: not xcompass-opt %s -p 'map-cost{mode=fast}' 2>&1 | filecheck %s --check-prefix=BADMODE

// map-cost on small hand-written modules: a tiny two-layer model (two linears per layer, two
// heads), a prefill and a decode micro-batch, a mapping; each case checks what the pass writes
// or the one-line diagnostic it gives. The report file and the pipeline from `xcompass import`
// are map-cost-report.test's.

// An execution mode that is not one: refused before any work, naming the valid ones.
// BADMODE: xcompass-opt: error: map-cost: option 'mode' expects one of graph, eager; got 'fast'
// A report file that cannot be written: refused before any work.
// RUN: not xcompass-opt %s -p 'map-cost{report=/nonexistent/dir/r.json}' 2>&1 | filecheck %s --check-prefix=NOWRITE
// NOWRITE: xcompass-opt: error: map-cost: cannot write report '/nonexistent/dir/r.json' (No such file or directory)

// A layer mapping: start, end and energy on every task, the totals and the mode on the mapping.
// mb1 runs on chiplet 0 after mb0's first layer frees it (tasks run in the order listed); the
// latency is the last task's end.
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @layers hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 1 on [0]
    %mb0_l1 = map.task @mb0 layers 1 to 2 on [1] after %mb0_l0
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  }
}
// CHECK-LABEL: llm.model @layers
// CHECK:      %mb0_l0 = map.task @mb0 layers 0 to 1 on [0] {start_s = 0.000000e+00 : f64, end_s = [[END0:[0-9.e+-]+]] : f64, energy_j = {{[0-9.e+-]+}} : f64}
// CHECK-NEXT: %mb0_l1 = map.task @mb0 layers 1 to 2 on [1] after %mb0_l0 {start_s = {{[0-9.e+-]+}} : f64, end_s = {{[0-9.e+-]+}} : f64, energy_j = {{[0-9.e+-]+}} : f64}
// CHECK-NEXT: %mb1_l0 = map.task @mb1 layers 0 to 2 on [0] {start_s = [[END0]] : f64, end_s = [[LAST:[0-9.e+-]+]] : f64, energy_j = {{[0-9.e+-]+}} : f64}
// CHECK-NEXT: } {latency_s = [[LAST]] : f64, energy_j = {{[0-9.e+-]+}} : f64, edp_js = {{[0-9.e+-]+}} : f64, throughput_tok_s = {{[0-9.e+-]+}} : f64, mode = "graph"}
// EAGER-LABEL: llm.model @layers
// EAGER:       } {latency_s = {{.*}}, mode = "eager"}

// -----

// A unit mapping (granularity group: one unit per kernel, 2 x 2 here): mb1 runs tensor-parallel
// on chiplets 0 and 1 once mb0's last unit frees chiplet 1.
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @units hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping units 4 of "group" segments [] {
    %mb0_u0 = map.task @mb0 units 0 to 3 on [0]
    %mb0_u3 = map.task @mb0 units 3 to 4 on [1] after %mb0_u0
    %mb1_u0 = map.task @mb1 units 0 to 4 on [0, 1]
  }
}
// CHECK-LABEL: llm.model @units
// CHECK:      %mb0_u0 = map.task @mb0 units 0 to 3 on [0] {start_s = 0.000000e+00 : f64, end_s = {{[0-9.e+-]+}} : f64, energy_j = {{[0-9.e+-]+}} : f64}
// CHECK-NEXT: %mb0_u3 = map.task @mb0 units 3 to 4 on [1] after %mb0_u0 {start_s = {{[0-9.e+-]+}} : f64, end_s = [[END3:[0-9.e+-]+]] : f64, energy_j = {{[0-9.e+-]+}} : f64}
// CHECK-NEXT: %mb1_u0 = map.task @mb1 units 0 to 4 on [0, 1] {start_s = [[END3]] : f64, end_s = [[LAST:[0-9.e+-]+]] : f64, energy_j = {{[0-9.e+-]+}} : f64}
// CHECK-NEXT: } {latency_s = [[LAST]] : f64, energy_j = {{[0-9.e+-]+}} : f64, edp_js = {{[0-9.e+-]+}} : f64, throughput_tok_s = {{[0-9.e+-]+}} : f64, mode = "graph"}
// EAGER-LABEL: llm.model @units
// EAGER:       mode = "eager"}

// -----

// A unit mapping must place the units its granularity cuts the layers into.
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @unitcount hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping units 2 of "group" segments [] {
    %mb0_u0 = map.task @mb0 units 0 to 2 on [0]
    %mb1_u0 = map.task @mb1 units 0 to 2 on [0]
  }
}
// CHECK-LABEL: map-cost: the mapping places 2 units; granularity 'group' cuts this module's 2 layers into 4
// EAGER: map-cost: the mapping places 2 units

// -----

// Nothing to cost.
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @nomapping hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: map-cost: the module has no map.mapping (run llm-partition first)
// EAGER: map-cost: the module has no map.mapping

// -----

// Whether the mapping fits its target is map-cost's check (the map verifier judges only what
// the IR carries): a chiplet the target lacks,
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @nochip hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [5]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  }
}
// CHECK-LABEL: map-cost on hgx-h200x2: task @mb0 layers 0 to 2 on [5]: chiplet 5 does not exist (hgx-h200x2 has 2)
// EAGER: chiplet 5 does not exist

// -----

// a TP degree that does not divide the heads,
builtin.module attributes {xcompass.target = "simba-36"} {
  llm.model @tp3 hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [0, 1, 2]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  }
}
// CHECK-LABEL: map-cost on simba-36: task @mb0 layers 0 to 2 on [0, 1, 2]: tensor-parallel degree 3 does not divide the model's 2 heads
// EAGER: tensor-parallel degree 3

// -----

// chiplets that are not a TP group of the target,
builtin.module attributes {xcompass.target = "simba-36"} {
  llm.model @nogroup hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [1, 2]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  }
}
// CHECK-LABEL: map-cost on simba-36: task @mb0 layers 0 to 2 on [1, 2]: chiplets [1, 2] are not a tensor-parallel group of simba-36 (2 consecutive chiplets of one kind, aligned to 2)
// EAGER: are not a tensor-parallel group

// -----

// memory: 64 x 1,000,000 tokens of KV (2 x 128 x 2 B per token per layer, 2 layers) = 65.5 GB
// on one chiplet of simba-36, whose 36 chiplets share 64 GB of package DRAM,
builtin.module attributes {xcompass.target = "simba-36"} {
  llm.model @toobig hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 decode 1000000 x 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [0]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  }
}
// CHECK-LABEL: map-cost on simba-36: @mapping does not fit: memory domain 'package-dram' (36 chiplets) needs 65.54 GB (weights + KV + activations) but has 64.00 GB
// EAGER: does not fit

// -----

// and more layers than the model has.
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @morelayers hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l1 = llm.layer 1 (%l0) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l1 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 3 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 3 on [0]
    %mb1_l0 = map.task @mb1 layers 0 to 3 on [0]
  }
}
// CHECK-LABEL: map-cost on hgx-h200x2: @mapping maps 3 layers, the model has 2
// EAGER: maps 3 layers
