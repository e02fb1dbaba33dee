"""The testbed: the embedded stack (fs-stack), its local runtime, and the journey."""
