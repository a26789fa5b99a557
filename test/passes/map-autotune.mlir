// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p "map-autotune{population=8 generations=3 seed=1}" | filecheck %s
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p "map-autotune{objective=pareto population=8 generations=3 baselines=false}" | filecheck %s --check-prefix=PARETO
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p "map-autotune{objective=latency population=8 generations=2 baselines=false}" | filecheck %s --check-prefix=LATENCY
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p "map-autotune{granularity=group population=8 generations=2 baselines=false}" | filecheck %s --check-prefix=GROUP
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p "map-autotune{granularity=layer population=8 generations=2 baselines=false}" | filecheck %s --check-prefix=LAYER
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p "map-autotune{population=8 generations=2 train-samples=2 test-samples=1 spec=\"prefill:64x2,decode:512x4\" baselines=false}" | filecheck %s --check-prefix=SAMPLES
// Same seed, same mapping, in another process.
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'map-autotune{population=8 generations=3 seed=1}' -o %t.a
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'map-autotune{population=8 generations=3 seed=1}' -o %t.b
// RUN: diff %t.a %t.b

// map-autotune on small hand-written modules (a tiny 4-layer model, a prefill and a decode
// micro-batch, four H200s): the study (the GA, or NSGA-II for pareto, then SA, random search
// and the best standard strategy on the same budget, and the lower bound) and the best mapping
// any method evaluated, written as `@mapping` costed like map-cost (tasks annotated, totals)
// with the search's provenance. The report file and the units granularity on real models are
// map-autotune.test's and map-autotune-units.test's.

// No mapping yet: the answer is added. Its EDP is the search's score; the standard strategies
// (9 here) seed generation 0.
builtin.module attributes {xcompass.target = "hgx-h200x4"} {
  llm.model @fresh hidden 256 layers 4 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
    %l2 = llm.layer 2 (%l1) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l3 = llm.layer 3 (%l2) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l3 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: llm.model @fresh
// CHECK:      map.mapping @mapping layers 4 segments [{{[0-9, ]*}}] {
// CHECK-NEXT:   %mb0_l0 = map.task @mb0 layers 0 to {{[1-4]}} on [{{[0-9, ]+}}] {start_s = 0.000000e+00 : f64, end_s = {{.*}} : f64, energy_j = {{.*}} : f64}
// CHECK:      } {strategy = "autotune", latency_s = {{.*}} : f64, energy_j = {{.*}} : f64, edp_js = [[EDP:[0-9.e+-]+]] : f64, throughput_tok_s = {{.*}} : f64, mode = "graph", search = {objective = "edp", method = "ga", found_by = "{{ga|sa|random|standard}}", population = 8 : i64, generations = 3 : i64, budget = 24 : i64, seed = 1 : i64, evaluations = {{[0-9]+}} : i64, seeds = 9 : i64, score = [[EDP]] : f64, sa_score = {{.*}} : f64, random_score = {{.*}} : f64, standard_score = {{.*}} : f64, vs_sa = {{.*}} : f64, vs_random = -{{.*}} : f64, vs_standard = {{(0.000000e\+00|-.*)}} : f64, best_standard = "{{.*}}", lower_bound = {{.*}} : f64}}
// CHECK-NOT:  map.mapping

// objective=pareto: the lowest-EDP point of the merged front is @mapping (what later passes
// cost), then every front point, fastest first, with its latency, energy and EDP.
// PARETO-LABEL: llm.model @fresh
// PARETO:      map.mapping @mapping
// PARETO:      search = {objective = "pareto", method = "nsga2", {{.*}}, front = 1 : i64}
// PARETO-NEXT: map.mapping @pareto_0 layers 4
// PARETO:      } {strategy = "pareto", latency_s = {{.*}} : f64, energy_j = {{.*}} : f64, edp_js = {{.*}} : f64}

// LATENCY-LABEL: llm.model @fresh
// LATENCY:      search = {objective = "latency", method = "ga", {{.*}} standard_score = {{.*}}, vs_standard = {{(0.000000e\+00|-.*)}} : f64

// granularity=group: the search places each kernel (2 per layer) and writes a unit mapping.
// GROUP-LABEL: llm.model @fresh
// GROUP:       map.mapping @mapping units 8 of "group" segments
// GROUP:       search = {objective = "edp", method = "ga", {{.*}}, seeds = 9 : i64,

// train-samples / test-samples: scored as the mean over request batches drawn from spec=,
// reported on a test batch the search never saw.
// SAMPLES-LABEL: llm.model @fresh
// SAMPLES:     search = {objective = "edp", {{.*}}, test_score = {{.*}} : f64}

// -----

// The module's mapping (one stage of 1 layer and one of 3: no standard strategy) is one more
// seed (10) and is replaced; the search never does worse than it. Expanded to the units, it
// seeds a group search too.
builtin.module attributes {xcompass.target = "hgx-h200x4"} {
  llm.model @seeded hidden 256 layers 4 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
    %l2 = llm.layer 2 (%l1) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l3 = llm.layer 3 (%l2) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l3 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 4 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 1 on [0]
    %mb0_l1 = map.task @mb0 layers 1 to 4 on [1] after %mb0_l0
    %mb1_l0 = map.task @mb1 layers 0 to 1 on [0]
    %mb1_l1 = map.task @mb1 layers 1 to 4 on [1] after %mb1_l0
  } {strategy = "lopsided"}
}
// CHECK-LABEL: llm.model @seeded
// CHECK:      map.mapping @mapping layers 4
// CHECK:      } {strategy = "autotune", latency_s = {{.*}} : f64, energy_j = {{.*}} : f64, edp_js = [[EDP:[0-9.e+-]+]] : f64, throughput_tok_s = {{.*}} : f64, mode = "graph", search = {objective = "edp", method = "ga", found_by = "{{ga|sa|random|standard}}", population = 8 : i64, generations = 3 : i64, budget = 24 : i64, seed = 1 : i64, evaluations = {{[0-9]+}} : i64, seeds = 10 : i64, score = [[EDP]] : f64, sa_score = {{.*}} : f64, random_score = {{.*}} : f64, standard_score = {{.*}} : f64, vs_sa = {{.*}} : f64, vs_random = -{{.*}} : f64, vs_standard = {{(0.000000e\+00|-.*)}} : f64, best_standard = "{{.*}}", lower_bound = {{.*}} : f64}}
// CHECK-NOT:  map.mapping
// GROUP-LABEL: llm.model @seeded
// GROUP:       map.mapping @mapping units 8 of "group" segments
// GROUP:       search = {objective = "edp", method = "ga", {{.*}}, seeds = 10 : i64,
// GROUP-NOT:   map.mapping

