//! A simulated PPDM server (placeholder until the simulator lands).
