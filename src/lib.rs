//! ppdm-exporter: a Prometheus exporter for Dell PowerProtect Data Manager.
//!
//! Data flows one way: [`config`] → per server a [`ppdm::Session`] used by a
//! [`poller`] → an immutable [`snapshot::Snapshot`] → the [`store::Store`] →
//! rendered once per change by [`metrics`] → served by [`http`].
//! The [`sim`] module tree is a simulated PPDM used by `--demo` and the tests.

pub mod sim;