// -----

// A module mapping that does not fit the target is refused like map-cost refuses it.
builtin.module attributes {xcompass.target = "hgx-h200x4"} {
  llm.model @badseed hidden 256 layers 4 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
    %l2 = llm.layer 2 (%l1) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l3 = llm.layer 3 (%l2) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l3 : tensor<?x256xbf16>
  }
  map.mapping @mapping layers 4 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 4 on [6]
    %mb1_l0 = map.task @mb1 layers 0 to 4 on [0]
  }
}
// CHECK: map-autotune on hgx-h200x4: task @mb0 layers 0 to 4 on [6]: chiplet 6 does not exist (hgx-h200x4 has 4)
// GROUP: chiplet 6 does not exist

// -----

// A unit mapping is finer than a layer search: say so rather than drop it.
builtin.module attributes {xcompass.target = "hgx-h200x4"} {
  llm.model @finer hidden 256 layers 4 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
    %l2 = llm.layer 2 (%l1) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l3 = llm.layer 3 (%l2) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l3 : tensor<?x256xbf16>
  }
  map.mapping @mapping units 8 of "group" segments [] {
    %mb0_u0 = map.task @mb0 units 0 to 8 on [0]
    %mb1_u0 = map.task @mb1 units 0 to 8 on [1]
  }
}
// LAYER: map-autotune on hgx-h200x4: the module's mapping places group units, finer than granularity=layer: search at granularity=group (or re-partition)
// GROUP-LABEL: llm.model @finer
// GROUP:       map.mapping @mapping units 8 of "group" segments

// -----

// No target: nothing to search for.
builtin.module {
  llm.model @notarget hidden 256 layers 4 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
    %l2 = llm.layer 2 (%l1) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    %l3 = llm.layer 3 (%l2) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %up = llm.linear %h : tensor<?x256xbf16> -> tensor<?x512xbf16>
      %down = llm.linear %up : tensor<?x512xbf16> -> tensor<?x256xbf16>
      llm.yield %down : tensor<?x256xbf16>
    }
    func.return %l3 : tensor<?x256xbf16>
  }
}
// CHECK: map-autotune: the module has no xcompass.target (run set-target first)

// Options: each bad value is one line naming the option and its valid range, exit 1, no
// traceback; what the pass can judge without the IR is refused before the input is read.
// RUN: not xcompass-opt %s -p 'map-autotune{population=1}' 2>&1 | filecheck %s --check-prefix=POP1
// POP1: xcompass-opt: error: map-autotune: population=1 is out of range: individuals per generation, 2 to 10,000
// POP1-NOT: Traceback

// RUN: not xcompass-opt %s -p 'map-autotune{generations=0}' 2>&1 | filecheck %s --check-prefix=GEN0
// GEN0: xcompass-opt: error: map-autotune: generations=0 is out of range: generations, 1 to 100,000

// RUN: not xcompass-opt %s -p 'map-autotune{objective=speed}' 2>&1 | filecheck %s --check-prefix=OBJ
// OBJ: xcompass-opt: error: map-autotune: option 'objective' expects one of edp, latency, energy, throughput, pareto, goodput, capacity; got 'speed'

