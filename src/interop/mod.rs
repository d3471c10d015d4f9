//! Interchange with the PyTorch ecosystem: the official RNA checkpoints open as they are.

pub mod pytorch;
