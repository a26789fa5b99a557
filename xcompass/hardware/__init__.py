"""What it runs on: targets (chiplet kinds, mesh, NoP, DRAM) and collectives over their network."""
