//! The memory that concurrent copies share: each streamed copy reserves its whole plan before it reads.

use super::error::CopyError;
use super::memory::KIB;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// A budget in KiB permits, shared by the copies of one invocation.
/// Server-side copies hold no object bytes and reserve nothing.
#[derive(Debug, Clone)]
pub struct MemoryPool {
    permits: Arc<Semaphore>,
    capacity: u32,
}

impl PartialEq for MemoryPool {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.permits, &other.permits)
    }
}

/// Memory held from a [`MemoryPool`]; released on drop.
#[derive(Debug)]
pub struct Reserved {
    _permit: OwnedSemaphorePermit,
}

impl MemoryPool {
    /// A pool of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: u64) -> MemoryPool {
        let capacity = u32::try_from(bytes.div_ceil(KIB))
            .unwrap_or(u32::MAX)
            .min(Semaphore::MAX_PERMITS as u32);
        MemoryPool {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// KiB still free.
    pub fn available_kib(&self) -> usize {
        self.permits.available_permits()
    }

    /// Waits until `bytes` (at most the whole pool) are free and holds them.
    ///
    /// # Cancellation
    ///
    /// Raced against `cancel` (checked first): returns `CopyError::Cancelled`
    /// holding nothing.
    pub async fn reserve(
        &self,
        bytes: u64,
        cancel: &CancellationToken,
    ) -> Result<Reserved, CopyError> {
        let units = u32::try_from(bytes.div_ceil(KIB))
            .unwrap_or(u32::MAX)
            .clamp(1, self.capacity.max(1));
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(CopyError::Cancelled { bytes_read: 0, bytes_written: 0 }),
            permit = Arc::clone(&self.permits).acquire_many_owned(units) => permit
                .map(|permit| Reserved { _permit: permit })
                .map_err(|_| CopyError::Task("memory pool closed".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_room_and_release_on_drop() {
        let pool = MemoryPool::new(8 * KIB);
        let cancel = CancellationToken::new();
        let first = pool.reserve(6 * KIB, &cancel).await.unwrap();
        assert_eq!(pool.available_kib(), 2);
        let waiting = pool.reserve(4 * KIB, &cancel);
        tokio::pin!(waiting);
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(pool.available_kib(), 4);
        drop(second);
        cancel.cancel();
        assert!(matches!(
            pool.reserve(100 * KIB, &cancel).await,
            Err(CopyError::Cancelled { .. })
        ));
    }
}
