//! Sentinel sinks and the sending queue that wraps every one of them.
