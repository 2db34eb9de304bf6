//! Integration tests: the real server on port 0, real PostgreSQL and SQLite stores, real
//! HTTP and WebSocket clients. One test binary (faster to link), one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod auth;
mod browser;
mod catalog;
mod chat;
mod cluster;
mod email;
mod hardening;
mod helpers;
mod occ;
mod outage;
mod processes;
mod readme;
mod reservations;
mod restart;
mod rooms_http;
mod store_contract;
mod tasks;
mod venues;
mod webdriver;
mod ws;
