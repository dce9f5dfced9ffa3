//! Files that are filled in on demand: a reader over a local copy whose byte ranges are
//! loaded (from object storage, say) just before they are read, so that only what a query
//! touches is ever fetched. The copy is a sparse file of the full size; a [`RangeLoader`]
//! makes a range present, and readers call it before every access.

/// Makes byte ranges of a lazily filled file present before they are read.
pub trait RangeLoader: Send + Sync {
    /// Ensures bytes `[start, end)` of the file are present (`end` past the file's size is
    /// clamped). Called before each read, so it must be cheap when they already are.
    fn load(&self, start: u64, end: u64) -> std::io::Result<()>;
}
