// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=single}' | filecheck %s --check-prefix=SINGLE
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=pipeline pp=2}' | filecheck %s --check-prefix=PIPE
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=pipeline}' | filecheck %s --check-prefix=PIPE4
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=tensor tp=2}' | filecheck %s --check-prefix=TENSOR
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=data}' | filecheck %s --check-prefix=DATA
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=hybrid tp=2 pp=2 dp=2}' | filecheck %s --check-prefix=HYBRID
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=pbd}' | filecheck %s --check-prefix=PBD
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=data microbatches=4}' | filecheck %s --check-prefix=RESPLIT
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=tensor tp=3}' | filecheck %s --check-prefix=TP3
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=hybrid tp=2 pp=4 dp=2}' | filecheck %s --check-prefix=TOOMANY
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=data microbatches=40}' | filecheck %s --check-prefix=MANYMB
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=pipeline pp=100}' | filecheck %s --check-prefix=PP100
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=data dp=9}' | filecheck %s --check-prefix=DP9
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=tensor tp=16}' | filecheck %s --check-prefix=TP16
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=pipeline pp=2 granularity=group}' | filecheck %s --check-prefix=GROUP
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'llm-partition{strategy=pipeline pp=2 granularity=tile tile-width=128 tile-heads=8}' | filecheck %s --check-prefix=TILE

// llm-partition on small hand-written modules: a tiny 4-layer model (two linears per layer,
// 32 heads of 8), two micro-batches (two prefills, two decodes), each RUN one strategy and its
// options; each case checks the mapping the pass writes or its one-line diagnostic. Options
// it can judge without the IR are refused before the input is read (the last RUN lines).

// Eight H100s: every strategy's mapping, and the limits the target and model set.
builtin.module attributes {xcompass.target = "dgx-h100x8"} {
  llm.model @eight hidden 256 layers 4 heads 32 kv_heads 8 head_dim 8 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 prefill 32
    llm.request @r2 decode 512 x 4
    llm.request @r3 decode 256 x 2
    llm.microbatch @mb0 [@r0, @r1]
    llm.microbatch @mb1 [@r2, @r3]
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
// SINGLE-LABEL: llm.model @eight
// SINGLE:      map.mapping @mapping layers 4 segments [] {
// SINGLE-NEXT:   %mb0_l0 = map.task @mb0 layers 0 to 4 on [0]
// SINGLE-NEXT:   %mb1_l0 = map.task @mb1 layers 0 to 4 on [0]
// SINGLE-NEXT: } {strategy = "single"}

// pp stages of consecutive layers, balanced; without pp one stage per chiplet up to the layers.
// PIPE-LABEL: llm.model @eight
// PIPE:      map.mapping @mapping layers 4 segments [] {
// PIPE-NEXT:   %mb0_l0 = map.task @mb0 layers 0 to 2 on [0]
// PIPE-NEXT:   %mb0_l2 = map.task @mb0 layers 2 to 4 on [1] after %mb0_l0
// PIPE-NEXT:   %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
// PIPE-NEXT:   %mb1_l2 = map.task @mb1 layers 2 to 4 on [1] after %mb1_l0
// PIPE-NEXT: } {strategy = "pipeline"}
// PIPE4-LABEL: llm.model @eight
// PIPE4:      %mb0_l2 = map.task @mb0 layers 2 to 3 on [2] after %mb0_l1
// PIPE4-NEXT: %mb0_l3 = map.task @mb0 layers 3 to 4 on [3] after %mb0_l2

// TENSOR-LABEL: llm.model @eight
// TENSOR:      %mb0_l0 = map.task @mb0 layers 0 to 4 on [0, 1]
// TENSOR-NEXT: %mb1_l0 = map.task @mb1 layers 0 to 4 on [0, 1]
// TENSOR-NEXT: } {strategy = "tensor"}

// One replica per micro-batch, round robin.
// DATA-LABEL: llm.model @eight
// DATA:      %mb0_l0 = map.task @mb0 layers 0 to 4 on [0]
// DATA-NEXT: %mb1_l0 = map.task @mb1 layers 0 to 4 on [1]

// HYBRID-LABEL: llm.model @eight
// HYBRID:      %mb0_l0 = map.task @mb0 layers 0 to 2 on [0, 1]
// HYBRID-NEXT: %mb0_l2 = map.task @mb0 layers 2 to 4 on [2, 3] after %mb0_l0
// HYBRID-NEXT: %mb1_l0 = map.task @mb1 layers 0 to 2 on [4, 5]
// HYBRID-NEXT: %mb1_l2 = map.task @mb1 layers 2 to 4 on [6, 7] after %mb1_l0

// P-B-D: the prefill micro-batch goes to the prefill pool, the decode one to a tensor-parallel
// group of the decode pool; chiplet 4 is the KV buffer.
// PBD-LABEL: llm.model @eight
// PBD:      %mb0_l0 = map.task @mb0 layers 0 to 4 on [0]
// PBD-NEXT: %mb1_l0 = map.task @mb1 layers 0 to 4 on [6, 7]

// microbatches=N re-splits the workload's requests before mapping.
// RESPLIT-LABEL: llm.model @eight
// RESPLIT:      llm.microbatch @mb3
// RESPLIT:      %mb3_l0 = map.task @mb3 layers 0 to 4 on [3]
// RESPLIT-NEXT: } {strategy = "data"}

// Below a layer: granularity=group places each kernel (2 per layer here) where its layer goes;
// granularity=tile cuts each GEMM into N-tiles of tile-width columns (512 / 128 + 256 / 128).
// GROUP-LABEL: llm.model @eight
// GROUP:      map.mapping @mapping units 8 of "group" segments [] {
// GROUP-NEXT:   %mb0_u0 = map.task @mb0 units 0 to 4 on [0]
// GROUP-NEXT:   %mb0_u4 = map.task @mb0 units 4 to 8 on [1] after %mb0_u0
// TILE-LABEL: llm.model @eight
// TILE:      map.mapping @mapping units 24 of "tile" width 128 heads 8 segments [] {
// TILE-NEXT:   %mb0_u0 = map.task @mb0 units 0 to 12 on [0]
// TILE-NEXT:   %mb0_u12 = map.task @mb0 units 12 to 24 on [1] after %mb0_u0

// Limits the module sets: tp must divide the heads and form a group of the target; the
// degrees' product, pp and dp fit the target and the graph; micro-batches the requests.
// TP3: llm-partition{strategy=tensor} on dgx-h100x8: tp=3 does not divide the model's 32 heads (valid tp: 1, 2, 4, 8)
// TP16: llm-partition{strategy=tensor} on dgx-h100x8: tp=16 needs a group of 16 same-kind chiplets; the largest has 8 (valid tp: 1, 2, 4, 8)
// TOOMANY: llm-partition{strategy=hybrid} on dgx-h100x8: tp=2 x pp=4 x dp=2 = 16 chiplets, the target has 8
// PP100: llm-partition{strategy=pipeline} on dgx-h100x8: pp=100 is out of range: 1 to 4 stages (dgx-h100x8 has 8 chiplets, the graph 4 layers)
// DP9: llm-partition{strategy=data} on dgx-h100x8: dp=9 is out of range: 2 to 8 replicas (dgx-h100x8 has 8 chiplets)
// MANYMB: llm-partition{strategy=data}: microbatches=40: more than the 8 requests in the workload

// -----

// A module that already has a mapping: the pass replaces it.
builtin.module attributes {xcompass.target = "dgx-h100x8"} {
  llm.model @replaced hidden 256 layers 4 heads 32 kv_heads 8 head_dim 8 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 prefill 32
    llm.request @r2 decode 512 x 4
    llm.request @r3 decode 256 x 2
    llm.microbatch @mb0 [@r0, @r1]
    llm.microbatch @mb1 [@r2, @r3]
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
    %mb0_l0 = map.task @mb0 layers 0 to 4 on [7]
    %mb1_l0 = map.task @mb1 layers 0 to 4 on [7]
  }
}
// SINGLE-LABEL: llm.model @replaced
// SINGLE:      map.mapping @mapping layers 4 segments [] {
// SINGLE-NEXT:   %mb0_l0 = map.task @mb0 layers 0 to 4 on [0]
// SINGLE-NEXT:   %mb1_l0 = map.task @mb1 layers 0 to 4 on [0]
// SINGLE-NEXT: } {strategy = "single"}
// SINGLE-NOT:  map.mapping

