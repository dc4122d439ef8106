//! What a finding's GitHub issue says: its title, body and labels rendered from the finding,
//! the locations and Autofix lines, GitHub's length limits, DeepSource's text neutralised, and
//! the hidden markers. Pure functions over values: no database, no HTTP.
pub mod fix_lines;
pub mod labels;
pub mod limits;
pub mod locations;
pub mod markers;
pub mod neutralise;
pub mod overview;
pub mod render;
