// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=simba-36}' | filecheck %s
// RUN: xcompass-opt %s --split-input-file --pass-pipeline='builtin.module(set-target{target=simba-36})' | filecheck %s
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target="%inputs/my-target.toml"}' | filecheck %s --check-prefix=FILE
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=H100}' | filecheck %s --check-prefix=FOLDED
// RUN: xcompass-opt %s --split-input-file -p 'set-target{target=h100 embed=true}' | filecheck %s --check-prefix=EMBED
// RUN: xdsl-opt %s --split-input-file -p 'set-target{target=h100}' | filecheck %s --check-prefix=XDSL

// set-target records the machine later passes cost and map for as the module's
// xcompass.target: a preset's name (names are case-insensitive), a target file's absolute path,
// or with embed=true the whole description as #xhw.target. Stock xdsl-opt finds the pass
// through the xdsl.universe entry point.
builtin.module {
  llm.model @plain hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
}
// CHECK-LABEL: builtin.module attributes {xcompass.target = "simba-36"} {
// CHECK-NEXT:  llm.model @plain
// FILE-LABEL:  builtin.module attributes {xcompass.target = "{{/.*}}inputs/my-target.toml"} {
// FILE-NEXT:   llm.model @plain
// FOLDED-LABEL: builtin.module attributes {xcompass.target = "h100"} {
// FOLDED-NEXT:  llm.model @plain
// EMBED-LABEL: builtin.module attributes {xcompass.target = #xhw.target<"h100", {meta = {name = "h100", description = "{{[^"]*}}", sources = [
// EMBED-NEXT:  llm.model @plain
// XDSL-LABEL:  builtin.module attributes {xcompass.target = "h100"} {
// XDSL-NEXT:   llm.model @plain

// -----

// A module that already names a target: the new one replaces it.
builtin.module attributes {xcompass.target = "h200"} {
  llm.model @retargeted hidden 4096 layers 32 heads 32 kv_heads 8 head_dim 128 ffn 14336 vocab 32000 mlp silu gated norm rms : bf16
}
// CHECK-LABEL: builtin.module attributes {xcompass.target = "simba-36"} {
// CHECK-NEXT:  llm.model @retargeted
// EMBED-LABEL: builtin.module attributes {xcompass.target = #xhw.target<"h100",
// EMBED-NEXT:  llm.model @retargeted

// Bad targets: one line naming the option and what it takes.
// RUN: not xcompass-opt %s --split-input-file -p 'set-target' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING: error: set-target: missing option 'target' (set-target{target=NAME|FILE})
// RUN: not xcompass-opt %s --split-input-file -p 'set-target{target=tpu-v9}' 2>&1 | filecheck %s --check-prefix=UNKNOWN
// UNKNOWN: error: set-target: unknown target 'tpu-v9' (valid: ascend-910b, compass-het-36, dgx-h100x8, h100, h200, hgx-h200x2, hgx-h200x4, hgx-h200x8, mt3000, simba-36, or a .toml file)
// RUN: not xcompass-opt %s --split-input-file -p 'set-target{target=nofile.toml}' 2>&1 | filecheck %s --check-prefix=NOFILE
// NOFILE: error: set-target: target file 'nofile.toml': no such file
// RUN: not xcompass-opt %s --split-input-file -p 'set-target{target=h100 embed=yes}' 2>&1 | filecheck %s --check-prefix=EMBEDBAD
// EMBEDBAD: xcompass-opt: error: set-target: option 'embed' expects true or false, got 'yes'