// -----

// No target: nothing to map onto.
builtin.module {
  llm.model @notarget hidden 256 layers 4 heads 32 kv_heads 8 head_dim 8 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
// SINGLE: llm-partition: the module has no xcompass.target (run set-target first)

// -----

// One H100: no TP group of 2, no room for P-B-D's three pools.
builtin.module attributes {xcompass.target = "h100"} {
  llm.model @onegpu hidden 256 layers 4 heads 32 kv_heads 8 head_dim 8 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
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
// TENSOR: llm-partition{strategy=tensor} on h100: tp=2 needs a group of 2 same-kind chiplets; the largest has 1 (valid tp: 1)
// PBD: llm-partition{strategy=pbd} on h100: pbd needs at least 3 chiplets (prefill, buffer, decode); target has 1

// -----

// A mapping must fit in memory: 64 decodes of 2,000,000 tokens (KV: 64M tokens x 4 layers x 256 B = 131 GB) on one H100.
builtin.module attributes {xcompass.target = "h100"} {
  llm.model @toobig hidden 256 layers 4 heads 32 kv_heads 8 head_dim 8 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 decode 2000000 x 64
    llm.microbatch @mb0 [@r0]
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
// SINGLE: llm-partition{strategy=single} on h100: does not fit: chiplet 0 needs {{[0-9.]+}} GB (weights + KV + activations) but has 80.00 GB

// Options: each bad value is one line naming the option and its valid range, exit 1, no
// traceback; what the pass can judge without the IR is refused before the input is read.
// A degree of zero or less: refused before anything is read.
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=hybrid dp=0}' 2>&1 | filecheck %s --check-prefix=HYBRIDDP0
// HYBRIDDP0: xcompass-opt: error: llm-partition{strategy=hybrid}: dp=0 is out of range: the data-parallel replicas must be 1 to the target's chiplet count (at most 256)
// HYBRIDDP0-NOT: Traceback

// RUN: not xcompass-opt %s -p 'llm-partition{strategy=tensor tp=0}' 2>&1 | filecheck %s --check-prefix=TP0
// TP0: xcompass-opt: error: llm-partition{strategy=tensor}: tp=0 is out of range: the tensor-parallel degree must be 1 to the target's chiplet count (at most 256)
// TP0-NOT: range() arg

// RUN: not xcompass-opt %s -p 'llm-partition{strategy=pipeline pp=-1}' 2>&1 | filecheck %s --check-prefix=PPNEG
// PPNEG: xcompass-opt: error: llm-partition{strategy=pipeline}: pp=-1 is out of range: the pipeline stages must be 1 to the target's chiplet count (at most 256)

// RUN: not xcompass-opt %s -p 'llm-partition{strategy=pipeline pp=0}' 2>&1 | filecheck %s --check-prefix=PP0
// PP0: xcompass-opt: error: llm-partition{strategy=pipeline}: pp=0 is out of range

// RUN: not xcompass-opt %s -p 'llm-partition{strategy=hybrid dp=-1}' 2>&1 | filecheck %s --check-prefix=DPNEG
// DPNEG: xcompass-opt: error: llm-partition{strategy=hybrid}: dp=-1 is out of range: the data-parallel replicas must be 1 to

// `data` needs two replicas at least; dp=1 is `single`.
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=data dp=-4}' 2>&1 | filecheck %s --check-prefix=DATANEG
// DATANEG: xcompass-opt: error: llm-partition{strategy=data}: dp=-4 is out of range: the data-parallel replicas must be 2 to the target's chiplet count (at most 256)
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=data dp=1}' 2>&1 | filecheck %s --check-prefix=DATA1
// DATA1: error: llm-partition{strategy=data}: dp=1 is out of range: {{.*}}(dp=1 is one replica: use strategy=single)

