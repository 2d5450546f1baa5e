//! FastCGI wire format (sans-IO).
