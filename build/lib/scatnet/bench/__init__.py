"""scatnet-bench: Table 1.2 (front-end speed and memory) and training-step throughput, CPU and GPU."""
