//! Bellhop: the real-time operations server of a hotel.
//!
//! # Layout
//!
//! - [`domain`]: pure types and state machines (room facets, …) with their unit tests. No I/O.
//! - [`actors`]: one actix actor per entity (room, …) and the per-node registry that
//!   activates, re-creates and passivates them. Commands commit before they reply.
//! - [`persistence`]: the [`Store`](persistence::Store) trait and its PostgreSQL and SQLite
//!   backends: an append-only event log plus projections, written in one transaction.
//! - [`events`]: what a committed command publishes, the [`Bus`](events::Bus) between nodes,
//!   and stream/topic names: below both the actors and the WebSocket layer.
//! - [`api_error`]: the one error type of the API and where it becomes an HTTP answer or a
//!   WebSocket `error` frame (used by both [`http`] and [`ws`]).
//! - [`http`]: the JSON API (DESIGN §5) and its single error mapping.
//! - [`ws`]: the WebSocket protocol, sessions, the per-node hub and the bus.
//! - [`startup`]: [`Application`], which wires the above together for `main` and for tests.
//!
//! Configuration is read once ([`config::Config::from_env`]) and passed down; there is no
//! global state, which is what lets tests start many servers in one process.

pub mod actors;
pub mod api_error;
pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod events;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod persistence;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod views;
pub mod ws;

pub use startup::{Application, ShutdownHandle};
