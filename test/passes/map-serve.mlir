// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'map-serve{qps=4 duration=5}' | filecheck %s
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'map-serve{policy=pbd qps=4 duration=5}' | filecheck %s --check-prefix=PBD
// RUN: xcompass-opt %s --split-input-file --verify-diagnostics -p 'map-serve{policy=vllm trace=%data/traces/AzureLLMInferenceTrace_conv.csv requests=6}' | filecheck %s --check-prefix=TRACE

// map-serve on small hand-written whole models (embedding, two tiny layers, LM head) with a
// mapping: requests arriving over time (Poisson at qps for duration seconds, lengths from the
// embedded Azure distribution, or a trace at its own timestamps) served with a policy; what
// users of the server see is written onto the mapping. The report file end to end:
// map-serve-report.test.

// Options: one line each, before the input is read.
// RUN: not xcompass-opt %s -p 'map-serve{qps=1 duration=1 trace=x.csv}' 2>&1 | filecheck %s --check-prefix=BOTH
// BOTH: map-serve: give trace=CSV or qps=Q (with duration=S), one of them
// RUN: not xcompass-opt %s -p 'map-serve{policy=fcfs qps=1 duration=1}' 2>&1 | filecheck %s --check-prefix=POLICY
// POLICY: xcompass-opt: error: map-serve: option 'policy' expects one of static, vllm, orca, sarathi, xy-serve, pbd, disagg; got 'fcfs'
// RUN: not xcompass-opt %s -p 'map-serve{qps=1 duration=1 mode=fast}' 2>&1 | filecheck %s --check-prefix=MODE
// MODE: xcompass-opt: error: map-serve: option 'mode' expects one of graph, eager, graph-decode; got 'fast'

// One H100: 4 requests a second for 5 seconds (the seed's 14 arrivals), Sarathi's chunked
// prefill; the SLOs (TTFT p90 2 s, TBT p99 0.2 s) hold for so small a model. P-B-D needs two
// replicas.
builtin.module attributes {xcompass.target = "h100"} {
  llm.model @single hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%ids: tensor<?xi32>) -> tensor<?x1000xbf16> {
    %x = llm.embedding %ids vocab 1000 : tensor<?xi32> -> tensor<?x256xbf16>
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
    %logits = llm.lm_head %l1 : tensor<?x256xbf16> -> tensor<?x1000xbf16>
    func.return %logits : tensor<?x1000xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [0]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  } {strategy = "single"}
}
// CHECK-LABEL: llm.model @single
// CHECK:       } {strategy = "single", serve_ttft_p50_s = {{[0-9.e+-]+}} : f64, serve_ttft_p90_s = {{.*}} : f64, serve_ttft_p99_s = {{.*}} : f64, serve_tbt_p50_s = {{.*}} : f64, serve_tbt_p99_s = {{.*}} : f64, serve_tpot_mean_s = {{.*}} : f64, serve_e2e_p90_s = {{.*}} : f64, serve_throughput_req_s = {{.*}} : f64, serve_throughput_tok_s = {{.*}} : f64, serve_goodput_req_s = {{.*}} : f64, serve_energy_per_token_j = {{.*}} : f64, serve_policy = "sarathi", serve_requests = 14 : i64, serve_slo_met = true}
// PBD: map-serve: --policy pbd needs at least 2 replicas (a prefill and a decode pool); the mapping has 1
// TRACE-LABEL: llm.model @single
// TRACE:       serve_policy = "vllm", serve_requests = 6 : i64

// -----

