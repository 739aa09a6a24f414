//! A bench report for people: a table for the terminal, an SVG chart of throughput against concurrency (one run or several merged).

pub mod svg;
pub mod table;
