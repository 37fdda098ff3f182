//! Sentinel processor and connector stages.
