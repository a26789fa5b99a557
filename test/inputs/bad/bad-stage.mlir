"builtin.module"() ({}) {stage = #llm.stage<flash, br = 128, bc = 128, buffers = 2, level = "smem", kv_passes = 1>} : () -> ()
