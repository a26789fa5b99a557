// RUN: xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-pad-tiles' | filecheck %s
// RUN: xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-pad-tiles{tiles=32,64}' | filecheck %s --check-prefix=TILES
// RUN: xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-pad-tiles{mode=physical}' | filecheck %s --check-prefix=PHYSICAL

// lowering-target.toml: four cores, each computing whole output tiles (no split-K) of
// T rows x 64 columns: T/16 x 4 k-steps of 0.52 us for K = 256, plus one step of fill and
// drain. A 256 x 256 GEMM has 4 column tiles; every M below is compute-bound, so the cover
// with the least busy core wins (ties: fewer padded rows, then fewer tiles).
// - M = 1: one 16-row tile per column tile: 4 tiles of 5 steps, one per core.
// - M = 33: 32 + 16 rows puts one tile of 9 and one of 5 steps on each core (14 steps);
//   three 16-row tiles would need 15, one 64-row tile 17.
// - M = 4097: 32 x 128 rows + 16: 32 tiles of 33 steps and one of 5 per core (1061 steps);
//   33 x 128 needs 1089, 65 x 64 1105.
// With tiles=32,64: M = 33 takes one 64-row tile (17 steps beats 2 x 32 rows' 18) and
// M = 4097 64 x 64 + 32 (1097 steps).
// Physical padding can only pad the buffer to one tile size: M = 33 pads to 3 x 16 rows,
// M = 4097 to 33 x 128 (waste 127).
builtin.module {
  llm.model @pad hidden 256 layers 1 heads 2 kv_heads 1 head_dim 128 ffn 512 vocab 1000 mlp silu gated norm rms : bf16
  llm.workload @serve {
    llm.request @r0 decode 100
    llm.request @r1 prefill 33
    llm.request @r2 prefill 4097
    llm.microbatch @mb0 [@r0]
    llm.microbatch @mb1 [@r1]
    llm.microbatch @mb2 [@r2]
  }
  func.func @decoder(%x: tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    %l0 = llm.layer 0 (%x) : (tensor<?x256xbf16>) -> tensor<?x256xbf16> {
    ^bb0(%h: tensor<?x256xbf16>):
      %y = llm.linear %h : tensor<?x256xbf16> -> tensor<?x256xbf16>
      llm.yield %y : tensor<?x256xbf16>
    }
    func.return %l0 : tensor<?x256xbf16>
  }
}
// CHECK-LABEL: llm.model @pad
// CHECK:      %y = llm.linear %h {llm.pad_mode = "virtual", llm.pad_tiles = array<i64: 16, 32, 64, 128>, llm.covers = {
// CHECK-SAME: m1 = #llm.cover<virtual, [16 x 1], waste = 15>,
// CHECK-SAME: m33 = #llm.cover<virtual, [32 x 1, 16 x 1], waste = 15>,
// CHECK-SAME: m4097 = #llm.cover<virtual, [128 x 32, 16 x 1], waste = 15>}}
// TILES:      %y = llm.linear %h {llm.pad_mode = "virtual", llm.pad_tiles = array<i64: 32, 64>, llm.covers = {
// TILES-SAME: m1 = #llm.cover<virtual, [32 x 1], waste = 31>,
// TILES-SAME: m33 = #llm.cover<virtual, [64 x 1], waste = 31>,
// TILES-SAME: m4097 = #llm.cover<virtual, [64 x 64, 32 x 1], waste = 31>}}
// PHYSICAL:      %y = llm.linear %h {llm.pad_mode = "physical", llm.pad_tiles = array<i64: 16, 32, 64, 128>, llm.covers = {
// PHYSICAL-SAME: m1 = #llm.cover<physical, [16 x 1], waste = 15>,
// PHYSICAL-SAME: m33 = #llm.cover<physical, [16 x 3], waste = 15>,
// PHYSICAL-SAME: m4097 = #llm.cover<physical, [128 x 33], waste = 127>}}

// Virtual vs physical traffic (map-cost's per-kernel report, M = 33; the 128 KB of weights
// stay resident in this target's SRAM): virtual padding reads 33 rows and writes 33
// (2 x 33 x 512 B = 33,792 B); physical copies the 33 rows into the padded buffer (33,792 B),
// lets the GEMM read and write all 48 padded rows (2 x 48 x 512 B = 49,152 B) and copies the
// 33 real rows out (33,792 B).
// RUN: xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-pad-tiles,llm-partition{strategy=single},map-cost{report=%t.virtual.json}' > /dev/null
// RUN: filecheck %s --check-prefix=VIRTUAL-JSON < %t.virtual.json
// RUN: xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-pad-tiles{mode=physical},llm-partition{strategy=single},map-cost{report=%t.physical.json}' > /dev/null
// RUN: filecheck %s --check-prefix=PHYSICAL-JSON < %t.physical.json
// VIRTUAL-JSON:      "per_kernel": [
// VIRTUAL-JSON:      "microbatch": "mb1",
// VIRTUAL-JSON:        "name": "y",
// VIRTUAL-JSON-NEXT:   "kind": "gemm",
// VIRTUAL-JSON-NEXT:   "decision": "llm-pad-tiles{mode=virtual}",
// VIRTUAL-JSON-NEXT:   "plan": "M=33: virtual 32x1 + 16x1 rows (waste 15)",
// VIRTUAL-JSON:        "dram_bytes": 33792.0
// PHYSICAL-JSON:      "per_kernel": [
// PHYSICAL-JSON:      "microbatch": "mb1",
// PHYSICAL-JSON:        "name": "y.pad_in",
// PHYSICAL-JSON-NEXT:   "kind": "pad_in",
// PHYSICAL-JSON:        "dram_bytes": 33792.0
// PHYSICAL-JSON:        "name": "y",
// PHYSICAL-JSON:        "plan": "M=33: physical 16x3 rows (waste 15)",
// PHYSICAL-JSON:        "dram_bytes": 49152.0
// PHYSICAL-JSON:        "name": "y.pad_out",
// PHYSICAL-JSON:        "dram_bytes": 33792.0

// Bad options: one line naming the option and its valid range, before any work.
// RUN: not xcompass-opt %s -p 'set-target{target=%inputs/lowering-target.toml},llm-pad-tiles{tiles=24,32}' 2>&1 | filecheck %s --check-prefix=NOTMULTIPLE
// NOTMULTIPLE: error: llm-pad-tiles on lowering-test: option tiles=24,32 is out of range: tile 24 is not a multiple of chip's hardware tile (16 rows; valid tiles: 16, 32, 48, ...)
// RUN: not xcompass-opt %s -p 'llm-pad-tiles{tiles=0}' 2>&1 | filecheck %s --check-prefix=ZERO
// ZERO: xcompass-opt: error: llm-pad-tiles: option tiles=0 is out of range: tile 0 must be a positive number of rows
// RUN: not xcompass-opt %s -p 'llm-pad-tiles{mode=padded}' 2>&1 | filecheck %s --check-prefix=MODE
// MODE: xcompass-opt: error: llm-pad-tiles: option 'mode' expects one of virtual, physical; got 'padded'
