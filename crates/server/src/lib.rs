//! The service binary's library: configuration, telemetry and start-up, so that tests can
//! build the real application on a random port.

pub mod config;
pub mod startup;
pub mod telemetry;
