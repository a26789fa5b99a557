// RUN: xcompass-opt %s -p dce | filecheck %s

// Graph ops are work to be placed, not pure values: DCE keeps them even when unused.
func.func @f(%x: tensor<?x64xbf16>) {
  %0 = llm.linear %x : tensor<?x64xbf16> -> tensor<?x32xbf16>
  %1 = llm.silu %x : tensor<?x64xbf16>
  %2 = llm.add %1, %x : tensor<?x64xbf16>, tensor<?x64xbf16>
  func.return
}

// CHECK:      %0 = llm.linear %x : tensor<?x64xbf16> -> tensor<?x32xbf16>
// CHECK-NEXT: %1 = llm.silu %x : tensor<?x64xbf16>
// CHECK-NEXT: %2 = llm.add %1, %x : tensor<?x64xbf16>, tensor<?x64xbf16>
// CHECK-NEXT: func.return
