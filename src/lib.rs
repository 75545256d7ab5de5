//! ppdm-exporter: a Prometheus exporter for Dell PowerProtect Data Manager.
//!
//! Data flows one way: [`config`] → per server a [`ppdm::Session`] used by a
//! [`poller`] → an immutable [`snapshot::Snapshot`] → the [`store::Store`] →
//! rendered once per change by [`exposition`] (gauges), [`metrics`] (counters) and
//! [`render`] → served by [`http`].
//! [`app`] wires them; the [`sim`] module tree is a simulated PPDM used by `--demo`
//! and the tests.

pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod exposition;
pub mod http;
pub mod metrics;
pub mod poller;
pub mod ppdm;
pub mod render;
pub mod sim;
pub mod snapshot;
pub mod store;
pub mod telemetry;
pub mod web;
