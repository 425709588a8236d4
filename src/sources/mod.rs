//! Sources: edges that turn the outside world (or the simulator) into engine events.

pub mod images;
pub mod mlflow;
pub mod pace;
pub mod prometheus;
pub mod resolution;
pub mod sim;
