//! The overview issue of each DeepSource repository (`OVERVIEW_ISSUE`): one issue listing every
//! open finding, each linking its own issue or offering a box a person ticks to have one opened;
//! written first when a repository is new to the service, then coalesced (`OVERVIEW_DELAY`) to at
//! most one write per change. It holds the `overviews` table, what people do to an overview, and
//! the writer the sync worker runs between findings. It knows GitHub's API (`github/`), what an
//! overview says (`issue/overview.rs`) and the findings' tables; it knows nothing of the sync
//! worker's loop or of a finding's own issue beyond its number.
mod create;
mod error;
mod lines;
pub mod people;
mod read;
mod store;
mod sub_issues;
mod sub_plan;
mod update;
mod writer;

pub use error::OverviewError;
pub use writer::Overviews;
