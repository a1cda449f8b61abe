//! `Live<T>`: a setting a config reload (SIGHUP) replaces while the server
//! runs. Every clone shares one value, so the reloader holds a clone and
//! the request paths read the current value at each use. A panic while
//! the lock was held leaves the last value written, which is still a
//! whole setting, so poisoning is ignored rather than taking the server
//! down with it.

use std::sync::{Arc, RwLock};

/// One shared, replaceable value.
#[derive(Debug, Default)]
pub struct Live<T>(Arc<RwLock<T>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Live<T> {
    /// Starts at `value`.
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(value)))
    }

    /// Replaces the value; the next read sees it.
    pub fn set(&self, value: T) {
        self.update(|v| *v = value);
    }

    /// Reads the current value in place.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the value in place, under one write lock (a check and a
    /// replacement that must not be split).
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<T: Clone> Live<T> {
    /// A copy of the current value (keep `T` cheap to clone: an `Arc`).
    pub fn get(&self) -> T {
        self.with(T::clone)
    }
}
