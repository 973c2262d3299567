//! Rate and concurrency limits shared by the HTTP and WebSocket layers.
//!
//! [`TokenBucket`] limits frames per connection; [`AddressRateLimiter`] limits
//! HTTP requests per client address; [`ConnectionLimiter`] caps open
//! connections per client address, releasing a slot when its guard drops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            updated: Instant::now(),
        }
    }

    /// Takes one token; `false` when the bucket is empty.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.updated).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A token bucket per client address, for HTTP requests.
#[derive(Debug, Clone)]
pub struct AddressRateLimiter {
    rate: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<IpAddr, TokenBucket>>>,
}

/// Addresses remembered before idle buckets are dropped.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

impl AddressRateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Arc::default(),
        }
    }

    /// Takes one request from `address`'s bucket; `false` when it is empty.
    pub fn try_take(&self, address: IpAddr) -> bool {
        let mut buckets = self.buckets.lock().expect("limiter lock is never poisoned");
        if buckets.len() >= MAX_TRACKED_ADDRESSES {
            // A bucket idle long enough to refill completely limits nothing.
            let full_after = self.burst / self.rate;
            buckets.retain(|_, bucket| bucket.updated.elapsed().as_secs_f64() < full_after);
        }
        buckets
            .entry(address)
            .or_insert_with(|| TokenBucket::new(self.rate, self.burst))
            .try_take()
    }
}

/// Counts open connections per address.
#[derive(Debug, Clone)]
pub struct ConnectionLimiter {
    max_per_address: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Holds one connection slot until dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionLimiter {
    pub fn new(max_per_address: usize) -> Self {
        Self {
            max_per_address,
            open: Arc::default(),
        }
    }

    /// Takes a slot for `address`, or `None` when it has the maximum open.
    pub fn try_acquire(&self, address: IpAddr) -> Option<ConnectionGuard> {
        let mut open = self.open.lock().expect("limiter lock is never poisoned");
        let count = open.entry(address).or_default();
        if *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(ConnectionGuard {
            address,
            open: self.open.clone(),
        })
    }

    /// Open connections in total, for `/health`.
    pub fn open_connections(&self) -> usize {
        self.open
            .lock()
            .expect("limiter lock is never poisoned")
            .values()
            .sum()
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("limiter lock is never poisoned");
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_limits() {
        let mut bucket = TokenBucket::new(1.0, 3.0);
        assert!(bucket.try_take());
        assert!(bucket.try_take());
        assert!(bucket.try_take());
        assert!(!bucket.try_take());
    }

    #[test]
    fn address_limiter_counts_each_address() {
        let limiter = AddressRateLimiter::new(1.0, 2.0);
        let first: IpAddr = "127.0.0.1".parse().unwrap();
        let second: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.try_take(first));
        assert!(limiter.try_take(first));
        assert!(!limiter.try_take(first));
        assert!(limiter.try_take(second));
    }

    #[test]
    fn limiter_releases_on_drop() {
        let limiter = ConnectionLimiter::new(1);
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let guard = limiter.try_acquire(address).unwrap();
        assert!(limiter.try_acquire(address).is_none());
        drop(guard);
        assert!(limiter.try_acquire(address).is_some());
    }
}
