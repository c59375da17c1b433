//! Progress of long operations, reported to whoever drives the library.

use std::sync::Arc;

/// Receives progress of long operations; the CLI draws it as a progress bar.
///
/// Implementations must be cheap: `advance` is called once per batch of items.
pub trait Progress: Send + Sync {
    /// A stage starts; `total` is the number of items when known in advance.
    fn begin(&self, stage: &str, total: Option<u64>);
    /// `done` more items of the current stage are finished.
    fn advance(&self, done: u64);
    /// The current stage is over.
    fn finish(&self);
}

/// Progress that goes nowhere: the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _stage: &str, _total: Option<u64>) {}
    fn advance(&self, _done: u64) {}
    fn finish(&self) {}
}

pub(crate) type SharedProgress = Arc<dyn Progress>;