// Above what the target offers: the range is the target's.
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=tensor tp=99999999999999999999}' 2>&1 | filecheck %s --check-prefix=TPHUGE
// TPHUGE: xcompass-opt: error: llm-partition: option 'tp'=99999999999999999999 is out of range (at most 2,147,483,647)
// TPHUGE-NOT: OverflowError

// An option the strategy does not read is an error naming the strategies that take it.
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=pipeline tp=2}' 2>&1 | filecheck %s --check-prefix=IGNORED
// IGNORED: xcompass-opt: error: llm-partition{strategy=pipeline}: option 'tp' does not apply to strategy=pipeline (tp, the tensor-parallel degree, is taken by strategy=tensor or hybrid)
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=pbd pp=2}' 2>&1 | filecheck %s --check-prefix=IGNOREDPBD
// IGNOREDPBD: error: llm-partition{strategy=pbd}: option 'pp' does not apply to strategy=pbd (pp, the pipeline stages, is taken by strategy=pipeline or hybrid)

// A value of the wrong type names the option.
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=tensor tp=two}' 2>&1 | filecheck %s --check-prefix=TWO
// TWO: xcompass-opt: error: llm-partition: option 'tp' expects an integer, got 'two'
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=tensor tp=2.5}' 2>&1 | filecheck %s --check-prefix=FLOAT
// FLOAT: xcompass-opt: error: llm-partition: option 'tp' expects an integer, got 2.5
// RUN: not xcompass-opt %s -p 'llm-partition{strategy=tensor tp=true}' 2>&1 | filecheck %s --check-prefix=BOOL
// BOOL: xcompass-opt: error: llm-partition: option 'tp' expects an integer, got True

// microbatches: 1 to 1024, and at most the workload's requests.
// RUN: not xcompass-opt %s -p 'llm-partition{microbatches=0}' 2>&1 | filecheck %s --check-prefix=MB0
// MB0: xcompass-opt: error: llm-partition{strategy=single}: microbatches=0 is out of range: must be 1 to 1024 (and at most the workload's requests)

// Options are checked before the input is read: a bad option wins over a bad input file.
// RUN: not xcompass-opt %inputs/bad/syntax.mlir -p 'llm-partition{strategy=hybrid dp=0}' 2>&1 | filecheck %s --check-prefix=FIRST
// FIRST: xcompass-opt: error: llm-partition{strategy=hybrid}: dp=0 is out of range
// RUN: not xcompass-opt %inputs/bad/no-such-file.mlir -p 'llm-partition{strategy=pipeline tp=2}' 2>&1 | filecheck %s --check-prefix=FIRST2
// FIRST2: xcompass-opt: error: llm-partition{strategy=pipeline}: option 'tp' does not apply

// RUN: xcompass import --model llama3-8b --layers 2 | xcompass-opt -p 'set-target{target=hgx-h200x2},llm-partition{strategy=tensor tp=2}' | filecheck %s --check-prefix=TWOGPU
// TWOGPU: map.task @mb0 layers 0 to 2 on [0, 1]
