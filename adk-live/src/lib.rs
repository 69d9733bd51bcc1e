//! # adk-live
//!
//! placeholder
