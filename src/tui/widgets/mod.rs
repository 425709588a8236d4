//! Small widgets drawn straight into the buffer: sparklines and line charts with bands.

pub mod chart;
pub mod spark;