// RUN: not xcompass-opt %s -p 'map-autotune{population=50 budget=49}' 2>&1 | filecheck %s --check-prefix=BUDGET
// BUDGET: xcompass-opt: error: map-autotune: budget=49 is smaller than one generation (population=50): give at least 50 evaluations, or 0 for population x generations

// RUN: not xcompass-opt %s -p 'map-autotune{budget=-5}' 2>&1 | filecheck %s --check-prefix=BUDGETNEG
// BUDGETNEG: xcompass-opt: error: map-autotune: budget=-5 is out of range: evaluations, at least one generation (population=120), or 0 for population x generations

// RUN: not xcompass-opt %s -p 'map-autotune{train-samples=4}' 2>&1 | filecheck %s --check-prefix=NODIST
// NODIST: xcompass-opt: error: map-autotune: train-samples=4 needs a distribution to sample request batches from: give trace=FILE.csv or spec=SPEC

// RUN: not xcompass-opt %s -p 'map-autotune{test-samples=2}' 2>&1 | filecheck %s --check-prefix=NODISTTEST
// NODISTTEST: xcompass-opt: error: map-autotune: test-samples=2 needs a distribution to sample request batches from

// RUN: not xcompass-opt %s -p 'map-autotune{train-samples=300 spec="decode:512x4"}' 2>&1 | filecheck %s --check-prefix=MANY
// MANY: xcompass-opt: error: map-autotune: train-samples=300 is out of range: request batches to score on, 0 to 256

// RUN: not xcompass-opt %s -p 'map-autotune{train-samples=2 trace=%t.missing.csv}' 2>&1 | filecheck %s --check-prefix=NOTRACE
// NOTRACE: xcompass-opt: error: map-autotune: trace '{{.*}}missing.csv': cannot read the file

// RUN: not xcompass-opt %s -p 'map-autotune{train-samples=2 spec="decode:0"}' 2>&1 | filecheck %s --check-prefix=BADSPEC
// BADSPEC: xcompass-opt: error: map-autotune: spec=decode:0: workload SPEC 'decode:0', item 1 'decode:0': lengths and counts must be positive

// RUN: not xcompass-opt %s -p 'map-autotune{spec="decode:512x4"}' 2>&1 | filecheck %s --check-prefix=UNUSED
// UNUSED: xcompass-opt: error: map-autotune: trace= or spec= is a distribution to sample: give train-samples=K (and test-samples=T) to use it

// RUN: not xcompass-opt %s -p 'map-autotune{granularity=group tile-width=64}' 2>&1 | filecheck %s --check-prefix=TILEGROUP
// TILEGROUP: xcompass-opt: error: map-autotune: option 'tile-width' applies to granularity=tile only (granularity=group)
// RUN: not xcompass-opt %inputs/llama3-8b-4l-dgx.mlir -p 'map-autotune{tile-heads=2}' 2>&1 | filecheck %s --check-prefix=TILEDEFAULT
// TILEDEFAULT: error: map-autotune: option 'tile-heads' applies to granularity=tile only (granularity=layer by default)
// RUN: not xcompass-opt %s -p 'map-autotune{granularity=tile tile-width=0}' 2>&1 | filecheck %s --check-prefix=TILEZERO
// TILEZERO: xcompass-opt: error: map-autotune: tile-width=0 must be a positive integer
// RUN: not xcompass-opt %inputs/llama3-8b-4l-dgx.mlir -p 'map-autotune{granularity=tile tile-width=100}' 2>&1 | filecheck %s --check-prefix=TILEWIDTH
// TILEWIDTH: error: map-autotune on dgx-h100x8: tile-width=100 is not a multiple of dgx-h100x8's hardware tile (128 columns)
// RUN: not xcompass-opt %inputs/llama3-8b-4l-dgx.mlir -p 'map-autotune{granularity=tile tile-heads=5}' 2>&1 | filecheck %s --check-prefix=TILEHEADS
// TILEHEADS: error: map-autotune on dgx-h100x8: tile-heads=5 does not divide the model's 32 heads
// TILEHEADS-NOT: Traceback

// RUN: not xcompass-opt %s -p 'map-autotune{granularity=block}' 2>&1 | filecheck %s --check-prefix=GRAN
// GRAN: xcompass-opt: error: map-autotune: option 'granularity' expects one of layer, group, tile; got 'block'

// RUN: not xcompass-opt %s -p 'map-autotune{mode=lazy}' 2>&1 | filecheck %s --check-prefix=MODE
// MODE: xcompass-opt: error: map-autotune: option 'mode' expects one of graph, eager; got 'lazy'

// RUN: not xcompass-opt %s -p 'map-autotune{seed=-1}' 2>&1 | filecheck %s --check-prefix=SEED
// SEED: xcompass-opt: error: map-autotune: seed=-1 is out of range: the search's random seed, 0 to 4,294,967,295

// RUN: not xcompass-opt %s -p 'map-autotune{population=many}' 2>&1 | filecheck %s --check-prefix=TYPE
// TYPE: xcompass-opt: error: map-autotune: option 'population' expects an integer, got 'many'