// Two replicas on two H200s: P-B-D serves prefills on one and decodes on the other.
builtin.module attributes {xcompass.target = "hgx-h200x2"} {
  llm.model @replicas hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%ids: tensor<?xi32>) -> tensor<?x1000xbf16> {
    %x = llm.embedding %ids vocab 1000 : tensor<?xi32> -> tensor<?x256xbf16>
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
    %logits = llm.lm_head %l1 : tensor<?x256xbf16> -> tensor<?x1000xbf16>
    func.return %logits : tensor<?x1000xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [0]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [1]
  } {strategy = "data"}
}
// CHECK-LABEL: llm.model @replicas
// CHECK:       } {strategy = "data", serve_ttft_p50_s = {{[0-9.e+-]+}} : f64, serve_ttft_p90_s = {{.*}} : f64, serve_ttft_p99_s = {{.*}} : f64, serve_tbt_p50_s = {{.*}} : f64, serve_tbt_p99_s = {{.*}} : f64, serve_tpot_mean_s = {{.*}} : f64, serve_e2e_p90_s = {{.*}} : f64, serve_throughput_req_s = {{.*}} : f64, serve_throughput_tok_s = {{.*}} : f64, serve_goodput_req_s = {{.*}} : f64, serve_energy_per_token_j = {{.*}} : f64, serve_policy = "sarathi", serve_requests = 14 : i64, serve_slo_met = true}
// PBD-LABEL: llm.model @replicas
// PBD:         serve_policy = "pbd", serve_requests = 14 : i64

// -----

// Serving needs the embedding and the LM head.
builtin.module attributes {xcompass.target = "h100"} {
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
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [0]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [0]
  } {strategy = "single"}
}
// CHECK: map-serve: the module maps 2 decoder layers, not the whole model (import it without --layers): serving needs the embedding and the LM head

// -----

// Nothing to serve on.
builtin.module attributes {xcompass.target = "h100"} {
  llm.model @nomapping hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%ids: tensor<?xi32>) -> tensor<?x1000xbf16> {
    %x = llm.embedding %ids vocab 1000 : tensor<?xi32> -> tensor<?x256xbf16>
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
    %logits = llm.lm_head %l1 : tensor<?x256xbf16> -> tensor<?x1000xbf16>
    func.return %logits : tensor<?x1000xbf16>
  }
}
// CHECK: map-serve: the module has no map.mapping (run llm-partition first)

// -----

// Serving places whole layers.
builtin.module attributes {xcompass.target = "h100"} {
  llm.model @units hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%ids: tensor<?xi32>) -> tensor<?x1000xbf16> {
    %x = llm.embedding %ids vocab 1000 : tensor<?xi32> -> tensor<?x256xbf16>
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
    %logits = llm.lm_head %l1 : tensor<?x256xbf16> -> tensor<?x1000xbf16>
    func.return %logits : tensor<?x1000xbf16>
  }
  map.mapping @mapping units 4 of "group" segments [] {
    %mb0_u0 = map.task @mb0 units 0 to 4 on [0]
    %mb1_u0 = map.task @mb1 units 0 to 4 on [0]
  }
}
// CHECK: map-serve: a 'group' mapping places units below a layer; serving needs a layer mapping

// -----

// A mapping that does not fit the target is refused like map-cost refuses it.
builtin.module attributes {xcompass.target = "h100"} {
  llm.model @nochip hidden 256 layers 2 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @w {
    llm.request @r0 prefill 64
    llm.request @r1 decode 512 x 4
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
  }
  func.func @decoder(%ids: tensor<?xi32>) -> tensor<?x1000xbf16> {
    %x = llm.embedding %ids vocab 1000 : tensor<?xi32> -> tensor<?x256xbf16>
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
    %logits = llm.lm_head %l1 : tensor<?x256xbf16> -> tensor<?x1000xbf16>
    func.return %logits : tensor<?x1000xbf16>
  }
  map.mapping @mapping layers 2 segments [] {
    %mb0_l0 = map.task @mb0 layers 0 to 2 on [0]
    %mb1_l0 = map.task @mb1 layers 0 to 2 on [1]
  } {strategy = "data"}
}
// CHECK: map-serve on h100: task @mb1 layers 0 to 2 on [1]: chiplet 1 does not exist (h100 has 1)
