//! Walks through a collection: signed cursors (`cursor`), the strict query reader and the
//! documented `limit`/`cursor`/`order` every walk shares, with the event page body and its
//! `Link` (`page`), and `GET /sessions`' parameters and page body (`listing`).

pub mod cursor;
pub mod deliveries;
pub mod listing;
pub mod page;
