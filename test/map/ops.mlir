// RUN: xcompass-opt %s --split-input-file | filecheck %s
// RUN: xcompass-opt %s --split-input-file --print-op-generic | xcompass-opt --split-input-file | filecheck %s

// Tasks over layer ranges, a tensor-parallel group, dependencies, segments and annotations.
map.mapping @m layers 4 segments [2] {
  %a = map.task @mb0 layers 0 to 2 on [3]
  %b = map.task @mb1 layers 0 to 2 on [4, 5]
  %c = map.task @mb0 layers 2 to 4 on [6] after %a {start_s = 1.000000e-03 : f64}
  %d = map.task @mb1 layers 2 to 4 on [6] after %b
}

// CHECK:      map.mapping @m layers 4 segments [2] {
// CHECK-NEXT:   %a = map.task @mb0 layers 0 to 2 on [3]
// CHECK-NEXT:   %b = map.task @mb1 layers 0 to 2 on [4, 5]
// CHECK-NEXT:   %c = map.task @mb0 layers 2 to 4 on [6] after %a {start_s = 1.000000e-03 : f64}
// CHECK-NEXT:   %d = map.task @mb1 layers 2 to 4 on [6] after %b
// CHECK-NEXT: }
