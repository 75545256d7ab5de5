//! Talking to PPDM: the API model, the transport and the login session.

pub mod client;
pub mod error;
pub mod model;
pub mod session;

pub use client::{Client, HttpClients};
pub use error::{FailureReason, PpdmError};
pub use session::Session;
