//! mod_fcgid: an Apache httpd 2.4 module that runs FastCGI applications.

pub mod config;
pub mod fcgi;
