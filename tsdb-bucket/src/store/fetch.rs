//! Runs object-store calls from synchronous code (index and chunk readers, the PromQL
//! engine) on a small runtime of its own, so they work whether or not the caller is inside
//! another async runtime.

use std::future::Future;

/// A dedicated runtime for bucket reads.
pub struct Fetcher {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Fetcher {
    /// Starts the runtime (two worker threads).
    pub fn new() -> std::io::Result<Fetcher> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bucket-fetch")
            .enable_all()
            .build()?;
        Ok(Fetcher {
            runtime: Some(runtime),
        })
    }

    /// Runs `fut` to completion on the fetch runtime and returns its output, blocking the
    /// calling thread meanwhile.
    pub fn run<F>(&self, fut: F) -> std::io::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| std::io::Error::other("fetch runtime stopped"))?;
        futures::executor::block_on(rt.spawn(fut)).map_err(std::io::Error::other)
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        // Dropping a runtime may happen inside another runtime: never block there.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
