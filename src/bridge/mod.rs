//! The request bridge: from an httpd request to a FastCGI exchange with an
//! app process and back.

pub mod app_conn;
pub mod auth;
pub mod body;
pub mod class;
pub mod class_cache;
pub mod decimal;
pub mod env;
pub mod exchange;
pub mod handler;
pub mod loan;
pub mod retry;
pub mod timing;
