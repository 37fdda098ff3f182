//! The HTTP server side every listening component shares, so each one keeps only its
//! routing and handling:
//! - [`server`]: bind, accept, serve HTTP/1.1 and HTTP/2 (h2c), and on shutdown stop
//!   accepting and let open connections finish within a bound;
//! - [`body`]: read a request body under a byte limit (a declared `Content-Length` over it
//!   is refused before reading) and inflate gzip or zstd under the same limit;
//! - [`respond`]: the responses that look alike everywhere, a refusal as `429`/`503` with
//!   `Retry-After` among them;
//! - [`bad_requests`]: `sentinel_receiver_bad_requests_total`, by reason.

pub mod bad_requests;
pub mod body;
pub mod charged;
pub mod respond;
pub mod server;
#[cfg(test)]
mod tests;

pub use bad_requests::{BadRequest, BadRequests};
pub use body::{decompress, read_body, BodyError, Compression, UnsupportedEncoding};
pub use charged::{decompress_charged, read_body_charged, take_charge, ChargedBody};
pub use respond::HttpResponse;
pub use server::{bind, AuthRequired, HttpServer, RequestBody};
