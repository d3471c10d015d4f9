//! rna-lens: the engine behind the app and the command-line tool.
//!
//! Models and paths ([`model`]), attacks and path policies ([`attack`]), the path ensemble
//! ([`ensemble`]), evaluation ([`eval`]), adversarial training ([`train`]), PyTorch interchange ([`interop`]), timings ([`bench`]),
//! data ([`data`]), device choice ([`device`]) and what ships inside the binary ([`assets`]). Nothing here knows about the GUI: [`app`],
//! behind the default `gui` feature, is a layer on top, like the command line.

#[cfg(feature = "gui")]
pub mod app;
pub mod assets;
pub mod attack;
pub mod base;
pub mod bench;
pub mod budget;
pub mod colormap;
pub mod data;
pub mod device;
pub mod ensemble;
pub mod eval;
pub mod interop;
pub mod limits;
pub mod model;
pub mod propagation;
pub mod replay;
pub mod rng;
pub mod stats;
pub mod train;
