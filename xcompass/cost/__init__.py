"""The physics of one op or kernel on one chiplet kind: time, DRAM bytes, energy."""
